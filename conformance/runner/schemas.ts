/**
 * The runner's access to its three schemas (case, protocol, report): compiled once with Ajv2020
 * in strict mode, every error reported with the JSON pointer, the schema rule and ajv's message.
 * This is the one module to switch to schemas/lib/validate.ts once that validator covers these
 * schemas; nothing else in the runner touches ajv.
 *
 * The protocol schema is also read for what it says about test hooks: which capability offers
 * each (x-capability), whether it runs in a context (x-scope) and how each argument field is
 * typed (u64, object id, hex bytes, boolean), so that the compiler converts hook arguments
 * without a second table.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';

export const SCHEMAS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas');
const BASE = 'https://ioasid.dev/schemas/';

export interface SchemaIssue {
  pointer: string;
  rule: string;
  message: string;
}

type AnySchema = Record<string, unknown>;

let ajvInstance: Ajv2020 | undefined;
const raw = new Map<string, AnySchema>();

function load(name: string): AnySchema {
  let s = raw.get(name);
  if (!s) {
    s = JSON.parse(readFileSync(join(SCHEMAS_DIR, `${name}.schema.json`), 'utf8')) as AnySchema;
    raw.set(name, s);
  }
  return s;
}

function ajv(): Ajv2020 {
  if (!ajvInstance) {
    const a = new Ajv2020({ strict: true, allErrors: true });
    a.addVocabulary(['x-scope', 'x-capability']);
    for (const name of ['case', 'protocol', 'report']) a.addSchema(load(name));
    ajvInstance = a;
  }
  return ajvInstance;
}

const validators = new Map<string, ValidateFunction>();

function validator(ref: string): ValidateFunction {
  let v = validators.get(ref);
  if (!v) {
    v = ajv().getSchema(BASE + ref);
    if (!v) throw new Error(`schema ${ref} not found`);
    validators.set(ref, v);
  }
  return v;
}

function issues(errors: ErrorObject[] | null | undefined): SchemaIssue[] {
  return (errors ?? []).map((e) => ({
    pointer: e.instancePath || '/',
    rule: `${e.keyword} (${e.schemaPath})`,
    message: e.message ?? e.keyword,
  }));
}

function check(ref: string, value: unknown): SchemaIssue[] {
  const v = validator(ref);
  return v(value) ? [] : issues(v.errors);
}

export function validateCase(value: unknown): SchemaIssue[] {
  return check('case.schema.json', value);
}

export function validateTopology(value: unknown): SchemaIssue[] {
  return check('case.schema.json#/$defs/topology', value);
}

export function validateReport(value: unknown): SchemaIssue[] {
  return check('report.schema.json', value);
}

/** Validates a value against protocol.schema.json#/$defs/<def> (helloResult, ioctlResult, …). */
export function validateProtocol(def: string, value: unknown): SchemaIssue[] {
  return check(`protocol.schema.json#/$defs/${def}`, value);
}

export function hasProtocolDef(def: string): boolean {
  const defs = load('protocol').$defs as Record<string, unknown>;
  return def in defs;
}

/** How a hook argument field is typed on the wire. */
export type HookFieldKind = 'u64' | 'id' | 'hex' | 'bool' | 'int' | 'other';

export interface HookInfo {
  op: string;
  /** The capability that offers it (x-capability). */
  capability?: string;
  /** A context hook gets the step's fd; a process hook runs without one. */
  scope: 'context' | 'process';
  fields: Record<string, HookFieldKind>;
}

let hookTable: Map<string, HookInfo> | undefined;

export function hooks(): ReadonlyMap<string, HookInfo> {
  if (!hookTable) {
    hookTable = new Map();
    const defs = load('protocol').$defs as Record<string, AnySchema>;
    for (const [name, def] of Object.entries(defs)) {
      if (!name.startsWith('hookArg_')) continue;
      const op = name.slice('hookArg_'.length);
      const fields: Record<string, HookFieldKind> = {};
      for (const [field, s] of Object.entries((def.properties ?? {}) as Record<string, AnySchema>)) {
        const ref = s.$ref as string | undefined;
        fields[field] =
          ref === '#/$defs/u64' ? 'u64'
          : ref === '#/$defs/objectId' ? 'id'
          : ref === '#/$defs/hexData' ? 'hex'
          : s.type === 'boolean' ? 'bool'
          : s.type === 'integer' ? 'int'
          : 'other';
      }
      hookTable.set(op, {
        op,
        capability: def['x-capability'] as string | undefined,
        scope: def['x-scope'] as 'context' | 'process',
        fields,
      });
    }
  }
  return hookTable;
}

/** The capability names protocol v1 defines (vendor x-… names aside). */
export function knownCapabilities(): string[] {
  const defs = load('protocol').$defs as Record<string, AnySchema>;
  const anyOf = defs.capability.anyOf as AnySchema[];
  return anyOf[0].enum as string[];
}

export function resultNames(): string[] {
  const defs = load('report').$defs as Record<string, AnySchema>;
  return defs.result.enum as string[];
}
