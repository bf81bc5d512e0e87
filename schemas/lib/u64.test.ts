import { describe, expect, it } from 'vitest';
import { parseU64, u64ToWire, U64_MAX } from './u64.ts';

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
});
