/**
 * The differential check of the VMM library (`ioasid swnest check`): a random guest (format,
 * granule, address width) builds its table and runs random map / unmap / replace / invalidate /
 * context-refresh operations through a vIOMMU; after each operation a few IOVAs are probed on
 * the host — TRANSLATE, DMA_READ and DMA_WRITE on the device — and compared with what the
 * guest's own table says (the format's walker over the guest's table, plus the architecture's
 * leaf rules: every device request is unprivileged), and with a native-nesting twin device
 * where the host walks the guest's format.
 *
 * Expected host result for a probe: a fault where the guest's walk faults, the leaf is
 * privileged-only, or its GPA is outside guest RAM; else the physical address the stage-2
 * probe device (an IOAS mapping guest RAM at IOVA = GPA) gives for that GPA, readable, and
 * writable exactly when the leaf is. DMA_READ returns the bytes at that GPA (a fresh tag in the
 * data area); DMA_WRITE of those same bytes succeeds iff writable. An answer the host marks
 * `stale` (its IOTLB served a translation the tables no longer give) is a difference too: the
 * VMM owed the host an invalidation.
 *
 * Operations are concrete (addresses, sizes, permissions) so that a failing run's op list is
 * its reproducer (`replay`). The first difference stops the run.
 */

import type { Adapter } from '../../../schemas/lib/adapter.ts';
import { bytesToHex } from '../../../schemas/lib/codec.ts';
import { walkTable } from '../../formats/walk.ts';
import { createReferenceAdapter } from '../../adapter.ts';
import type { GuestFormatName, GuestTableConfig } from '../guest-context.ts';
import { HostSession } from '../host-session.ts';
import { NO_TABLE_ATTRS } from '../leaf-transform.ts';
import type { StrategyName } from '../strategy.ts';
import { UapiClient } from '../uapi-client.ts';
import { decodeContext, VirtualIommu } from '../virtual-iommu.ts';
import { GuestDriver, type GuestShape, type LeafPerm } from './guest-driver.ts';
import { mulberry32, type Rng } from './rng.ts';

export type CheckOp =
  | { op: 'map'; iova: string; sizeLg2: number; gpa: string; perm: LeafPerm }
  | { op: 'unmap'; iova: string; sizeLg2: number }
  | { op: 'invalidate-all' }
  | { op: 'refresh-context' };

export interface CheckOptions {
  guest: GuestFormatName;
  /** Host IOMMU model (topology `model`) and its knobs. */
  host: string;
  hostKnobs?: Record<string, unknown>;
  seed: number;
  ops: number;
  strategy?: StrategyName;
  /** Probes after each operation (default 3). */
  probes?: number;
  /** The implementation (default: the embedded reference). */
  adapter?: Adapter;
  /** Re-run these operations instead of random ones (a reproducer). */
  replay?: { shape: GuestShape; ops: CheckOp[] };
  shape?: Partial<GuestShape>;
  /** Compare with a native-nesting twin where the host walks the guest's format (default true). */
  twin?: boolean;
  /** Emulation by IOAS_COPY from an IOAS holding guest RAM (VirtualIommuOptions.emulationCopy). */
  emulationCopy?: boolean;
}

export interface Difference {
  opIndex: number;
  iova: string;
  what: string;
  expected: unknown;
  got: unknown;
}

export interface CheckResult {
  guest: GuestFormatName;
  host: string;
  seed: number;
  shape: GuestShape;
  strategy: StrategyName;
  why: string;
  twin: boolean;
  opsRun: number;
  agreements: number;
  difference: Difference | null;
  ops: CheckOp[];
  refusals: string[];
}

const GIB = 2 ** 30;
const TABLE_AREA_BYTES = 64 << 20;
/** 1 GiB of data (a 1 GiB block fits, 1 GiB aligned) and the guest's table area above it. */
const RAM_BYTES = GIB + TABLE_AREA_BYTES;
/** Guest IOVAs live in [8 GiB, 24 GiB): clear of every MSI window an IOAS reserves. */
const WINDOW_PFN = (8 * GIB) / 4096;
const WINDOW_PAGES = (16 * GIB) / 4096;
const MAX_LIVE = 200;

const hex = (n: number): string => `0x${n.toString(16)}`;
const num = (s: string): number => Number(BigInt(s));

interface Live {
  iovaPfn: number;
  sizeLg2: number;
  gpa: number;
  perm: LeafPerm;
}

function randomShape(rng: Rng, guest: GuestFormatName, partial: Partial<GuestShape> = {}): GuestShape {
  if (guest === 'vtd-fs') return { guest, granule: 4096, ias: partial.ias ?? 48 };
  const granule = partial.granule ?? [4096, 16384, 65536][rng.int(3)];
  return { guest, granule, ias: partial.ias ?? 36 + rng.int(13) };
}

export async function runCheck(opts: CheckOptions): Promise<CheckResult> {
  const rng = mulberry32(opts.seed);
  const adapter = opts.adapter ?? createReferenceAdapter();
  await adapter.hello({ protocol: 1 });
  await adapter.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: opts.host, ...(opts.hostKnobs ?? {}) } }], devices: ['dev0', 'twin0', 'probe0'].map((name) => ({ name, bridge: 'pci0' })) } } as never);
  const client = await UapiClient.open(adapter);
  const shape = opts.replay?.shape ?? randomShape(rng, opts.guest, opts.shape);
  const viommu = await VirtualIommu.create(client, { device: 'dev0', guest: opts.guest, ramBytes: RAM_BYTES, strategy: opts.strategy, emulationCopy: opts.emulationCopy });
  const ram = viommu.ram;
  const viommus = [viommu];
  const twin = opts.twin !== false && viommu.strategy.name !== 'native' && viommu.caps.nestsFormats.includes(opts.guest);
  if (twin) viommus.push(await VirtualIommu.create(client, { device: 'twin0', guest: opts.guest, ramBytes: RAM_BYTES, ramHva: ram.hva, strategy: 'native' }));
  const probe = await HostSession.bind(client, 'probe0');
  const probeIoas = await probe.allocIoas();
  await probe.map(probeIoas, ram.hva, RAM_BYTES, ram.gpaBase);
  await probe.attach(probeIoas);

  const tableAreaGpa = ram.gpaBase + RAM_BYTES - TABLE_AREA_BYTES;
  const driver = new GuestDriver(client, ram, shape, tableAreaGpa, TABLE_AREA_BYTES, viommus);
  await driver.boot();
  const raw = shape.guest === 'arm-lpae-s1' ? ({ kind: 'arm', ste0: driver.steWords()[0], ste1: 0n } as const) : ({ kind: 'vtd', ctx: driver.vtdContext() } as const);
  const cfg: GuestTableConfig = await decodeContext(ram, raw);

  const result: CheckResult = { guest: opts.guest, host: opts.host, seed: opts.seed, shape, strategy: viommu.strategy.name, why: viommu.why, twin, opsRun: 0, agreements: 0, difference: null, ops: [], refusals: [] };
  const live: Live[] = [];
  const sizes = driver.leafSizes().map((s) => s.sizeLg2).filter((s) => s <= 30);
  const spacePfns = Math.min(WINDOW_PAGES, 2 ** (shape.ias - 12) - WINDOW_PFN);

  const overlaps = (iovaPfn: number, pages: number): boolean => live.some((l) => iovaPfn < l.iovaPfn + 2 ** (l.sizeLg2 - 12) && l.iovaPfn < iovaPfn + pages);

  const genOp = (): CheckOp => {
    const r = rng.next();
    if (live.length > 0 && (r < 0.3 || live.length >= MAX_LIVE)) {
      const l = live[rng.int(live.length)];
      return { op: 'unmap', iova: hex(l.iovaPfn * 4096), sizeLg2: l.sizeLg2 };
    }
    if (r < 0.315) return { op: 'invalidate-all' };
    if (r < 0.33) return { op: 'refresh-context' };
    for (let attempt = 0; attempt < 8; attempt++) {
      const pick = rng.next();
      const sizeLg2 = pick < 0.65 ? sizes[0] : pick < 0.95 || sizes.length < 3 ? sizes[Math.min(1, sizes.length - 1)] : sizes[sizes.length - 1];
      const pages = 2 ** (sizeLg2 - 12);
      if (pages > spacePfns) continue;
      // Cluster most maps in the first GiB of the window so tables fill up and get reused.
      const span = rng.next() < 0.8 ? Math.min(spacePfns, Math.max(pages, GIB / 4096)) : spacePfns;
      const iovaPfn = WINDOW_PFN + Math.floor(rng.int(Math.max(1, span / pages))) * pages;
      if (iovaPfn + pages > WINDOW_PFN + spacePfns || overlaps(iovaPfn, pages)) continue;
      const bytes = 2 ** sizeLg2;
      const slots = Math.floor((RAM_BYTES - TABLE_AREA_BYTES) / bytes);
      // A few leaves point outside guest RAM (the device must fault there).
      const gpa = rng.next() < 0.05 || slots === 0 ? ram.gpaBase + RAM_BYTES + rng.int(4) * bytes + (bytes >= GIB ? GIB : 0) : ram.gpaBase + rng.int(slots) * bytes;
      const perm: LeafPerm = { write: rng.next() < 0.7, user: rng.next() < 0.92, exec: rng.next() < 0.5, af: shape.guest !== 'arm-lpae-s1' || rng.next() < 0.95 };
      return { op: 'map', iova: hex(iovaPfn * 4096), sizeLg2, gpa: hex(gpa), perm };
    }
    return { op: 'invalidate-all' };
  };

  const execOp = async (op: CheckOp): Promise<Array<number>> => {
    switch (op.op) {
      case 'map': {
        const iovaPfn = num(op.iova) / 4096;
        await driver.map(iovaPfn, op.sizeLg2, num(op.gpa), op.perm);
        live.push({ iovaPfn, sizeLg2: op.sizeLg2, gpa: num(op.gpa), perm: op.perm });
        return [iovaPfn, iovaPfn + 2 ** (op.sizeLg2 - 12) - 1];
      }
      case 'unmap': {
        const iovaPfn = num(op.iova) / 4096;
        await driver.unmap(iovaPfn, op.sizeLg2);
        live.splice(live.findIndex((l) => l.iovaPfn === iovaPfn), 1);
        return [iovaPfn, iovaPfn + 2 ** (op.sizeLg2 - 12) - 1];
      }
      case 'invalidate-all':
        await driver.invalidateAll();
        return [];
      case 'refresh-context':
        await driver.refreshContext();
        return [];
    }
  };

  /** What the guest's table says about one IOVA page, for an unprivileged request. */
  const oracle = (iovaPfn: number): { fault: true; why: string } | { fault: false; gpa: number; write: boolean } => {
    const f = cfg.format;
    const unitPfns = 2 ** (f.unitLg2 - 12);
    const inArea = (frame: number): number | null => (driver.region.contains(frame * 4096) ? frame : null);
    const w = walkTable(driver.region, f, cfg.rootGpa / 4096, Math.floor(iovaPfn / unitPfns), cfg.levels, inArea);
    if (!w.ok) return { fault: true, why: w.fault };
    const m = cfg.decodeLeaf(w.level, w.lo, w.hi, NO_TABLE_ATTRS);
    if (!m.ok) return { fault: true, why: 'fault' in m ? m.fault : m.refusal };
    if (!m.access.user) return { fault: true, why: 'privileged-only leaf' };
    const gpa = w.oaUnit * 2 ** f.unitLg2 + (iovaPfn % unitPfns) * 4096;
    if (!ram.inRam(gpa, 4096)) return { fault: true, why: 'GPA outside guest RAM' };
    return { fault: false, gpa, write: m.access.write };
  };

  const translate = async (devId: number, iova: number): Promise<{ fault: string | null; phys?: number; readable?: boolean; writeable?: boolean; stale?: boolean }> => {
    const r = await client.hook('TRANSLATE', { dev_id: devId, iova });
    const out = { fault: (r.fault as string | null) ?? null, phys: r.phys === undefined ? undefined : num(String(r.phys)), readable: r.readable as boolean | undefined, writeable: r.writeable as boolean | undefined };
    // An implementation with an IOTLB may say that a cached translation was stale (the tables no
    // longer give it): an invalidation the VMM owed the host is missing.
    return r.stale === true ? { ...out, stale: true } : out;
  };

  const probeOne = async (opIndex: number, iovaPfn: number): Promise<Difference | null> => {
    const iova = iovaPfn * 4096 + 8 * rng.int(512);
    const at = hex(iova);
    const want = oracle(iovaPfn);
    const got = await translate(viommu.devId, iova);
    if (got.stale === true) return { opIndex, iova: at, what: 'TRANSLATE from a stale IOTLB entry', expected: want, got };
    if (want.fault) {
      if (got.fault === null) return { opIndex, iova: at, what: 'TRANSLATE', expected: `fault (${want.why})`, got };
      result.agreements++;
      const d = await client.hookRaw('DMA_READ', { dev_id: viommu.devId, iova, length: 8 });
      if (d.out?.fault === null) return { opIndex, iova: at, what: 'DMA_READ', expected: `fault (${want.why})`, got: d.out };
    } else {
      const gpa = want.gpa + (iova % 4096);
      const s2 = await translate(probe.devId, gpa);
      if (got.fault !== null || got.phys !== s2.phys || got.readable !== true || got.writeable !== want.write) {
        return { opIndex, iova: at, what: 'TRANSLATE', expected: { phys: s2.phys, readable: true, writeable: want.write, gpa: hex(gpa) }, got };
      }
      result.agreements++;
      // A fresh tag in the data area (never in the guest's tables), then the device reads it.
      let bytes: Uint8Array;
      if (gpa < tableAreaGpa) {
        bytes = Uint8Array.from({ length: 8 }, () => rng.int(256));
        await ram.write(gpa, bytes);
      } else bytes = await ram.read(gpa, 8);
      const d = await client.hook('DMA_READ', { dev_id: viommu.devId, iova, length: 8 });
      if (d.fault !== null || d.data !== bytesToHex(bytes)) return { opIndex, iova: at, what: 'DMA_READ', expected: bytesToHex(bytes), got: d };
      result.agreements++;
      const wr = await client.hook('DMA_WRITE', { dev_id: viommu.devId, iova, data: bytesToHex(bytes) });
      if ((wr.fault === null) !== want.write) return { opIndex, iova: at, what: 'DMA_WRITE', expected: want.write ? 'written' : 'permission fault', got: wr };
      result.agreements++;
    }
    if (twin) {
      const t = await translate(viommus[1].devId, iova);
      if (t.fault === null !== (got.fault === null) || t.phys !== got.phys || t.writeable !== got.writeable) {
        return { opIndex, iova: at, what: 'TRANSLATE vs native twin', expected: t, got };
      }
      result.agreements++;
    }
    return null;
  };

  const ops = opts.replay?.ops ?? [];
  const total = opts.replay ? ops.length : opts.ops;
  const probes = opts.probes ?? 3;
  for (let i = 0; i < total; i++) {
    const op = opts.replay ? ops[i] : genOp();
    result.ops.push(op);
    const touched = await execOp(op);
    result.opsRun++;
    const targets = [...touched];
    while (targets.length < probes) {
      if (live.length > 0 && rng.next() < 0.7) {
        const l = live[rng.int(live.length)];
        targets.push(l.iovaPfn + rng.int(2 ** (l.sizeLg2 - 12)));
      } else targets.push(WINDOW_PFN + rng.int(spacePfns));
    }
    for (const t of targets) {
      const d = await probeOne(i, t);
      if (d !== null) {
        result.difference = d;
        result.refusals = viommu.strategy.counters().refusals;
        return result;
      }
    }
  }
  result.refusals = viommu.strategy.counters().refusals;
  return result;
}
