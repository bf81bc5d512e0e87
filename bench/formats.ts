/**
 * Benchmark of the page-table formats through the shared walker, for `ioasid bench`.
 * Every figure is a ratio against a baseline measured in the same run, or an absolute rate:
 * - map_ratio_vs_flat: map N smallest-page leaves (one map call, huge leaves capped off, as
 *   iommufd with HUGE_PAGES=0) ÷ writing the same N descriptors — encoded by the same format
 *   codec — into a flat Uint32Array. The ratio isolates the cost of the table structure and
 *   the simulated memory, not of the codec.
 * - unmap_ratio_vs_flat: unmap those N leaves in one call ÷ zeroing the flat array.
 * - huge_map_ratio_vs_flat: map M leaves of the format's largest leaf ≤ 1 GiB ÷ flat writes of
 *   M descriptors.
 * - ptes_per_sec: N / map time.
 * Each time is the best of several repetitions (fresh PhysicalMemory each time).
 */

import { PhysicalMemory } from '../reference/machine/physical-memory.ts';
import { IOMMU_READ, IOMMU_WRITE, type FormatConfig, type FormatName } from '../reference/formats/format.ts';
import { PageTable } from '../reference/formats/page-table.ts';
import { formatNames } from '../reference/formats/registry.ts';

const RW = IOMMU_READ | IOMMU_WRITE;

/** The configuration benchmarked per format (a common current part). */
const BENCH_CONFIG: Partial<Record<FormatName, FormatConfig>> = {
  'ppc-tce': { levels: 2, ias: 40 },
};

function now(): number {
  return performance.now();
}

function best(reps: number, fn: () => number): number {
  let min = Infinity;
  for (let i = 0; i < reps; i++) min = Math.min(min, fn());
  return min;
}

export async function benchFormats(opts: { quick?: boolean } = {}): Promise<Record<string, number>> {
  // A first pass warms the JIT on every format so the measured pass sees steady-state code.
  if (!opts.quick) measure(1 << 15, 3);
  return measure(opts.quick ? 1 << 12 : 1 << 17, opts.quick ? 2 : 7);
}

function measure(n: number, reps: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of formatNames()) {
    const config = BENCH_CONFIG[name] ?? {};
    const probe = PageTable.create(new PhysicalMemory(0x100), name, config);
    const f = probe.format;
    const sizes = probe.pageSizesLg2;
    const small = sizes[0];
    // The format's first huge size: the level-1 default leaf (2M, 1M mock, 32M/512M ARM), else the
    // largest contiguous size up to 2 MiB, else the smallest page.
    const huge =
      f.levels > 1 && f.leafSizesLg2[1].includes(f.itemLg2[1]) && f.itemLg2[1] <= 30
        ? f.itemLg2[1]
        : ([...sizes].reverse().find((s) => s <= 21 && s > small) ?? small);
    const u = f.unitLg2;
    const w = { lo: 0, hi: 0 };
    const attr = { lo: 0, hi: 0 };
    f.leafAttrs(RW, attr);
    const flat = new Uint32Array(2 * n);
    const iova0 = 2 ** (Math.min(f.iasLg2 - 1, 40) - u);
    const oa0 = 2 ** (30 - u);

    const flatWrite = (count: number, sizeLg2: number, level: number): number => {
      const step = 2 ** (sizeLg2 - u);
      const t0 = now();
      for (let i = 0; i < count; i++) {
        f.encodeLeaf(level, oa0 + i * step, sizeLg2, attr.lo, attr.hi, w);
        flat[2 * i] = w.lo;
        flat[2 * i + 1] = w.hi;
      }
      return now() - t0;
    };
    const flatZero = (count: number): number => {
      const t0 = now();
      for (let i = 0; i < 2 * count; i++) flat[i] = 0;
      return now() - t0;
    };

    let mapT = Infinity;
    let unmapT = Infinity;
    for (let r = 0; r < reps; r++) {
      const pt = PageTable.create(new PhysicalMemory(0x100), name, config);
      const t0 = now();
      pt.map(iova0, oa0, n * 2 ** (small - u), RW, { maxLeafLg2: small });
      const t1 = now();
      const unmapped = pt.unmap(iova0, n * 2 ** (small - u));
      const t2 = now();
      if (unmapped !== n * 2 ** (small - u)) throw new Error(`bench ${name}: unmap returned ${unmapped}`);
      mapT = Math.min(mapT, t1 - t0);
      unmapT = Math.min(unmapT, t2 - t1);
      pt.destroy();
    }
    const flatMapT = best(reps, () => flatWrite(n, small, 0));
    const flatZeroT = best(reps, () => flatZero(n));

    const m = Math.max(16, Math.min(n >> 3, 2 ** (Math.min(f.iasLg2, f.oasLg2) - 2 - huge)));
    const hugeLevel = f.leafSizesLg2.findIndex((ls) => ls.includes(huge));
    let hugeT = Infinity;
    for (let r = 0; r < 4 * reps; r++) {
      const pt = PageTable.create(new PhysicalMemory(0x100), name, config);
      const len = m * 2 ** (huge - u);
      const base = 2 ** (f.iasLg2 - 2 - u);
      const t0 = now();
      pt.map(base, base, len, RW, { maxLeafLg2: huge });
      hugeT = Math.min(hugeT, now() - t0);
      pt.destroy();
    }
    const flatHugeT = best(4 * reps, () => flatWrite(m, huge, hugeLevel));

    const floor = 1e-3; // ms: guards against a zero baseline on coarse clocks
    out[`formats.${name}.map_ratio_vs_flat`] = mapT / Math.max(flatMapT, floor);
    out[`formats.${name}.unmap_ratio_vs_flat`] = unmapT / Math.max(flatZeroT, floor);
    if (Number.isFinite(hugeT)) out[`formats.${name}.huge_map_ratio_vs_flat`] = hugeT / Math.max(flatHugeT, floor);
    out[`formats.${name}.ptes_per_sec`] = n / (Math.max(mapT, floor) / 1000);
    probe.destroy();
  }
  return out;
}
