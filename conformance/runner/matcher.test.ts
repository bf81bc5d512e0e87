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
