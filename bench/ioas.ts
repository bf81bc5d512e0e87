/**
 * IOAS map/unmap benchmark, the figure of issue #3: 64 GiB of user memory mapped in 2 MiB runs
 * (32,768 IOMMU_IOAS_MAPs, one area each) and all of it unmapped again, through the whole
 * IommufdContext path (argument checks, pages stores, area tree, accounting), in four runs:
 * FIXED_IOVA maps then UNMAP run by run, and automatic-IOVA maps then one unmap-all (iova 0,
 * length U64_MAX), each without a domain and with one mock domain of the selftest's huge table
 * type (MOCK_IOMMUPT_HUGE: every page pinned, charged and mirrored into 2 MiB-capable IOPTEs).
 *
 * Baseline, measured in the same run: one JS Map with as many `set`s and then `delete`s of
 * number keys as there are runs — the cheapest per-run bookkeeping a host can do. A ratio
 * `<phase>_ratio` is that phase's time divided by the baseline's (set + delete) time, so a
 * store that is O(n) per operation shows up as a ratio that grows with the run count, and the
 * ratio compares across machines; `<phase>_ms` is the absolute time. The baseline is the best
 * of several rounds (it should time the Map, not a GC pause), and so is each IOAS phase: the
 * best of `PHASE_ROUNDS` fresh runs (a new machine and context each), so that a figure times
 * the MAP/UNMAP path rather than the JIT's first tiering of it or a collection of the previous
 * run's garbage; `<phase>_first_ms` keeps the first round's (cold) time.
 * `store_insert_delete_ratio` times the area store alone (range-tree.ts, bigint keys: the same
 * inserts, lookups and deletes an UNMAP run by run makes) against the same baseline, to show
 * how much of a phase is the ordered structure and how much is the rest of the MAP path.
 * `quick` maps 1 GiB instead of 64 GiB.
 */

import { Machine } from '../reference/machine/machine.ts';
import { IommufdContext } from '../reference/iommufd/context.ts';
import { attachHugeMockDomain } from '../reference/iommufd/test-helpers.ts';
import { RangeTree } from '../reference/iommufd/range-tree.ts';
import type { Range } from '../reference/iommufd/range-tree.ts';

const RUN_BYTES = 2 * 1024 * 1024;
const MAP_READ = 1 << 2;
const MAP_WRITE = 1 << 1;
const MAP_FIXED_IOVA = 1 << 0;
const U64_MAX = (1n << 64n) - 1n;
const IOVA_BASE = 0x100000000n;

/** One round of `runs` Map.set then Map.delete of number keys spaced like the IOVAs. */
function baselineOnce(runs: number): number {
  const m = new Map<number, number>();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) m.set(0x100000000 + i * RUN_BYTES, i);
  for (let i = 0; i < runs; i++) m.delete(0x100000000 + i * RUN_BYTES);
  const ms = performance.now() - t0;
  if (m.size !== 0) throw new Error('baseline left keys behind');
  return ms;
}

function baseline(runs: number): number {
  let best = Infinity;
  for (let i = 0; i < 9; i++) best = Math.min(best, baselineOnce(runs));
  return best;
}

/** `runs` RangeTree inserts, then a first-intersecting lookup and a delete per run. */
function storeOnce(runs: number): number {
  const t = new RangeTree<Range>();
  const items: Range[] = [];
  for (let i = 0; i < runs; i++) {
    const start = IOVA_BASE + BigInt(i * RUN_BYTES);
    items.push({ start, last: start + BigInt(RUN_BYTES - 1) });
  }
  const t0 = performance.now();
  for (const r of items) t.insert(r);
  for (const r of items) t.delete(t.firstIntersecting(r.start, r.last) as Range);
  const ms = performance.now() - t0;
  if (t.size !== 0) throw new Error('store bench left ranges behind');
  return ms;
}

function store(runs: number): number {
  let best = Infinity;
  for (let i = 0; i < 9; i++) best = Math.min(best, storeOnce(runs));
  return best;
}

interface Phases {
  mapMs: number;
  unmapMs: number;
}

/** Maps `totalBytes` in 2 MiB runs and unmaps it all; throws if anything is left pinned. */
export function run(totalBytes: number, withDomain: boolean, mode: 'fixed-runs' | 'auto-all'): Phases {
  const m = new Machine({ bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] });
  const ctx = new IommufdContext(3, m, new Map());
  const ioas = Number(ctx.ioasAlloc({ flags: 0n }).out_ioas_id);
  if (withDomain) attachHugeMockDomain(ctx, ioas, 'dev0');
  const buf = m.memory.mmap(totalBytes);
  const runs = totalBytes / RUN_BYTES;
  const fixed = mode === 'fixed-runs';
  const arg = {
    flags: BigInt(MAP_READ | MAP_WRITE | (fixed ? MAP_FIXED_IOVA : 0)),
    ioas_id: BigInt(ioas), __reserved: 0n, user_va: 0n, length: BigInt(RUN_BYTES), iova: 0n,
  };
  const iovas: bigint[] = [];
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    arg.user_va = BigInt(buf + i * RUN_BYTES);
    arg.iova = fixed ? IOVA_BASE + BigInt(i * RUN_BYTES) : 0n;
    iovas.push(BigInt(ctx.ioasMap(arg).iova));
  }
  const t1 = performance.now();
  let unmapped = 0n;
  if (fixed) {
    for (const iova of iovas) unmapped += BigInt(ctx.ioasUnmap({ ioas_id: BigInt(ioas), iova, length: BigInt(RUN_BYTES) }).length);
  } else {
    unmapped = BigInt(ctx.ioasUnmap({ ioas_id: BigInt(ioas), iova: 0n, length: U64_MAX }).length);
  }
  const t2 = performance.now();
  if (unmapped !== BigInt(totalBytes)) throw new Error(`bench unmapped ${unmapped} of ${totalBytes} bytes`);
  if (withDomain && m.memory.pinnedFrames !== 0) throw new Error('bench leaked pins before close');
  ctx.close();
  if (m.memory.pinnedFrames !== 0) throw new Error('bench leaked pins');
  return { mapMs: t1 - t0, unmapMs: t2 - t1 };
}

/** Rounds per IOAS phase (see the header); `quick` runs one. */
const PHASE_ROUNDS = 3;

/** The best map and the best unmap time over `rounds` runs, and the first run's. */
function bestRun(rounds: number, totalBytes: number, withDomain: boolean, mode: 'fixed-runs' | 'auto-all'): { best: Phases; first: Phases } {
  const first = run(totalBytes, withDomain, mode);
  const best = { ...first };
  for (let i = 1; i < rounds; i++) {
    const r = run(totalBytes, withDomain, mode);
    best.mapMs = Math.min(best.mapMs, r.mapMs);
    best.unmapMs = Math.min(best.unmapMs, r.unmapMs);
  }
  return { best, first };
}

export async function benchIoas(opts: { quick?: boolean } = {}): Promise<Record<string, number>> {
  const totalBytes = opts.quick ? 1024 ** 3 : 64 * 1024 ** 3;
  const runs = totalBytes / RUN_BYTES;
  const baseMs = baseline(runs);
  const storeMs = store(runs);
  const out: Record<string, number> = {
    runs, mapped_gib: totalBytes / 1024 ** 3, baseline_map_set_delete_ms: baseMs,
    store_insert_delete_ms: storeMs, store_insert_delete_ratio: storeMs / baseMs,
  };
  for (const withDomain of [false, true]) {
    const d = withDomain ? 'domain_' : '';
    const rounds = opts.quick ? 1 : PHASE_ROUNDS;
    const fixedRuns = bestRun(rounds, totalBytes, withDomain, 'fixed-runs');
    const autoRuns = bestRun(rounds, totalBytes, withDomain, 'auto-all');
    const fixed = fixedRuns.best;
    const auto = autoRuns.best;
    Object.assign(out, {
      [`${d}fixed_map_first_ms`]: fixedRuns.first.mapMs,
      [`${d}unmap_runs_first_ms`]: fixedRuns.first.unmapMs,
      [`${d}fixed_map_ms`]: fixed.mapMs,
      [`${d}fixed_map_ratio`]: fixed.mapMs / baseMs,
      [`${d}unmap_runs_ms`]: fixed.unmapMs,
      [`${d}unmap_runs_ratio`]: fixed.unmapMs / baseMs,
      [`${d}auto_map_ms`]: auto.mapMs,
      [`${d}auto_map_ratio`]: auto.mapMs / baseMs,
      [`${d}unmap_all_ms`]: auto.unmapMs,
      [`${d}unmap_all_ratio`]: auto.unmapMs / baseMs,
    });
    if (withDomain) out.domain_pages_pinned_per_ms = totalBytes / 4096 / fixed.mapMs;
  }
  return out;
}
