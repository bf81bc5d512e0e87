import { beforeEach, describe, expect, it } from 'vitest';
import { createReferenceAdapter } from './adapter.ts';
import type { ReferenceAdapter } from './adapter.ts';
import type { JsonObject, TestParams, WireStruct, WorldParams } from '../schemas/lib/adapter.ts';

const topology: WorldParams['topology'] = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [{ name: 'dev0', bridge: 'pci0' }, { name: 'dev1', bridge: 'pci0', flags: ['pasid'] }],
};

let ad: ReferenceAdapter;
let fd: number;
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const test = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });
const errnoOf = (r: unknown): string | undefined => (r as { errno?: string }).errno;
const out = async (p: Promise<unknown>): Promise<WireStruct> => {
  const r = (await p) as { arg?: WireStruct; out?: WireStruct; errno?: string };
  if (r.errno !== undefined) throw new Error(`unexpected ${r.errno}`);
  return (r.arg ?? r.out)!;
};

beforeEach(async () => {
  ad = createReferenceAdapter();
  await ad.world({ topology });
  fd = (await ad.open({})).fd;
});

describe('reference adapter', () => {
  it('hello lists only what the reference offers', async () => {
    const h = await ad.hello({ protocol: 1 });
    expect(h.capabilities).toContain('ioas');
    expect(h.capabilities).toContain('model:mock');
    expect(h.capabilities).toContain('format:mock');
    expect(h.capabilities).toContain('test:fail-nth');
    expect(h.capabilities).not.toContain('viommu');
    await expect(ad.hello({ protocol: 2 })).rejects.toThrow(/protocol 2/);
  });

  it('unknown ioctl names → ENOTTY (iommufd.cmd_fail)', async () => {
    expect(await ioctl('IOMMU_NOT_A_COMMAND', {})).toEqual({ errno: 'ENOTTY' });
  });

  it('bind, attach to an IOAS, map, DMA through the mock domain, read back', async () => {
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const { out_devid: dev } = await out(ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, flags: 0, device: 'dev0' }));
    const { pt_id } = await out(ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, flags: 0, pt_id: ioas as number, device: 'dev0' }));
    expect(pt_id).toBe(3);
    const { addr } = await out(test('MMAP', { length: 0x4000 }));
    await out(test('MEM_WRITE', { addr, data: 'deadbeef' }));
    const { iova } = await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 6, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x4000, iova: 0 }));
    expect(await out(test('CHECK_REFS', { addr, length: 0x4000 }))).toEqual({ refs: [1, 1, 1, 1] });
    expect(await out(test('DMA_READ', { dev_id: dev, iova, length: 4 }))).toEqual({ fault: null, data: 'deadbeef' });
    await out(test('DMA_WRITE', { dev_id: dev, iova: (iova as number) + 0x1000, data: '0102' }));
    expect(await out(test('MEM_READ', { addr: (addr as number) + 0x1000, length: 2 }))).toEqual({ data: '0102' });
    expect(await out(test('DMA_READ', { dev_id: dev, iova: 0x1000, length: 4 }))).toEqual({ fault: 'aperture' });
    expect(await out(test('DMA_READ', { dev_id: dev, iova: 0x7fff0000, length: 4 }))).toEqual({ fault: 'not-present' });
    await ad.close({ fd });
    expect(await out(test('CHECK_REFS', { addr, length: 0x4000 }))).toEqual({ refs: [0, 0, 0, 0] });
  });

  it('PGTABLE_DUMP shows the mock table: 2 KiB leaves at the mapped IOVA', async () => {
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    await out(ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, flags: 0, device: 'dev0' }));
    const { pt_id } = await out(ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, flags: 0, pt_id: ioas as number, device: 'dev0' }));
    const { addr } = await out(test('MMAP', { length: 0x1000 }));
    await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x1000, iova: 0x1000000 }));
    const dump = await out(test('PGTABLE_DUMP', { hwpt_id: pt_id }));
    expect(dump.format).toBe('mock');
    expect((dump.words as unknown[]).length).toBeGreaterThan(2);
    const t = await out(test('TRANSLATE', { dev_id: 2, iova: 0x1000800 }));
    expect(t).toMatchObject({ fault: null, page_size: 2048, readable: true, writeable: true });
  });

  it('RAW_IOCTL: below the command base, wrong direction bits, DIRTY_PAGES → ENOTTY; NULL argp → EFAULT (iommufd.cmd_fail)', async () => {
    expect(await test('RAW_IOCTL', { request: 0x3b7f, bytes: '0800000000000000' })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x40083b80, bytes: '0800000000000000' })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x3b75, bytes: '0800000000000000' })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x3b80, argp: 0 })).toEqual({ errno: 'EFAULT' });
  });

  it('IOVA_RANGES copies num_iovas back with EMSGSIZE (iommufd_ioas.iova_ranges)', async () => {
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const r = await ioctl('IOMMU_IOAS_IOVA_RANGES', { size: 32, ioas_id: ioas, num_iovas: 0, __reserved: 0, allowed_iovas: 0, out_iova_alignment: 0 });
    expect(r).toMatchObject({ errno: 'EMSGSIZE', arg: { num_iovas: 1, out_iova_alignment: 1 } });
  });

  it('u64 outputs above 2^53 travel as hex strings', async () => {
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const { addr } = await out(test('MMAP', { length: 0x1000 }));
    const r = await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 5, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x1000, iova: '0xfffffffffffff000' }));
    expect(r.iova).toBe('0xfffffffffffff000');
  });

  it('STATE is unchanged by a failing MAP and empty after close', async () => {
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const { addr } = await out(test('MMAP', { length: 0x2000 }));
    await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x2000, iova: 0x10000 }));
    const before = await out(test('STATE'));
    expect(errnoOf(await ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x1000, iova: 0x11000 }))).toBe('EEXIST');
    expect(await out(test('STATE'))).toEqual(before);
    await ad.close({ fd });
    const after = (await ad.test({ op: 'STATE', arg: {} })) as { out: JsonObject };
    expect(after.out.contexts).toEqual([]);
    expect(after.out).toMatchObject({ pinned_pages: 0, user_pages: 0, mm_pages: 0 });
  });

  it('access pin blocks nothing: UNMAP notifies and the pin item disappears (iommufd_ioas.access_pin_unmap)', async () => {
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const { addr } = await out(test('MMAP', { length: 0x4000 }));
    await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x4000, iova: 0x10000 }));
    const { access_id } = await out(test('CREATE_ACCESS', { ioas_id: ioas, flags: 1 }));
    const { pages_id } = await out(test('ACCESS_PIN', { access_id, iova: 0x10000, length: 0x4000 }));
    expect(await out(test('CHECK_REFS', { addr, length: 0x4000 }))).toEqual({ refs: [1, 1, 1, 1] });
    expect(await out(ioctl('IOMMU_IOAS_UNMAP', { size: 24, ioas_id: ioas, iova: 0x10000, length: 0x4000 }))).toMatchObject({ length: 0x4000 });
    expect(await test('ACCESS_UNPIN', { access_id, pages_id })).toEqual({ errno: 'ENOENT' });
    expect(await out(test('CHECK_REFS', { addr, length: 0x4000 }))).toEqual({ refs: [0, 0, 0, 0] });
    expect(errnoOf(await ioctl('IOMMU_DESTROY', { size: 8, id: ioas }))).toBe('EBUSY');
  });

  it('ACCESS_PIN/ACCESS_RW: over 16 MiB → ENOMEM before the access lookup; no pin ops → EOPNOTSUPP (selftest.c access ops)', async () => {
    expect(await test('ACCESS_PIN', { access_id: 99, iova: 0, length: 16 * 1024 * 1024 + 1 })).toEqual({ errno: 'ENOMEM' });
    expect(await test('ACCESS_RW', { access_id: 99, iova: 0, length: 16 * 1024 * 1024 + 1 })).toEqual({ errno: 'ENOMEM' });
    expect(await test('ACCESS_PIN', { access_id: 99, iova: 0, length: 4096 })).toEqual({ errno: 'ENOENT' });
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const { access_id } = await out(test('CREATE_ACCESS', { ioas_id: ioas, flags: 0 }));
    expect(await test('ACCESS_PIN', { access_id, iova: 0, length: 4096 })).toEqual({ errno: 'EOPNOTSUPP' });
  });

  it('VFIO compat: GET → ENODEV, SET, GET, CLEAR (iommufd.vfio_ioas)', async () => {
    expect(errnoOf(await ioctl('IOMMU_VFIO_IOAS', { size: 12, op: 0, ioas_id: 0, __reserved: 0 }))).toBe('ENODEV');
    expect(errnoOf(await ioctl('IOMMU_VFIO_IOAS', { size: 12, op: 1, ioas_id: 0, __reserved: 0 }))).toBe('ENOENT');
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    await out(ioctl('IOMMU_VFIO_IOAS', { size: 12, op: 1, ioas_id: ioas, __reserved: 0 }));
    expect(await out(ioctl('IOMMU_VFIO_IOAS', { size: 12, op: 0, ioas_id: 0, __reserved: 0 }))).toMatchObject({ ioas_id: ioas });
    await out(ioctl('IOMMU_VFIO_IOAS', { size: 12, op: 2, ioas_id: 0, __reserved: 0 }));
    expect(errnoOf(await ioctl('IOMMU_VFIO_IOAS', { size: 12, op: 0, ioas_id: 0, __reserved: 0 }))).toBe('ENODEV');
  });
});
