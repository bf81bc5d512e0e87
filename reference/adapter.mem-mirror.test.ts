/**
 * test:mem-mirror, the two hooks a mirror of a real process needs (the fake /dev/iommu of
 * conformance/adapters/c/): MMAP at a fixed address (MAP_FIXED_NOREPLACE) and MEM_WRITTEN, the
 * pages the implementation itself wrote since the last call.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { JsonObject, TestParams, WireStruct } from '../schemas/lib/adapter.ts';
import { createReferenceAdapter, type ReferenceAdapter } from './adapter.ts';
import { out } from './adapter-test-helpers.ts';

let ad: ReferenceAdapter;
let fd: number;
const test = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const errnoOf = async (p: Promise<unknown>): Promise<string | undefined> => ((await p) as { errno?: string }).errno;

beforeEach(async () => {
  ad = createReferenceAdapter();
  await ad.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] } });
  fd = (await ad.open({})).fd;
});

describe('MMAP addr (MAP_FIXED_NOREPLACE)', () => {
  it('places the mapping at the address; misaligned is EINVAL, overlapping EEXIST, past the user space ENOMEM', async () => {
    const at = 0x7f12_3456_7000;
    expect(await out(test('MMAP', { length: 0x3000, addr: at }))).toEqual({ addr: at });
    await out(test('MEM_WRITE', { addr: at + 0x2fff, data: 'aa' }));
    expect(await errnoOf(test('MEM_READ', { addr: at + 0x3000, length: 1 }))).toBe('EFAULT');
    expect(await errnoOf(test('MMAP', { length: 0x1000, addr: at + 0x800 }))).toBe('EINVAL');
    expect(await errnoOf(test('MMAP', { length: 0x2000, addr: at - 0x1000 }))).toBe('EEXIST');
    expect(await errnoOf(test('MMAP', { length: 0x1000, addr: at + 0x2000 }))).toBe('EEXIST');
    expect(await errnoOf(test('MMAP', { length: 0x2000, addr: 2 ** 47 - 0x1000 }))).toBe('ENOMEM');
    // The refused calls left the mapping whole.
    expect(await out(test('MEM_READ', { addr: at + 0x2fff, length: 1 }))).toEqual({ data: 'aa' });
  });

  it('an automatic MMAP never lands on a fixed mapping', async () => {
    const first = (await out(test('MMAP', { length: 0x1000 }))).addr as number;
    // Fixed mappings over the next automatic addresses.
    const blocker = first + 0x20_0000 * 2;
    await out(test('MMAP', { length: 0x40_0000, addr: first + 0x20_0000 }));
    const next = (await out(test('MMAP', { length: 0x1000 }))).addr as number;
    expect(next >= blocker + 0x20_0000 || next + 0x1000 <= first + 0x20_0000).toBe(true);
    await out(test('MEM_WRITE', { addr: next, data: '01' }));
    expect(await out(test('MEM_READ', { addr: first + 0x20_0000, length: 1 }))).toEqual({ data: '00' });
  });
});

describe('MEM_WRITTEN', () => {
  it('reports the pages an ioctl copied to user memory, not the CPU writes, and drains', async () => {
    expect(await out(test('MEM_WRITTEN'))).toEqual({ pages: [] });
    const at = 0x7000_0000_0000;
    await out(test('MMAP', { length: 0x2000, addr: at }));
    await out(test('MEM_WRITE', { addr: at + 0x10, data: '55' }));
    expect(await out(test('MEM_WRITTEN'))).toEqual({ pages: [] });
    const ioas = (await ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 })) as unknown as { arg: { out_ioas_id: number } };
    // IOMMU_IOAS_IOVA_RANGES copies the ranges (one, the whole space) into the second page.
    const r = await ioctl('IOMMU_IOAS_IOVA_RANGES', { size: 32, ioas_id: ioas.arg.out_ioas_id, num_iovas: 1, __reserved: 0, allowed_iovas: at + 0x1000 });
    expect('errno' in r).toBe(false);
    const w = (await out(test('MEM_WRITTEN'))) as { pages: { addr: number; data: string }[] };
    expect(w.pages.map((p) => p.addr)).toEqual([at + 0x1000]);
    expect(w.pages[0].data.slice(0, 32)).toBe('0000000000000000ffffffffffffffff');
    expect(w.pages[0].data.length).toBe(0x2000);
    expect(await out(test('MEM_WRITTEN'))).toEqual({ pages: [] });
  });

  it('reports an access write into a mapped page (the device wrote the user memory)', async () => {
    await out(test('MEM_WRITTEN'));
    const at = 0x7000_0000_0000;
    await out(test('MMAP', { length: 0x1000, addr: at }));
    const ioas = ((await ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 })) as unknown as { arg: { out_ioas_id: number } }).arg.out_ioas_id;
    await ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: at, length: 0x1000, iova: 0x100000 });
    const { access_id } = await out(test('CREATE_ACCESS', { ioas_id: ioas }));
    await out(test('ACCESS_RW', { access_id, iova: 0x100004, data: 'c0ffee', write: true }));
    const w = (await out(test('MEM_WRITTEN'))) as { pages: { addr: number; data: string }[] };
    expect(w.pages.map((p) => p.addr)).toEqual([at]);
    expect(w.pages[0].data.slice(0, 14)).toBe('00000000c0ffee');
  });

  it('finds a written page deep in a large mapping held in 2 MiB runs', async () => {
    await out(test('MEM_WRITTEN'));
    const at = 0x7000_0000_0000;
    const MIB = 1024 * 1024;
    await out(test('MMAP', { length: 8 * MIB, addr: at }));
    const ioas = ((await ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 })) as unknown as { arg: { out_ioas_id: number } }).arg.out_ioas_id;
    await ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: at, length: 8 * MIB, iova: 0x1000000 });
    const { access_id } = await out(test('CREATE_ACCESS', { ioas_id: ioas }));
    await out(test('ACCESS_RW', { access_id, iova: 0x1000000 + 5 * MIB + 0x3008, data: '77', write: true }));
    const w = (await out(test('MEM_WRITTEN'))) as { pages: { addr: number; data: string }[] };
    expect(w.pages.map((p) => p.addr)).toEqual([at + 5 * MIB + 0x3000]);
    expect(w.pages[0].data.slice(16, 18)).toBe('77');
  });
});
