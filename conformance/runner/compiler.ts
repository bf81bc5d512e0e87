/**
 * The case compiler: turns one case step, with the captures so far, into the protocol call it
 * stands for. It fills `size`/`argsz` (struct size plus any `__trailing` bytes) unless the case
 * gives it, turns flag and enum names into integers, evaluates `$name ± N`, writes u64 values by
 * the wire rule, zero-fills the scalar fields the case leaves out (a C program's zeroed struct),
 * and turns inline pointer content into placements the run loop puts in fresh user memory.
 * With the project catalog, the compiled argument is then checked against the ioctl's uAPI
 * schema, so that a case value the protocol cannot carry is reported with its field and rule.
 *
 * Nothing here talks to an adapter; a step that cannot be compiled throws CaseError, which makes
 * the case an `error` (the case is wrong, not the implementation).
 */
import type { FieldInfo, StructInfo, UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { u64ToWire } from '../../schemas/lib/u64.ts';
import { CaseError, integerOf, parseExpr } from './expression.ts';
import { hooks } from './schemas.ts';
import { encodeStructArray, hexToBytes, isHexBytes } from '../../schemas/lib/codec.ts';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { validateIoctlArg } from '../../schemas/lib/validate.ts';
import type { CaseStep, Json, JsonObject } from './types.ts';

export interface PointerPlacement {
  field: string;
  bytes: Uint8Array;
  /** How to read the memory back after the call; absent for input-only content. */
  decode?: { struct: StructInfo; count: number } | { bytes: number };
}

export interface CompiledStep {
  kind: 'ioctl' | 'test' | 'close';
  op: string;
  /** The case's context number (step.fd, default 1). */
  ctx: number;
  /** Whether the call runs in a context (ioctls, context hooks) or on the process. */
  scope: 'context' | 'process';
  arg: JsonObject;
  /** A bad argument pointer the case passes instead of a struct (protocol ioctl param argp). */
  argp?: Json;
  /** The calling process (step.process, protocol param pid); absent = the initial process. */
  pid?: number;
  pointers: PointerPlacement[];
}

export type Captures = ReadonlyMap<string, unknown>;


export function isHookOp(op: string): boolean {
  return hooks().has(op);
}

/** The value in wire form: u64 rule for unsigned, a plain number for negative signed values. */
export function toWire(v: bigint): Json {
  return v < 0n ? Number(v) : u64ToWire(v);
}

/** Resolves a flag or enum name, with or without the common prefix, to its value. */
export function nameValue(catalog: UapiCatalog, enumName: string, name: string, what: string): bigint {
  const e = catalog.enums.get(enumName);
  if (!e) throw new CaseError(`${what}: unknown flag set or enum ${enumName}`);
  const own = (k: string) => (Object.hasOwn(e.values, k) ? e.values[k] : undefined);
  const v = own(name) ?? own(e.prefix + name);
  if (v === undefined) {
    throw new CaseError(`${what}: '${name}' is not a value of ${enumName} (known: ${Object.keys(e.values).map((k) => k.startsWith(e.prefix) ? k.slice(e.prefix.length) : k).join(', ')})`);
  }
  return BigInt(v);
}

/** A scalar field value of a case (integer, expression, flag list, enum name) as a bigint. */
export function scalarValue(catalog: UapiCatalog, f: FieldInfo | undefined, value: unknown, captures: Captures, what: string): bigint {
  if (f?.flags && Array.isArray(value)) {
    let acc = 0n;
    for (const n of value) {
      if (typeof n !== 'string') throw new CaseError(`${what}: a flag list holds names, got ${JSON.stringify(n)}`);
      acc |= nameValue(catalog, f.flags, n, what);
    }
    return acc;
  }
  if (typeof value === 'string' && parseExpr(value) === null) {
    const set = f?.enum ?? f?.flags;
    if (set) return nameValue(catalog, set, value, what);
  }
  if (typeof value === 'boolean') return value ? 1n : 0n;
  return integerOf(value, captures, what);
}

/** A struct's field values as the compiler resolved them (flags, captures, expressions applied). */
type StructValues = Map<string, bigint | bigint[] | StructValues>;

/** Lays out pointee structs with the schemas' codec; a layout error is the case's. */
function encodeElements(catalog: UapiCatalog, s: StructInfo, elements: StructValues[], what: string): Uint8Array {
  try {
    return encodeStructArray(s.name, elements.map((e) => wireStruct(catalog, s, e)));
  } catch (e) {
    throw new CaseError(`${what}: ${(e as Error).message}`);
  }
}

function structValues(catalog: UapiCatalog, s: StructInfo, value: unknown, captures: Captures, what: string): StructValues {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CaseError(`${what}: expected an object with the fields of struct ${s.name}`);
  }
  const out: StructValues = new Map();
  for (const [name, v] of Object.entries(value as JsonObject)) {
    const f = s.fields.find((x) => x.name === name);
    if (!f) throw new CaseError(`${what}.${name}: struct ${s.name} has no field ${name}`);
    const inner = catalog.structs.get(f.ctype);
    if (inner) out.set(name, structValues(catalog, inner, v, captures, `${what}.${name}`));
    else if (f.count && Array.isArray(v)) out.set(name, v.map((x, i) => scalarValue(catalog, f, x, captures, `${what}.${name}[${i}]`)));
    else out.set(name, scalarValue(catalog, f, v, captures, `${what}.${name}`));
  }
  return out;
}

/** A pointer given as an address: a number, "0x…" or a $capture. Any other string is hex content. */
function isAddress(value: unknown): boolean {
  if (typeof value === 'number') return true;
  return typeof value === 'string' && (value.startsWith('$') || value.startsWith('0x'));
}

/** Compiles inline pointer content; returns the placement and the fields it implies. */
function pointerContent(
  catalog: UapiCatalog,
  f: FieldInfo,
  value: unknown,
  captures: Captures,
  what: string,
): { placement: PointerPlacement; count: number; lengthBytes: number; entryBytes?: number } {
  const p = f.pointee!;
  const readBack = p.direction !== 'in';
  if (p.struct) {
    const s = catalog.structs.get(p.struct);
    if (!s) throw new CaseError(`${what}: unknown pointee struct ${p.struct}`);
    let elements: StructValues[];
    if (typeof value === 'string' && isHexBytes(value)) {
      // Raw bytes for a struct buffer: what a case writes to test a malformed entry.
      const bytes = hexToBytes(value);
      const count = Math.floor(bytes.length / s.sizeBytes);
      return {
        placement: { field: f.name, bytes, decode: readBack ? { struct: s, count } : undefined },
        count,
        lengthBytes: bytes.length,
        entryBytes: s.sizeBytes,
      };
    }
    if (Array.isArray(value)) elements = value.map((e, i) => structValues(catalog, s, e, captures, `${what}[${i}]`));
    else if (value && typeof value === 'object' && 'capacity' in value) {
      const n = Number(integerOf((value as JsonObject).capacity, captures, `${what}.capacity`));
      elements = Array.from({ length: n }, () => new Map());
    } else if (value && typeof value === 'object') {
      elements = [structValues(catalog, s, value, captures, what)];
    } else throw new CaseError(`${what}: expected an address, a struct ${s.name}, a list of them, hex bytes or {"capacity": N}`);
    const bytes = encodeElements(catalog, s, elements, what);
    return {
      placement: { field: f.name, bytes, decode: readBack ? { struct: s, count: elements.length } : undefined },
      count: elements.length,
      lengthBytes: bytes.length,
      entryBytes: s.sizeBytes,
    };
  }
  let bytes: Uint8Array;
  if (typeof value === 'string' && isHexBytes(value)) bytes = hexToBytes(value);
  else if (value && typeof value === 'object' && !Array.isArray(value) && 'capacity' in value) {
    bytes = new Uint8Array(Number(integerOf((value as JsonObject).capacity, captures, `${what}.capacity`)));
  } else throw new CaseError(`${what}: expected an address, hex bytes or {"capacity": N}`);
  return {
    placement: { field: f.name, bytes, decode: readBack ? { bytes: bytes.length } : undefined },
    count: bytes.length,
    lengthBytes: bytes.length,
  };
}

/** A raw request number, or a step that passes a bad argument pointer: no struct is built. */
function compileRawIoctl(catalog: UapiCatalog, step: CaseStep, captures: Captures): CompiledStep {
  const arg: JsonObject = {};
  if (step.argp === undefined) {
    for (const [name, value] of Object.entries(step.arg ?? {})) {
      arg[name] = typeof value === 'string' && parseExpr(value) === null ? value : toWire(integerOf(value, captures, `${step.op}.arg.${name}`));
    }
  }
  const c: CompiledStep = { kind: 'ioctl', op: step.op, ctx: step.fd ?? 1, scope: 'context', arg, pointers: [] };
  if (step.argp !== undefined) c.argp = toWire(integerOf(step.argp, captures, `${step.op}.argp`));
  return c;
}

function compileIoctl(catalog: UapiCatalog, step: CaseStep, captures: Captures): CompiledStep {
  const info = catalog.ioctls.get(step.op)!;
  if (step.argp !== undefined) return compileRawIoctl(catalog, step, captures);
  const given = step.arg ?? {};
  const arg: JsonObject = {};
  const pointers: PointerPlacement[] = [];
  const what = (field: string) => `${step.op}.arg.${field}`;
  const s = info.struct ? catalog.structs.get(info.struct) : undefined;
  if (info.struct && !s) throw new CaseError(`${step.op}: the catalog has no struct ${info.struct}`);

  let trailingBytes = 0;
  const implied = new Map<string, number>();
  for (const [name, value] of Object.entries(given)) {
    if (name === '__trailing') {
      if (typeof value !== 'string' || !isHexBytes(value)) throw new CaseError(`${what(name)}: hex bytes expected`);
      arg[name] = value.toLowerCase();
      trailingBytes = value.length / 2;
      continue;
    }
    const protocolFields = (s as { protocolFields?: string[] } | undefined)?.protocolFields;
    if (protocolFields?.includes(name) || (name === 'device' && step.op.startsWith('VFIO_DEVICE_'))) {
      arg[name] = value; // a protocol-only field, e.g. the topology name of a device in place of its fd
      continue;
    }
    const f = s?.fields.find((x) => x.name === name);
    if (s && !f) throw new CaseError(`${what(name)}: struct ${s.name} has no field ${name}`);
    if (f?.pointee && !isAddress(value)) {
      const c = pointerContent(catalog, f, value, captures, what(name));
      pointers.push(c.placement);
      if (f.pointee.countField) implied.set(f.pointee.countField, c.count);
      if (f.pointee.lengthField) implied.set(f.pointee.lengthField, c.lengthBytes);
      if (f.pointee.entrySizeField && c.entryBytes !== undefined) implied.set(f.pointee.entrySizeField, c.entryBytes);
      arg[name] = 0; // the run loop puts the buffer's address here
      continue;
    }
    const inner = f ? catalog.structs.get(f.ctype) : undefined;
    if (inner) {
      arg[name] = wireStruct(catalog, inner, structValues(catalog, inner, value, captures, what(name)));
    } else if (f?.count && Array.isArray(value)) {
      arg[name] = value.map((x, i) => toWire(scalarValue(catalog, f, x, captures, `${what(name)}[${i}]`)));
    } else {
      arg[name] = toWire(scalarValue(catalog, f, value, captures, what(name)));
    }
  }
  if (step.argv !== undefined) {
    if (!info.intArg && s) throw new CaseError(`${step.op}: argv is for ioctls that take an integer, and this one takes struct ${s.name}`);
    arg[info.intArg ?? 'arg'] = toWire(scalarValue(catalog, undefined, step.argv, captures, `${step.op}.argv`));
  }
  if (s) {
    for (const [name, n] of implied) if (!(name in given)) arg[name] = n;
    const unionsGiven = new Set(s.fields.filter((f) => f.union && f.name in arg).map((f) => f.union));
    for (const f of s.fields) {
      if (f.name in arg || f.count || catalog.structs.has(f.ctype)) continue;
      if (f.union) {
        if (unionsGiven.has(f.union)) continue;
        unionsGiven.add(f.union);
      }
      arg[f.name] = 0;
    }
    if (info.sizeField && !(info.sizeField in given)) arg[info.sizeField] = s.sizeBytes + trailingBytes;
  }
  // The argument must be one the protocol can carry for this ioctl (field names, integer
  // ranges, the u64 wire form); values the kernel must reject stay valid on purpose.
  const bad = catalog === getCatalog() ? validateIoctlArg(step.op, arg) : null;
  if (bad && bad.length > 0) {
    throw new CaseError(`${step.op}.arg${bad[0].instancePath || ''}: ${bad[0].message} [uAPI schema ${bad[0].keyword} (${bad[0].schemaPath})]`);
  }
  return { kind: 'ioctl', op: step.op, ctx: step.fd ?? 1, scope: 'context', arg, pointers };
}

function wireStruct(catalog: UapiCatalog, s: StructInfo, v: StructValues): JsonObject {
  const out: JsonObject = {};
  for (const [k, x] of v) {
    if (x instanceof Map) {
      const f = s.fields.find((y) => y.name === k)!;
      out[k] = wireStruct(catalog, catalog.structs.get(f.ctype)!, x);
    } else out[k] = Array.isArray(x) ? x.map(toWire) : toWire(x);
  }
  return out;
}

/**
 * A hook's struct written by its fields (x-case-struct): the bytes a C program would hold, as
 * hex. The size field (the struct's first) defaults to sizeof plus `__trailing`, whose hex bytes
 * follow the struct; union members and embedded structs are written by their own fields.
 */
function caseStructBytes(structName: string, value: unknown, captures: Captures, what: string): string {
  const catalog = getCatalog();
  const s = catalog.structs.get(structName);
  if (!s) throw new CaseError(`${what}: the catalog has no struct ${structName}`);
  const { __trailing: trailingHex, ...fields } = (value ?? {}) as JsonObject;
  if (trailingHex !== undefined && (typeof trailingHex !== 'string' || !isHexBytes(trailingHex))) throw new CaseError(`${what}.__trailing: hex bytes expected`);
  const trailing = hexToBytes(trailingHex);
  const sizeField = s.fields[0].name;
  if (!(sizeField in fields)) fields[sizeField] = s.sizeBytes + trailing.length;
  const struct = encodeElements(catalog, s, [structValues(catalog, s, fields, captures, what)], what);
  const all = new Uint8Array(struct.length + trailing.length);
  all.set(struct);
  all.set(trailing, struct.length);
  return Buffer.from(all).toString('hex');
}

function compileHook(step: CaseStep, captures: Captures): CompiledStep {
  const h = hooks().get(step.op)!;
  const arg: JsonObject = {};
  for (const [name, value] of Object.entries(step.arg ?? {})) {
    const kind = Object.hasOwn(h.fields, name) ? h.fields[name] : undefined;
    const what = `${step.op}.arg.${name}`;
    if (kind === undefined) throw new CaseError(`${what}: the ${step.op} hook takes no ${name} (it takes ${Object.keys(h.fields).join(', ') || 'nothing'})`);
    if (kind === 'u64' || kind === 'id' || kind === 'int') {
      const v = integerOf(value, captures, what);
      arg[name] = kind === 'u64' ? toWire(v) : Number(v);
    } else if (kind === 'hex') {
      if (typeof value !== 'string' || !isHexBytes(value)) throw new CaseError(`${what}: hex bytes expected`);
      arg[name] = value.toLowerCase();
    } else if (kind === 'struct' && h.caseStruct !== undefined) {
      if (Object.hasOwn(step.arg ?? {}, h.caseStruct.bytes)) throw new CaseError(`${what}: give either ${name} or ${h.caseStruct.bytes}, not both`);
      arg[h.caseStruct.bytes] = caseStructBytes(h.caseStruct.struct, value, captures, what);
    } else {
      arg[name] = value;
    }
  }
  return { kind: 'test', op: step.op, ctx: step.fd ?? 1, scope: h.scope, arg, pointers: [] };
}

export function compileStep(catalog: UapiCatalog, step: CaseStep, captures: Captures): CompiledStep {
  if (step.op === 'CLOSE') {
    if (step.process !== undefined) throw new CaseError('CLOSE: the fd table is shared by every process, so CLOSE takes no process');
    return { kind: 'close', op: 'CLOSE', ctx: step.fd ?? 1, scope: 'context', arg: {}, pointers: [] };
  }
  let c: CompiledStep;
  if (isHookOp(step.op)) c = compileHook(step, captures);
  else if (catalog.ioctls.has(step.op)) c = compileIoctl(catalog, step, captures);
  else if (/^0x[0-9a-f]+$/.test(step.op)) c = compileRawIoctl(catalog, step, captures);
  else throw new CaseError(`unknown op ${step.op}: neither a uAPI command of the catalog, a test hook, CLOSE nor a request number`);
  if (step.process !== undefined) c.pid = Number(integerOf(step.process, captures, `${step.op}.process`));
  return c;
}

/** The catalog's field info for an output field of a step, for comparing names and lists. */
export function outputField(catalog: UapiCatalog, op: string, name: string): FieldInfo | undefined {
  const info = catalog.ioctls.get(op);
  const s = info?.struct ? catalog.structs.get(info.struct) : undefined;
  return s?.fields.find((f) => f.name === name);
}
