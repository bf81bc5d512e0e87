/**
 * Properties of the IOTLB through the whole reference (adapter calls), with every policy:
 * 1. Kernel-managed domains: random MAP / UNMAP / attach / detach / replace / HWPT destroy / DMA
 *    sequences over four units (VT-d, SMMUv3, AMD, mock) give exactly the answers of the same
 *    sequence with the IOTLB off, no DMA is ever stale, and IOTLB_STATS counts no stale use:
 *    no translation outlives its mapping.
 * 2. User-owned tables (VT-d nested, the guest's 4-level table in guest memory): random guest
 *    PTE rewrites in two leaf tables, PDE repoints between them, guest invalidations
 *    (HWPT_INVALIDATE VTD_S1, one page, with or without IOMMU_VTD_INV_FLAGS_LEAF = IH) and DMAs.
 *    With `sticky` the answer is exactly a cache that keeps every leaf translation until its page
 *    is invalidated and the PDE (paging-structure) entry until an invalidation without the leaf
 *    flag: a DMA through a translation or a table pointer the guest changed without the
 *    invalidation that removes it returns what the old one gives and says `stale`; otherwise it
 *    sees exactly what the tables say. With `off` every DMA sees the table; with `realistic` a DMA
 *    sees the table or, if it says stale, a translation the guest had before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, WireStruct, WorldParams } from '../../schemas/lib/adapter.ts';
import { createReferenceAdapter } from '../adapter.ts';

const PAGE = 4096;
type Policy = 'realistic' | 'sticky' | 'off';
const iotlbOf = (policy: Policy) => (policy === 'realistic' ? { policy, entries: 16, ways: 2 } : { policy });

function kernelTopology(policy: Policy): WorldParams['topology'] {
  const iotlb = iotlbOf(policy);
  return {
    bridges: [
      { name: 'vtd', iommu: { model: 'intel-vtd', iotlb } },
      { name: 'smmu', iommu: { model: 'arm-smmuv3', iotlb } },
      { name: 'amd', iommu: { model: 'amd-vi', iotlb } },
      { name: 'mock', iommu: { model: 'mock', iotlb } },
    ],
    devices: [
      { name: 'd0', bridge: 'vtd' },
      { name: 'd1', bridge: 'vtd' },
      { name: 'd2', bridge: 'smmu' },
      { name: 'd3', bridge: 'amd' },
      { name: 'd4', bridge: 'mock' },
    ],
  };
}

type Op =
  | { op: 'map'; slot: number; pages: number; off: number; ro: boolean }
  | { op: 'unmap'; slot: number; pages: number }
  | { op: 'attach'; dev: number; hwpt: number }
  | { op: 'detach'; dev: number }
  | { op: 'alloc'; dev: number }
  | { op: 'destroy'; id: number }
  | { op: 'dma'; dev: number; slot: number; write: boolean };

const SLOTS = 6;
const IOVA0 = 0x1000000;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('map' as const), slot: fc.nat(SLOTS - 1), pages: fc.integer({ min: 1, max: 3 }), off: fc.nat(15), ro: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unmap' as const), slot: fc.nat(SLOTS - 1), pages: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('attach' as const), dev: fc.nat(4), hwpt: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('detach' as const), dev: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('alloc' as const), dev: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('destroy' as const), id: fc.integer({ min: 7, max: 12 }) }) },
  { weight: 8, arbitrary: fc.record({ op: fc.constant('dma' as const), dev: fc.nat(4), slot: fc.nat(SLOTS - 1), write: fc.boolean() }) },
);

/** One world running the ops; every answer as a string, for comparing two worlds. */
async function runKernel(policy: Policy, ops: Op[]): Promise<{ answers: string[]; stale: number; staleUses: number; hits: number }> {
  const ad = createReferenceAdapter();
  await ad.world({ topology: kernelTopology(policy) });
  const { fd } = await ad.open({});
  const buf = ((await ad.test({ fd, op: 'MMAP', arg: { length: 16 * PAGE } })) as unknown as { out: { addr: number } }).out.addr;
  for (let i = 0; i < 16; i++) await ad.test({ fd, op: 'MEM_WRITE', arg: { addr: buf + i * PAGE, data: (i + 1).toString(16).padStart(2, '0').repeat(16) } });
  const ioas = ((await ad.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { flags: 0 } })) as { arg: WireStruct }).arg.out_ioas_id as number;
  const devIds: number[] = [];
  for (let d = 0; d < 5; d++) devIds.push(((await ad.ioctl({ fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { argsz: 24, device: `d${d}` } })) as { arg: WireStruct }).arg.out_devid as number);
  const hwpts: number[] = [ioas];
  // Half the slots start mapped, every device starts on the IOAS (automatic domains); the ops move them about.
  for (let slot = 0; slot < SLOTS; slot += 2) await ad.ioctl({ fd, cmd: 'IOMMU_IOAS_MAP', arg: { ioas_id: ioas, flags: 7, user_va: buf + slot * PAGE, length: PAGE, iova: IOVA0 + slot * PAGE } });
  for (let d = 0; d < 5; d++) await ad.ioctl({ fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { argsz: 16, device: `d${d}`, pt_id: ioas } });
  const answers: string[] = [];
  let stale = 0;
  for (const o of ops) {
    let r: unknown;
    switch (o.op) {
      case 'map':
        r = await ad.ioctl({ fd, cmd: 'IOMMU_IOAS_MAP', arg: { ioas_id: ioas, flags: o.ro ? 5 : 7, user_va: buf + o.off * PAGE, length: Math.min(o.pages, 16 - o.off) * PAGE, iova: IOVA0 + o.slot * PAGE } });
        break;
      case 'unmap':
        r = await ad.ioctl({ fd, cmd: 'IOMMU_IOAS_UNMAP', arg: { ioas_id: ioas, iova: IOVA0 + o.slot * PAGE, length: o.pages * PAGE } });
        break;
      case 'attach':
        r = await ad.ioctl({ fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { argsz: 16, device: `d${o.dev}`, pt_id: hwpts[o.hwpt % hwpts.length] } });
        break;
      case 'detach':
        r = await ad.ioctl({ fd, cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', arg: { argsz: 12, device: `d${o.dev}` } });
        break;
      case 'alloc': {
        r = await ad.ioctl({ fd, cmd: 'IOMMU_HWPT_ALLOC', arg: { dev_id: devIds[o.dev], pt_id: ioas, flags: 0 } });
        const id = (r as { arg?: WireStruct }).arg?.out_hwpt_id;
        if (typeof id === 'number') hwpts.push(id);
        break;
      }
      case 'destroy':
        r = await ad.ioctl({ fd, cmd: 'IOMMU_DESTROY', arg: { id: o.id } });
        break;
      case 'dma': {
        const arg: JsonObject = { dev_id: devIds[o.dev], iova: IOVA0 + o.slot * PAGE + 8 };
        r = o.write ? await ad.test({ fd, op: 'DMA_WRITE', arg: { ...arg, data: 'a5a5' } }) : await ad.test({ fd, op: 'DMA_READ', arg: { ...arg, length: 8 } });
        if ((r as { out?: { stale?: boolean } }).out?.stale) stale++;
        break;
      }
    }
    answers.push(`${JSON.stringify(o)} → ${JSON.stringify(r)}`);
  }
  let staleUses = 0;
  let hits = 0;
  for (const b of ['vtd', 'smmu', 'amd', 'mock']) {
    const s = ((await ad.test({ fd, op: 'IOTLB_STATS', arg: { iommu: b } })) as unknown as { out: { stale_uses: number; hits: number } }).out;
    staleUses += s.stale_uses;
    hits += s.hits;
  }
  await ad.close({ fd });
  return { answers, stale, staleUses, hits };
}

describe('IOTLB property: kernel-managed domains never serve a translation that outlived its mapping', () => {
  for (const policy of ['realistic', 'sticky'] as const) {
    it(`${policy}: the answers are those of the IOTLB off, nothing is stale`, async () => {
      let hits = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 60 }), async (ops) => {
          const cached = await runKernel(policy, ops);
          const walked = await runKernel('off', ops);
          expect(cached.stale).toBe(0);
          expect(cached.staleUses).toBe(0);
          expect(walked.hits).toBe(0);
          for (let i = 0; i < ops.length; i++) expect(cached.answers[i]).toBe(walked.answers[i]);
          hits += cached.hits;
        }),
        { numRuns: 60, seed: Number(process.env.FC_SEED ?? 20261204) },
      );
      // The sample must actually hit the cache, or it proves nothing.
      expect(hits).toBeGreaterThan(20);
    }, 120_000);
  }
});

// ---- user-owned tables: a VT-d nested domain over guest RAM ----

const RAM_IOVA = 0x100000;
const GVA0 = 0x40201000;
const PAGES = 3;
const DATA_GPA = (k: number) => RAM_IOVA + 0x8000 + k * PAGE;
const pteHex = (gpa: number | null) => {
  const v = gpa === null ? 0 : gpa | 0x7;
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, v, true);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
};

/** The two leaf tables PD[1] may point at (GPA). */
const PTS = [RAM_IOVA + 0x3000, RAM_IOVA + 0x4000];
type GuestOp =
  | { op: 'remap'; pt: number; page: number; to: number | null }
  | { op: 'repoint'; pt: number }
  | { op: 'inval'; page: number; leaf: boolean }
  | { op: 'dma'; page: number };
const guestOpArb: fc.Arbitrary<GuestOp> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remap' as const), pt: fc.nat(1), page: fc.nat(PAGES - 1), to: fc.option(fc.nat(5), { freq: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('repoint' as const), pt: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('inval' as const), page: fc.nat(PAGES - 1), leaf: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('dma' as const), page: fc.nat(PAGES - 1) }) },
);

/** Runs the ops and checks each DMA; returns how many DMAs said stale (and, sticky, how many of them through a stale PDE). */
async function runGuest(policy: Policy, ops: GuestOp[]): Promise<{ stale: number; walkStale: number }> {
  let stale = 0;
  let walkStale = 0;
  const ad = createReferenceAdapter();
  await ad.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: 'intel-vtd', iotlb: iotlbOf(policy) } }], devices: [{ name: 'dev0', bridge: 'pci0' }] } });
  const { fd } = await ad.open({});
  const ram = ((await ad.test({ fd, op: 'MMAP', arg: { length: 16 * PAGE } })) as unknown as { out: { addr: number } }).out.addr;
  const io = async (cmd: string, arg: WireStruct) => {
    const r = (await ad.ioctl({ fd, cmd, arg })) as { arg?: WireStruct; errno?: string };
    if (r.errno !== undefined) throw new Error(`${cmd}: ${r.errno}`);
    return r.arg!;
  };
  const mem = (gpa: number, data: string) => ad.test({ fd, op: 'MEM_WRITE', arg: { addr: ram + (gpa - RAM_IOVA), data } });
  const scratch = ((await ad.test({ fd, op: 'MMAP', arg: { length: PAGE } })) as unknown as { out: { addr: number } }).out.addr;
  /** Puts driver data in user memory (the case compiler's inline pointer content) and gives its address. */
  const user = async (hex: string) => {
    await ad.test({ fd, op: 'MEM_WRITE', arg: { addr: scratch, data: hex } });
    return scratch;
  };
  const ioas = (await io('IOMMU_IOAS_ALLOC', { flags: 0 })).out_ioas_id as number;
  const dev = (await io('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 24, device: 'dev0' })).out_devid as number;
  await io('IOMMU_IOAS_MAP', { ioas_id: ioas, flags: 7, user_va: ram, length: 16 * PAGE, iova: RAM_IOVA });
  const parent = (await io('IOMMU_HWPT_ALLOC', { flags: 1, dev_id: dev, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 })).out_hwpt_id as number;
  // PML4 at 0x100000 → PDPT 0x101000 → PD 0x102000 → PT 0x103000 (GVA 0x40201000 = indices 0, 1, 1, 1).
  await mem(RAM_IOVA, pteHex(RAM_IOVA + 0x1000));
  await mem(RAM_IOVA + 0x1008, pteHex(RAM_IOVA + 0x2000));
  await mem(RAM_IOVA + 0x2008, pteHex(RAM_IOVA + 0x3000));
  for (let k = 0; k < 6; k++) await mem(DATA_GPA(k), (0x11 * (k + 1)).toString(16).padStart(2, '0').repeat(4));
  const s1 = new Uint8Array(24);
  new DataView(s1.buffer).setUint32(8, RAM_IOVA, true);
  s1[16] = 48;
  const s1Hex = [...s1].map((x) => x.toString(16).padStart(2, '0')).join('');
  const hwpt = (await io('IOMMU_HWPT_ALLOC', { flags: 0, dev_id: dev, pt_id: parent, data_type: 1, data_len: 24, data_uptr: await user(s1Hex) })).out_hwpt_id as number;
  await io('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, device: 'dev0', pt_id: hwpt });

  /** The guest's tables: which leaf table PD[1] points at, and each leaf table's entries. */
  let pd = 0;
  const tables: Array<Array<number | null>> = PTS.map(() => new Array(PAGES).fill(null));
  /** The sticky model: the leaf translation cached per page, and the PDE cached (undefined: nothing). */
  const cache: Array<number | null | undefined> = new Array(PAGES).fill(undefined);
  let cachedPd: number | undefined;
  const seen: Array<Set<number>> = Array.from({ length: PAGES }, () => new Set<number>());
  for (const o of ops) {
    if (o.op === 'remap') {
      tables[o.pt][o.page] = o.to;
      if (o.to !== null) seen[o.page].add(o.to);
      await mem(PTS[o.pt] + 8 * (1 + o.page), pteHex(o.to === null ? null : DATA_GPA(o.to)));
    } else if (o.op === 'repoint') {
      pd = o.pt;
      await mem(RAM_IOVA + 0x2008, pteHex(PTS[o.pt]));
    } else if (o.op === 'inval') {
      const e = new Uint8Array(24);
      const dv = new DataView(e.buffer);
      dv.setUint32(0, GVA0 + o.page * PAGE, true);
      dv.setUint32(8, 1, true);
      dv.setUint32(16, o.leaf ? 1 : 0, true);
      const hex = [...e].map((x) => x.toString(16).padStart(2, '0')).join('');
      const r = await io('IOMMU_HWPT_INVALIDATE', { hwpt_id: hwpt, data_uptr: await user(hex), data_type: 0, entry_len: 24, entry_num: 1 });
      expect(r.entry_num).toBe(1);
      cache[o.page] = undefined;
      // IH = 0 also drops the paging-structure entries over the page (the PDE covers every page).
      if (!o.leaf) cachedPd = undefined;
    } else {
      const r = ((await ad.test({ fd, op: 'DMA_READ', arg: { dev_id: dev, iova: GVA0 + o.page * PAGE, length: 4 } })) as unknown as { out: { fault: string | null; data?: string; stale?: boolean } }).out;
      const dataOf = (k: number) => (0x11 * (k + 1)).toString(16).padStart(2, '0').repeat(4);
      const truth = tables[pd][o.page];
      if (r.stale) stale++;
      if (policy === 'sticky') {
        const held = cache[o.page];
        // A miss walks from the cached PDE when there is one; a successful walk caches the leaf and the PDE.
        const walkedPd = cachedPd ?? pd;
        const served = held !== undefined ? held : tables[walkedPd][o.page];
        if (held === undefined && served !== null) {
          cache[o.page] = served;
          cachedPd = walkedPd;
        }
        if (served === null) expect(r.fault).toBe('not-present');
        else expect(r.data).toBe(dataOf(served));
        if (held === undefined && served !== truth) walkStale++;
        expect(r.stale === true, `page ${o.page}: cache ${held}, pde ${cachedPd}/${pd}, table ${truth}`).toBe(served !== truth);
      } else if (policy === 'off' || !r.stale) {
        if (truth === null) expect(r.fault).toBe('not-present');
        else expect(r.data).toBe(dataOf(truth));
        expect(r.stale === true).toBe(false);
      } else {
        // realistic, stale: an older translation of this page, or (walked through a stale PDE) the
        // other leaf table's empty entry.
        if (r.fault !== null) expect(r.fault).toBe('not-present');
        else expect([...seen[o.page]].map(dataOf)).toContain(r.data);
      }
    }
  }
  await ad.close({ fd });
  return { stale, walkStale };
}

describe('IOTLB property: user-owned tables see what the architecture allows', () => {
  for (const policy of ['sticky', 'realistic', 'off'] as const) {
    it(`${policy}: after the required invalidation DMA sees the table; a missing one ${policy === 'sticky' ? 'is always reported stale' : 'is stale or unseen'}`, async () => {
      let stale = 0;
      let walkStale = 0;
      await fc.assert(fc.asyncProperty(fc.array(guestOpArb, { minLength: 10, maxLength: 60, size: 'medium' }), async (ops) => {
        const r = await runGuest(policy, ops);
        stale += r.stale;
        walkStale += r.walkStale;
      }), {
        numRuns: 80,
        seed: Number(process.env.FC_SEED ?? 20261205),
      });
      // With a cache the sample must contain missing invalidations that show; without, none can.
      if (policy === 'off') expect(stale).toBe(0);
      else expect(stale).toBeGreaterThan(policy === 'sticky' ? 10 : 0);
      if (policy === 'sticky') expect(walkStale).toBeGreaterThan(0);
    }, 120_000);
  }
});
