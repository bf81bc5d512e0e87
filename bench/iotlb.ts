/**
 * IOTLB benchmark (issue #10), all figures from one run:
 * - hit lookups of our engine (reference/iotlb/engine.ts) over a working set of 4 contexts ×
 *   1024 random 4 KiB pages (48-bit IOVAs), random lookups that all hit: `iotlb.hit_ns`
 *   (sticky policy: open addressing, the same structure as the C loop) and
 *   `iotlb.realistic_hit_ns` (the default 8-way set-associative policy, sized so the set fits);
 * - the same lookups through a `Map` keyed the obvious way (a string of context and page
 *   number): `iotlb.map_hit_ns`;
 * - the uncached walk of a 4-level VT-d second-stage table holding those pages:
 *   `iotlb.walk_ns`;
 * - the same lookups as a plain C open-addressing loop (bench/iotlb-lookup.c, compiled with the
 *   machine's `cc -O2` into a temp dir at bench time): `iotlb.c_hit_ns`.
 * Ratios: `iotlb.ratio_vs_c` = our hit time ÷ the C loop's (target ≤ 3), `iotlb.speedup_vs_walk`
 * = walk time ÷ our hit time (target ≥ 10), `iotlb.map_ratio` = Map time ÷ ours.
 * - a DMA stream through the default realistic IOTLB (512 entries, 8 ways) with a miss walking
 *   the table and filling: two NIC rings (RX and TX, 1024 × 4 KiB buffers each, descriptors in
 *   16 KiB rings), 32 × 2 MiB buffers read at random, and random 4 KiB pages of a 64 MiB pool:
 *   `iotlb.stream.hit_rate` and `iotlb.stream.translations_per_sec`.
 * Each time is the best of many short passes (one pass = the lookups once, a few ms), in C as
 * in JS: on a shared machine the best pass is the one the scheduler left alone.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IOMMU_READ, IOMMU_WRITE } from '../reference/formats/format.ts';
import { PageTable, type Translation } from '../reference/formats/page-table.ts';
import { ENTRY_READ, ENTRY_WRITE, IotlbEngine } from '../reference/iotlb/engine.ts';
import { PhysicalMemory } from '../reference/machine/physical-memory.ts';
import { PACKAGE_ROOT } from '../schemas/lib/package-root.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const CONTEXTS = 4;
const PAGES_PER_CONTEXT = 1024;
const IOVA_BASE_PAGE = 0x7f00_0000_0; // page number: IOVAs around 0x7f00_0000_0000 (hi half ≠ 0)

/** xorshift32: the same pseudo-random sequence every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function best(passes: number, f: () => number): number {
  let b = Infinity;
  for (let i = 0; i < passes; i++) b = Math.min(b, f());
  return b;
}

interface Workload {
  /** Page numbers (4 KiB) of each context's entries. */
  pages: number[][];
  /** Lookups: context, byte address high and low halves. */
  lookCtx: Int32Array;
  lookHi: Int32Array;
  /** Low halves as int32 (the same bits): the engine takes either. */
  lookLo: Int32Array;
}

function workload(lookups: number): Workload {
  const r = rng(0x10b1);
  const pages: number[][] = [];
  const seen = new Set<number>();
  for (let c = 0; c < CONTEXTS; c++) {
    const list: number[] = [];
    while (list.length < PAGES_PER_CONTEXT) {
      const p = IOVA_BASE_PAGE + (r() % (1 << 24));
      if (seen.has(c * 2 ** 40 + p)) continue;
      seen.add(c * 2 ** 40 + p);
      list.push(p);
    }
    pages.push(list);
  }
  const lookCtx = new Int32Array(lookups);
  const lookHi = new Int32Array(lookups);
  const lookLo = new Int32Array(lookups);
  for (let i = 0; i < lookups; i++) {
    const c = r() % CONTEXTS;
    const p = pages[c][r() % PAGES_PER_CONTEXT];
    const addr = p * 4096 + (r() % 4096);
    lookCtx[i] = c;
    lookHi[i] = Math.floor(addr / 2 ** 32);
    lookLo[i] = addr % 2 ** 32 | 0;
  }
  return { pages, lookCtx, lookHi, lookLo };
}

/** The sum of the last pass (so the loop cannot be dropped), out of the loop's way. */
const passSum = new Float64Array(1);

/**
 * One pass of hit lookups, a top-level function over locals only: V8 keeps every value of the
 * loop in registers (a closure's variables would live in a heap context). Two identical copies,
 * one per policy, so that each call site sees one kind of engine, as a unit's DMA path does
 * (one call site fed both kinds measurably slows the sticky loop).
 */
function stickyPass(e: IotlbEngine, w: Workload): number {
  const { lookCtx, lookHi, lookLo } = w;
  const n = lookCtx.length;
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const slot = e.lookup(lookCtx[i], lookHi[i], lookLo[i]);
    sum += e.oa[slot] + (lookLo[i] & 4095);
  }
  const ns = ((performance.now() - t0) * 1e6) / n;
  passSum[0] = sum;
  return ns;
}

function realisticPass(e: IotlbEngine, w: Workload): number {
  const { lookCtx, lookHi, lookLo } = w;
  const n = lookCtx.length;
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const slot = e.lookup(lookCtx[i], lookHi[i], lookLo[i]);
    sum += e.oa[slot] + (lookLo[i] & 4095);
  }
  const ns = ((performance.now() - t0) * 1e6) / n;
  passSum[0] = sum;
  return ns;
}

function timeEngine(policy: 'sticky' | 'realistic', w: Workload, reps: number, passes: number): number {
  const e = new IotlbEngine(policy, policy === 'sticky' ? 1024 : 32768, 8);
  const ctxs: number[] = [];
  for (let c = 0; c < CONTEXTS; c++) ctxs.push(e.context(0, c + 2, 0));
  // A fresh engine numbers its contexts 0, 1, …: the workload's context index is the engine's.
  if (ctxs.some((id, c) => id !== c)) throw new Error('bench iotlb: context ids');
  for (let c = 0; c < CONTEXTS; c++) {
    for (const p of w.pages[c]) e.fill(ctxs[c], Math.floor(p / 2 ** 20), (p % 2 ** 20) * 4096, 12, p * 4096, ENTRY_READ | ENTRY_WRITE, 0);
  }
  let sink = 0;
  const ns = best(passes * reps, () => {
    const t = policy === 'sticky' ? stickyPass(e, w) : realisticPass(e, w);
    sink += passSum[0];
    return t;
  });
  if (e.stats.misses !== 0 || !(sink > 0)) throw new Error(`bench iotlb: ${policy} lookups missed (${e.stats.misses})`);
  return ns;
}

function timeMap(w: Workload, reps: number, passes: number): number {
  const m = new Map<string, { oa: number; flags: number }>();
  for (let c = 0; c < CONTEXTS; c++) for (const p of w.pages[c]) m.set(`${c}:${p}`, { oa: p * 4096, flags: 3 });
  const { lookCtx, lookHi, lookLo } = w;
  const n = lookCtx.length;
  let sink = 0;
  const ns = best(passes * reps, () => {
    let sum = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const page = lookHi[i] * 2 ** 20 + (lookLo[i] >>> 12);
      const hit = m.get(`${lookCtx[i]}:${page}`)!;
      sum += hit.oa + (lookLo[i] & 4095);
    }
    const t = ((performance.now() - t0) * 1e6) / n;
    sink += sum;
    return t;
  });
  if (!(sink > 0)) throw new Error('bench iotlb: map lookups failed');
  return ns;
}

function timeWalk(w: Workload, reps: number, passes: number): number {
  const mem = new PhysicalMemory(0x4000);
  const tables: PageTable[] = [];
  for (let c = 0; c < CONTEXTS; c++) {
    const pt = PageTable.create(mem, 'vtd-ss', { levels: 4 });
    for (const p of w.pages[c]) pt.map(p, p % 2 ** 24, 1, RW, { pageSizesLg2: [12] });
    tables.push(pt);
  }
  const { lookCtx, lookHi, lookLo } = w;
  const n = lookCtx.length;
  const out = {} as Translation;
  let sink = 0;
  const ns = best(passes * reps, () => {
    let sum = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const t = tables[lookCtx[i]].translate(lookHi[i] * 2 ** 20 + (lookLo[i] >>> 12), out)!;
      sum += t.oaUnit * 4096 + (lookLo[i] & 4095);
    }
    const t = ((performance.now() - t0) * 1e6) / n;
    sink += sum;
    return t;
  });
  if (!(sink > 0)) throw new Error('bench iotlb: walks failed');
  return ns;
}

/** Compiles bench/iotlb-lookup.c and runs it on the same entries and lookups. */
function timeC(w: Workload, reps: number, passes: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'ioasid-iotlb-'));
  try {
    const src = join(PACKAGE_ROOT, 'bench', 'iotlb-lookup.c');
    const bin = join(dir, 'iotlb-lookup');
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    const n = CONTEXTS * PAGES_PER_CONTEXT;
    const m = w.lookCtx.length;
    let slots = 1;
    while (slots < n * 2) slots *= 2;
    const data = new Uint32Array(4 + 3 * n + 3 * m);
    data.set([n, m, reps * passes, slots], 0);
    let k = 4;
    for (let c = 0; c < CONTEXTS; c++) {
      for (const p of w.pages[c]) {
        data[k++] = c;
        data[k++] = Math.floor(p / 2 ** 20);
        data[k++] = (p % 2 ** 20) * 4096;
      }
    }
    for (let i = 0; i < m; i++) {
      data[k++] = w.lookCtx[i];
      data[k++] = w.lookHi[i];
      data[k++] = w.lookLo[i];
    }
    const input = join(dir, 'keys.bin');
    writeFileSync(input, new Uint8Array(data.buffer));
    return Number(execFileSync(bin, [input], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The DMA stream through the default realistic IOTLB, a miss walking the table and filling. */
function stream(steps: number): { hitRate: number; perSec: number } {
  const mem = new PhysicalMemory(0x10000);
  const pt = PageTable.create(mem, 'vtd-ss', { levels: 4 });
  const e = new IotlbEngine('realistic', 512, 8);
  const ctx = e.context(0, 2, 0);
  // IOVA layout (4 KiB page numbers): RX/TX descriptor rings, RX/TX buffers, 2 MiB buffers, a 64 MiB pool.
  const RX_DESC = 0x100;
  const TX_DESC = 0x110;
  const RX_BUF = 0x1000;
  const TX_BUF = 0x2000;
  const BIG = 0x40000; // 1 GiB: 2 MiB aligned
  const POOL = 0x80000;
  pt.map(RX_DESC, 0x100, 4, RW, { pageSizesLg2: [12] });
  pt.map(TX_DESC, 0x110, 4, RW, { pageSizesLg2: [12] });
  pt.map(RX_BUF, 0x1000, 1024, RW, { pageSizesLg2: [12] });
  pt.map(TX_BUF, 0x2000, 1024, RW, { pageSizesLg2: [12] });
  pt.map(BIG, 0x40000, 32 * 512, RW, { pageSizesLg2: [12, 21] });
  pt.map(POOL, 0x80000, 16384, RW, { pageSizesLg2: [12] });
  const r = rng(0x5eed);
  const seq = new Float64Array(steps);
  for (let i = 0, pkt = 0; i < steps; pkt++) {
    const slot = pkt % 1024;
    const parts = [RX_DESC + (slot >> 8), RX_BUF + slot, TX_DESC + (slot >> 8), TX_BUF + slot];
    if (pkt % 4 === 0) parts.push(BIG + (r() % (32 * 512)));
    if (pkt % 8 === 0) parts.push(POOL + (r() % 16384));
    for (const p of parts) if (i < steps) seq[i++] = p * 4096 + (r() % 4096);
  }
  const out = {} as Translation;
  let sink = 0;
  let hits = 0;
  const ns = best(3, () => {
    e.invalidate({});
    const h0 = e.stats.hits;
    let sum = 0;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const a = seq[i];
      const hi = Math.floor(a / 2 ** 32);
      const lo = a % 2 ** 32;
      const slot = e.lookup(ctx, hi, lo);
      if (slot >= 0) {
        sum += e.oa[slot];
        continue;
      }
      const t = pt.translate(Math.floor(a / 4096), out)!;
      e.fill(ctx, hi, lo, t.sizeLg2, t.leafOaUnit * 4096, ENTRY_READ | ENTRY_WRITE, 0);
      sum += t.oaUnit;
    }
    const ms = performance.now() - t0;
    sink += sum;
    hits = e.stats.hits - h0;
    return ms;
  });
  if (!(sink > 0)) throw new Error('bench iotlb: stream failed');
  return { hitRate: hits / steps, perSec: (steps / ns) * 1000 };
}

export async function benchIotlb(opts: { quick?: boolean } = {}): Promise<Record<string, number>> {
  const lookups = opts.quick ? 1 << 12 : 1 << 16;
  const reps = opts.quick ? 2 : 20;
  const passes = opts.quick ? 1 : 3;
  const w = workload(lookups);
  // Warm-up so every loop is optimised before it is timed.
  if (!opts.quick) {
    timeEngine('sticky', w, 2, 2);
    timeEngine('realistic', w, 2, 2);
    timeMap(w, 2, 2);
    timeWalk(w, 1, 1);
  }
  // The hit loops (JS and C) take the best of many more passes than the slow baselines: a
  // 1.5 ms pass that no other process interrupted is rare on a shared machine.
  const hitPasses = opts.quick ? 1 : 4;
  const hitNs = timeEngine('sticky', w, reps * 2.5, hitPasses);
  const realisticNs = timeEngine('realistic', w, reps * 2.5, hitPasses);
  const mapNs = timeMap(w, reps, passes);
  const walkNs = timeWalk(w, Math.max(1, reps >> 2), passes);
  const cNs = timeC(w, reps * 2.5, hitPasses);
  const s = stream(opts.quick ? 1 << 12 : 1 << 20);
  return {
    'iotlb.hit_ns': hitNs,
    'iotlb.realistic_hit_ns': realisticNs,
    'iotlb.map_hit_ns': mapNs,
    'iotlb.walk_ns': walkNs,
    'iotlb.c_hit_ns': cNs,
    'iotlb.hits_per_sec': 1e9 / hitNs,
    'iotlb.ratio_vs_c': hitNs / cNs,
    'iotlb.speedup_vs_walk': walkNs / hitNs,
    'iotlb.map_ratio': mapNs / hitNs,
    'iotlb.stream.hit_rate': s.hitRate,
    'iotlb.stream.translations_per_sec': s.perSec,
  };
}
