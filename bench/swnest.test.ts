// Structure only (benchmarks are not timed tests): the quick run reports every count per guest
// operation for every scenario, workload and strategy, and the counts follow from what each
// strategy does — emulation pins what it maps, the nested strategies pin guest RAM once at setup.
import { describe, expect, it } from 'vitest';
import { estimateMicros, parseCostModel } from '../reference/vmm/cost-model.ts';
import { benchSwnest, benchSwnestRows, SCENARIOS, STRATEGIES, WORKLOADS } from './swnest.ts';

describe('benchSwnest', () => {
  it('reports every row, and the counts each strategy must have', async () => {
    const { rows, setup } = await benchSwnestRows({ quick: true });
    expect(rows).toHaveLength(SCENARIOS.length * WORKLOADS.length * STRATEGIES.length);
    for (const r of rows) {
      for (const k of ['ioctls', 'pagesPinned', 'hostPtesWritten', 'invalidations', 'traps', 'modelMs', 'estimatedUs'] as const) expect(Number.isFinite(r[k]) && r[k] >= 0, `${r.scenario}/${r.workload}/${r.strategy} ${k}`).toBe(true);
      if (r.strategy !== 'emulation') expect(r.pagesPinned + r.pagesUnpinned).toBe(0);
      if (r.strategy === 'native') expect([r.hostPtesWritten, r.traps, r.guestKibRead]).toEqual([0, 0, 0]);
    }
    const row = (sc: string, w: string, s: string) => rows.find((r) => r.scenario === sc && r.workload === w && r.strategy === s)!;
    // A 2 MiB buffer: emulation pins (and later unpins) its 512 pages; per guest op that is 256 each.
    expect(row('arm-on-vtd', 'buf2m', 'emulation')).toMatchObject({ pagesPinned: 256, pagesUnpinned: 256, ioctls: 1, invalidations: 0.5 });
    // Software nesting maps without a system call (a new entry needs no invalidation) and unmaps with one.
    expect(row('arm-on-vtd', 'nic4k', 'swnest')).toMatchObject({ ioctls: 0.5, invalidations: 0.5, pagesPinned: 0 });
    // Neither guest announces a map: its table stores trap into a shadowing VMM, never into a native one.
    for (const sc of ['arm-on-vtd', 'vtd-on-smmuv3']) {
      expect(row(sc, 'nic4k', 'swnest').traps).toBeGreaterThan(0);
      expect(row(sc, 'nic4k', 'native').traps).toBe(0);
    }
    // Emulation by COPY from guest RAM pinned once: no pin per mapping (an iopt_pages pins a page once).
    expect(row('vtd-on-smmuv3', 'buf2m', 'emulation-copy')).toMatchObject({ pagesPinned: 0, pagesUnpinned: 0, ioctls: 1 });
    for (const s of setup) expect(s.pagesPinned).toBe(s.strategy === 'emulation' ? 0 : 256 * 256 + (s.strategy === 'swnest' ? 8 * 256 : 0));
  }, 120_000);

  it('flattens rows into named figures with ratios, and the cost model is the user’s', async () => {
    const f = await benchSwnest({ quick: true, costs: parseCostModel('ioctl=10,pin=0') });
    expect(f['swnest.arm-on-vtd.nic4k.emulation_over_swnest.ioctls']).toBe(2);
    expect(f['swnest.arm-on-vtd.nic4k.emulation.estimatedUs']).toBeCloseTo(10 + 2 * f['swnest.arm-on-vtd.nic4k.emulation.traps'] + 0.005 * f['swnest.arm-on-vtd.nic4k.emulation.hostPtesWritten'] + 1 * f['swnest.arm-on-vtd.nic4k.emulation.invalidations'] + 2 * f['swnest.arm-on-vtd.nic4k.emulation.guestExits'] + 0.05 * f['swnest.arm-on-vtd.nic4k.emulation.guestKibRead']);
    expect(Object.values(f).every((v) => Number.isFinite(v))).toBe(true);
    expect(estimateMicros({ ioctls: 1, pagesPinned: 4, pagesUnpinned: 0, hostPtesWritten: 0, invalidations: 0, traps: 0, guestExits: 0, guestKibRead: 0 }, parseCostModel('pin=0.5'))).toBe(3);
    expect(() => parseCostModel('ioctl=-1')).toThrow(/non-negative/);
    expect(() => parseCostModel('pinn=1')).toThrow(/unknown constant 'pinn'/);
  }, 120_000);
});
