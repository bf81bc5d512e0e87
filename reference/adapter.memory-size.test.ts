/**
 * The machine's physical memory has a size (topology `memory.bytes`): a MAP that would pin more
 * than it holds fails with ENOMEM at once, one that runs out part way unwinds, and neither
 * leaves a page pinned or charged (issue #15, defect 1).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { JsonObject, TestParams, WireStruct, WorldParams } from '../schemas/lib/adapter.ts';
import { createReferenceAdapter, type ReferenceAdapter } from './adapter.ts';
import { out } from './adapter-test-helpers.ts';
import { DEFAULT_MEMORY_BYTES } from './machine/physical-memory.ts';

const MIB = 1024 * 1024;
let ad: ReferenceAdapter;
let fd: number;
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const test = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });
const errnoOf = async (p: Promise<unknown>): Promise<string | undefined> => ((await p) as { errno?: string }).errno;

let devId: number;
async function machine(topology: WorldParams['topology']): Promise<number> {
  ad = createReferenceAdapter();
  await ad.world({ topology });
  fd = (await ad.open({})).fd;
  const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
  devId = (await out(ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, flags: 0, device: 'dev0' }))).out_devid as number;
  await out(ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, flags: 0, pt_id: ioas as number, device: 'dev0' }));
  return ioas as number;
}

/** IOMMU_IOAS_MAP, READ|WRITE, at `iova` (FIXED_IOVA) or wherever the IOAS puts it (null). */
const map = (ioas: number, addr: unknown, length: number | string, iova: number | null) =>
  ioctl('IOMMU_IOAS_MAP', { size: 40, flags: iova === null ? 6 : 7, ioas_id: ioas, __reserved: 0, user_va: addr as number, length, iova: iova ?? 0 });

async function pinned(): Promise<{ frames: number; acc: JsonObject }> {
  const s = await out(test('STATE'));
  return { frames: (s.pins as { pinned_frames: number }).pinned_frames, acc: await out(test('ACCOUNTING')) };
}

describe('physical memory size', () => {
  let ioas: number;
  beforeEach(async () => {
    ioas = await machine({ bridges: [{ name: 'pci0', iommu: { model: 'intel-vtd', levels: 4 } }], devices: [{ name: 'dev0', bridge: 'pci0' }] });
  });

  it('a MAP of 32 TiB (more than the machine has) is ENOMEM at once, nothing pinned, charged or allocated', async () => {
    const { addr } = await out(test('MMAP', { length: 0x2000_0000_0000 }));
    const before = await pinned();
    expect(await errnoOf(map(ioas, addr, 0x2000_0000_0000, null))).toBe('ENOMEM');
    expect(await pinned()).toEqual(before);
    expect(before.frames).toBe(0);
    // The IOAS is as it was: the same range maps once it is small enough.
    await out(map(ioas, addr, 2 * MIB, null));
    await ad.close({ fd });
    expect((await out(test('STATE'))).pins).toMatchObject({ pinned_frames: 0 });
  });

  it('the default machine holds the 64 GiB the map benchmark pins, but not twice its size', async () => {
    expect(DEFAULT_MEMORY_BYTES).toBeGreaterThan(64 * 1024 * MIB);
    const { addr } = await out(test('MMAP', { length: DEFAULT_MEMORY_BYTES + 2 * MIB }));
    expect(await errnoOf(map(ioas, addr, DEFAULT_MEMORY_BYTES + 2 * MIB, null))).toBe('ENOMEM');
    expect((await pinned()).frames).toBe(0);
  });
});

describe('a machine that runs out part way', () => {
  it('unwinds the pages it pinned and the charge, and works again after MUNMAP frees memory', async () => {
    const ioas = await machine({ bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }], memory: { bytes: 32 * MIB } });
    // Fill half the machine with touched memory, then MAP more than the rest.
    const { addr: filler } = await out(test('MMAP', { length: 16 * MIB }));
    for (let off = 0; off < 16 * MIB; off += 2 * MIB) await out(test('MEM_WRITE', { addr: (filler as number) + off, data: '01' }));
    const { addr } = await out(test('MMAP', { length: 24 * MIB }));
    const before = await pinned();
    expect(await errnoOf(map(ioas, addr, 24 * MIB, 0x1000000))).toBe('ENOMEM');
    expect(await pinned()).toEqual(before);
    // Nothing of the failed MAP is in the IOAS or the domain: the IOVA faults.
    const iova = 0x1000000;
    expect((await out(test('DMA_READ', { dev_id: devId, pasid: 0, iova, length: 4 }))).fault).not.toBeNull();
    await out(test('MUNMAP', { addr, length: 24 * MIB }));
    await out(map(ioas, filler, 8 * MIB, iova));
    expect((await pinned()).frames).toBe(8 * MIB / 4096);
    await ad.close({ fd });
    expect((await out(test('STATE'))).pins).toMatchObject({ pinned_frames: 0 });
  });

  it('MMAP huge beyond the free huge pages is ENOMEM and leaves no frame allocated', async () => {
    await machine({ bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }], memory: { bytes: 32 * MIB } });
    expect(await errnoOf(test('MMAP', { length: 64 * MIB, huge: true }))).toBe('ENOMEM');
    const { addr } = await out(test('MMAP', { length: 16 * MIB, huge: true }));
    await out(test('MEM_WRITE', { addr, data: '02' }));
  });

  it('a topology memory size off 2 MiB or out of range is refused naming the field', async () => {
    ad = createReferenceAdapter();
    await expect(ad.world({ topology: { bridges: [], devices: [], memory: { bytes: 3 * MIB } } })).rejects.toThrow(/memory\.bytes/);
    await expect(ad.world({ topology: { bridges: [], devices: [], memory: { bytes: 2 ** 50 } } })).rejects.toThrow(/memory\.bytes/);
  });
});

describe('lengths the caller merely claims cost nothing', () => {
  const framesInUse = () => (ad as unknown as { machine: { phys: { framesInUse: number } } }).machine.phys.framesInUse;

  it('GET_HW_INFO with data_len 0xffffffff writes the data and zeros in place, faulting in no page', async () => {
    await machine({ bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] });
    const { addr } = await out(test('MMAP', { length: 0x1_0000_0000 }));
    await out(test('MEM_WRITE', { addr: (addr as number) + 0x8000_0000, data: 'ff' }));
    // The data itself lands in the first page: fault it in first, so only the zeros are measured.
    await out(test('MEM_WRITE', { addr, data: 'ff' }));
    const before = framesInUse();
    const r = await out(ioctl('IOMMU_GET_HW_INFO', { size: 32, flags: 0, dev_id: devId, data_len: 0xffffffff, data_uptr: addr as number }));
    expect(r.data_len).toBe(8);
    expect(framesInUse()).toBe(before);
    // The selftest data (struct iommu_test_hw_info: flags 0, test_reg 0xdeadbeef), then zeros:
    // the byte written far in is cleared.
    expect((await out(test('MEM_READ', { addr, length: 8 }))).data).toBe('00000000efbeadde');
    expect((await out(test('MEM_READ', { addr: (addr as number) + 0x8000_0000, length: 1 }))).data).toBe('00');
    // One byte short of a mapped range: EFAULT, and nothing written.
    await out(test('MEM_WRITE', { addr, data: '11' }));
    expect(await errnoOf(ioctl('IOMMU_GET_HW_INFO', { size: 32, flags: 0, dev_id: devId, data_len: 0xffffffff, data_uptr: (addr as number) + 2 }))).toBe('EFAULT');
    expect((await out(test('MEM_READ', { addr, length: 1 }))).data).toBe('11');
  });

  it('HWPT_ALLOC with data_len 0xffffffff is EINVAL without reading it', async () => {
    const ioas = await machine({ bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] });
    const { out_hwpt_id: parent } = await out(ioctl('IOMMU_HWPT_ALLOC', { size: 44, flags: 1, dev_id: devId, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 }));
    const { addr } = await out(test('MMAP', { length: 0x1_0000_0000 }));
    expect(await errnoOf(ioctl('IOMMU_HWPT_ALLOC', { size: 44, flags: 0, dev_id: devId, pt_id: parent as number, data_type: 0xdead, data_len: 0xffffffff, data_uptr: addr as number }))).toBe('EINVAL');
  });

  it('SET_DIRTY caps its bitmap at SZ_16M * 8 bits before reading it (EOVERFLOW, selftest.c iommufd_test_dirty, Linux 6.12): no length costs more than 16 MiB', async () => {
    const ioas = await machine({ bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] });
    const { out_hwpt_id: hwpt } = await out(ioctl('IOMMU_HWPT_ALLOC', { size: 44, flags: 2, dev_id: devId, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 }));
    await out(ioctl('IOMMU_HWPT_SET_DIRTY_TRACKING', { size: 16, flags: 1, hwpt_id: hwpt as number, __reserved: 0 }));
    const { addr } = await out(test('MMAP', { length: 0x1000 }));
    expect(await errnoOf(test('SET_DIRTY', { hwpt_id: hwpt, iova: 0, length: '0x4000000000000000', page_size: 4096, uptr: addr }))).toBe('EOVERFLOW');
    expect(await errnoOf(test('SET_DIRTY', { hwpt_id: hwpt, iova: 0, length: '0x8000001000', page_size: 4096, uptr: addr }))).toBe('EOVERFLOW');
    // At the cap the 16 MiB bitmap is read: one mapped page of it is EFAULT.
    expect(await errnoOf(test('SET_DIRTY', { hwpt_id: hwpt, iova: 0, length: '0x8000000000', page_size: 4096, uptr: addr }))).toBe('EFAULT');
  });
});
