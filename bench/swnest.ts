/**
 * The seed's claim measured (issue #11): "transform the ARM page table format to a x86 page
 * table format in userspace and use nested bind/invalidate … With SW nesting I suspect this
 * would be much faster" than software emulation. Guest workloads run through the VMM library
 * (reference/vmm) on the embedded reference, per strategy:
 * - emulation: every guest mapping shadowed into an IOAS with MAP/UNMAP;
 * - swnest: the guest's table transformed into the host's format, nested bind and invalidate;
 * - native: the same workload by a guest whose format the host walks (the floor).
 * Scenarios: an ARM (VMSAv8-64, 4K granule, 48-bit) guest on a VT-d host — native there is an
 * x86 guest on the same host — and the other direction, an x86 guest on an SMMUv3 host.
 * Workloads: `nic4k` (a NIC ring of 64 buffers: per packet the guest maps one 4 KiB buffer,
 * the device writes it, the guest unmaps it), `buf2m` (2 MiB buffers: one 2 MiB leaf each),
 * `static` (a static mapping: 16 MiB in 4 KiB pages mapped once, then DMA only).
 *
 * Per guest operation (a map or an unmap) the figures are: ioctls, pages pinned and unpinned,
 * host PTEs written (swnest: the shadow's descriptors; emulation: the kernel's IOPTEs that
 * changed, from PGTABLE_DUMP of the device's domain), invalidation entries sent, write-protect
 * traps, guest table bytes read, model time (ms of the embedded reference doing it, median of
 * the repetitions) and the time a cost model estimates from the counts (reference/vmm/
 * cost-model.ts, --cost). Ratios emulation ÷ swnest and swnest ÷ native are in the same run.
 * Counts are exact and deterministic; model time is this simulator's, not a kernel's.
 */

import type { Adapter } from '../schemas/lib/adapter.ts';
import { createReferenceAdapter } from '../reference/adapter.ts';
import { GuestDriver, type GuestShape, type LeafPerm } from '../reference/vmm/check/guest-driver.ts';
import { DEFAULT_COSTS, estimateMicros, type CostModel, type OpCounts } from '../reference/vmm/cost-model.ts';
import type { StrategyName } from '../reference/vmm/strategy.ts';
import { UapiClient } from '../reference/vmm/uapi-client.ts';
import { VirtualIommu } from '../reference/vmm/virtual-iommu.ts';

const RAM_BYTES = 256 << 20;
const TABLE_AREA_BYTES = 16 << 20;
const IOVA_BASE_PFN = (8 * 2 ** 30) / 4096;
const RW: LeafPerm = { write: true, user: true, exec: false, af: true };

interface Scenario {
  name: string;
  host: string;
  guest: GuestShape;
  /** The guest the host walks natively (native nesting's row). */
  native: GuestShape;
}

export const SCENARIOS: Scenario[] = [
  { name: 'arm-on-vtd', host: 'intel-vtd', guest: { guest: 'arm-lpae-s1', granule: 4096, ias: 48 }, native: { guest: 'vtd-fs', granule: 4096, ias: 48 } },
  { name: 'vtd-on-smmuv3', host: 'arm-smmuv3', guest: { guest: 'vtd-fs', granule: 4096, ias: 48 }, native: { guest: 'arm-lpae-s1', granule: 4096, ias: 48 } },
];

export const WORKLOADS = ['nic4k', 'buf2m', 'static'] as const;
export type Workload = (typeof WORKLOADS)[number];
/** The strategies compared; `emulation-copy` is emulation that IOAS_COPYs from an IOAS holding guest RAM. */
export const STRATEGIES = ['emulation', 'emulation-copy', 'swnest', 'native'] as const;
export type Variant = (typeof STRATEGIES)[number];
const strategyOf = (v: Variant): StrategyName => (v === 'emulation-copy' ? 'emulation' : v);

export interface SetupRow {
  scenario: string;
  strategy: Variant;
  ioctls: number;
  pagesPinned: number;
}

export interface Row extends OpCounts {
  scenario: string;
  workload: Workload;
  strategy: Variant;
  guestOps: number;
  guestPtesWritten: number;
  modelMs: number;
  estimatedUs: number;
}

/** One guest operation's measurable effects. */
interface Sample extends OpCounts {
  guestPtes: number;
  ms: number;
}

const zero = (): Sample => ({ ioctls: 0, pagesPinned: 0, pagesUnpinned: 0, hostPtesWritten: 0, invalidations: 0, traps: 0, guestExits: 0, guestKibRead: 0, guestPtes: 0, ms: 0 });

interface Rig {
  /** ioctls and pinned pages (ACCOUNTING) of bringing the device and guest up. */
  setup: { ioctls: number; pagesPinned: number };
  adapter: Adapter;
  client: UapiClient;
  viommu: VirtualIommu;
  driver: GuestDriver;
  /** Emulation's kernel IOPTEs, by address, as PGTABLE_DUMP shows them. */
  dump(): Promise<Map<string, string>>;
}

async function rig(sc: Scenario, variant: Variant): Promise<Rig> {
  const strategy = strategyOf(variant);
  const adapter = createReferenceAdapter();
  await adapter.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: sc.host } }], devices: [{ name: 'dev0', bridge: 'pci0' }] } } as never);
  const client = await UapiClient.open(adapter);
  const shape = strategy === 'native' ? sc.native : sc.guest;
  const viommu = await VirtualIommu.create(client, { device: 'dev0', guest: shape.guest, ramBytes: RAM_BYTES, strategy, emulationCopy: variant === 'emulation-copy' });
  const driver = new GuestDriver(client, viommu.ram, shape, viommu.ram.gpaBase + RAM_BYTES - TABLE_AREA_BYTES, TABLE_AREA_BYTES, [viommu]);
  await driver.boot();
  const dump = async (): Promise<Map<string, string>> => {
    const hwpt = viommu.strategy.attachedHwpt();
    const out = new Map<string, string>();
    if (strategy !== 'emulation' || hwpt === null) return out;
    const d = await client.hook('PGTABLE_DUMP', { hwpt_id: hwpt });
    for (const w of d.words as Array<{ addr: string; value: string }>) out.set(w.addr, w.value);
    return out;
  };
  const acc = await client.hook('ACCOUNTING', {});
  return { setup: { ioctls: client.ioctlCount, pagesPinned: Number(acc.pinned_pages ?? acc.user_pages) }, adapter, client, viommu, driver, dump };
}

async function pinned(r: Rig): Promise<number> {
  const acc = await r.client.hook('ACCOUNTING', {});
  return Number(acc.pinned_pages ?? acc.user_pages);
}

function changedWords(a: Map<string, string>, b: Map<string, string>): number {
  let n = 0;
  for (const [k, v] of b) if (a.get(k) !== v) n++;
  for (const k of a.keys()) if (!b.has(k)) n++;
  return n;
}

/** Runs `op` and returns what it cost; `dumpAfter` false skips the IOPTE diff (done per phase). */
async function measure(r: Rig, op: () => Promise<void>, dumps: { before: Map<string, string> | null }, dumpAfter: boolean): Promise<Sample> {
  const c0 = r.viommu.strategy.counters();
  const p0 = await pinned(r);
  const i0 = r.client.ioctlCount;
  const g0 = r.driver.ptesWritten;
  const x0 = r.viommu.guestSubmissions;
  const t0 = performance.now();
  await op();
  const ms = performance.now() - t0;
  const c1 = r.viommu.strategy.counters();
  // Pages the implementation pinned or released, as its ACCOUNTING says (a guest op maps or unmaps, never both).
  const dp = (await pinned(r)) - p0;
  let hostPtes = c1.shadowPtesWritten - c0.shadowPtesWritten;
  if (dumpAfter && dumps.before !== null) {
    const after = await r.dump();
    hostPtes += changedWords(dumps.before, after);
    dumps.before = after;
  }
  return {
    ioctls: r.client.ioctlCount - i0,
    pagesPinned: Math.max(0, dp),
    pagesUnpinned: Math.max(0, -dp),
    hostPtesWritten: hostPtes,
    invalidations: c1.invalidateEntries - c0.invalidateEntries,
    traps: c1.traps - c0.traps,
    guestExits: r.viommu.guestSubmissions - x0,
    guestKibRead: (c1.guestBytesRead - c0.guestBytesRead) / 1024,
    guestPtes: r.driver.ptesWritten - g0,
    ms,
  };
}

function add(a: Sample, b: Sample): Sample {
  const out = zero();
  for (const k of Object.keys(out) as Array<keyof Sample>) out[k] = a[k] + b[k];
  return out;
}

/** One run of a workload; returns the summed samples of its guest operations and their count. */
async function runWorkload(sc: Scenario, variant: Variant, w: Workload, quick: boolean): Promise<{ sum: Sample; ops: number; setup: Rig['setup'] }> {
  const strategy = strategyOf(variant);
  const r = await rig(sc, variant);
  const dev = r.viommu.devId;
  const dumps = { before: strategy === 'emulation' ? await r.dump() : null };
  let sum = zero();
  let ops = 0;
  const gpaData = r.viommu.ram.gpaBase;
  const dma = async (iovaPfn: number): Promise<void> => {
    const res = await r.client.hook('DMA_WRITE', { dev_id: dev, iova: iovaPfn * 4096, data: '5a'.repeat(64) });
    if (res.fault !== null) throw new Error(`bench swnest ${sc.name}/${w}/${strategy}: DMA faulted (${String(res.fault)})`);
  };
  const step = async (op: () => Promise<void>, dumpAfter = true): Promise<void> => {
    sum = add(sum, await measure(r, op, dumps, dumpAfter));
    ops++;
  };
  if (w === 'nic4k') {
    // A receive ring of 64 posted buffers: per packet the device writes the head buffer, the
    // driver unmaps it and posts a fresh one in its slot. The ring's initial posting is setup.
    const ring = 64;
    const packets = quick ? 64 : 512;
    const bufGpa = (n: number): number => gpaData + ((n * 7) % 4096) * 4096;
    for (let p = 0; p < ring; p++) await r.driver.map(IOVA_BASE_PFN + p, 12, bufGpa(p), RW);
    if (dumps.before !== null) dumps.before = await r.dump();
    for (let p = 0; p < packets; p++) {
      const iova = IOVA_BASE_PFN + (p % ring);
      await dma(iova);
      await step(() => r.driver.unmap(iova, 12));
      await step(() => r.driver.map(iova, 12, bufGpa(ring + p), RW));
    }
  } else if (w === 'buf2m') {
    // Eight 2 MiB buffers in flight, recycled one at a time like the ring above.
    const slots = 8;
    const buffers = quick ? 16 : 64;
    const bufGpa = (n: number): number => gpaData + (n % 96) * 2 ** 21;
    for (let b = 0; b < slots; b++) await r.driver.map(IOVA_BASE_PFN + b * 512, 21, bufGpa(b), RW);
    if (dumps.before !== null) dumps.before = await r.dump();
    for (let b = 0; b < buffers; b++) {
      const iova = IOVA_BASE_PFN + (b % slots) * 512;
      await dma(iova + 17);
      await step(() => r.driver.unmap(iova, 21));
      await step(() => r.driver.map(iova, 21, bufGpa(slots + b), RW));
    }
  } else {
    const pages = quick ? 256 : 4096;
    // Maps only: the IOPTE diff of the whole phase is the sum of the per-op diffs.
    for (let i = 0; i < pages; i++) await step(() => r.driver.map(IOVA_BASE_PFN + i, 12, gpaData + i * 4096, RW), false);
    if (dumps.before !== null) sum.hostPtesWritten += changedWords(dumps.before, await r.dump());
    for (let i = 0; i < pages; i += 97) await dma(IOVA_BASE_PFN + i);
  }
  return { sum, ops, setup: r.setup };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function benchSwnestRows(opts: { quick?: boolean; costs?: CostModel } = {}): Promise<{ rows: Row[]; setup: SetupRow[] }> {
  const quick = opts.quick === true;
  const costs = opts.costs ?? DEFAULT_COSTS;
  const reps = quick ? 1 : 3;
  const rows: Row[] = [];
  const setup: SetupRow[] = [];
  for (const sc of SCENARIOS) {
    for (const w of WORKLOADS) {
      // Repetitions interleave the strategies so that load drifts hit them alike.
      const runs = new Map<Variant, Array<{ sum: Sample; ops: number; setup: Rig['setup'] }>>();
      for (let rep = 0; rep < reps; rep++) for (const s of STRATEGIES) (runs.get(s) ?? runs.set(s, []).get(s)!).push(await runWorkload(sc, s, w, quick));
      for (const s of STRATEGIES) {
        const rs = runs.get(s)!;
        if (w === WORKLOADS[0]) setup.push({ scenario: sc.name, strategy: s, ...rs[0].setup });
        const { sum, ops } = rs[0];
        const per = (v: number): number => v / ops;
        const counts: OpCounts = {
          ioctls: per(sum.ioctls),
          pagesPinned: per(sum.pagesPinned),
          pagesUnpinned: per(sum.pagesUnpinned),
          hostPtesWritten: per(sum.hostPtesWritten),
          invalidations: per(sum.invalidations),
          traps: per(sum.traps),
          guestExits: per(sum.guestExits),
          guestKibRead: per(sum.guestKibRead),
        };
        rows.push({ scenario: sc.name, workload: w, strategy: s, guestOps: ops, guestPtesWritten: per(sum.guestPtes), ...counts, modelMs: median(rs.map((r) => r.sum.ms / r.ops)), estimatedUs: estimateMicros(counts, costs) });
      }
    }
  }
  return { rows, setup };
}

const METRICS: Array<keyof Row> = ['ioctls', 'pagesPinned', 'pagesUnpinned', 'hostPtesWritten', 'invalidations', 'traps', 'guestExits', 'guestKibRead', 'guestPtesWritten', 'modelMs', 'estimatedUs'];

/** The rows as a markdown table (what the write-up quotes). */
export function rowsTable(rows: Row[]): string {
  const head = ['scenario', 'workload', 'strategy', 'ioctls', 'pinned', 'unpinned', 'host PTEs', 'invals', 'traps', 'guest exits', 'guest KiB read', 'model ms', 'est. µs'];
  const f = (v: number): string => (Number.isInteger(v) ? String(v) : v >= 10 ? v.toFixed(1) : v.toPrecision(3));
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${[r.scenario, r.workload, r.strategy, f(r.ioctls), f(r.pagesPinned), f(r.pagesUnpinned), f(r.hostPtesWritten), f(r.invalidations), f(r.traps), f(r.guestExits), f(r.guestKibRead), f(r.modelMs), f(r.estimatedUs)].join(' | ')} |`);
  return lines.join('\n');
}

export function setupTable(setup: SetupRow[]): string {
  const lines = ['| scenario | strategy | setup ioctls | pages pinned at setup |', '|---|---|---|---|'];
  for (const s of setup) lines.push(`| ${s.scenario} | ${s.strategy} | ${s.ioctls} | ${s.pagesPinned} |`);
  return lines.join('\n');
}

/** Flat figures for `ioasid bench`: per row and metric, and the ratios between strategies. */
export async function benchSwnest(opts: { quick?: boolean; costs?: CostModel; print?: (s: string) => void } = {}): Promise<Record<string, number>> {
  const { rows, setup } = await benchSwnestRows(opts);
  opts.print?.(`${rowsTable(rows)}\n(per guest operation; est. µs = the cost model's constants × the counts)\n\n${setupTable(setup)}\n`);
  const out: Record<string, number> = {};
  for (const s of setup) {
    out[`swnest.${s.scenario}.setup.${s.strategy}.ioctls`] = s.ioctls;
    out[`swnest.${s.scenario}.setup.${s.strategy}.pagesPinned`] = s.pagesPinned;
  }
  for (const r of rows) for (const m of METRICS) out[`swnest.${r.scenario}.${r.workload}.${r.strategy}.${m}`] = r[m] as number;
  for (const sc of SCENARIOS) {
    for (const w of WORKLOADS) {
      const get = (s: Variant): Row => rows.find((r) => r.scenario === sc.name && r.workload === w && r.strategy === s)!;
      // A ratio over a zero count (native's static mapping makes no ioctl) is left out.
      for (const m of ['ioctls', 'modelMs', 'estimatedUs'] as const) {
        for (const [a, b] of [['emulation', 'swnest'], ['emulation-copy', 'swnest'], ['swnest', 'native']] as const) {
          if (get(b)[m] > 0) out[`swnest.${sc.name}.${w}.${a}_over_${b}.${m}`] = get(a)[m] / get(b)[m];
        }
      }
    }
  }
  return out;
}
