import { beforeEach, describe, expect, it } from 'vitest';
import { createReferenceAdapter } from './adapter.ts';
import { out } from './adapter-test-helpers.ts';
import type { ReferenceAdapter } from './adapter.ts';
import type { JsonObject, TestParams, WireStruct, WorldParams } from '../schemas/lib/adapter.ts';
import { AdapterError } from '../schemas/lib/adapter.ts';

const topology: WorldParams['topology'] = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [{ name: 'dev0', bridge: 'pci0' }, { name: 'dev1', bridge: 'pci0', flags: ['pasid'] }],
};

let ad: ReferenceAdapter;
let fd: number;
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const test = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });
const errnoOf = (r: unknown): string | undefined => (r as { errno?: string }).errno;
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
    expect(h.capabilities).toContain('viommu');
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

  it('SET_DIRTY marks the IOPTE of every set bit (selftest IOMMU_TEST_OP_DIRTY) and checks range, HWPT, tracking and bitmap first', async () => {
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const { out_devid: dev } = await out(ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, flags: 0, device: 'dev0' }));
    const { addr } = await out(test('MMAP', { length: 0x2000 }));
    await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x1000, iova: 0x1000000 }));
    const { out_hwpt_id: dh } = await out(ioctl('IOMMU_HWPT_ALLOC', { size: 48, flags: 2, dev_id: dev, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 }));
    const { out_hwpt_id: plain } = await out(ioctl('IOMMU_HWPT_ALLOC', { size: 48, flags: 0, dev_id: dev, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 }));
    const bm = (addr as number) + 0x1000;
    const mark = { hwpt_id: dh, iova: 0x1000000, length: 0x1000, page_size: 0x800, uptr: bm };
    await out(test('MEM_WRITE', { addr: bm, data: '02' }));
    expect(errnoOf(await test('SET_DIRTY', mark))).toBe('EINVAL'); // tracking off
    await out(ioctl('IOMMU_HWPT_SET_DIRTY_TRACKING', { size: 16, flags: 1, hwpt_id: dh, __reserved: 0 }));
    expect(errnoOf(await test('SET_DIRTY', { ...mark, iova: 0x1000400 }))).toBe('EINVAL');
    expect(errnoOf(await test('SET_DIRTY', { ...mark, uptr: 0 }))).toBe('EINVAL');
    expect(errnoOf(await test('SET_DIRTY', { ...mark, hwpt_id: ioas }))).toBe('ENOENT');
    expect(errnoOf(await test('SET_DIRTY', { ...mark, hwpt_id: plain }))).toBe('EINVAL');
    expect(errnoOf(await test('SET_DIRTY', { ...mark, uptr: 0x10 }))).toBe('EFAULT');
    expect(await out(test('SET_DIRTY', mark))).toEqual({ nr_dirty: 1 });
    await out(test('MEM_WRITE', { addr: bm, data: '00' }));
    await out(ioctl('IOMMU_HWPT_GET_DIRTY_BITMAP', { size: 48, hwpt_id: dh, flags: 0, __reserved: 0, iova: 0x1000000, length: 0x1000, page_size: 0x800, data: bm }));
    expect(await out(test('MEM_READ', { addr: bm, length: 1 }))).toEqual({ data: '02' });
  });

  it('RAW_IOCTL: below the command base, wrong direction bits, DIRTY_PAGES → ENOTTY; NULL argp → EFAULT (iommufd.cmd_fail)', async () => {
    expect(await test('RAW_IOCTL', { request: 0x3b7f, bytes: '0800000000000000' })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x40083b80, bytes: '0800000000000000' })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x3b75, bytes: '0800000000000000' })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x3b80, argp: 0 })).toEqual({ errno: 'EFAULT' });
  });

  it('RAW_IOCTL with a NULL argp: a number outside the table is ENOTTY (the VFIO compat path never reads it), one inside with wrong bits EFAULT (main.c reads size before comparing the request)', async () => {
    expect(await test('RAW_IOCTL', { request: 0x3b7f, argp: 0 })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x1234, argp: 0 })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x40083b80, argp: 0 })).toEqual({ errno: 'EFAULT' });
  });

  it('RAW_IOCTL on a test kernel\'s table (main.c, CONFIG_IOMMUFD_TEST): the empty slots 0x95..0x9f read the size, then ENOTTY; past IOMMU_TEST_CMD (0xa0) the VFIO path answers ENOTTY unread', async () => {
    expect(await test('RAW_IOCTL', { request: 0x3b95, argp: 0 })).toEqual({ errno: 'EFAULT' });
    expect(await test('RAW_IOCTL', { request: 0x3b9f, argp: 0 })).toEqual({ errno: 'EFAULT' });
    expect(await test('RAW_IOCTL', { request: 0x3b95, bytes: '0800000000000000' })).toEqual({ errno: 'ENOTTY' });
    expect(await test('RAW_IOCTL', { request: 0x3ba0, argp: 0 })).toEqual({ errno: 'EFAULT' });
    expect(await test('RAW_IOCTL', { request: 0x3ba1, argp: 0 })).toEqual({ errno: 'ENOTTY' });
    await expect(test('RAW_IOCTL', { request: 0x3ba0, bytes: '4800000000000000' })).rejects.toThrow(/TEST_CMD hook/);
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

describe('reference adapter: processes (test:process)', () => {
  it('offers test:process; a call with a pid runs in that process, then the initial one calls again', async () => {
    expect((await ad.hello({ protocol: 1 })).capabilities).toContain('test:process');
    const { addr } = await out(ad.test({ op: 'MMAP', arg: { length: 4096 } }));
    await out(ad.test({ op: 'MEM_WRITE', arg: { addr, data: '11' } }));
    const { pid } = await out(ad.test({ op: 'PROCESS_FORK', arg: {} }));
    await out(ad.test({ op: 'MEM_WRITE', arg: { addr, data: '22' }, pid: pid as number }));
    expect(await out(ad.test({ op: 'MEM_READ', arg: { addr, length: 1 } }))).toEqual({ data: '11' });
    expect(await out(ad.test({ op: 'MEM_READ', arg: { addr, length: 1 }, pid: pid as number }))).toEqual({ data: '22' });
    // A MAP by the child charges the child's VmPin once a domain pins it.
    const { out_ioas_id: ioas } = await out(ad.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0, out_ioas_id: 0 } }));
    await out(ad.ioctl({ fd, cmd: 'IOMMU_IOAS_MAP', pid: pid as number, arg: { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: addr, length: 4096, iova: 0x1000000 } }));
    await out(ad.ioctl({ fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { argsz: 16, flags: 0, device: 'dev0' } }));
    await out(ad.ioctl({ fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { argsz: 16, flags: 0, pt_id: ioas, device: 'dev0' } }));
    expect(await out(ad.test({ op: 'ACCOUNTING', arg: {}, pid: pid as number }))).toMatchObject({ pinned_pages: 1 });
    expect(await out(ad.test({ op: 'ACCOUNTING', arg: {} }))).toMatchObject({ pinned_pages: 0 });
    await out(ad.test({ op: 'PROCESS_EXIT', arg: { pid } }));
  });

  it('a pid that is not a live process, or an exit of the initial process, is the caller\'s error', async () => {
    await expect(ad.test({ op: 'MMAP', arg: { length: 4096 }, pid: 999 })).rejects.toBeInstanceOf(AdapterError);
    const { pid } = await out(ad.test({ op: 'PROCESS_FORK', arg: {} }));
    await out(ad.test({ op: 'PROCESS_EXIT', arg: { pid } }));
    await expect(ad.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0, out_ioas_id: 0 }, pid: pid as number })).rejects.toBeInstanceOf(AdapterError);
    await expect(ad.test({ op: 'PROCESS_EXIT', arg: { pid } })).rejects.toBeInstanceOf(AdapterError);
    await expect(ad.test({ op: 'PROCESS_EXIT', arg: { pid: 100 } })).rejects.toBeInstanceOf(AdapterError);
  });
});
