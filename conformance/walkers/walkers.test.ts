/**
 * Issue #5's promise, checked: a walker written from the manuals, given only a PGTABLE_DUMP
 * answer, reaches the same physical address, page size and permissions as TRANSLATE, and
 * faults exactly where TRANSLATE faults. The walkers (this folder) never import
 * reference/formats; the reference is driven only through its adapter, as a user would.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createReferenceAdapter } from '../../reference/adapter.ts';
import type { JsonObject, WireStruct } from '../../schemas/lib/adapter.ts';
import { walkDump } from './registry.ts';
import type { HookOut_PGTABLE_DUMP } from '../../schemas/generated/protocol.ts';
import type { WalkResult } from './walk-result.ts';
import { byteSwap64 } from './ppc-tce.ts';

const MAP_READ = 1;
const MAP_WRITE = 2;
const MAP_FIXED = 4;

interface Area { iova: number; length: number; writeable: boolean }

type Adapter = ReturnType<typeof createReferenceAdapter>;

async function ok(a: Adapter, fd: number, cmd: string, arg: WireStruct): Promise<WireStruct> {
  const r = await a.ioctl({ fd, cmd, arg });
  if (!('ret' in r)) throw new Error(`${cmd}: ${r.errno}`);
  return r.arg;
}

const u64 = (v: bigint): number | string => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

/** One device behind one unit, attached to a fresh IOAS (or a HWPT allocated with hwptFlags), with areas mapped. */
async function world(iommu: JsonObject, areas: Area[], hwptFlags?: number) {
  const a = createReferenceAdapter();
  await a.world({ topology: { bridges: [{ name: 'pci0', iommu }], devices: [{ name: 'dev0', bridge: 'pci0', flags: ['pasid'] }] } });
  const { fd } = await a.open({});
  const devId = (await ok(a, fd, 'VFIO_DEVICE_BIND_IOMMUFD', { argsz: 24, device: 'dev0' })).out_devid as number;
  const ioasId = (await ok(a, fd, 'IOMMU_IOAS_ALLOC', {})).out_ioas_id as number;
  let pt = ioasId;
  if (hwptFlags !== undefined) pt = (await ok(a, fd, 'IOMMU_HWPT_ALLOC', { dev_id: devId, pt_id: ioasId, flags: hwptFlags })).out_hwpt_id as number;
  const hwptId = (await ok(a, fd, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, device: 'dev0', pt_id: pt })).pt_id as number;
  const total = areas.reduce((s, ar) => s + ar.length, 0);
  const mm = await a.test({ fd, op: 'MMAP', arg: { length: total } });
  if (!('ret' in mm)) throw new Error('mmap');
  let va = mm.out.addr as number;
  for (const ar of areas) {
    await ok(a, fd, 'IOMMU_IOAS_MAP', { flags: MAP_READ | MAP_FIXED | (ar.writeable ? MAP_WRITE : 0), ioas_id: ioasId, user_va: va, length: ar.length, iova: ar.iova });
    va += ar.length;
  }
  const d = await a.test({ fd, op: 'PGTABLE_DUMP', arg: { hwpt_id: hwptId } });
  if (!('ret' in d)) throw new Error('dump');
  const dump = d.out as unknown as HookOut_PGTABLE_DUMP;
  const translate = async (iova: bigint): Promise<WalkResult> => {
    const t = await a.test({ fd, op: 'TRANSLATE', arg: { dev_id: devId, iova: u64(iova), write: false } });
    if (!('ret' in t)) return { fault: `errno ${t.errno}` };
    const o = t.out as JsonObject;
    if (o.fault !== null) return { fault: String(o.fault) };
    return { fault: null, phys: BigInt(o.phys as number | string), pageSize: BigInt(o.page_size as number | string), readable: o.readable as boolean, writeable: o.writeable as boolean };
  };
  return { dump, translate };
}

/** The IOVAs worth probing around the areas: both ends, just outside, every 2 MiB / 64 KiB / 2 KiB edge inside, and a few far away. */
function probes(areas: Area[], extra: bigint[]): bigint[] {
  const out = new Set<bigint>(extra);
  for (const ar of areas) {
    const s = BigInt(ar.iova);
    const e = s + BigInt(ar.length);
    for (const v of [s, s + 0x800n, s + 0xfffn, e - 1n, e, e + 0x1000n, s - 1n, s - 0x1000n, s + BigInt(ar.length >> 1)]) if (v >= 0n) out.add(v);
    for (const step of [0x200000n, 0x10000n]) for (let v = (s + step - 1n) / step * step; v < e; v += step) { out.add(v); out.add(v - 1n); out.add(v + 0x1234n); }
  }
  return [...out];
}

const far = [0n, 0x1000n, 0x7fffffffn, 0x80000000n, 0x100000000n, 1n << 38n, 1n << 39n, (1n << 47n) - 0x1000n, 1n << 47n, 1n << 48n, 0xffff800000000000n, 0xfffffffffffff000n];

/** Compare the walker with TRANSLATE: faults only as "faulted or not", successes field for field. */
const strip = (r: WalkResult) => (r.fault === null ? r : { fault: true });

async function agree(iommu: JsonObject, areas: Area[], hwptFlags?: number, format?: string, extra: bigint[] = far) {
  const { dump, translate } = await world(iommu, areas, hwptFlags);
  if (format) expect(dump.format).toBe(format);
  let mapped = 0;
  const sizes = new Set<bigint>();
  for (const iova of probes(areas, extra)) {
    const expected = await translate(iova);
    const got = walkDump(dump, iova);
    if (expected.fault === null) { mapped++; sizes.add(expected.pageSize); }
    expect({ iova: `0x${iova.toString(16)}`, ...strip(got) }).toEqual({ iova: `0x${iova.toString(16)}`, ...strip(expected) });
  }
  return { dump, mapped, sizes: [...sizes].sort((x, y) => (x < y ? -1 : 1)).map(Number) };
}

// Laid out in one MMAP buffer in this order, so the 2 MiB runs come first and stay 2 MiB-aligned
// in physical memory too (huge leaves where the format allows): a read-write 4 MiB run, a
// read-only 2 MiB run, one page right after it (a leaf boundary), a 64 KiB-aligned read-write
// run and a read-only 4 KiB run — all below 1 GiB so that every model's aperture holds them.
const AREAS: Area[] = [
  { iova: 0x2000000, length: 0x400000, writeable: true },
  { iova: 0x3200000, length: 0x200000, writeable: false },
  { iova: 0x3010000, length: 0x30000, writeable: true },
  { iova: 0x3400000, length: 0x1000, writeable: true },
  { iova: 0x1000000, length: 0x3000, writeable: false },
];

const K4 = 0x1000;
const M2 = 0x200000;

describe('independent walkers agree with TRANSLATE on the dumped table', () => {
  it.each([
    ['vtd-fs 4-level', { model: 'intel-vtd' }, undefined, 'vtd-fs', [K4, M2]],
    ['vtd-fs 5-level', { model: 'intel-vtd', levels: 5 }, undefined, 'vtd-fs', [K4, M2]],
    ['vtd-ss 4-level (DIRTY_TRACKING)', { model: 'intel-vtd' }, 2, 'vtd-ss', [K4, M2]],
    ['vtd-ss 4-level NEST_PARENT (read-write areas only: ERRATA_772415_SPR17)', { model: 'intel-vtd' }, 1, 'vtd-ss', [K4, M2], AREAS.map((ar) => ({ ...ar, writeable: true }))],
    ['vtd-ss 3-level', { model: 'intel-vtd', levels: 3 }, 2, 'vtd-ss', [K4, M2]],
    ['vtd-ss 5-level', { model: 'intel-vtd', levels: 5 }, 2, 'vtd-ss', [K4, M2]],
    ['vtd-ss no superpages', { model: 'intel-vtd', superpages: [] }, 2, 'vtd-ss', [K4]],
    ['arm-lpae-s1 4K', { model: 'arm-smmuv3' }, undefined, 'arm-lpae-s1', [K4, M2]],
    ['arm-lpae-s1 4K DIRTY_TRACKING (HTTU)', { model: 'arm-smmuv3' }, 2, 'arm-lpae-s1', [K4, M2]],
    ['arm-lpae-s2 4K NEST_PARENT', { model: 'arm-smmuv3' }, 1, 'arm-lpae-s2', [K4, M2]],
    ['arm-lpae-s2 4K', { model: 'arm-smmuv3', stage1: false }, undefined, 'arm-lpae-s2', [K4, M2]],
    ['arm-lpae-s2 4K oas40 (concatenated root)', { model: 'arm-smmuv3', stage1: false, oas: 40 }, undefined, 'arm-lpae-s2', [K4, M2]],
    ['arm-lpae-s2 4K oas42 (8 concatenated)', { model: 'arm-smmuv3', stage1: false, oas: 42 }, undefined, 'arm-lpae-s2', [K4, M2]],
    ['amd-v1', { model: 'amd-vi' }, undefined, 'amd-v1', [K4, M2]],
    ['amd-v1 contiguous only', { model: 'amd-vi' }, undefined, 'amd-v1', [0x2000, 0x10000], [{ iova: 0x3010000, length: 0x30000, writeable: true }, { iova: 0x1002000, length: 0x6000, writeable: false }, { iova: 0x5000000, length: 0x1ca000, writeable: true }]],
    ['amd-v1 grown to 4 levels (IOVA 2^40)', { model: 'amd-vi' }, undefined, 'amd-v1', [K4, 0x4000, 0x10000, M2], [...AREAS, { iova: 2 ** 40, length: 0x201000, writeable: true }]],
    ['amd-v1 grown to 5 levels (IOVA 2^50)', { model: 'amd-vi' }, undefined, 'amd-v1', [K4, 0x4000, 0x10000, M2], [...AREAS, { iova: 2 ** 50, length: 0x201000, writeable: false }]],
    ['amd-v2 5-level (PASID-capable HWPT)', { model: 'amd-vi' }, 8, 'amd-v2', [K4, M2]],
    ['amd-v2 4-level', { model: 'amd-vi', guest_levels: 4 }, 8, 'amd-v2', [K4, M2]],
    ['vtd-fs 4-level (PASID-capable HWPT)', { model: 'intel-vtd' }, 8, 'vtd-fs', [K4, M2]],
    ['riscv-sv39', { model: 'riscv-iommu', sv_levels: 3 }, undefined, 'riscv-sv', [K4, M2]],
    ['riscv-sv48', { model: 'riscv-iommu', sv_levels: 4 }, undefined, 'riscv-sv', [K4, M2]],
    ['riscv-sv57', { model: 'riscv-iommu', sv_levels: 5 }, undefined, 'riscv-sv', [K4, M2]],
    ['mock', { model: 'mock' }, undefined, 'mock', [0x800]],
    ['mock huge_iova', { model: 'mock', huge_iova: true }, undefined, 'mock', [0x800, 0x100000]],
    ['ppc-tce 4K 1-level', { model: 'ppc-tce', paging: true }, undefined, 'ppc-tce', [K4]],
    ['ppc-tce 4K 2-level', { model: 'ppc-tce', paging: true, levels: 2 }, undefined, 'ppc-tce', [K4]],
    ['ppc-tce 4K 3-level', { model: 'ppc-tce', paging: true, levels: 3 }, undefined, 'ppc-tce', [K4]],
    ['ppc-tce 4K 4-level', { model: 'ppc-tce', paging: true, levels: 4 }, undefined, 'ppc-tce', [K4]],
  ] as Array<[string, JsonObject, number | undefined, string, number[], Area[]?]>)('%s', async (_name, iommu, flags, format, expectedSizes, areas) => {
    const { dump, mapped, sizes } = await agree(iommu, areas ?? AREAS, flags, format);
    expect(dump.words.length).toBeGreaterThan(0);
    expect(mapped).toBeGreaterThan(10);
    // The largest leaf the format allows for each run: 2 MiB leaves where the format has them, so
    // that the huge-leaf paths of the walkers are exercised, not only 4 KiB pages.
    expect(sizes).toEqual(expectedSizes);
  });

  it('the comparison can fail: a dump with one leaf made read-only no longer agrees with TRANSLATE', async () => {
    const { dump, translate } = await world({ model: 'intel-vtd' }, AREAS, 2);
    const iova = 0x2001234n;
    const before = walkDump(dump, iova);
    expect(before).toEqual(await translate(iova));
    expect(before).toMatchObject({ writeable: true, pageSize: 0x200000n });
    // Find the leaf the walker used (the 2 MiB PDE whose address is the page base) and clear its W bit (b1).
    const base = (before as { phys: bigint }).phys & ~0x1fffffn;
    const words = dump.words.map((w) => {
      const v = BigInt(w.value);
      return (v & ~0xfffn) === base && (v & 0x80n) !== 0n ? { addr: w.addr, value: `0x${(v & ~2n).toString(16)}` } : w;
    });
    expect(words).not.toEqual(dump.words);
    expect(walkDump({ ...dump, words }, iova)).not.toEqual(await translate(iova));
  });
});

/**
 * The 8 MiB slot that holds the SMMU's software-MSI window (Linux arm-smmu-v3: MSI_IOVA_BASE
 * 0x8000000, MSI_IOVA_LENGTH 1 MiB), reserved in the IOAS once a device is attached: a fixed
 * MAP there rightly fails with EINVAL (iopt_check_iova), so no random area may use it.
 */
const MSI_SLOT = 0x8000000 / 0x800000;

/** Random non-overlapping areas: each in its own 8 MiB slot below 1 GiB (never MSI_SLOT), often 2 MiB-aligned, 1 page to 4 MiB long (so they never overlap). */
const areasArb = fc
  .uniqueArray(fc.integer({ min: 2, max: 100 }).filter((slot) => slot !== MSI_SLOT), { minLength: 1, maxLength: 4 })
  .chain((slots) =>
    fc.tuple(
      ...slots.map((slot) =>
        fc.record({
          iova: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1023 })).map((page) => slot * 0x800000 + page * 0x1000),
          length: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1024 })).map((pages) => pages * 0x1000),
          writeable: fc.boolean(),
        }),
      ),
    ),
  );

describe('random mappings (fast-check)', () => {
  it.each([
    ['vtd-fs', { model: 'intel-vtd' }, undefined],
    ['vtd-ss', { model: 'intel-vtd', levels: 3 }, 2],
    ['arm-lpae-s1', { model: 'arm-smmuv3' }, undefined],
    ['arm-lpae-s2', { model: 'arm-smmuv3', stage1: false, oas: 40 }, undefined],
    ['amd-v1', { model: 'amd-vi' }, undefined],
    ['amd-v2', { model: 'amd-vi' }, 8],
    ['riscv-sv', { model: 'riscv-iommu', sv_levels: 3 }, undefined],
    ['mock', { model: 'mock', huge_iova: true }, undefined],
    ['ppc-tce', { model: 'ppc-tce', paging: true, levels: 2 }, undefined],
  ] as Array<[string, JsonObject, number | undefined]>)('%s', async (format, iommu, flags) => {
    await fc.assert(
      fc.asyncProperty(areasArb, async (areas) => {
        await agree(iommu, areas, flags, format, [0n, 0x1000n]);
      }),
      { numRuns: 5 },
    );
  });
});

describe('ARM hardware dirty tracking (found by these walkers, fixed in the reference)', () => {
  // SMMUv3 HTTU: a stage-1 domain allocated with DIRTY_TRACKING runs with CD.HD = 1, and Linux's
  // read-and-clear marks a written page clean by setting AP[2] on a DBM descriptor. Per the Arm
  // ARM / SMMUv3 dirty-state rules such a "writable-clean" page still accepts writes (the SMMU
  // clears AP[2] instead of raising a Permission fault) — that is how the next write is seen as
  // dirty. The reference used to answer writeable: false (and fault the write) after a
  // GET_DIRTY_BITMAP; the dump's config now carries hd.
  it('arm-lpae-s1 with HTTU: a page made writable-clean by GET_DIRTY_BITMAP is still writeable', async () => {
    const a = createReferenceAdapter();
    await a.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: 'arm-smmuv3' } }], devices: [{ name: 'dev0', bridge: 'pci0', flags: [] }] } });
    const { fd } = await a.open({});
    const devId = (await ok(a, fd, 'VFIO_DEVICE_BIND_IOMMUFD', { argsz: 24, device: 'dev0' })).out_devid as number;
    const ioasId = (await ok(a, fd, 'IOMMU_IOAS_ALLOC', {})).out_ioas_id as number;
    const hwptId = (await ok(a, fd, 'IOMMU_HWPT_ALLOC', { dev_id: devId, pt_id: ioasId, flags: 2 })).out_hwpt_id as number;
    await ok(a, fd, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, device: 'dev0', pt_id: hwptId });
    const mm = await a.test({ fd, op: 'MMAP', arg: { length: 0x10000 } });
    if (!('ret' in mm)) throw new Error('mmap');
    const va = mm.out.addr as number;
    await ok(a, fd, 'IOMMU_IOAS_MAP', { flags: 7, ioas_id: ioasId, user_va: va, length: 0x2000, iova: 0x1000000 });
    await ok(a, fd, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { flags: 1, hwpt_id: hwptId });
    await ok(a, fd, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: hwptId, flags: 0, iova: 0x1000000, length: 0x2000, page_size: 4096, data: va + 0x8000 });
    const d = await a.test({ fd, op: 'PGTABLE_DUMP', arg: { hwpt_id: hwptId } });
    if (!('ret' in d)) throw new Error('dump');
    const dump = d.out as unknown as HookOut_PGTABLE_DUMP;
    // The leaf is DBM=1 ∧ AP[2]=1 (writable-clean), and the dump says HD is on.
    expect(dump.config).toMatchObject({ hd: true });
    const walked = walkDump(dump, 0x1000000n);
    expect(walked).toMatchObject({ fault: null, writeable: true });
    const t = await a.test({ fd, op: 'TRANSLATE', arg: { dev_id: devId, iova: 0x1000000, write: true } });
    expect(t).toMatchObject({ ret: 0, out: { fault: null, writeable: true } });
    // A device write to the other clean page goes through; both pages are now dirty (the
    // TRANSLATE above was a write translation, which the walk marks dirty as hardware does).
    await expect(a.test({ fd, op: 'DMA_WRITE', arg: { dev_id: devId, iova: 0x1001000, data: 'ff' } })).resolves.toMatchObject({ ret: 0, out: { fault: null } });
    await ok(a, fd, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: hwptId, flags: 0, iova: 0x1000000, length: 0x2000, page_size: 4096, data: va + 0x8000 });
    const bitmap = await a.test({ fd, op: 'MEM_READ', arg: { addr: va + 0x8000, length: 8 } });
    expect(bitmap).toMatchObject({ ret: 0, out: { data: '0300000000000000' } });
  });
});
