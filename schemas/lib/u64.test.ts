import { describe, expect, it } from 'vitest';
import { parseU64, parseWireInt, u64ToWire, U64_MAX } from './u64.ts';

describe('u64 wire rule', () => {
  it('accepts numbers up to 2^53-1 and strings for anything', () => {
    expect(parseU64(0)).toBe(0n);
    expect(parseU64(Number.MAX_SAFE_INTEGER)).toBe(2n ** 53n - 1n);
    expect(parseU64('0xffffffffffffffff')).toBe(U64_MAX);
    expect(parseU64('18446744073709551615')).toBe(U64_MAX);
  });
  it('rejects what is not a u64', () => {
    expect(() => parseU64(-1)).toThrow(RangeError);
    expect(() => parseU64(2 ** 53)).toThrow(RangeError);
    expect(() => parseU64(1.5)).toThrow(RangeError);
    expect(() => parseU64('0x1_0000_0000_0000_0000')).toThrow(RangeError);
    expect(() => parseU64('0x10000000000000000')).toThrow(RangeError);
    expect(() => parseU64('-1')).toThrow(RangeError);
  });
  it('writes numbers while exact and hex strings above', () => {
    expect(u64ToWire(4096n)).toBe(4096);
    expect(u64ToWire(2n ** 53n)).toBe('0x20000000000000');
    expect(u64ToWire(U64_MAX)).toBe('0xffffffffffffffff');
  });
  it('parseWireInt takes signed values down to -2^63 as two\'s complement and refuses past either end', () => {
    expect(parseWireInt(-1)).toBe(U64_MAX);
    expect(parseWireInt('-9223372036854775808')).toBe(1n << 63n);
    expect(parseWireInt('18446744073709551615')).toBe(U64_MAX);
    expect(() => parseWireInt('18446744073709551616')).toThrow(RangeError);
    expect(() => parseWireInt('-9223372036854775809')).toThrow(RangeError);
    expect(() => parseU64(`0x${'0'.repeat(100)}1`)).toThrow(RangeError);
  });
});
