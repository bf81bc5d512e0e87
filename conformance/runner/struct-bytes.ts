/**
 * Lays out arrays of uAPI structs as the bytes a C program keeps in user memory, and reads them
 * back, from the catalog's StructInfo (offsets, sizes, fixed arrays, embedded structs). The
 * simulated process is little-endian (x86-64), and `__aligned_le64` is little-endian anyway.
 * Values are bigint in and wire JSON (u64 rule) out. This is the runner's stand-in for
 * schemas/lib/codec.ts and goes when that codec is wired in (one call site each way).
 */
import type { StructInfo, UapiCatalog, FieldInfo } from '../../schemas/lib/catalog-types.ts';
import { u64ToWire } from '../../schemas/lib/u64.ts';
import type { Json, JsonObject } from './types.ts';

const SCALAR_BYTES: Record<string, number> = {
  __u8: 1, __u16: 2, __u32: 4, __s32: 4, __u64: 8, __s64: 8, __aligned_u64: 8, __aligned_le64: 8, __le64: 8,
};

export type StructValues = Map<string, bigint | bigint[] | StructValues>;

function elementBytes(f: FieldInfo): number {
  return f.count ? f.sizeBytes / f.count : f.sizeBytes;
}

function writeScalar(view: DataView, offset: number, bytes: number, v: bigint): void {
  const unsigned = BigInt.asUintN(bytes * 8, v);
  if (bytes === 8) view.setBigUint64(offset, unsigned, true);
  else if (bytes === 4) view.setUint32(offset, Number(unsigned), true);
  else if (bytes === 2) view.setUint16(offset, Number(unsigned), true);
  else view.setUint8(offset, Number(unsigned));
}

function readScalar(view: DataView, offset: number, ctype: string, bytes: number): Json {
  if (bytes === 8) {
    const v = view.getBigUint64(offset, true);
    return ctype === '__s64' ? Number(BigInt.asIntN(64, v)) : u64ToWire(v);
  }
  if (bytes === 4) return ctype === '__s32' ? view.getInt32(offset, true) : view.getUint32(offset, true);
  if (bytes === 2) return view.getUint16(offset, true);
  return view.getUint8(offset);
}

export function encodeStructInto(catalog: UapiCatalog, s: StructInfo, values: StructValues, view: DataView, base: number): void {
  for (const f of s.fields) {
    const v = values.get(f.name);
    if (v === undefined) continue;
    const inner = catalog.structs.get(f.ctype);
    if (inner) {
      if (v instanceof Map) encodeStructInto(catalog, inner, v, view, base + f.offsetBytes);
      continue;
    }
    const eb = elementBytes(f);
    if (Array.isArray(v)) v.forEach((x, i) => writeScalar(view, base + f.offsetBytes + i * eb, eb, x));
    else if (typeof v === 'bigint') writeScalar(view, base + f.offsetBytes, eb, v);
  }
}

export function encodeStructArray(catalog: UapiCatalog, s: StructInfo, elements: StructValues[]): Uint8Array {
  const out = new Uint8Array(s.sizeBytes * elements.length);
  const view = new DataView(out.buffer);
  elements.forEach((e, i) => encodeStructInto(catalog, s, e, view, i * s.sizeBytes));
  return out;
}

export function decodeStruct(catalog: UapiCatalog, s: StructInfo, view: DataView, base: number): JsonObject {
  const out: JsonObject = {};
  for (const f of s.fields) {
    const inner = catalog.structs.get(f.ctype);
    if (inner) {
      out[f.name] = decodeStruct(catalog, inner, view, base + f.offsetBytes);
      continue;
    }
    const eb = SCALAR_BYTES[f.ctype] ?? elementBytes(f);
    if (f.count) {
      const list: Json[] = [];
      for (let i = 0; i < f.count; i++) list.push(readScalar(view, base + f.offsetBytes + i * eb, f.ctype, eb));
      out[f.name] = list;
    } else {
      out[f.name] = readScalar(view, base + f.offsetBytes, f.ctype, eb);
    }
  }
  return out;
}

export function decodeStructArray(catalog: UapiCatalog, s: StructInfo, bytes: Uint8Array, count: number): JsonObject[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const list: JsonObject[] = [];
  for (let i = 0; i < count && (i + 1) * s.sizeBytes <= bytes.byteLength; i++) list.push(decodeStruct(catalog, s, view, i * s.sizeBytes));
  return list;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
