/**
 * `--adapter` values and the transport factories they stand for:
 * - `reference`: the embedded reference (reference/adapter.ts, createReferenceAdapter()), in process;
 * - `stdio:<command>`: any program speaking the protocol on stdin/stdout, started with the shell;
 * - `module:<path>`: a JS/TS module whose default export (or `createAdapter` export) is a
 *   function returning an Adapter — called again on every restart — or an Adapter object.
 * Adding a transport kind is a branch here plus its file.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Adapter } from '../../schemas/lib/adapter.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { inProcessFactory } from './in-process.ts';
import { stdioFactory } from './stdio.ts';
import type { TransportFactory } from './transport.ts';
import type { RunConfig } from './types.ts';

export class AdapterSpecError extends Error {}

/** Options of the embedded reference (reference/adapter.ts ReferenceOptions). */
export interface ReferenceAdapterOptions {
  /** Check the reference's invariants after every call (reference/invariants.ts). */
  checkInvariants?: boolean;
}

/** Loads the embedded reference's factory; a clear error while it is not there yet. */
export async function referenceAdapterFactory(catalog: UapiCatalog, options: ReferenceAdapterOptions = {}): Promise<() => Adapter> {
  let mod: { createReferenceAdapter?: (catalog: UapiCatalog, options?: ReferenceAdapterOptions) => Adapter };
  try {
    // A literal specifier, so that the compiled build (tsconfig.build.json) imports adapter.js.
    mod = (await import('../../reference/adapter.ts')) as typeof mod;
  } catch (e) {
    throw new AdapterSpecError(`the embedded reference (reference/adapter.ts) cannot be loaded: ${(e as Error).message}`);
  }
  if (typeof mod.createReferenceAdapter !== 'function') {
    throw new AdapterSpecError('reference/adapter.ts does not export createReferenceAdapter()');
  }
  const create = mod.createReferenceAdapter;
  return () => create(catalog, options);
}

function isAdapter(x: unknown): x is Adapter {
  return !!x && typeof x === 'object' && ['hello', 'world', 'open', 'close', 'ioctl', 'test', 'shutdown'].every((m) => typeof (x as Record<string, unknown>)[m] === 'function');
}

/**
 * A TypeScript adapter module needs a loader: the checkout runs through tsx already, the
 * compiled build (this module is .js) registers tsx the first time it meets one.
 */
let tsxRegistered = import.meta.url.endsWith('.ts');
async function ensureTypeScriptLoader(path: string): Promise<void> {
  if (tsxRegistered || !/\.[cm]?tsx?$/.test(path)) return;
  (await import('tsx/esm/api')).register();
  tsxRegistered = true;
}

export async function moduleAdapterFactory(path: string): Promise<() => Adapter | Promise<Adapter>> {
  const abs = resolve(path);
  let mod: Record<string, unknown>;
  try {
    await ensureTypeScriptLoader(abs);
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw new AdapterSpecError(`module:${path}: cannot be loaded: ${(e as Error).message}`);
  }
  const exp = mod.createAdapter ?? mod.default;
  if (typeof exp === 'function') return exp as () => Adapter;
  if (isAdapter(exp)) return () => exp;
  throw new AdapterSpecError(`module:${path}: the default export (or createAdapter) must be a function returning an Adapter, or an Adapter`);
}

export async function parseAdapterSpec(spec: string, catalog: UapiCatalog, reference: ReferenceAdapterOptions = {}): Promise<{ factory: TransportFactory; config: RunConfig['adapter'] }> {
  if (reference.checkInvariants === true && spec !== 'reference') throw new AdapterSpecError(`--check-invariants checks the embedded reference only, not --adapter ${spec}`);
  if (spec === 'reference') {
    const make = await referenceAdapterFactory(catalog, reference);
    return { factory: inProcessFactory(make), config: { kind: 'reference', spec } };
  }
  if (spec.startsWith('stdio:')) {
    const command = spec.slice('stdio:'.length).trim();
    if (!command) throw new AdapterSpecError(`--adapter ${spec}: stdio: needs a command, e.g. stdio:'python3 my_adapter.py'`);
    return { factory: stdioFactory(command), config: { kind: 'stdio', spec, command } };
  }
  if (spec.startsWith('module:')) {
    const path = spec.slice('module:'.length);
    const make = await moduleAdapterFactory(path);
    return { factory: inProcessFactory(make), config: { kind: 'module', spec } };
  }
  throw new AdapterSpecError(`--adapter ${spec}: expected reference, stdio:<command> or module:<path>`);
}
