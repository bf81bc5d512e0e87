/**
 * The value expressions of a case: `"$name"` (a capture), `"$name + N"` / `"$name - N"` (a
 * capture plus or minus a constant), and integers written as JSON numbers or strings ("0x…",
 * decimal). Arithmetic is exact (bigint) and wraps nothing: a result outside 0..2^64−1 is an
 * error of the case, not a value.
 */
import { U64_MAX } from '../../schemas/lib/u64.ts';

export type Expr =
  | { kind: 'capture'; name: string; offset: bigint }
  | { kind: 'number'; value: bigint };

const CAPTURE = /^\$([A-Za-z_][A-Za-z0-9_]*)(?:\s*([+-])\s*(0x[0-9a-fA-F]+|[0-9]+))?$/;
const NUMBER = /^(0x[0-9a-fA-F]+|[0-9]+)$/;

/** Parses a string as an expression; null when it is not one (hex bytes, names, …). */
export function parseExpr(text: string): Expr | null {
  const m = CAPTURE.exec(text.trim());
  if (m) {
    const n = m[3] === undefined ? 0n : BigInt(m[3]);
    return { kind: 'capture', name: m[1], offset: m[2] === '-' ? -n : n };
  }
  if (NUMBER.test(text)) return { kind: 'number', value: BigInt(text) };
  return null;
}

/** True when the string is a bare capture reference (`$name`, no arithmetic). */
export function bareCapture(text: string): string | null {
  const e = parseExpr(text);
  return e && e.kind === 'capture' && e.offset === 0n && !/[+-]/.test(text) ? e.name : null;
}

export class CaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaseError';
  }
}

/** The numeric value of a capture (captured JSON numbers and u64 strings are numeric). */
export function numericCapture(name: string, captured: unknown): bigint {
  if (typeof captured === 'bigint') return captured;
  if (typeof captured === 'number' && Number.isInteger(captured)) return BigInt(captured);
  if (typeof captured === 'string' && NUMBER.test(captured)) return BigInt(captured);
  throw new CaseError(`$${name} holds ${JSON.stringify(captured)}, which is not an integer`);
}

/** Evaluates an expression to an integer with the captures so far. */
export function evalExpr(e: Expr, captures: ReadonlyMap<string, unknown>, signed = false): bigint {
  if (e.kind === 'number') return e.value;
  if (!captures.has(e.name)) throw new CaseError(`$${e.name} is used before it is captured`);
  const v = numericCapture(e.name, captures.get(e.name)) + e.offset;
  if (!signed && (v < 0n || v > U64_MAX)) {
    throw new CaseError(`$${e.name} ${e.offset < 0n ? '-' : '+'} ${e.offset < 0n ? -e.offset : e.offset} is outside 0..2^64-1`);
  }
  return v;
}

/** A case integer (JSON number, numeric string or expression) as a bigint. */
export function integerOf(value: unknown, captures: ReadonlyMap<string, unknown>, what: string): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new CaseError(`${what}: ${value} is not an exact integer; write it as a string`);
    return BigInt(value);
  }
  if (typeof value === 'string') {
    const e = parseExpr(value);
    if (e) return evalExpr(e, captures, true);
  }
  throw new CaseError(`${what}: ${JSON.stringify(value)} is not an integer, "0x…", decimal or $capture expression`);
}
