/**
 * Compares a step's expected `out` with what came back, and captures `$name` values on their
 * first appearance. Only the fields the case names are compared; numbers compare by value
 * whatever their wire form (42, "42", "0x2a"); flag and enum names compare by the integer they
 * stand for; lists compare whole, except a field decoded from user memory after the call,
 * whose expected list (or hex string) compares with the first elements. Every comparison made
 * is counted, so that a case that asserts nothing can be told from one that passes.
 *
 * Two matchers let a case assert memory an implementation lays out itself (PGTABLE_DUMP words,
 * whose table frames are wherever its allocator put them) without knowing the addresses:
 * a keyed list (`{"by": "addr", "items": [...]}`) finds each expected element by the value of
 * its key field, in the order written, so a key may use captures made by earlier items; and a
 * descriptor word (`{"bits": …, "addr_field": [hi, lo, shift], "addr": "$t"}`) splits an
 * integer into an address field, captured or compared, and the other bits, compared exactly.
 */
import type { FieldInfo, StructInfo, UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { CaseError, bareCapture, evalExpr, integerOf, parseExpr } from './expression.ts';
import { scalarValue } from './compiler.ts';
import { definedEntries } from '../../schemas/lib/defined-entries.ts';
import type { Fields, Json, JsonObject, Value } from './types.ts';

export interface Mismatch {
  field: string;
  expected: Json;
  actual: Json;
  message: string;
}

export interface MatchContext {
  catalog: UapiCatalog;
  captures: Map<string, unknown>;
  comparisons: number;
}

function asInteger(v: unknown): bigint | null {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|-?[0-9]+)$/.test(v)) return BigInt(v);
  if (typeof v === 'bigint') return v;
  return null;
}

function show(v: unknown): Json {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  return v as Json;
}

export function matchValue(
  ctx: MatchContext,
  expected: Value,
  actual: Json | undefined,
  field: string,
  info: { field?: FieldInfo; struct?: StructInfo; prefix?: boolean },
): Mismatch | null {
  const miss = (message: string, exp: unknown = expected): Mismatch => ({ field, expected: show(exp), actual: show(actual), message });
  if (typeof expected === 'string') {
    const name = bareCapture(expected);
    if (name !== null && !ctx.captures.has(name)) {
      if (actual === undefined) return miss(`${field} is missing, so $${name} cannot be captured`);
      ctx.captures.set(name, actual);
      return null;
    }
    ctx.comparisons++;
    if (name !== null) {
      const want = ctx.captures.get(name);
      const a = asInteger(actual);
      const w = asInteger(want);
      const same = a !== null && w !== null ? a === w : JSON.stringify(want) === JSON.stringify(actual);
      return same ? null : miss(`${field} differs from $${name}`, want as Json);
    }
    // Hex bytes (a decoded byte buffer, MEM_READ data) are text: "0100…" is not the decimal
    // number 100…, even though it parses as one.
    if (typeof actual === 'string' && !/^0x/i.test(actual) && /^[0-9a-fA-F]+$/.test(expected)) {
      const a = actual.toLowerCase();
      const w = expected.toLowerCase();
      return (info.prefix ? a.startsWith(w) : a === w) ? null : miss(`${field} differs`);
    }
    const e = parseExpr(expected);
    if (e) {
      const want = evalExpr(e, ctx.captures, true);
      return asInteger(actual) === want ? null : miss(`${field} should be ${expected}`, want);
    }
    if (info.field?.flags || info.field?.enum) {
      const want = scalarValue(ctx.catalog, info.field, expected, ctx.captures, field);
      return asInteger(actual) === want ? null : miss(`${field} should be ${expected} (${want})`);
    }
    if (typeof actual !== 'string') return miss(`${field} should be the string ${JSON.stringify(expected)}`);
    const ok = info.prefix ? actual.toLowerCase().startsWith(expected.toLowerCase()) : actual.toLowerCase() === expected.toLowerCase();
    return ok ? null : miss(`${field} differs`);
  }
  if (typeof expected === 'number') {
    ctx.comparisons++;
    return asInteger(actual) === BigInt(expected) ? null : miss(`${field} should be ${expected}`);
  }
  if (expected === null || typeof expected === 'boolean') {
    ctx.comparisons++;
    return actual === expected ? null : miss(`${field} should be ${JSON.stringify(expected)}`);
  }
  if (Array.isArray(expected)) {
    if (info.field?.flags && expected.every((x) => typeof x === 'string')) {
      ctx.comparisons++;
      const want = scalarValue(ctx.catalog, info.field, expected, ctx.captures, field);
      return asInteger(actual) === want ? null : miss(`${field} should be ${expected.join('|')} (${want})`);
    }
    if (!Array.isArray(actual)) {
      ctx.comparisons++;
      return miss(`${field} should be a list`);
    }
    if (info.prefix ? actual.length < expected.length : actual.length !== expected.length) {
      ctx.comparisons++;
      return miss(`${field} has ${actual.length} elements, ${info.prefix ? 'at least ' : ''}${expected.length} expected`);
    }
    for (let i = 0; i < expected.length; i++) {
      const m = matchValue(ctx, expected[i], actual[i], `${field}[${i}]`, { struct: info.struct, field: info.struct ? undefined : info.field });
      if (m) return m;
    }
    return null;
  }
  if (isKeyedList(expected) && Array.isArray(actual)) return matchKeyedList(ctx, expected, actual, field);
  if (isWordPattern(expected) && asInteger(actual) !== null) return matchWord(ctx, expected, asInteger(actual)!, actual as Json, field);
  // An object: a struct element (fields compared by name) or a hook's nested output.
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
    ctx.comparisons++;
    return miss(`${field} should be an object`);
  }
  return matchFields(ctx, expected, actual, field, info.struct);
}

export function matchFields(
  ctx: MatchContext,
  expected: Fields,
  actual: JsonObject,
  prefix: string,
  struct?: StructInfo,
  fieldInfo?: (name: string) => { field?: FieldInfo; struct?: StructInfo; prefix?: boolean },
): Mismatch | null {
  for (const [name, want] of definedEntries(expected)) {
    const info = fieldInfo ? fieldInfo(name) : { field: struct?.fields.find((f) => f.name === name) };
    const m = matchValue(ctx, want, actual[name], prefix ? `${prefix}.${name}` : name, info);
    if (m) return m;
  }
  return null;
}

export { CaseError };

const U64 = (1n << 64n) - 1n;

interface KeyedList {
  by: string;
  items: Fields[];
  exact?: boolean;
}

function isKeyedList(v: Value): v is Value & KeyedList {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as JsonObject).by === 'string' && Array.isArray((v as JsonObject).items);
}

/**
 * A list compared as a set keyed by one field: each expected item is found by the integer its
 * key evaluates to (with the captures so far, including those earlier items made), then
 * compared field by field. With `exact` (the default) the list holds nothing else.
 */
function matchKeyedList(ctx: MatchContext, expected: KeyedList, actual: Json[], field: string): Mismatch | null {
  const used = new Set<number>();
  for (let i = 0; i < expected.items.length; i++) {
    const item = expected.items[i];
    const key = item[expected.by];
    if (typeof key !== 'string' && typeof key !== 'number') {
      throw new CaseError(`${field}.items[${i}].${expected.by}: the key must be an integer or a $capture expression`);
    }
    const want = typeof key === 'number' ? BigInt(key) : evalExpr(parseExpr(key) ?? (() => {
      throw new CaseError(`${field}.items[${i}].${expected.by}: ${JSON.stringify(key)} is not an integer or expression`);
    })(), ctx.captures, true);
    ctx.comparisons++;
    const at = actual.findIndex((a, j) => !used.has(j) && a !== null && typeof a === 'object' && !Array.isArray(a) && asInteger((a as JsonObject)[expected.by]) === want);
    if (at < 0) {
      return { field: `${field}[${expected.by}=0x${want.toString(16)}]`, expected: item as Json, actual: null, message: `${field} has no element whose ${expected.by} is 0x${want.toString(16)}` };
    }
    used.add(at);
    const m = matchFields(ctx, item, actual[at] as JsonObject, `${field}[${expected.by}=0x${want.toString(16)}]`);
    if (m) return m;
  }
  if (expected.exact !== false) {
    ctx.comparisons++;
    const extra = actual.findIndex((_, j) => !used.has(j));
    if (extra >= 0) {
      return { field: `${field}[${extra}]`, expected: null, actual: actual[extra], message: `${field} has ${actual.length - used.size} element(s) the case does not name, the first shown` };
    }
  }
  return null;
}

interface WordPattern {
  bits: string | number;
  addr?: string | number;
  addr_field?: [number, number, number];
  big_endian?: boolean;
}

function isWordPattern(v: Value): v is Value & WordPattern {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, 'bits');
}

function bswap64(v: bigint): bigint {
  let out = 0n;
  for (let i = 0n; i < 8n; i++) out |= ((v >> (8n * i)) & 0xffn) << (8n * (7n - i));
  return out;
}

/**
 * A descriptor word: `addr_field` [hi, lo, shift] names bits hi..lo that hold an address
 * shifted right by `shift` (bits 51:12 with shift 12 for an x86 or Arm table address; RISC-V's
 * PPN in bits 53:10 with shift 12); `addr` captures that address or compares it with an
 * expression; every other bit must equal `bits`. `big_endian` reads the word's bytes in the
 * other order first (PGTABLE_DUMP shows memory as little-endian words, a TCE is big-endian).
 */
function matchWord(ctx: MatchContext, expected: WordPattern, value: bigint, actual: Json, field: string): Mismatch | null {
  const word = expected.big_endian === true ? bswap64(value & U64) : value;
  const bitsWant = integerOf(expected.bits, ctx.captures, `${field}.bits`);
  let rest = word;
  let address: bigint | null = null;
  if (expected.addr_field !== undefined) {
    const [hi, lo, shift] = expected.addr_field;
    if (!(Number.isInteger(hi) && Number.isInteger(lo) && Number.isInteger(shift) && hi >= lo && lo >= 0 && hi < 64 && shift >= 0)) {
      throw new CaseError(`${field}.addr_field: ${JSON.stringify(expected.addr_field)} is not [hi, lo, shift] with 63 >= hi >= lo >= 0`);
    }
    const mask = ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
    address = ((word & mask) >> BigInt(lo)) << BigInt(shift);
    rest = word & ~mask & U64;
  } else if (expected.addr !== undefined) {
    throw new CaseError(`${field}: "addr" needs "addr_field"`);
  }
  const shown = `0x${word.toString(16)}`;
  ctx.comparisons++;
  if (rest !== bitsWant) {
    return { field, expected: expected as unknown as Json, actual, message: `${field}: the bits outside the address are 0x${rest.toString(16)}, 0x${bitsWant.toString(16)} expected (word ${shown})` };
  }
  if (expected.addr !== undefined && address !== null) {
    const name = typeof expected.addr === 'string' ? bareCapture(expected.addr) : null;
    if (name !== null && !ctx.captures.has(name)) {
      ctx.captures.set(name, `0x${address.toString(16)}`);
      return null;
    }
    ctx.comparisons++;
    const want = integerOf(expected.addr, ctx.captures, `${field}.addr`);
    if (address !== want) {
      return { field, expected: expected as unknown as Json, actual, message: `${field}: the address field holds 0x${address.toString(16)}, 0x${want.toString(16)} expected (word ${shown})` };
    }
  }
  return null;
}
