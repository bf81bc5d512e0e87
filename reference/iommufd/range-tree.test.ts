import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RangeTree } from './range-tree.ts';
import type { Range } from './range-tree.ts';

const U64_MAX = (1n << 64n) - 1n;
const r = (start: bigint, last: bigint): Range => ({ start, last });

describe('RangeTree', () => {
  it('finds the first range intersecting a query, at the 64-bit edges too', () => {
    const t = new RangeTree<Range>();
    const low = r(0n, 0xfffn);
    const mid = r(0x10000n, 0x1ffffn);
    const top = r(U64_MAX - 0xfffn, U64_MAX);
    t.insert(mid);
    t.insert(top);
    t.insert(low);
    expect(t.firstIntersecting(0n, U64_MAX)).toBe(low);
    expect(t.firstIntersecting(0x1000n, 0xffffn)).toBeUndefined();
    expect(t.firstIntersecting(0x1000n, 0x10000n)).toBe(mid);
    expect(t.firstIntersecting(0x1ffffn, 0x1ffffn)).toBe(mid);
    expect(t.firstIntersecting(0x20000n, U64_MAX - 0x1000n)).toBeUndefined();
    expect(t.firstIntersecting(U64_MAX, U64_MAX)).toBe(top);
    expect(t.after(low)).toBe(mid);
    expect(t.after(mid)).toBe(top);
    expect(t.after(top)).toBeUndefined();
    expect(t.toArray()).toEqual([low, mid, top]);
    t.checkInvariants();
  });

  it('refuses overlapping inserts and deletes of ranges it does not hold', () => {
    const t = new RangeTree<Range>();
    const a = r(10n, 20n);
    t.insert(a);
    expect(() => t.insert(r(20n, 30n))).toThrow(/overlaps/);
    expect(() => t.insert(r(0n, 10n))).toThrow(/overlaps/);
    expect(() => t.insert(r(5n, 4n))).toThrow(/start > last/);
    expect(() => t.delete(r(10n, 20n))).toThrow(/not stored/);
    expect(t.size).toBe(1);
    t.delete(a);
    expect(t.size).toBe(0);
    expect(t.firstIntersecting(0n, U64_MAX)).toBeUndefined();
  });

  it('stays shallow for sequential inserts (the auto-IOVA and FIXED-run pattern)', () => {
    const t = new RangeTree<Range>();
    const n = 1 << 15;
    for (let i = 0; i < n; i++) t.insert(r(BigInt(i) * 0x200000n, BigInt(i) * 0x200000n + 0x1fffffn));
    t.checkInvariants();
    // A degenerate (list-shaped) tree would make this recursion overflow the stack or take
    // seconds; a treap's expected depth is about 3·log2(n).
    const depth = (t as unknown as { root: unknown }).root;
    const measure = (n: { treeLeft: unknown; treeRight: unknown } | null): number =>
      n === null ? 0 : 1 + Math.max(measure(n.treeLeft as never), measure(n.treeRight as never));
    expect(measure(depth as never)).toBeLessThan(60);
    for (let i = 0; i < n; i += 2) {
      const hit = t.firstIntersecting(BigInt(i) * 0x200000n, BigInt(i) * 0x200000n);
      t.delete(hit as Range);
    }
    t.checkInvariants();
    expect(t.size).toBe(n / 2);
  });

  it('agrees with a naive sorted-list model under random insert/delete/query sequences', () => {
    // Small keys near 0 and near 2^64 so that collisions, adjacency and the top edge all occur.
    const key = fc.oneof(fc.bigInt({ min: 0n, max: 40n }), fc.bigInt({ min: U64_MAX - 40n, max: U64_MAX }));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), a: key, b: key }),
      fc.record({ kind: fc.constant('delete' as const), a: key, b: key }),
      fc.record({ kind: fc.constant('query' as const), a: key, b: key }),
      fc.record({ kind: fc.constant('after' as const), a: key, b: key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const t = new RangeTree<Range>();
        let model: Range[] = [];
        const modelFirst = (s: bigint, l: bigint): Range | undefined => model.find((x) => x.last >= s && x.start <= l);
        for (const o of ops) {
          const lo = o.a < o.b ? o.a : o.b;
          const hi = o.a < o.b ? o.b : o.a;
          if (o.kind === 'insert') {
            const overlaps = model.some((x) => x.start <= hi && lo <= x.last);
            if (overlaps) expect(() => t.insert(r(lo, hi))).toThrow();
            else {
              const item = r(lo, hi);
              t.insert(item);
              model.push(item);
              model.sort((x, y) => (x.start < y.start ? -1 : 1));
            }
          } else if (o.kind === 'delete') {
            const victim = modelFirst(lo, hi);
            if (victim !== undefined) {
              expect(t.firstIntersecting(lo, hi)).toBe(victim);
              t.delete(victim);
              model = model.filter((x) => x !== victim);
            } else expect(t.firstIntersecting(lo, hi)).toBeUndefined();
          } else if (o.kind === 'query') {
            expect(t.firstIntersecting(lo, hi)).toBe(modelFirst(lo, hi));
            expect(t.firstEndingAtOrAfter(lo)).toBe(model.find((x) => x.last >= lo));
          } else {
            expect(t.after(r(lo, lo))).toBe(model.find((x) => x.start > lo));
          }
          expect(t.size).toBe(model.length);
          t.checkInvariants();
        }
        expect(t.toArray()).toEqual(model);
        // toEqual compares structure; identity matters to callers that delete by identity.
        t.toArray().forEach((x, i) => expect(x).toBe(model[i]));
      }),
      { numRuns: 300 },
    );
  });
});
