// The whole-block fast paths (a 2 MiB block pinned at once kept as {base pfn, holders} in
// iopt_pages, as one uniform count in the pin table, as its first frame in the memory object)
// against a page-by-page model: after every step of a random sequence of whole-block and partial
// pins and unpins, every page's holder count, frame, pin count, the pinned totals, the charge and
// the frame runs handed to the domains must be what per-page bookkeeping gives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../machine/physical-memory.ts';
import { PinTable } from '../machine/pin-table.ts';
import { MemoryObject, PAGE_BYTES, ProcessMemory } from '../machine/process-memory.ts';
import { Accounting } from './accounting.ts';
import { IoptPages } from './pages.ts';

const BLOCK = 512;

interface Op {
  pin: boolean;
  first: number;
  count: number;
}

/** Ranges inside [0, npages): whole aligned blocks (slot0 = slot of page 0) half of the time. */
function rangeArb(npages: number, slot0: number): fc.Arbitrary<{ first: number; count: number }> {
  const any = fc.tuple(fc.integer({ min: 0, max: npages - 1 }), fc.integer({ min: 1, max: 3 * BLOCK }))
    .map(([first, count]) => ({ first, count: Math.min(count, npages - first) }));
  const whole: Array<{ first: number; count: number }> = [];
  for (let first = (BLOCK - slot0) % BLOCK; first + BLOCK <= npages; first += BLOCK) whole.push({ first, count: BLOCK });
  return whole.length === 0 ? any : fc.oneof(fc.constantFrom(...whole), any);
}

const opsArb = (npages: number, slot0: number): fc.Arbitrary<Op[]> =>
  fc.array(fc.tuple(fc.boolean(), rangeArb(npages, slot0)).map(([pin, r]) => ({ pin, ...r })), { minLength: 1, maxLength: 12 });

/** A start offset in pages, a store length, and ops over it. */
const caseArb = (maxOffset: number, maxPages: number): fc.Arbitrary<[number, number, Op[]]> =>
  fc.tuple(fc.integer({ min: 0, max: maxOffset }), fc.integer({ min: 1, max: maxPages }))
    .chain(([offset, npages]) => fc.tuple(fc.constant(offset), fc.constant(npages), opsArb(npages, offset % BLOCK)));

/** Throws with the first page whose `what` differs (one expect per page would be slow). */
function same(what: string, i: number, got: number, want: number): void {
  if (got !== want) throw new Error(`${what} of page ${i}: got ${got}, want ${want}`);
}

function check(pages: IoptPages, memory: ProcessMemory, accounting: Accounting, holders: number[], frameOfPage: (i: number) => number): void {
  let held = 0;
  for (let i = 0; i < holders.length; i++) {
    same('holders', i, pages.holderCount(i), holders[i]);
    if (holders[i] > 0) {
      held++;
      same('frame', i, pages.frameAt(i), frameOfPage(i));
      same('pin count', i, memory.pinCount(frameOfPage(i)), 1);
    } else {
      same('frame', i, pages.frameAt(i), -1);
    }
  }
  expect(pages.npinned).toBe(held);
  expect(memory.pinnedFrames).toBe(held);
  expect(accounting.mmPinnedPages).toBe(held);
  // The runs a domain would be given, against runs built from the per-page frames.
  for (let i = 0; i < holders.length; ) {
    if (holders[i] === 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < holders.length && holders[end] > 0) end++;
    const got: Array<[number, number, number]> = [];
    pages.forEachFrameRun(i, end - i, (index, pfn, count) => got.push([index, pfn, count]));
    const want: Array<[number, number, number]> = [];
    for (let k = i; k < end; k++) {
      const last = want[want.length - 1];
      if (last !== undefined && frameOfPage(k) === last[1] + last[2]) last[2]++;
      else want.push([k, frameOfPage(k), 1]);
    }
    expect(got).toEqual(want);
    i = end;
  }
}

function runOps(pages: IoptPages, memory: ProcessMemory, accounting: Accounting, ops: Op[], frameOfPage: (i: number) => number): void {
  const holders = new Array<number>(pages.npages).fill(0);
  const pinned: Array<{ first: number; count: number }> = [];
  for (const op of ops) {
    if (op.pin || pinned.length === 0) {
      pages.pin(op.first, op.count);
      for (let i = op.first; i < op.first + op.count; i++) holders[i]++;
      pinned.push({ first: op.first, count: op.count });
    } else {
      // Unpin a range pinned before (which one depends on the op's numbers).
      const r = pinned.splice((op.first + op.count) % pinned.length, 1)[0];
      pages.unpin(r.first, r.count);
      for (let i = r.first; i < r.first + r.count; i++) holders[i]--;
    }
    check(pages, memory, accounting, holders, frameOfPage);
  }
  for (const r of pinned.splice(0)) {
    pages.unpin(r.first, r.count);
    for (let i = r.first; i < r.first + r.count; i++) holders[i]--;
  }
  check(pages, memory, accounting, holders, frameOfPage);
  expect(memory.pinnedFrames).toBe(0);
}

describe('iopt_pages whole-block fast path against the per-page model', () => {
  it('anonymous memory (THP runs), from a 2 MiB boundary or from inside a block', () => {
    fc.assert(
      fc.property(caseArb(700, 3 * BLOCK + 100), ([offsetPages, npages, ops]) => {
        const memory = new ProcessMemory(new PhysicalMemory());
        const accounting = new Accounting();
        // mmap returns a 2 MiB-aligned address, so page `offsetPages` sits at that slot of a block.
        const base = memory.mmap((offsetPages + npages + BLOCK) * PAGE_BYTES);
        const startVpn = base / PAGE_BYTES + offsetPages;
        const pages = new IoptPages(memory, accounting, { kind: 'user', startVpn }, npages, true, 'none', BigInt(startVpn * PAGE_BYTES));
        runOps(pages, memory, accounting, ops, (i) => memory.frameForVpn(startVpn + i, false));
      }),
      { numRuns: 60 },
    );
  });

  it('file pages (single frames, consecutive or not)', () => {
    fc.assert(
      fc.property(caseArb(600, 2 * BLOCK + 50), fc.boolean(), ([startPage, npages, ops], touchFirst) => {
        const memory = new ProcessMemory(new PhysicalMemory());
        const accounting = new Accounting();
        const file = new MemoryObject('file', (startPage + npages) * PAGE_BYTES);
        // Frames allocated out of page order: consecutive pages do not get consecutive frames.
        if (touchFirst) for (let p = startPage + npages - 1; p >= startPage; p -= 3) memory.objectFrame(file, p);
        const pages = new IoptPages(memory, accounting, { kind: 'file', file, startPage }, npages, true, 'none', BigInt(startPage * PAGE_BYTES));
        runOps(pages, memory, accounting, ops, (i) => file.frameOf(startPage + i));
      }),
      { numRuns: 40 },
    );
  });

  it('a whole THP block pinned at once costs no per-page arrays until a partial unpin expands it', () => {
    const memory = new ProcessMemory(new PhysicalMemory());
    const accounting = new Accounting();
    const base = memory.mmap(4 * BLOCK * PAGE_BYTES);
    const startVpn = base / PAGE_BYTES;
    const pages = new IoptPages(memory, accounting, { kind: 'user', startVpn }, 4 * BLOCK, true, 'none', BigInt(base));
    pages.pin(0, 4 * BLOCK);
    const object = memory.mappings()[0].object;
    for (let b = 0; b < 4; b++) expect(object.blocks.runBase(b)).toBeGreaterThanOrEqual(0);
    const runs: number[][] = [];
    pages.forEachFrameRun(0, 4 * BLOCK, (index, pfn, count) => runs.push([index, pfn, count]));
    expect(runs.every((r) => r[2] % BLOCK === 0)).toBe(true);
    pages.unpin(BLOCK + 5, 10);
    expect(pages.holderCount(BLOCK + 5)).toBe(0);
    expect(pages.holderCount(BLOCK + 4)).toBe(1);
    expect(memory.pinCount(memory.frameForVpn(startVpn + BLOCK + 5, false))).toBe(0);
    expect(memory.pinnedFrames).toBe(4 * BLOCK - 10);
  });
});

describe('PinTable uniform blocks against a per-frame count map', () => {
  it('addRun, addList and add agree with one count per frame', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ kind: fc.constantFrom('run', 'list', 'one'), block: fc.integer({ min: 0, max: 3 }), at: fc.integer({ min: 0, max: BLOCK - 1 }), len: fc.integer({ min: 1, max: 2 * BLOCK }), whole: fc.boolean(), up: fc.boolean() }),
          { minLength: 1, maxLength: 20 },
        ),
        (steps) => {
          const phys = new PhysicalMemory(0);
          const table = new PinTable(phys);
          const model = new Map<number, number>();
          const firstPfn = 2 * BLOCK;
          for (const s of steps) {
            const start = firstPfn + s.block * BLOCK + (s.whole ? 0 : s.at);
            const len = s.whole ? BLOCK * (1 + (s.len % 2)) : s.len;
            const frames = Array.from({ length: s.kind === 'one' ? 1 : len }, (_, k) => start + k);
            // Only decrement what is there: an unbalanced unpin is a reference bug, not tested here.
            const delta = s.up || frames.some((f) => (model.get(f) ?? 0) === 0) ? 1 : -1;
            if (s.kind === 'run') table.addRun(start, frames.length, delta);
            else if (s.kind === 'list') table.addList(Int32Array.from(frames, (f) => f + 1), 0, frames.length, delta);
            else table.add(start, delta);
            for (const f of frames) model.set(f, (model.get(f) ?? 0) + delta);
            let nonZero = 0;
            for (const [f, c] of model) {
              same('pin count', f, table.get(f), c);
              if (c > 0) nonZero++;
            }
            expect(table.pinnedFrames).toBe(nonZero);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('throws on an unpin below zero, in a uniform block as in an expanded one', () => {
    const table = new PinTable(new PhysicalMemory(0));
    expect(() => table.addRun(BLOCK, BLOCK, -1)).toThrow(/not pinned/);
    table.addRun(BLOCK, BLOCK, 1);
    table.add(BLOCK + 3, -1);
    expect(() => table.addRun(BLOCK, BLOCK, -1)).toThrow(/not pinned/);
  });
});
