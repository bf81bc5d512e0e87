/**
 * The wire rule for 64-bit integers (adapter protocol, case format): a JSON number when it is
 * at most 2^53−1, otherwise a string, "0x…" hex or decimal. Any u64 may be a string. These are
 * the only conversions between that form and the two in-memory forms: bigint at the uAPI
 * boundary (exact overflow checks), JS numbers on hot paths (page numbers, safe below 2^53).
 */

export const U64_MAX = (1n << 64n) - 1n;
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export type WireU64 = number | string;

/** Parses a wire u64. Throws RangeError on anything that is not an integer in [0, 2^64−1]. */
export function parseU64(value: unknown, what = 'value'): bigint {
  let v: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${what}: ${value} is not a u64 JSON number (integer 0..2^53-1)`);
    }
    v = BigInt(value);
  } else if (typeof value === 'string') {
    if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value)) {
      throw new RangeError(`${what}: '${value}' is not a u64 string ("0x…" hex or decimal)`);
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

/** The canonical wire form: a number up to 2^53−1, else a lowercase "0x…" string. */
export function u64ToWire(v: bigint): WireU64 {
  if (v < 0n || v > U64_MAX) throw new RangeError(`${v} is outside 0..2^64-1`);
  return v <= MAX_SAFE ? Number(v) : `0x${v.toString(16)}`;
}

/** Hex string form, always a string: used in reports and dumps. */
export function u64ToHex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
