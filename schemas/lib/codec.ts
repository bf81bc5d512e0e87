/**
 * Schema-driven binary codec for the uAPI structs: JSON fields (the protocol's form, u64 by the
 * wire rule of u64.ts) to the bytes a C program holds in memory and back, plus the kernel's
 * extensible-struct rule (copy_struct_from_user) as a pure function.
 *
 * Layouts come only from the catalog (offsets, sizes, fixed arrays, embedded structs, unions).
 * Bytes are little-endian: the simulated machine is x86-64/arm64 little-endian, and
 * `__aligned_le64` is little-endian on every host anyway. Encoding checks every value before
 * writing anything and names the struct and field of the first bad one.
 */
import type { FieldInfo, StructInfo } from './catalog-types.ts';
import { getCatalog, ioctlInfo, isScalar, SCALAR_BYTES, structInfo } from './catalog.ts';
import { parseU64, u64ToWire } from './u64.ts';

export type WireValue = number | string | WireValue[] | { [k: string]: WireValue };
export type WireFields = Record<string, unknown>;

const TRAILING = '__trailing';

function elementBytes(f: FieldInfo): number {
  return f.count ? f.sizeBytes / f.count : f.sizeBytes;
}

/** Parses one scalar of C type `ctype` into the unsigned bit pattern to store. */
function scalarBits(ctype: string, bytes: number, value: unknown, where: string): bigint {
  if (ctype === '__s32' || ctype === '__s64') {
    let v: bigint;
    if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
    else if (typeof value === 'bigint') v = value;
    else if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) v = BigInt(value);
    else throw new RangeError(`${where}: ${JSON.stringify(value)} is not a ${ctype} integer`);
    const bits = BigInt(bytes * 8);
    const min = -(1n << (bits - 1n));
    const max = (1n << (bits - 1n)) - 1n;
    if (v < min || v > max) throw new RangeError(`${where}: ${value} is outside ${ctype} (${min}..${max})`);
    return BigInt.asUintN(bytes * 8, v);
  }
  const v = parseU64(value, where);
  if (bytes < 8 && v >= 1n << BigInt(bytes * 8)) {
    throw new RangeError(`${where}: ${value} does not fit ${ctype} (${bytes} bytes)`);
  }
  return v;
}

function writeBits(view: DataView, offset: number, bytes: number, v: bigint): void {
  if (bytes === 8) view.setBigUint64(offset, v, true);
  else if (bytes === 4) view.setUint32(offset, Number(v), true);
  else if (bytes === 2) view.setUint16(offset, Number(v), true);
  else view.setUint8(offset, Number(v));
}

function readScalar(view: DataView, offset: number, ctype: string, bytes: number): number | string {
  switch (ctype) {
    case '__u8': return view.getUint8(offset);
    case '__u16': return view.getUint16(offset, true);
    case '__u32': return view.getUint32(offset, true);
    case '__s32': return view.getInt32(offset, true);
    case '__s64': {
      const v = view.getBigInt64(offset, true);
      return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    }
    default:
      if (bytes !== 8) throw new Error(`unexpected scalar ${ctype}`);
      return u64ToWire(view.getBigUint64(offset, true));
  }
}

type Write = { offset: number; bytes: number; bits: bigint };

/** Collects every store `fields` asks for, checking all values first. */
function planStruct(s: StructInfo, fields: WireFields, base: number, where: string, out: Write[]): void {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new TypeError(`${where}: expected an object of ${s.name} fields`);
  }
  const byName = new Map(s.fields.map((f) => [f.name, f]));
  const unionSeen = new Map<string, [string, bigint[]]>();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (s.protocolFields?.includes(name)) continue;
    const f = byName.get(name);
    if (!f) {
      throw new RangeError(`${where}.${name}: struct ${s.name} has no field ${name}${name === TRAILING ? ' (__trailing belongs to an ioctl argument, not to the struct)' : ''}`);
    }
    const at = `${where}.${name}`;
    const inner = isScalar(f.ctype) ? undefined : structInfo(f.ctype);
    const eb = elementBytes(f);
    const count = f.count ?? 1;
    const values: unknown[] = f.count ? (Array.isArray(value) ? value : badArray(at, f)) : [value];
    if (values.length > count) throw new RangeError(`${at}: ${values.length} elements, ${s.name}.${name} has ${count}`);
    const bitsForUnion: bigint[] = [];
    values.forEach((v, i) => {
      const off = base + f.offsetBytes + i * eb;
      const elemWhere = f.count ? `${at}[${i}]` : at;
      if (inner) planStruct(inner, v as WireFields, off, elemWhere, out);
      else {
        const bits = scalarBits(f.ctype, eb, v, elemWhere);
        bitsForUnion.push(bits);
        out.push({ offset: off, bytes: eb, bits });
      }
    });
    if (f.union !== undefined) {
      // Two names of one union member given with different values cannot both be stored.
      const prior = unionSeen.get(f.union);
      if (prior && prior[1].some((b, i) => b !== bitsForUnion[i])) {
        throw new RangeError(`${at}: conflicts with ${where}.${prior[0]} (same union ${f.union})`);
      }
      unionSeen.set(f.union, [name, bitsForUnion]);
    }
  }
}

function badArray(at: string, f: FieldInfo): never {
  throw new TypeError(`${at}: expected an array of up to ${f.count} elements`);
}

/**
 * The bytes of struct `structName` (exactly sizeof) holding `fields`; absent fields are zero.
 * Protocol-only fields (`device`) are skipped; any other unknown field is an error naming it.
 */
export function encodeStruct(structName: string, fields: WireFields): Uint8Array {
  const s = structInfo(structName);
  const bytes = new Uint8Array(s.sizeBytes);
  encodeStructInto(s, fields, bytes, 0, structName);
  return bytes;
}

function encodeStructInto(s: StructInfo, fields: WireFields, bytes: Uint8Array, base: number, where: string): void {
  const plan: Write[] = [];
  planStruct(s, fields, base, where, plan);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const w of plan) writeBits(view, w.offset, w.bytes, w.bits);
}

/**
 * Every field of struct `structName` read from `bytes` (at least sizeof long): integers as JSON
 * numbers, u64 in wire form, fixed arrays as arrays, embedded structs as objects. Both names of
 * a union are present.
 */
export function decodeStruct(structName: string, bytes: Uint8Array, offsetBytes = 0): Record<string, WireValue> {
  const s = structInfo(structName);
  if (bytes.byteLength - offsetBytes < s.sizeBytes) {
    throw new RangeError(`${structName}: ${bytes.byteLength - offsetBytes} bytes, the struct has ${s.sizeBytes}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeAt(s, view, offsetBytes);
}

function decodeAt(s: StructInfo, view: DataView, base: number): Record<string, WireValue> {
  const out: Record<string, WireValue> = {};
  for (const f of s.fields) {
    const inner = isScalar(f.ctype) ? undefined : structInfo(f.ctype);
    const eb = elementBytes(f);
    const one = (i: number): WireValue => {
      const off = base + f.offsetBytes + i * eb;
      return inner ? decodeAt(inner, view, off) : readScalar(view, off, f.ctype, eb);
    };
    out[f.name] = f.count ? Array.from({ length: f.count }, (_, i) => one(i)) : one(0);
  }
  return out;
}

/** `count` structs laid out back to back every `strideBytes` (default sizeof), zero between. */
export function encodeStructArray(structName: string, items: readonly WireFields[], strideBytes?: number): Uint8Array {
  const s = structInfo(structName);
  const stride = strideBytes ?? s.sizeBytes;
  if (stride < s.sizeBytes) throw new RangeError(`${structName}: stride ${stride} is smaller than the struct (${s.sizeBytes})`);
  const bytes = new Uint8Array(stride * items.length);
  const plan: Write[] = [];
  items.forEach((it, i) => planStruct(s, it, i * stride, `${structName}[${i}]`, plan));
  const view = new DataView(bytes.buffer);
  for (const w of plan) writeBits(view, w.offset, w.bytes, w.bits);
  return bytes;
}

/** Reads `count` structs (default: as many whole strides as `bytes` holds). */
export function decodeStructArray(structName: string, bytes: Uint8Array, count?: number, strideBytes?: number): Record<string, WireValue>[] {
  const s = structInfo(structName);
  const stride = strideBytes ?? s.sizeBytes;
  if (stride < s.sizeBytes) throw new RangeError(`${structName}: stride ${stride} is smaller than the struct (${s.sizeBytes})`);
  const whole = bytes.byteLength >= s.sizeBytes ? Math.floor((bytes.byteLength - s.sizeBytes) / stride) + 1 : 0;
  const n = count ?? whole;
  if (n > whole) {
    throw new RangeError(`${structName}: ${n} entries of stride ${stride} need ${(n - 1) * stride + s.sizeBytes} bytes, have ${bytes.byteLength}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: n }, (_, i) => decodeAt(s, view, i * stride));
}

/** Hex digits only; no repeated group, so V8 checks it without backtracking state per byte. */
const HEX_DIGITS = /^[0-9a-fA-F]*$/;

/**
 * Whether `s` is hex bytes (two digits a byte, any case), in linear time and constant stack: a
 * pattern like ^([0-9a-f]{2})*$ keeps a backtrack entry per byte and throws "Maximum call stack
 * size exceeded" past about 4 M bytes.
 */
export function isHexBytes(s: string): boolean {
  return s.length % 2 === 0 && HEX_DIGITS.test(s);
}

/** Hex (two digits a byte, any case) to bytes; throws naming `what` on a malformed string. */
export function hexToBytes(hex: unknown, what = TRAILING): Uint8Array {
  if (hex === undefined || hex === '') return new Uint8Array(0);
  if (typeof hex !== 'string' || !isHexBytes(hex)) {
    throw new TypeError(`${what}: expected hex bytes (two hex digits per byte), got ${JSON.stringify(String(hex).slice(0, 80))}`);
  }
  const buf = Buffer.from(hex, 'hex');
  // A copy of its own: Buffer's small results share a pool, callers may view `.buffer` from 0.
  return new Uint8Array(buf);
}

/** Bytes to lowercase hex. */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export type CopyFromUserResult =
  | { ok: true; fields: Record<string, WireValue>; userSizeBytes: number }
  | { ok: false; errno: 'EINVAL' | 'E2BIG' };

function structArg(ioctlName: string): { s: StructInfo; sizeField: 'size' | 'argsz'; minSize: number; family: string } {
  const info = ioctlInfo(ioctlName);
  if (info.struct === undefined) throw new Error(`${ioctlName} takes no struct argument`);
  return { s: structInfo(info.struct), sizeField: info.sizeField!, minSize: info.minSizeBytes!, family: info.family };
}

/** The size the caller claims: the size field when given, else sizeof + the trailing bytes. */
export function userSizeOf(ioctlName: string, arg: WireFields): number {
  const { s, sizeField } = structArg(ioctlName);
  const given = arg[sizeField];
  if (given === undefined) return s.sizeBytes + hexToBytes(arg[TRAILING]).length;
  return Number(scalarBits('__u32', 4, given, `${ioctlName}.${sizeField}`));
}

/**
 * What the kernel reads from the user's argument (iommufd: main.c + copy_struct_from_user):
 * the user's memory is the fields laid out in C order followed by `__trailing`, `size` bytes of
 * it. size < min_size → EINVAL; the bytes past sizeof that size covers must all be zero, else
 * E2BIG (bytes `__trailing` does not supply are zero); what size does not cover reads as zero.
 * VFIO commands (argsz) check argsz < minsz → EINVAL only: their handlers copy a fixed prefix
 * and never look past their struct.
 */
export function copyStructFromUser(ioctlName: string, arg: WireFields): CopyFromUserResult {
  const { s, sizeField, minSize, family } = structArg(ioctlName);
  const fields: WireFields = { ...arg };
  delete fields[TRAILING];
  const trailing = hexToBytes(arg[TRAILING]);
  const size = userSizeOf(ioctlName, arg);
  fields[sizeField] = size;
  const full = encodeStruct(s.name, fields);
  if (size < minSize) return { ok: false, errno: 'EINVAL' };
  if (family !== 'vfio-device' && family !== 'vfio-container' && size > s.sizeBytes) {
    const covered = trailing.subarray(0, size - s.sizeBytes);
    if (covered.some((b) => b !== 0)) return { ok: false, errno: 'E2BIG' };
  }
  if (size < s.sizeBytes) full.fill(0, Math.max(size, 0));
  // The size field itself always holds what the user wrote.
  new DataView(full.buffer).setUint32(0, size >>> 0, true);
  return { ok: true, fields: decodeStruct(s.name, full), userSizeBytes: size };
}

/**
 * What the kernel writes back (iommufd_ucmd_respond, VFIO copy_to_user of minsz): the first
 * min(userSizeBytes, sizeof) bytes of the kernel's struct. `fields` are the kernel's values;
 * the result holds those bytes and the fields that lie wholly inside them (`cut` names a field
 * the copy only partly covers: the user sees its low bytes changed).
 */
export function copyStructToUser(ioctlName: string, fields: WireFields, userSizeBytes: number): {
  bytes: Uint8Array; fields: Record<string, WireValue>; cut: string[];
} {
  const { s } = structArg(ioctlName);
  const kernel = encodeStruct(s.name, fields);
  const n = Math.max(0, Math.min(userSizeBytes, s.sizeBytes));
  const decoded = decodeStruct(s.name, kernel);
  const out: Record<string, WireValue> = {};
  const cut: string[] = [];
  for (const f of s.fields) {
    if (f.offsetBytes + f.sizeBytes <= n) out[f.name] = decoded[f.name];
    else if (f.offsetBytes < n) cut.push(f.name);
  }
  return { bytes: kernel.slice(0, n), fields: out, cut };
}

/** Scalar byte sizes, re-exported for callers that lay out pointer contents by hand. */
export { SCALAR_BYTES };

function getCatalogStructs(): Iterable<StructInfo> {
  return getCatalog().structs.values();
}

export interface VfioCap {
  /** Offset of the capability's header from the start of the INFO buffer. */
  offsetBytes: number;
  id: number;
  version: number;
  next: number;
  /** The capability struct the id names (absent for an id the catalog does not know). */
  struct?: string;
  fields?: Record<string, WireValue>;
  /** The flexible array after the struct (IOVA_RANGE: the ranges). */
  entries?: Record<string, WireValue>[];
}

/**
 * Walks a VFIO INFO capability chain (VFIO_IOMMU_GET_INFO): `buffer` is the whole INFO buffer
 * as the user holds it (the struct followed by `__trailing`), `capOffset` the struct's
 * cap_offset. Each header's `next` is an offset from the buffer start; 0 ends the chain. A
 * chain that leaves the buffer or loops is an error naming the offset.
 */
export function decodeVfioCapChain(buffer: Uint8Array, capOffset: number): VfioCap[] {
  const caps: VfioCap[] = [];
  const seen = new Set<number>();
  const byId = new Map<number, StructInfo>();
  for (const s of getCatalogStructs()) if (s.capId !== undefined) byId.set(s.capId, s);
  const headerBytes = structInfo('vfio_info_cap_header').sizeBytes;
  for (let off = capOffset; off !== 0;) {
    if (seen.has(off)) throw new RangeError(`VFIO capability chain loops back to offset ${off}`);
    seen.add(off);
    if (off + headerBytes > buffer.byteLength) throw new RangeError(`VFIO capability at offset ${off} lies past the ${buffer.byteLength}-byte buffer`);
    const h = decodeStruct('vfio_info_cap_header', buffer, off) as { id: number; version: number; next: number };
    const cap: VfioCap = { offsetBytes: off, id: h.id, version: h.version, next: h.next };
    const s = byId.get(h.id);
    if (s && off + s.sizeBytes <= buffer.byteLength) {
      cap.struct = s.name;
      cap.fields = decodeStruct(s.name, buffer, off);
      if (s.flexibleArray) {
        const n = Number(cap.fields[s.flexibleArray.countField]);
        const start = off + s.sizeBytes;
        const elem = structInfo(s.flexibleArray.struct).sizeBytes;
        const fit = Math.max(0, Math.min(n, Math.floor((buffer.byteLength - start) / elem)));
        cap.entries = decodeStructArray(s.flexibleArray.struct, buffer.subarray(start, start + fit * elem), fit);
      }
    }
    caps.push(cap);
    off = h.next;
  }
  return caps;
}
