import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING } from '../iommu/unit.ts';
import { IOMMU_HWPT_DATA_SELFTEST, MOCK_HUGE_PAGE_SIZE, MOCK_IO_PAGE_SIZE, MOCK_IOMMUPT_HUGE } from '../iommu/mock.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice } from './device.ts';
import { getDirtyBitmap, markDirtyFromBitmap, setDirtyTracking } from './dirty.ts';
import { dma } from './dma.ts';
import { hwptAlloc } from './hwpt.ts';
import { big, errnoOf } from './test-helpers.ts';

const PAGE = 4096;
const topology = { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] };

let m: Machine;
let ctx: IommufdContext;
let hwpt: number;
let plain: number;
let bitmap: number;
const IOVA = 0x1000000;
const N = 16;

beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
  const ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
  const d = bindDevice(ctx, 'dev0');
  const alloc = (flags: number) => Number(hwptAlloc(ctx, big({ flags, dev_id: d.id, pt_id: ioas, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0, fault_id: 0 })).out_hwpt_id);
  hwpt = alloc(IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  plain = alloc(0);
  attachDevice(ctx, d, hwpt, 0, false);
  const buf = m.memory.mmap(N * PAGE);
  bitmap = m.memory.mmap(PAGE);
  ctx.ioasMap(big({ flags: 7, ioas_id: ioas, __reserved: 0, user_va: buf, length: N * PAGE, iova: IOVA }));
});

const get = (o: Record<string, number | bigint> = {}) =>
  getDirtyBitmap(ctx, big({ hwpt_id: hwpt, flags: 0, __reserved: 0, iova: IOVA, length: N * PAGE, page_size: PAGE, data: bitmap + 1, ...o }));
const bits = () => {
  const b = m.memory.read(bitmap + 1, 2)!;
  const out: number[] = [];
  for (let i = 0; i < N; i++) if (b[i >> 3] & (1 << (i & 7))) out.push(i);
  m.memory.write(bitmap + 1, new Uint8Array(2));
  return out;
};

describe('dirty tracking (iommufd_dirty_tracking)', () => {
  it('set_dirty_tracking: enable and disable; unknown flag → EOPNOTSUPP; HWPT without dirty ops → EOPNOTSUPP', () => {
    expect(setDirtyTracking(ctx, big({ flags: 1, hwpt_id: hwpt, __reserved: 0 }))).toEqual({});
    expect(setDirtyTracking(ctx, big({ flags: 0, hwpt_id: hwpt, __reserved: 0 }))).toEqual({});
    expect(errnoOf(() => setDirtyTracking(ctx, big({ flags: 2, hwpt_id: hwpt, __reserved: 0 })))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => setDirtyTracking(ctx, big({ flags: 1, hwpt_id: plain, __reserved: 0 })))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => setDirtyTracking(ctx, big({ flags: 1, hwpt_id: 999, __reserved: 0 })))).toBe('ENOENT');
  });

  it('get_dirty_bitmap: DMA-written pages are dirty once; NO_CLEAR keeps them (get_dirty_bitmap, get_dirty_bitmap_no_clear)', () => {
    expect(errnoOf(() => get())).toBe('EINVAL');
    setDirtyTracking(ctx, big({ flags: 1, hwpt_id: hwpt, __reserved: 0 }));
    const dev = ctx.devices()[0];
    for (let i = 0; i < N; i += 2) expect(dma(m.phys, dev, 0, BigInt(IOVA + i * PAGE), 1, new Uint8Array([1])).fault).toBe(null);
    get({ flags: 1 });
    expect(bits()).toEqual([0, 2, 4, 6, 8, 10, 12, 14]);
    get();
    expect(bits()).toEqual([0, 2, 4, 6, 8, 10, 12, 14]);
    get();
    expect(bits()).toEqual([]);
  });

  it('range checks: misaligned to page_size → EINVAL; page_size 0 → EINVAL; overflow → EOVERFLOW; flags → EOPNOTSUPP', () => {
    setDirtyTracking(ctx, big({ flags: 1, hwpt_id: hwpt, __reserved: 0 }));
    expect(errnoOf(() => get({ iova: IOVA + 2048 }))).toBe('EINVAL');
    expect(errnoOf(() => get({ page_size: 0 }))).toBe('EINVAL');
    expect(errnoOf(() => get({ iova: (1n << 64n) - 4096n, length: 8192 }))).toBe('EOVERFLOW');
    expect(errnoOf(() => get({ flags: 2 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => get({ __reserved: 1 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => get({ hwpt_id: plain }))).toBe('EOPNOTSUPP');
  });
});

describe('dirty tracking on 1 MiB IOPTEs (iommufd_dirty_tracking.domain_dirty64M_huge)', () => {
  const HUGE_BYTES = 2 * 1024 * 1024;
  const LENGTH = 2 * HUGE_BYTES;
  const NBITS = LENGTH / MOCK_IO_PAGE_SIZE;
  const BITS_PER_IOPTE = MOCK_HUGE_PAGE_SIZE / MOCK_IO_PAGE_SIZE;

  /** hugetlb memory mapped into a DIRTY_TRACKING HWPT of table type MOCK_IOMMUPT_HUGE, tracking on. */
  const setup = () => {
    const hm = new Machine(topology);
    const hctx = new IommufdContext(3, hm, new Map());
    const ioas = Number(hctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    const d = bindDevice(hctx, 'dev0');
    const buf = hm.memory.mmap(LENGTH, undefined, 0, { huge: true });
    hctx.ioasMap(big({ flags: 7, ioas_id: ioas, __reserved: 0, user_va: buf, length: LENGTH, iova: IOVA }));
    const cfg = hm.memory.mmap(PAGE);
    hm.memory.write(cfg, new Uint8Array([0, 0, 0, 0, MOCK_IOMMUPT_HUGE, 0, 0, 0])); // {iotlb 0, pagetable_type}
    const id = Number(
      hwptAlloc(hctx, big({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, dev_id: d.id, pt_id: ioas, __reserved: 0, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 8, data_uptr: cfg, fault_id: 0 })).out_hwpt_id,
    );
    setDirtyTracking(hctx, big({ flags: 1, hwpt_id: id, __reserved: 0 }));
    return { hm, hctx, id, bm: hm.memory.mmap(PAGE) };
  };
  const setBits = (s: ReturnType<typeof setup>) => {
    const b = s.hm.memory.read(s.bm, NBITS / 8)!;
    const out: number[] = [];
    for (let i = 0; i < NBITS; i++) if (b[i >> 3]! & (1 << (i & 7))) out.push(i);
    return out;
  };
  const read = (s: ReturnType<typeof setup>, flags = 0) => {
    s.hm.memory.write(s.bm, new Uint8Array(NBITS / 8));
    getDirtyBitmap(s.hctx, big({ hwpt_id: s.id, flags, __reserved: 0, iova: IOVA, length: LENGTH, page_size: MOCK_IO_PAGE_SIZE, data: s.bm }));
    return setBits(s);
  };

  it('marking one 2 KiB page inside an IOPTE reports all 512 bits of that IOPTE, once; NO_CLEAR keeps them', () => {
    const s = setup();
    const marked = BITS_PER_IOPTE + 5; // inside the second 1 MiB IOPTE, not at its start
    const pattern = new Uint8Array(NBITS / 8);
    pattern[marked >> 3] = 1 << (marked & 7);
    s.hm.memory.write(s.bm, pattern);
    expect(markDirtyFromBitmap(s.hctx, s.id, BigInt(IOVA), BigInt(LENGTH), BigInt(MOCK_IO_PAGE_SIZE), BigInt(s.bm))).toBe(1);
    const iopte = Array.from({ length: BITS_PER_IOPTE }, (_, j) => BITS_PER_IOPTE + j);
    expect(read(s, 1)).toEqual(iopte);
    expect(read(s)).toEqual(iopte);
    expect(read(s)).toEqual([]);
  });
});
