import { describe, expect, it } from 'vitest';
import { ENTRY_READ, ENTRY_WRITE, IotlbEngine } from './engine.ts';

const RW = ENTRY_READ | ENTRY_WRITE;
const hiOf = (a: number) => Math.floor(a / 2 ** 32);
const loOf = (a: number) => a % 2 ** 32;
const fill = (e: IotlbEngine, ctx: number, iova: number, s: number, oa: number) => e.fill(ctx, hiOf(iova), loOf(iova), s, oa, RW, 0);
const hit = (e: IotlbEngine, ctx: number, iova: number) => e.lookup(ctx, hiOf(iova), loOf(iova)) >= 0;

describe('IotlbEngine', () => {
  for (const policy of ['realistic', 'sticky'] as const) {
    it(`${policy}: one entry per leaf, looked up at any address inside it`, () => {
      const e = new IotlbEngine(policy, 64, 4);
      const c = e.context(0, 7, 0);
      fill(e, c, 0x4020_0000, 21, 0x1_0000_0000);
      const slot = e.lookup(c, 0, 0x4023_4567);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(e.oa[slot]).toBe(0x1_0000_0000);
      expect(e.sizeLg2Of(slot)).toBe(21);
      expect(hit(e, c, 0x4040_0000)).toBe(false);
      // Another context with the same address does not see it.
      expect(hit(e, e.context(0, 8, 0), 0x4020_0000)).toBe(false);
      expect(e.stats).toMatchObject({ hits: 1, misses: 2 });
    });

    it(`${policy}: addresses above 2^32 and 1 GiB leaves keep their own keys`, () => {
      const e = new IotlbEngine(policy, 64, 4);
      const c = e.context(1, 2, 3);
      fill(e, c, 2 ** 47 + 2 ** 30, 30, 2 ** 31);
      fill(e, c, 2 ** 30, 30, 0);
      expect(e.oa[e.lookup(c, hiOf(2 ** 47 + 2 ** 30), 2 ** 30 + 5)]).toBe(2 ** 31);
      expect(e.oa[e.lookup(c, 0, 2 ** 30 + 5)]).toBe(0);
      expect(hit(e, c, 2 ** 47)).toBe(false);
    });

    it(`${policy}: a context-wide invalidation drops only that context`, () => {
      const e = new IotlbEngine(policy, 64, 4);
      const a = e.context(0, 1, 0);
      const b = e.context(0, 2, 0);
      fill(e, a, 0x1000, 12, 0x5000);
      fill(e, b, 0x1000, 12, 0x6000);
      e.invalidate({ group: 1 });
      expect(hit(e, a, 0x1000)).toBe(false);
      expect(hit(e, b, 0x1000)).toBe(true);
      // Refilled after the bump, it is live again.
      fill(e, a, 0x1000, 12, 0x7000);
      expect(e.oa[e.lookup(a, 0, 0x1000)]).toBe(0x7000);
    });

    it(`${policy}: a range invalidation drops the leaves it overlaps, of every size, and no others`, () => {
      const e = new IotlbEngine(policy, 256, 8);
      const c = e.context(0, 1, 0);
      fill(e, c, 0x20_0000, 21, 0x4000_0000);
      for (let i = 0; i < 8; i++) fill(e, c, 0x40_0000 + i * 0x1000, 12, 0x100_0000 + i * 0x1000);
      e.invalidate({ group: 1 }, { range: { start: 0x40_0000n, last: 0x40_1fffn } });
      expect(hit(e, c, 0x20_0000)).toBe(true);
      expect(hit(e, c, 0x40_0000)).toBe(false);
      expect(hit(e, c, 0x40_1000)).toBe(false);
      expect(hit(e, c, 0x40_2000)).toBe(true);
      // A range touching one byte of the 2 MiB leaf drops it (scan path: a range too large to probe).
      e.invalidate({ group: 1 }, { range: { start: 0x3f_ffffn, last: 0x1_0000_0000n } });
      expect(hit(e, c, 0x20_0000)).toBe(false);
      expect(hit(e, c, 0x40_7000)).toBe(false);
    });

    it(`${policy}: a size filter (TTL) keeps leaves of other sizes`, () => {
      const e = new IotlbEngine(policy, 64, 4);
      const c = e.context(0, 1, 0);
      fill(e, c, 0x20_0000, 21, 0);
      fill(e, c, 0x40_0000, 12, 0);
      e.invalidate({}, { range: { start: 0n, last: 0xff_ffffn }, sizeLg2: 12 });
      expect(hit(e, c, 0x20_0000)).toBe(true);
      expect(hit(e, c, 0x40_0000)).toBe(false);
    });

    it(`${policy}: leaf-only invalidation keeps paging-structure entries, a full one drops them`, () => {
      const e = new IotlbEngine(policy, 64, 4);
      const c = e.context(0, 1, 0);
      e.fillWalk(c, 0, 0x20_0000, 21, 0x9000);
      fill(e, c, 0x20_0000, 12, 0x1000);
      e.invalidate({ group: 1 }, { range: { start: 0x20_0000n, last: 0x20_0fffn }, leafOnly: true });
      expect(hit(e, c, 0x20_0000)).toBe(false);
      expect(e.oa[e.lookupWalk(c, 0, 0x20_0000, 21)]).toBe(0x9000);
      e.invalidate({ group: 1 }, { range: { start: 0x20_0000n, last: 0x20_0fffn } });
      expect(e.lookupWalk(c, 0, 0x20_0000, 21)).toBe(-1);
    });
  }

  it('sticky: a walk-cache entry keeps its epoch and aux when the table grows', () => {
    const e = new IotlbEngine('sticky', 0);
    const c = e.context(0, 1, 0);
    const path = [{ level: 1 }];
    e.fillWalk(c, 0, 0x20_0000, 21, 0x9000, 7, path);
    for (let i = 0; i < 5000; i++) fill(e, c, 0x1000_0000 + i * 0x1000, 12, i);
    const slot = e.lookupWalk(c, 0, 0x20_0000, 21);
    expect(slot).toBeGreaterThanOrEqual(0);
    expect([e.oa[slot], e.epoch[slot], e.aux[slot]]).toEqual([0x9000, 7, path]);
    // A walk lookup is no device translation: the hit/miss counters stay as the leaf fills left them.
    expect(e.stats.hits + e.stats.misses).toBe(0);
  });

  it('realistic: bounded; a full set evicts its least recently used way', () => {
    const e = new IotlbEngine('realistic', 4, 4); // one set of four ways
    const c = e.context(0, 1, 0);
    for (let i = 0; i < 4; i++) fill(e, c, i * 0x1000, 12, i);
    expect(hit(e, c, 0)).toBe(true); // page 0 is now the most recent
    fill(e, c, 0x4000, 12, 4);
    expect(e.stats.evictions).toBe(1);
    expect(hit(e, c, 0x1000)).toBe(false); // page 1 was the LRU
    expect(hit(e, c, 0)).toBe(true);
    expect(hit(e, c, 0x4000)).toBe(true);
  });

  it('sticky: grows and keeps every translation', () => {
    const e = new IotlbEngine('sticky', 16);
    const c = e.context(0, 1, 0);
    for (let i = 0; i < 5000; i++) fill(e, c, i * 0x1000, 12, i * 0x1000);
    for (let i = 0; i < 5000; i++) expect(e.oa[e.lookup(c, 0, i * 0x1000)]).toBe(i * 0x1000);
    expect(e.stats.evictions).toBe(0);
    expect(e.slots).toBeGreaterThanOrEqual(10000);
  });

  it('off: never caches', () => {
    const e = new IotlbEngine('off', 64);
    const c = e.context(0, 1, 0);
    expect(fill(e, c, 0, 12, 0)).toBe(-1);
    expect(hit(e, c, 0)).toBe(false);
  });
});
