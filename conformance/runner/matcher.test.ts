import { describe, expect, it } from 'vitest';
import { matchValue, type MatchContext } from './matcher.ts';
import { toyCatalog } from './testing/toy-catalog.ts';

function ctx(): MatchContext {
  return { catalog: toyCatalog, captures: new Map(), comparisons: 0 };
}

describe('matchValue', () => {
  it('compares hex byte strings as text, also when they contain only decimal digits', () => {
    expect(matchValue(ctx(), '0100000000000000', '0100000000000000ff00', 'data', { prefix: true })).toBeNull();
    expect(matchValue(ctx(), '0100000000000000', '0200000000000000ff00', 'data', { prefix: true })).not.toBeNull();
    expect(matchValue(ctx(), '0100', '0100', 'data', {})).toBeNull();
    expect(matchValue(ctx(), '0100', '01000000', 'data', {})).not.toBeNull();
  });
  it('still compares numbers by value whatever their wire form', () => {
    expect(matchValue(ctx(), '0x1000', 4096, 'iova', {})).toBeNull();
    expect(matchValue(ctx(), '4096', 4096, 'iova', {})).toBeNull();
    expect(matchValue(ctx(), '0x1000', '4096', 'iova', {})).toBeNull();
    expect(matchValue(ctx(), '0x1001', 4096, 'iova', {})).not.toBeNull();
  });
});

describe('keyed lists and descriptor words', () => {
  const words = [
    { addr: '0x5000', value: '0x0000000000007003' },
    { addr: '0x7008', value: '0x4000000000009001' },
  ];
  it('finds items by key in the order written, capturing a table address from an earlier word', () => {
    const c = ctx();
    c.captures.set('root', '0x5000');
    const want = { by: 'addr', items: [
      { addr: '$root', value: { bits: '0x3', addr_field: [51, 12, 12], addr: '$t' } },
      { addr: '$t + 8', value: '0x4000000000009001' },
    ] };
    expect(matchValue(c, want, words, 'words', {})).toBeNull();
    expect(c.captures.get('t')).toBe('0x7000');
  });
  it('fails on a word outside the address field, a wrong address, a missing key and an unnamed element', () => {
    const c = ctx();
    c.captures.set('root', '0x5000');
    c.captures.set('t', '0x8000');
    expect(matchValue(c, { by: 'addr', items: [{ addr: '$root', value: { bits: '0x1', addr_field: [51, 12, 12], addr: '$u' } }] }, words, 'words', {})?.message).toMatch(/outside the address/);
    expect(matchValue(c, { by: 'addr', items: [{ addr: '$root', value: { bits: '0x3', addr_field: [51, 12, 12], addr: '$t' } }] }, words, 'words', {})?.message).toMatch(/address field holds 0x7000/);
    expect(matchValue(c, { by: 'addr', items: [{ addr: '0x6000', value: '0' }] }, words, 'words', {})?.message).toMatch(/no element whose addr is 0x6000/);
    expect(matchValue(c, { by: 'addr', items: [{ addr: '0x5000', value: '0x7003' }] }, words, 'words', {})?.message).toMatch(/does not name/);
    expect(matchValue(c, { by: 'addr', exact: false, items: [{ addr: '0x5000', value: '0x7003' }] }, words, 'words', {})).toBeNull();
  });
  it('reads a big-endian word and a shifted address field (RISC-V PPN at bit 10)', () => {
    const c = ctx();
    // TCE 0x...1234_5003 stored big-endian reads back as bytes 03 50 34 12 00 00 00 00.
    expect(matchValue(c, { bits: '0x3', addr_field: [51, 12, 12], addr: '$pa', big_endian: true }, '0x0000000012345003'.replace(/^0x(..)(..)(..)(..)(..)(..)(..)(..)$/, '0x$8$7$6$5$4$3$2$1'), 'w', {})).toBeNull();
    expect(c.captures.get('pa')).toBe('0x12345000');
    expect(matchValue(c, { bits: '0xd7', addr_field: [53, 10, 12], addr: '$pa' }, `0x${((0x12345n << 10n) | 0xd7n).toString(16)}`, 'w', {})).toBeNull();
  });
});
