/**
 * Compares a step's expected `out` with what came back, and captures `$name` values on their
 * first appearance. Only the fields the case names are compared; numbers compare by value
 * whatever their wire form (42, "42", "0x2a"); flag and enum names compare by the integer they
 * stand for; lists compare whole, except a field decoded from user memory after the call,
 * whose expected list (or hex string) compares with the first elements. Every comparison made
 * is counted, so that a case that asserts nothing can be told from one that passes.
 */
import type { FieldInfo, StructInfo, UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { CaseError, bareCapture, evalExpr, parseExpr } from './expression.ts';
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
