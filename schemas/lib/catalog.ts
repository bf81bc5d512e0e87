/**
 * The uAPI catalog read from the schemas: every ioctl (schemas/uapi/*.schema.json, `x-ioctl`),
 * every struct (`x-struct` on an ioctl schema or on a `$defs` entry of schemas/defs/*), every
 * flag set and enum (schemas/defs/enums.schema.json) and every errno
 * (schemas/defs/errno.schema.json). The files are read once, synchronously, and the result is
 * cached; the catalog is immutable afterwards.
 *
 * Invariants checked at load (a broken schema fails loudly, naming file and field): field
 * offsets follow the C layout rules (each field aligned to its type, no overlap except fields of
 * one union, struct size a multiple of its alignment and covering every field), every flag set,
 * enum, embedded struct and pointee a field names exists, and every ioctl's minimum size lies
 * within its struct. loadCatalogFrom() reads the same from another folder (a past revision, a
 * proposed change), optionally collecting the broken rules instead of throwing, so that a review
 * can still compare what it can read.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type {
  CScalar, Direction, EnumInfo, FieldInfo, IoctlFamily, IoctlInfo, StructInfo, UapiCatalog,
} from './catalog-types.ts';
import { PACKAGE_ROOT } from './package-root.ts';

export const SCHEMAS_DIR = join(PACKAGE_ROOT, 'schemas');

/** Size in bytes (= alignment on LP64) of every C scalar the headers use. */
export const SCALAR_BYTES: Readonly<Record<CScalar, number>> = {
  __u8: 1, __u16: 2, __u32: 4, __s32: 4, __u64: 8, __s64: 8, __aligned_u64: 8, __aligned_le64: 8, __le64: 8,
};

export function isScalar(ctype: string): ctype is CScalar {
  return Object.hasOwn(SCALAR_BYTES, ctype);
}

type Json = Record<string, unknown>;

interface LoadedSchema {
  /** Path relative to schemas/. */
  file: string;
  schema: Json;
}

function readSchemas(schemasDir: string, sub: string): LoadedSchema[] {
  const dir = join(schemasDir, sub);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.schema.json'))
    .sort()
    .map((f) => ({ file: `${sub}/${f}`, schema: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Json }));
}

/** Thrown for a broken rule; a lenient load collects these and carries on without the item. */
class SchemaRuleError extends Error {}

function fail(file: string, what: string, rule: string): never {
  throw new SchemaRuleError(`schemas/${file}: ${what}: ${rule}`);
}

/**
 * Runs `check`; in a lenient load a broken rule is recorded and `check` counts as failed
 * (false), in a strict load it propagates.
 */
function attempt(problems: string[] | undefined, check: () => void): boolean {
  try {
    check();
    return true;
  } catch (e) {
    if (problems === undefined || !(e instanceof SchemaRuleError)) throw e;
    problems.push(e.message);
    return false;
  }
}

function parseStruct(file: string, schema: Json): StructInfo {
  const xs = schema['x-struct'] as {
    name: string; size: number; align: number; source?: StructInfo['source']; flexibleArray?: StructInfo['flexibleArray']; capId?: number;
  };
  const fields: FieldInfo[] = [];
  const protocolFields: string[] = [];
  const props = (schema.properties ?? {}) as Record<string, Json>;
  for (const [name, p] of Object.entries(props)) {
    if (p['x-trailing'] === true) continue;
    if (p['x-protocol-only'] === true) {
      protocolFields.push(name);
      continue;
    }
    const where = `${xs.name}.${name}`;
    for (const k of ['x-ctype', 'x-offset', 'x-size', 'x-dir']) {
      if (p[k] === undefined) fail(file, where, `missing ${k}`);
    }
    const f: FieldInfo = {
      name,
      ctype: p['x-ctype'] as string,
      offsetBytes: p['x-offset'] as number,
      sizeBytes: p['x-size'] as number,
      direction: p['x-dir'] as Direction,
    };
    if (p['x-count'] !== undefined) f.count = p['x-count'] as number;
    if (p['x-reserved'] === true) f.reserved = true;
    if (p['x-flags'] !== undefined) f.flags = p['x-flags'] as string;
    if (p['x-enum'] !== undefined) f.enum = p['x-enum'] as string;
    if (p['x-union'] !== undefined) f.union = p['x-union'] as string;
    if (p['x-pointee'] !== undefined) f.pointee = p['x-pointee'] as FieldInfo['pointee'];
    fields.push(f);
  }
  const s: StructInfo = { name: xs.name, sizeBytes: xs.size, alignBytes: xs.align, fields };
  if (xs.source) s.source = xs.source;
  if (xs.flexibleArray) s.flexibleArray = xs.flexibleArray;
  if (protocolFields.length > 0) s.protocolFields = protocolFields;
  if (xs.capId !== undefined) s.capId = xs.capId;
  return s;
}

/** Checks one struct against the C layout rules; `structs` resolves embedded structs. */
function checkLayout(file: string, s: StructInfo, structs: ReadonlyMap<string, StructInfo>): void {
  let end = 0;
  let align = 1;
  let prev: FieldInfo | undefined;
  for (const f of s.fields) {
    const where = `${s.name}.${f.name}`;
    const inner = isScalar(f.ctype) ? undefined : structs.get(f.ctype);
    if (!isScalar(f.ctype) && !inner) fail(file, where, `unknown C type ${f.ctype}`);
    const elemBytes = inner ? inner.sizeBytes : SCALAR_BYTES[f.ctype as CScalar];
    const elemAlign = inner ? inner.alignBytes : elemBytes;
    if (f.sizeBytes !== elemBytes * (f.count ?? 1)) fail(file, where, `x-size ${f.sizeBytes} is not ${elemBytes} × ${f.count ?? 1}`);
    if (f.offsetBytes % elemAlign !== 0) fail(file, where, `x-offset ${f.offsetBytes} is not aligned to ${elemAlign}`);
    const sharesUnion = prev !== undefined && f.union !== undefined && prev.union === f.union && prev.offsetBytes === f.offsetBytes;
    if (!sharesUnion) {
      // The next field starts at the first offset its alignment allows after the previous one.
      const expected = Math.ceil(end / elemAlign) * elemAlign;
      if (f.offsetBytes !== expected) fail(file, where, `x-offset ${f.offsetBytes}, C layout puts it at ${expected}`);
    }
    end = Math.max(end, f.offsetBytes + f.sizeBytes);
    align = Math.max(align, elemAlign);
    prev = f;
  }
  if (s.flexibleArray) {
    // A flexible array member adds no size but its element's alignment (C11 6.7.2.1).
    const elem = structs.get(s.flexibleArray.struct);
    if (!elem) fail(file, s.name, `flexible array of unknown struct ${s.flexibleArray.struct}`);
    align = Math.max(align, elem.alignBytes);
    end = Math.ceil(end / elem.alignBytes) * elem.alignBytes;
  }
  if (s.alignBytes !== align) fail(file, s.name, `x-struct align ${s.alignBytes}, fields need ${align}`);
  const size = Math.ceil(end / align) * align;
  if (s.sizeBytes !== size) fail(file, s.name, `x-struct size ${s.sizeBytes}, C layout gives ${size}`);
}

export type LoadedCatalog = UapiCatalog & { files: readonly LoadedSchema[] };

/**
 * Reads the catalog from `schemasDir` (a folder laid out as schemas/). With `problems`, a
 * broken rule is pushed there (`schemas/<file>: <what>: <rule>`) and the offending item left
 * out; without, the first one throws. A missing uapi/ or defs/ folder reads as empty.
 */
function buildCatalog(schemasDir: string, problems?: string[]): LoadedCatalog {
  const uapi = readSchemas(schemasDir, 'uapi');
  const defs = readSchemas(schemasDir, 'defs');
  const structs = new Map<string, StructInfo>();
  const structFile = new Map<string, string>();
  const enums = new Map<string, EnumInfo>();
  const errnos = new Map<string, number>();
  const ioctls = new Map<string, IoctlInfo>();

  const addStruct = (file: string, schema: Json): boolean => attempt(problems, () => {
    const s = parseStruct(file, schema);
    if (structs.has(s.name)) fail(file, s.name, `struct defined twice (also in ${structFile.get(s.name)})`);
    structs.set(s.name, s);
    structFile.set(s.name, file);
  });

  for (const { file, schema } of defs) {
    const $defs = (schema.$defs ?? {}) as Record<string, Json>;
    for (const [key, d] of Object.entries($defs)) {
      if (d['x-struct'] !== undefined) addStruct(file, d);
      if (d['x-kind'] !== undefined) {
        if (!attempt(problems, () => { if (enums.has(key)) fail(file, key, 'flag set or enum defined twice'); })) continue;
        const e: EnumInfo = {
          name: key,
          kind: d['x-kind'] as EnumInfo['kind'],
          prefix: d['x-prefix'] as string,
          values: d['x-values'] as Record<string, number>,
        };
        if (d['x-selftest'] !== undefined) e.selftest = d['x-selftest'] as string[];
        enums.set(key, e);
      }
      if (key === 'errno') {
        for (const [name, n] of Object.entries(d['x-values'] as Record<string, number>)) errnos.set(name, n);
      }
    }
  }
  for (const { file, schema } of uapi) {
    const x = schema['x-ioctl'] as {
      name: string; family: IoctlFamily; nr: number; request: number; minSize?: number; sizeField?: 'size' | 'argsz'; intArg?: string;
    } | undefined;
    if (!attempt(problems, () => {
      if (!x) fail(file, '(root)', 'missing x-ioctl');
      if (ioctls.has(x.name)) fail(file, x.name, 'ioctl defined twice');
    }) || !x) continue;
    const info: IoctlInfo = { name: x.name, family: x.family, nr: x.nr, request: x.request, schema: file };
    if (typeof schema.$id === 'string') info.schemaId = schema.$id;
    if (typeof schema.description === 'string') info.description = schema.description;
    if (schema['x-struct'] !== undefined) {
      if (!addStruct(file, schema)) continue;
      info.struct = (schema['x-struct'] as { name: string }).name;
      if (x.minSize !== undefined) info.minSizeBytes = x.minSize;
      if (x.sizeField !== undefined) info.sizeField = x.sizeField;
    }
    if (x.intArg !== undefined) info.intArg = x.intArg;
    ioctls.set(x.name, info);
  }

  for (const [name, s] of structs) {
    const file = structFile.get(name)!;
    attempt(problems, () => checkLayout(file, s, structs));
    for (const f of s.fields) attempt(problems, () => {
      const where = `${name}.${f.name}`;
      if (f.flags !== undefined && enums.get(f.flags)?.kind !== 'flags') fail(file, where, `x-flags names no flag set: ${f.flags}`);
      if (f.enum !== undefined && enums.get(f.enum)?.kind !== 'enum') fail(file, where, `x-enum names no enum: ${f.enum}`);
      const p = f.pointee;
      if (p?.struct !== undefined && !structs.has(p.struct)) fail(file, where, `x-pointee names no struct: ${p.struct}`);
      for (const ref of [p?.countField, p?.lengthField, p?.entrySizeField]) {
        if (ref !== undefined && !s.fields.some((g) => g.name === ref)) fail(file, where, `x-pointee names no field of ${name}: ${ref}`);
      }
    });
    attempt(problems, () => {
      if (s.flexibleArray && !structs.has(s.flexibleArray.struct)) fail(file, name, `flexible array of unknown struct ${s.flexibleArray.struct}`);
    });
  }
  for (const info of ioctls.values()) {
    if (info.struct === undefined) continue;
    const s = structs.get(info.struct)!;
    attempt(problems, () => {
      if (info.minSizeBytes === undefined || info.minSizeBytes > s.sizeBytes || info.minSizeBytes < 4) {
        fail(info.schema, info.name, `minSize ${info.minSizeBytes} must lie in 4..${s.sizeBytes}`);
      }
      if (info.sizeField === undefined || s.fields[0]?.name !== info.sizeField) fail(info.schema, info.name, 'the size field must be the first field');
    });
  }
  return { ioctls, structs, enums, errnos, files: [...uapi, ...defs] };
}

let cached: LoadedCatalog | undefined;

/** The catalog, loaded on first use and cached. */
export function getCatalog(): UapiCatalog {
  cached ??= buildCatalog(SCHEMAS_DIR);
  return cached;
}

/** The uAPI schema files (uapi/ and defs/) as parsed JSON, with their paths below schemas/. */
export function catalogSchemaFiles(): readonly LoadedSchema[] {
  cached ??= buildCatalog(SCHEMAS_DIR);
  return cached.files;
}

/**
 * The catalog of another schemas folder, not cached. With `problems` the load is lenient: every
 * broken rule is pushed there and the item it concerns left out (a struct whose layout breaks
 * the C rules is kept: its stated offsets are what a review compares).
 */
export function loadCatalogFrom(schemasDir: string, problems?: string[]): LoadedCatalog {
  return buildCatalog(schemasDir, problems);
}

/** The ioctl called `name` (`IOMMU_IOAS_MAP`); throws naming it when there is none. */
export function ioctlInfo(name: string): IoctlInfo {
  const i = getCatalog().ioctls.get(name);
  if (!i) throw new Error(`unknown ioctl ${name}`);
  return i;
}

/** The struct called `name` (`iommu_ioas_map`); throws naming it when there is none. */
export function structInfo(name: string): StructInfo {
  const s = getCatalog().structs.get(name);
  if (!s) throw new Error(`unknown struct ${name}`);
  return s;
}

/** The field `field` of struct `structName`; throws naming both when there is none. */
export function fieldInfo(structName: string, field: string): FieldInfo {
  const f = structInfo(structName).fields.find((x) => x.name === field);
  if (!f) throw new Error(`struct ${structName} has no field ${field}`);
  return f;
}

/** The flag set or enum called `name`; throws naming it when there is none. */
export function enumInfo(name: string): EnumInfo {
  const e = getCatalog().enums.get(name);
  if (!e) throw new Error(`unknown flag set or enum ${name}`);
  return e;
}

/** A value name as cases may write it: the C name without the set's prefix. */
export function shortName(e: EnumInfo, fullName: string): string {
  return fullName.startsWith(e.prefix) ? fullName.slice(e.prefix.length) : fullName;
}

/**
 * The value of `valueName` in flag set or enum `enumName`. The name may be the full C name
 * (`IOMMU_IOAS_MAP_READABLE`), the name without the set's prefix (`READABLE`), or — for the
 * few members that do not share the prefix (`IOMMU_HWPT_FAULT_ID_VALID` in a set whose prefix is
 * `IOMMU_HWPT_ALLOC_`) — the unique tail after an underscore (`FAULT_ID_VALID`).
 */
export function flagValue(enumName: string, valueName: string): number {
  const e = enumInfo(enumName);
  const direct = e.values[valueName] ?? e.values[e.prefix + valueName];
  if (direct !== undefined) return direct;
  const tails = Object.keys(e.values).filter((k) => k.endsWith(`_${valueName}`));
  if (tails.length === 1) return e.values[tails[0]];
  const known = Object.keys(e.values).map((k) => shortName(e, k)).join(', ');
  throw new Error(`'${valueName}' is not a value of ${enumName}${tails.length > 1 ? ` (ambiguous: ${tails.join(', ')})` : ''} (known: ${known})`);
}

/** The OR of several flag names of one set (`["FIXED_IOVA", "READABLE"]` → 5). */
export function flagsValue(enumName: string, valueNames: readonly string[]): number {
  let v = 0;
  for (const n of valueNames) v = (v | flagValue(enumName, n)) >>> 0;
  return v;
}

/** The flag set or enum a field of an ioctl's argument carries, if any. */
export function enumForField(ioctl: string, field: string): EnumInfo | undefined {
  const info = ioctlInfo(ioctl);
  let name: string | undefined;
  if (info.struct !== undefined) {
    const f = structInfo(info.struct).fields.find((x) => x.name === field);
    if (!f) throw new Error(`${ioctl} has no field ${field}`);
    name = f.flags ?? f.enum;
  } else if (info.intArg === field) {
    const s = catalogSchemaFiles().find((x) => x.file === info.schema)?.schema;
    const p = ((s?.properties ?? {}) as Record<string, Json>)[field];
    name = p?.['x-enum'] as string | undefined;
  } else {
    throw new Error(`${ioctl} has no field ${field}`);
  }
  return name === undefined ? undefined : enumInfo(name);
}

/** The names (full C names) of the bits of flag set `enumName` in `value`, plus any unknown rest. */
export function flagNames(enumName: string, value: number): { names: string[]; unknownBits: number } {
  const e = enumInfo(enumName);
  const names: string[] = [];
  let rest = value >>> 0;
  for (const [k, v] of Object.entries(e.values)) {
    if (v !== 0 && (value & v) === v) {
      names.push(k);
      rest &= ~v >>> 0;
    }
  }
  return { names, unknownBits: rest >>> 0 };
}

/** The Linux number of an errno name (`EINVAL` → 22); throws for an unknown name. */
export function errnoNumber(name: string): number {
  const n = getCatalog().errnos.get(name);
  if (n === undefined) throw new Error(`unknown errno ${name}`);
  return n;
}
