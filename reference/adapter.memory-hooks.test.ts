/**
 * The user-memory hooks beyond plain anonymous memory: hugetlb mappings and files (MMAP and
 * MEMFD_CREATE `huge`), MAP_PRIVATE file mappings (MMAP `private`), their errnos, and how a
 * private page that iommufd pinned stays the one the CPU, the device and CHECK_REFS all see.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { RPC_INVALID_PARAMS } from '../schemas/lib/adapter.ts';
import type { JsonObject, TestParams, WireStruct, WorldParams } from '../schemas/lib/adapter.ts';
import { createReferenceAdapter } from './adapter.ts';
import { out } from './adapter-test-helpers.ts';
import type { ReferenceAdapter } from './adapter.ts';

const MIB = 1024 * 1024;
const topology: WorldParams['topology'] = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [{ name: 'dev0', bridge: 'pci0' }],
};

let ad: ReferenceAdapter;
let fd: number;
const test = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const errnoOf = async (p: Promise<unknown>): Promise<string | undefined> => ((await p) as { errno?: string }).errno;

beforeEach(async () => {
  ad = createReferenceAdapter();
  await ad.world({ topology });
  fd = (await ad.open({})).fd;
});

describe('hugetlb hooks', () => {
  it('MEMFD_CREATE huge takes only whole 2 MiB sizes (hugetlbfs_setattr), and a refused one opens no fd', async () => {
    expect(await errnoOf(test('MEMFD_CREATE', { length: 3 * MIB, huge: true }))).toBe('EINVAL');
    const { fd: hfd } = await out(test('MEMFD_CREATE', { length: 4 * MIB, huge: true }));
    expect(hfd).toBe(fd + 1);
    expect(await errnoOf(test('FTRUNCATE', { fd: hfd, length: MIB }))).toBe('EINVAL');
    // The refused truncate left the file at 4 MiB: its last huge page is still there.
    const { addr } = await out(test('MMAP', { length: 4 * MIB, fd: hfd, offset: 0 }));
    await out(test('MEM_WRITE', { addr: (addr as number) + 4 * MIB - 1, data: '07' }));
    await out(test('FTRUNCATE', { fd: hfd, length: 2 * MIB }));
    expect(await errnoOf(test('MEM_READ', { addr: (addr as number) + 4 * MIB - 1, length: 1 }))).toBe('EFAULT');
  });

  it('MMAP errnos: huge with a normal file, offsets off a page or off a huge page of a hugetlb file', async () => {
    const { fd: plain } = await out(test('MEMFD_CREATE', { length: 0x4000 }));
    const { fd: huge } = await out(test('MEMFD_CREATE', { length: 4 * MIB, huge: true }));
    expect(await errnoOf(test('MMAP', { length: 0x1000, fd: plain, offset: 0, huge: true }))).toBe('EINVAL');
    expect(await errnoOf(test('MMAP', { length: 0x1000, fd: plain, offset: 0x800 }))).toBe('EINVAL');
    expect(await errnoOf(test('MMAP', { length: 0x1000, fd: huge, offset: 0x1000 }))).toBe('EINVAL');
    // A hugetlb file maps in whole huge pages, with or without the flag: the length rounds up.
    const { addr } = await out(test('MMAP', { length: 0x1000, fd: huge, offset: 2 * MIB }));
    await out(test('MEM_WRITE', { addr: (addr as number) + 2 * MIB - 1, data: '01' }));
  });

  it('MUNMAP may cut a MAP_HUGETLB mapping only on 2 MiB boundaries', async () => {
    const { addr } = await out(test('MMAP', { length: 4 * MIB, huge: true }));
    const a = addr as number;
    expect(await errnoOf(test('MUNMAP', { addr: a + 0x1000, length: 0x1000 }))).toBe('EINVAL');
    await out(test('MEM_WRITE', { addr: a + 0x1000, data: '01' }));
    await out(test('MUNMAP', { addr: a, length: 2 * MIB }));
    expect(await errnoOf(test('MEM_READ', { addr: a, length: 1 }))).toBe('EFAULT');
    expect((await out(test('MEM_READ', { addr: a + 2 * MIB, length: 1 }))).data).toBe('00');
  });

  it('private applies to files only, and a private hugetlb file mapping is not modelled', async () => {
    await expect(test('MMAP', { length: 0x1000, private: true })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
    const { fd: huge } = await out(test('MEMFD_CREATE', { length: 2 * MIB, huge: true }));
    await expect(test('MMAP', { length: 0x1000, fd: huge, offset: 0, private: true })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
  });
});

describe('MAP_PRIVATE pages that iommufd pins', () => {
  /** A one-page file holding `ab`, its shared and private mappings, and an IOAS with dev0 attached. */
  async function privatePage(): Promise<{ shared: number; priv: number; ioas: number; dev: number }> {
    const { fd: file } = await out(test('MEMFD_CREATE', { length: 0x1000 }));
    const shared = (await out(test('MMAP', { length: 0x1000, fd: file, offset: 0 }))).addr as number;
    await out(test('MEM_WRITE', { addr: shared, data: 'ab' }));
    const priv = (await out(test('MMAP', { length: 0x1000, fd: file, offset: 0, private: true }))).addr as number;
    const ioas = (await out(ioctl('IOMMU_IOAS_ALLOC', {}))).out_ioas_id as number;
    const dev = (await out(ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, flags: 0, device: 'dev0' }))).out_devid as number;
    await out(ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, flags: 0, device: 'dev0', pt_id: ioas }));
    return { shared, priv, ioas, dev };
  }

  it('a WRITEABLE MAP: what the device writes the CPU reads through the private mapping, and the file is untouched', async () => {
    const { shared, priv, ioas, dev } = await privatePage();
    const { iova } = await out(ioctl('IOMMU_IOAS_MAP', { ioas_id: ioas, flags: 6, user_va: priv, length: 0x1000 }));
    const phys = (await out(test('TRANSLATE', { dev_id: dev, iova }))).phys;
    await out(test('DMA_WRITE', { dev_id: dev, iova: (iova as number) + 1, data: 'cd' }));
    expect((await out(test('MEM_READ', { addr: priv, length: 2 }))).data).toBe('abcd');
    await out(test('MEM_WRITE', { addr: priv + 2, data: 'ef' }));
    expect((await out(test('DMA_READ', { dev_id: dev, iova, length: 3 }))).data).toBe('abcdef');
    expect((await out(test('TRANSLATE', { dev_id: dev, iova }))).phys).toBe(phys);
    expect((await out(test('MEM_READ', { addr: shared, length: 2 }))).data).toBe('ab00');
    expect((await out(test('CHECK_REFS', { addr: priv, length: 0x1000 }))).refs).toEqual([1]);
    expect((await out(test('CHECK_REFS', { addr: shared, length: 0x1000 }))).refs).toEqual([0]);
  });

  it('an access pin of a domain-less IOAS unshares too: ACCESS_RW reads what the CPU writes afterwards', async () => {
    const { priv } = await privatePage();
    const ioas = (await out(ioctl('IOMMU_IOAS_ALLOC', {}))).out_ioas_id as number;
    const { iova } = await out(ioctl('IOMMU_IOAS_MAP', { ioas_id: ioas, flags: 4, user_va: priv, length: 0x1000 }));
    expect((await out(test('CHECK_REFS', { addr: priv, length: 0x1000 }))).refs).toEqual([0]);
    const { access_id } = await out(test('CREATE_ACCESS', { ioas_id: ioas, flags: 1 }));
    await out(test('ACCESS_PIN', { access_id, iova, length: 0x1000 }));
    expect((await out(test('CHECK_REFS', { addr: priv, length: 0x1000 }))).refs).toEqual([1]);
    await out(test('MEM_WRITE', { addr: priv, data: '5a' }));
    expect((await out(test('ACCESS_RW', { access_id, iova, length: 1 }))).data).toBe('5a');
    expect((await out(test('CHECK_REFS', { addr: priv, length: 0x1000 }))).refs).toEqual([1]);
  });
});
