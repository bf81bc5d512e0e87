import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING } from '../iommu/unit.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice } from './device.ts';
import { getDirtyBitmap, setDirtyTracking } from './dirty.ts';
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
