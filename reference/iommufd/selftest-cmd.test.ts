/**
 * The TEST_CMD hook in process: a selftest-like flow (tools/testing/selftests/iommu/iommufd.c
 * fixtures iommufd_ioas / iommufd_mock_domain) driven only through struct iommu_test_cmd bytes.
 * Expected values come from drivers/iommu/iommufd/selftest.c and main.c (cited per test): the
 * id order of iommufd_test_mock_domain (the selftest object's ID is reserved by
 * iommufd_object_alloc before iommufd_device_bind and the automatic HWPT take theirs), EINVAL of
 * iommufd_test_md_check_pa, EIO of iommufd_test_md_check_refs, EBADFD of iommufd_access_get,
 * the size rules of the ioctl table.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createReferenceAdapter, type ReferenceAdapter } from '../adapter.ts';
import { out } from '../adapter-test-helpers.ts';
import type { JsonObject, TestParams, WireStruct, WorldParams } from '../../schemas/lib/adapter.ts';
import { decodeStruct, encodeStruct } from '../../schemas/lib/codec.ts';
import { TEST_CMD_BYTES, TEST_CMD_MIN_BYTES } from './selftest-cmd.ts';

const topology: WorldParams['topology'] = { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [] };
const PAGE = 4096;
const MOCK_APERTURE_START = 1 << 24;

let ad: ReferenceAdapter;
let fd: number;
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const hook = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** struct iommu_test_cmd bytes: size = sizeof unless given, op number 0 (the name governs). */
function cmdBytes(fields: Record<string, unknown>, sizeBytes = TEST_CMD_BYTES, tail: Uint8Array<ArrayBufferLike> = new Uint8Array(0)): string {
  const s = encodeStruct('iommu_test_cmd', { size: sizeBytes, ...fields } as Record<string, unknown>);
  const all = new Uint8Array(Math.max(sizeBytes, TEST_CMD_BYTES));
  all.set(s);
  all.set(tail, TEST_CMD_BYTES);
  return hex(all.subarray(0, Math.max(sizeBytes, TEST_CMD_BYTES)));
}
const testCmd = (op: string, fields: Record<string, unknown>, sizeBytes?: number, tail?: Uint8Array<ArrayBufferLike>) => hook('TEST_CMD', { op, data: cmdBytes(fields, sizeBytes, tail) });
/** The struct the hook answered, decoded. */
async function testCmdOut(op: string, fields: Record<string, unknown>): Promise<Record<string, Record<string, number>>> {
  const o = await out(testCmd(op, fields));
  return decodeStruct('iommu_test_cmd', Buffer.from(o.data as string, 'hex')) as Record<string, Record<string, number>>;
}
const errno = async (p: Promise<unknown>): Promise<string | undefined> => ((await p) as { errno?: string }).errno;

let ioas: number;
let buffer: number;

beforeEach(async () => {
  ad = createReferenceAdapter(undefined, { checkInvariants: true });
  await ad.world({ topology });
  fd = (await ad.open({})).fd;
  ioas = (await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }))).out_ioas_id as number;
  buffer = (await out(hook('MMAP', { length: 16 * PAGE }))).addr as number;
  await out(hook('MEM_WRITE', { addr: buffer, data: 'a5'.repeat(16 * PAGE) }));
});

describe('TEST_CMD MOCK_DOMAIN', () => {
  it('makes the selftest object, the device and the automatic HWPT, in that id order', async () => {
    // iommufd_test_mock_domain: iommufd_object_alloc (stdev) → iommufd_device_bind (idev) → attach (auto HWPT).
    const r = await testCmdOut('MOCK_DOMAIN', { id: ioas });
    expect(r.mock_domain).toEqual({ out_stdev_id: ioas + 1, out_idev_id: ioas + 2, out_hwpt_id: ioas + 3 });
    // The device is a real iommufd device: GET_HW_INFO answers the mock's selftest type.
    const info = await out(ioctl('IOMMU_GET_HW_INFO', { size: 32, flags: 0, dev_id: ioas + 2, data_len: 0, data_uptr: 0 }));
    expect(info.out_data_type).toBe(0xfeedbeef);
    // The idev is held by its selftest object (EBUSY); destroying the stdev detaches and unbinds.
    expect(await errno(ioctl('IOMMU_DESTROY', { size: 8, id: ioas + 2 }))).toBe('EBUSY');
    await out(ioctl('IOMMU_DESTROY', { size: 8, id: ioas + 1 }));
    expect(await errno(ioctl('IOMMU_DESTROY', { size: 8, id: ioas + 2 }))).toBe('ENOENT');
    expect(await errno(ioctl('IOMMU_DESTROY', { size: 8, id: ioas + 3 }))).toBe('ENOENT');
    // The next mock device reuses the freed ids, lowest first.
    expect((await testCmdOut('MOCK_DOMAIN', { id: ioas })).mock_domain).toEqual({ out_stdev_id: 2, out_idev_id: 3, out_hwpt_id: 4 });
  });

  it('fails whole: bad dev_flags EINVAL, bad pt id ENOENT, a pt id that is no IOAS or HWPT EINVAL', async () => {
    const before = await out(hook('STATE'));
    expect(await errno(testCmd('MOCK_DOMAIN_FLAGS', { id: ioas, mock_domain_flags: { dev_flags: 1 << 3 } }))).toBe('EINVAL');
    expect(await errno(testCmd('MOCK_DOMAIN', { id: 999 }))).toBe('ENOENT');
    // The reserved selftest object ID is no object yet (XA_ZERO_ENTRY): ENOENT, not EINVAL.
    expect(await errno(testCmd('MOCK_DOMAIN', { id: ioas + 1 }))).toBe('ENOENT');
    expect(await out(hook('STATE'))).toEqual(before);
    const { mock_domain: md } = await testCmdOut('MOCK_DOMAIN', { id: ioas });
    expect(await errno(testCmd('MOCK_DOMAIN', { id: md.out_idev_id }))).toBe('EINVAL');
  });

  it('MOCK_DOMAIN_FLAGS NO_DIRTY refuses a dirty-tracking HWPT (mock_domain_nop_attach EINVAL)', async () => {
    const { mock_domain: a } = await testCmdOut('MOCK_DOMAIN', { id: ioas });
    const { out_hwpt_id: dirty } = await out(ioctl('IOMMU_HWPT_ALLOC', { size: 48, flags: 2, dev_id: a.out_idev_id, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 }));
    expect(await errno(testCmd('MOCK_DOMAIN_FLAGS', { id: dirty, mock_domain_flags: { dev_flags: 1 } }))).toBe('EINVAL');
    const { mock_domain: b } = await testCmdOut('MOCK_DOMAIN_FLAGS', { id: ioas, mock_domain_flags: { dev_flags: 1 } });
    expect(await errno(ioctl('IOMMU_HWPT_ALLOC', { size: 48, flags: 2, dev_id: b.out_idev_id, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 }))).toBe('EOPNOTSUPP');
  });

  it('MOCK_DOMAIN_REPLACE answers the HWPT now attached; an id that is no selftest object is ENOENT', async () => {
    const { mock_domain: md } = await testCmdOut('MOCK_DOMAIN', { id: ioas });
    const { out_hwpt_id: hwpt } = await out(ioctl('IOMMU_HWPT_ALLOC', { size: 48, flags: 0, dev_id: md.out_idev_id, pt_id: ioas, data_type: 0, data_len: 0, data_uptr: 0 }));
    expect((await testCmdOut('MOCK_DOMAIN_REPLACE', { id: md.out_stdev_id, mock_domain_replace: { pt_id: hwpt } })).mock_domain_replace).toEqual({ pt_id: hwpt });
    expect(await errno(testCmd('MOCK_DOMAIN_REPLACE', { id: md.out_idev_id, mock_domain_replace: { pt_id: hwpt } }))).toBe('ENOENT');
  });

  it('no mock IOMMU in the world: ENODEV (no iommu_group at bind), nothing left', async () => {
    await ad.world({ topology: { bridges: [{ name: 'p', iommu: { model: 'intel-vtd' } }], devices: [] } });
    fd = (await ad.open({})).fd;
    const id = (await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }))).out_ioas_id as number;
    expect(await errno(testCmd('MOCK_DOMAIN', { id }))).toBe('ENODEV');
    expect((await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }))).out_ioas_id).toBe(id + 1);
  });
});

describe('TEST_CMD MD_CHECK_MAP / MD_CHECK_REFS', () => {
  it('pass for the mapped pages and fail as selftest.c does', async () => {
    const { mock_domain: md } = await testCmdOut('MOCK_DOMAIN', { id: ioas });
    await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: buffer, length: 2 * PAGE, iova: MOCK_APERTURE_START }));
    await out(testCmd('MD_CHECK_MAP', { id: md.out_hwpt_id, check_map: { iova: MOCK_APERTURE_START, length: 2 * PAGE, uptr: buffer } }));
    // Each 2 KiB IOPTE against the VA at the same offset: shifted by a page, they disagree (EINVAL).
    expect(await errno(testCmd('MD_CHECK_MAP', { id: md.out_hwpt_id, check_map: { iova: MOCK_APERTURE_START, length: PAGE, uptr: buffer + PAGE } }))).toBe('EINVAL');
    // Nothing mapped past the area: EINVAL; misaligned arguments: EINVAL; an IOAS id: ENOENT.
    expect(await errno(testCmd('MD_CHECK_MAP', { id: md.out_hwpt_id, check_map: { iova: MOCK_APERTURE_START + 2 * PAGE, length: 2048, uptr: buffer } }))).toBe('EINVAL');
    expect(await errno(testCmd('MD_CHECK_MAP', { id: md.out_hwpt_id, check_map: { iova: MOCK_APERTURE_START + 1, length: 2048, uptr: buffer } }))).toBe('EINVAL');
    expect(await errno(testCmd('MD_CHECK_MAP', { id: ioas, check_map: { iova: MOCK_APERTURE_START, length: 2048, uptr: buffer } }))).toBe('ENOENT');
    // Refs: one pin per page of the area; the pages past it none; a wrong count is EIO.
    await out(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer, length: 2 * PAGE, refs: 1 } }));
    await out(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer + 2 * PAGE, length: 2 * PAGE, refs: 0 } }));
    expect(await errno(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer, length: 2 * PAGE, refs: 2 } }))).toBe('EIO');
    expect(await errno(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer + 1, length: PAGE, refs: 1 } }))).toBe('EINVAL');
    // An unmapped VA: get_user_pages_fast fails with EFAULT.
    await out(hook('MUNMAP', { addr: buffer + 15 * PAGE, length: PAGE }));
    expect(await errno(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer + 15 * PAGE, length: PAGE, refs: 0 } }))).toBe('EFAULT');
  });
});

describe('TEST_CMD access fds', () => {
  it('CREATE_ACCESS → ACCESS_RW → ACCESS_PAGES → FD_CLOSE, with the fd as the access id', async () => {
    await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: buffer, length: 4 * PAGE, iova: 0x100000 }));
    const r = await testCmdOut('CREATE_ACCESS', { id: ioas, create_access: { flags: 1 } });
    const afd = r.create_access.out_access_fd as number;
    expect(afd).toBe(fd + 1); // get_unused_fd_flags: the lowest free fd
    // ACCESS_RW read into a user buffer (uptr): the bytes of the mapped page.
    const dst = buffer + 8 * PAGE;
    await out(hook('MEM_WRITE', { addr: buffer + 0x10, data: '0102030405' }));
    await out(testCmd('ACCESS_RW', { id: afd, access_rw: { iova: 0x100010, length: 5, uptr: dst, flags: 0 } }));
    expect(await out(hook('MEM_READ', { addr: dst, length: 5 }))).toEqual({ data: '0102030405' });
    // ACCESS_RW write (MOCK_ACCESS_RW_WRITE) from the user buffer.
    await out(hook('MEM_WRITE', { addr: dst, data: 'cafe' }));
    await out(testCmd('ACCESS_RW', { id: afd, access_rw: { iova: 0x100100, length: 2, uptr: dst, flags: 1 } }));
    expect(await out(hook('MEM_READ', { addr: buffer + 0x100, length: 2 }))).toEqual({ data: 'cafe' });
    // ACCESS_PAGES: the first item is 0 (selftest_access->next_id starts at 0); pages checked against uptr.
    const p = await testCmdOut('ACCESS_PAGES', { id: afd, access_pages: { flags: 0, iova: 0x100000, length: 2 * PAGE, uptr: buffer } });
    expect(p.access_pages.out_access_pages_id).toBe(0);
    // iopt_pages pins a page once however many users (domains, accesses) hold it; this IOAS has
    // no domain, so only the access's pin is there.
    await out(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer, length: 2 * PAGE, refs: 1 } }));
    await out(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer + 2 * PAGE, length: 2 * PAGE, refs: 0 } }));
    // Against the wrong VA the pages differ: EBADE, and the pin is dropped again.
    expect(await errno(testCmd('ACCESS_PAGES', { id: afd, access_pages: { flags: 0, iova: 0x100000, length: PAGE, uptr: buffer + PAGE } }))).toBe('EBADE');
    await out(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer, length: 2 * PAGE, refs: 1 } }));
    // FD_READ of an access fd: its file has no read op (EINVAL).
    expect(await errno(hook('FD_READ', { fd_id: afd, length: 8 }))).toBe('EINVAL');
    expect(await errno(hook('FD_WRITE', { fd_id: afd, data: '00' }))).toBe('EINVAL');
    // Closing the fd releases its pins (iommufd_test_staccess_release) and the access.
    await out(hook('FD_CLOSE', { fd_id: afd }));
    await out(testCmd('MD_CHECK_REFS', { check_refs: { uptr: buffer, length: 2 * PAGE, refs: 0 } }));
    expect(await errno(testCmd('ACCESS_RW', { id: afd, access_rw: { iova: 0x100000, length: 1, uptr: dst, flags: 0 } }))).toBe('EBADFD');
    expect(await errno(testCmd('DESTROY_ACCESS_PAGES', { id: afd, destroy_access_pages: { access_pages_id: 0 } }))).toBe('EBADFD');
  });

  it('close(2) of an access fd (the protocol close) destroys the access; the fd number is free again', async () => {
    const afd = (await testCmdOut('CREATE_ACCESS', { id: ioas, create_access: { flags: 0 } })).create_access.out_access_fd as number;
    expect(await errno(ioctl('IOMMU_DESTROY', { size: 8, id: ioas }))).toBe('EBUSY');
    await ad.close({ fd: afd });
    await out(ioctl('IOMMU_DESTROY', { size: 8, id: ioas }));
    const ioas2 = (await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }))).out_ioas_id as number;
    expect((await testCmdOut('CREATE_ACCESS', { id: ioas2, create_access: { flags: 0 } })).create_access.out_access_fd).toBe(afd);
  });

  it('CREATE_ACCESS without pin ops: ACCESS_PAGES EOPNOTSUPP; bad flags EOPNOTSUPP; 16 MiB + 1 ENOMEM first', async () => {
    const afd = (await testCmdOut('CREATE_ACCESS', { id: ioas, create_access: { flags: 0 } })).create_access.out_access_fd as number;
    expect(await errno(testCmd('ACCESS_PAGES', { id: afd, access_pages: { flags: 0, iova: 0, length: PAGE, uptr: 0 } }))).toBe('EOPNOTSUPP');
    expect(await errno(testCmd('CREATE_ACCESS', { id: ioas, create_access: { flags: 2 } }))).toBe('EOPNOTSUPP');
    expect(await errno(testCmd('ACCESS_RW', { id: 999, access_rw: { iova: 0, length: 16 * 1024 * 1024 + 1, uptr: 0, flags: 0 } }))).toBe('ENOMEM');
    expect(await errno(testCmd('ACCESS_RW', { id: afd, access_rw: { iova: 0, length: 1, uptr: 0, flags: 2 } }))).toBe('EOPNOTSUPP');
    expect(await errno(testCmd('DESTROY_ACCESS_PAGES', { id: afd, destroy_access_pages: { access_pages_id: 7 } }))).toBe('ENOENT');
  });
});

describe('TEST_CMD size rules and ops', () => {
  it('size below offsetofend(last) EINVAL, a non-zero tail E2BIG, a zero tail as sizeof', async () => {
    expect(TEST_CMD_MIN_BYTES).toBe(68);
    expect(TEST_CMD_BYTES).toBe(72);
    const limit = { memory_limit: { limit: 65536 } };
    expect(await errno(testCmd('SET_TEMP_MEMORY_LIMIT', limit, 67))).toBe('EINVAL');
    await out(testCmd('SET_TEMP_MEMORY_LIMIT', limit, 68));
    expect(await errno(testCmd('SET_TEMP_MEMORY_LIMIT', limit, 80, Uint8Array.of(0, 0, 1)))).toBe('E2BIG');
    await out(testCmd('SET_TEMP_MEMORY_LIMIT', limit, 80, new Uint8Array(8)));
    expect(await errno(testCmd('SET_TEMP_MEMORY_LIMIT', { memory_limit: { limit: 11 } }))).toBe('EINVAL');
    // An op name the kernel does not know: EOPNOTSUPP (iommufd_test's default).
    expect(await errno(testCmd('DMABUF_GET', {}))).toBe('EOPNOTSUPP');
  });

  it('answers the struct the kernel copies back: min(size, sizeof) bytes, the rest as passed', async () => {
    const data = cmdBytes({ id: ioas }, 80);
    const r = await out(hook('TEST_CMD', { op: 'MOCK_DOMAIN', data }));
    const back = Buffer.from(r.data as string, 'hex');
    expect(back.length).toBe(80);
    expect(back.readUInt32LE(16)).toBe(ioas + 1);
    expect(back.subarray(72).every((b) => b === 0)).toBe(true);
    // An op that never responds leaves the caller's bytes as they were.
    const same = cmdBytes({ id: ioas, add_reserved: { start: 0x1000, length: 0x1000 } });
    expect((await out(hook('TEST_CMD', { op: 'ADD_RESERVED', data: same }))).data).toBe(same);
  });

  it('runs as the process arg.pid names (the fake /dev/iommu forwards its caller): uptr is that process\'s memory', async () => {
    const { pid } = await out(hook('PROCESS_FORK'));
    const child = (await out(ad.test({ fd, op: 'MMAP', arg: { length: PAGE }, pid: pid as number }))).addr as number;
    const refs = { check_refs: { uptr: child, length: PAGE, refs: 0 } };
    // The parent never mapped the child's new page: get_user_pages_fast fails there (EFAULT).
    expect(await errno(testCmd('MD_CHECK_REFS', refs))).toBe('EFAULT');
    await out(hook('TEST_CMD', { op: 'MD_CHECK_REFS', data: cmdBytes(refs), pid: pid as number }));
    await expect(ad.test({ fd, op: 'TEST_CMD', arg: { op: 'MD_CHECK_REFS', data: cmdBytes(refs), pid: pid as number }, pid: 1 })).rejects.toThrow(/differ/);
  });

  it('an access fd works through another /dev/iommu (fget is the process\'s); its IOAS lookups stay in its own context', async () => {
    await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: buffer, length: PAGE, iova: 0x100000 }));
    const afd = (await testCmdOut('CREATE_ACCESS', { id: ioas, create_access: { flags: 0 } })).create_access.out_access_fd as number;
    const other = (await ad.open({})).fd;
    const via = (op: string, fields: Record<string, unknown>) => ad.test({ fd: other, op: 'TEST_CMD', arg: { op, data: cmdBytes(fields) } });
    await out(via('ACCESS_RW', { id: afd, access_rw: { iova: 0x100000, length: 4, uptr: buffer + 8 * PAGE, flags: 0 } }));
    expect(await out(hook('MEM_READ', { addr: buffer + 8 * PAGE, length: 4 }))).toEqual({ data: 'a5a5a5a5' });
    // The other context has IOAS 2, the access's context has none: iommufd_access_replace looks
    // the ID up in access->ictx, so it is ENOENT however the ioctl came.
    for (let i = 0; i < 2; i++) await out(ad.ioctl({ fd: other, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0 } }));
    expect(await errno(via('ACCESS_REPLACE_IOAS', { id: afd, access_replace_ioas: { ioas_id: ioas + 1 } }))).toBe('ENOENT');
  });
});
