/**
 * The wire rule for 64-bit integers (adapter protocol, case format): a JSON number when it is
 * at most 2^53−1, otherwise a string, "0x…" hex or decimal. Any u64 may be a string. These are
 * the only conversions between that form and the two in-memory forms: bigint at the uAPI
 * boundary (exact overflow checks), JS numbers on hot paths (page numbers, safe below 2^53).
 */

export const U64_MAX = (1n << 64n) - 1n;
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export type WireU64 = number | string;

/** Longer strings are refused before BigInt sees them (a u64 needs at most 20 digits; zeros may pad). */
const WIRE_STRING_MAX_CHARS = 66;

/**
 * Parses a wire u64. Throws RangeError on anything that is not an integer in [0, 2^64−1]: a
 * value past 2^64−1 is refused, never wrapped (BigInt.asUintN would turn 2^64 + 16384 into
 * 16384). Every path that reads a u64 from the wire goes through here or parseWireInt.
 */
export function parseU64(value: unknown, what = 'value'): bigint {
  let v: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${what}: ${value} is not a u64 JSON number (integer 0..2^53-1)`);
    }
    v = BigInt(value);
  } else if (typeof value === 'string') {
    if (value.length > WIRE_STRING_MAX_CHARS || !/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value)) {
      throw new RangeError(`${what}: '${value.slice(0, 40)}' is not a u64 string ("0x…" hex or decimal)`);
    }
    v = BigInt(value);
  } else if (typeof value === 'bigint') {
    v = value;
  } else {
    throw new RangeError(`${what}: expected a u64, got ${typeof value}`);
  }
  if (v < 0n || v > U64_MAX) throw new RangeError(`${what}: ${value} is outside 0..2^64-1`);
  return v;
}

/**
 * Parses a wire integer of a uAPI field of any C type: a u64 as parseU64 takes it, or a negative
 * JSON number or decimal string down to −2^63 for a signed field, as its 64-bit two's complement.
 * Throws RangeError on anything else, past 2^64−1 or below −2^63 included.
 */
export function parseWireInt(value: unknown, what = 'value'): bigint {
  const negative = (typeof value === 'number' && value < 0) || (typeof value === 'string' && value.startsWith('-'));
  if (!negative) return parseU64(value, what);
  let v: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${what}: ${value} is not an integer JSON number in -(2^53-1)..2^53-1`);
    v = BigInt(value);
  } else {
    const s = value as string;
    if (s.length > WIRE_STRING_MAX_CHARS || !/^-[0-9]+$/.test(s)) throw new RangeError(`${what}: '${s.slice(0, 40)}' is not a signed decimal string`);
    v = BigInt(s);
  }
  if (v < -(1n << 63n)) throw new RangeError(`${what}: ${value} is below -2^63`);
  return BigInt.asUintN(64, v);
}

/** The canonical wire form: a number up to 2^53−1, else a lowercase "0x…" string. */
export function u64ToWire(v: bigint): WireU64 {
  if (v < 0n || v > U64_MAX) throw new RangeError(`${v} is outside 0..2^64-1`);
  return v <= MAX_SAFE ? Number(v) : `0x${v.toString(16)}`;
}

/** Hex string form, always a string: used in reports and dumps. */
export function u64ToHex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
