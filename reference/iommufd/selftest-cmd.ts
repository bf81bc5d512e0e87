/**
 * IOMMU_TEST_CMD, the test kernel's own ioctl (drivers/iommu/iommufd/selftest.c iommufd_test()),
 * as the protocol's TEST_CMD hook carries it: the op by name and struct iommu_test_cmd as the
 * caller's bytes (schemas/defs/selftest-payloads.schema.json, decoded with the catalog codec).
 * It applies the ioctl table's size rules (main.c: the size field, then offsetofend(last) or
 * EINVAL, then copy_struct_from_user's zero tail or E2BIG), then the op's checks in selftest.c's
 * order, then runs the op through the same functions the separate hooks use (test-ops.ts,
 * access.ts, device.ts, dirty.ts, fault.ts). The answer is the caller's buffer after the call:
 * on success the struct as iommufd_ucmd_respond copies it back (min(size, sizeof) bytes), for
 * the ops that never respond the bytes as they were.
 *
 * Objects it adds: IOMMUFD_OBJ_SELFTEST (MOCK_DOMAIN: a mock device made on the world's first
 * `mock` bridge, bound and attached, ids in the kernel's order: the selftest object, then the
 * device, then an automatic HWPT) and access fds (CREATE_ACCESS: the lowest free fd of the
 * process, kept in the context's `accessFds`; the access ops take that fd in `id`). Every failing
 * op leaves nothing behind: whatever it made is undone before the errno goes back.
 *
 * Not modelled (the caller's protocol error, never an errno): MOCK_FLAGS_ACCESS_SYZ (the
 * syzkaller IOVA encoding), PASID ops on IOMMU_NO_PASID (the RID has its own ops), and the
 * mock-only ops on a device of another IOMMU model.
 */

import { AdapterError, RPC_INVALID_PARAMS } from '../../schemas/lib/adapter.ts';
import { decodeStruct, encodeStruct, type WireValue } from '../../schemas/lib/codec.ts';
import { structInfo, fieldInfo } from '../../schemas/lib/catalog.ts';
import { MOCK_IO_PAGE_SIZE, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, MockUnit } from '../iommu/mock.ts';
import type { Bridge, Device } from '../machine/topology.ts';
import { PAGE_BYTES, USER_VA_END } from '../machine/process-memory.ts';
import { ACCESS_NEEDS_PIN_PAGES, type AccessObject } from './access.ts';
import type { IommufdContext } from './context.ts';
import { attachDevice, bindDevice, detachDevice, IOMMU_NO_PASID } from './device.ts';
import { markDirtyFromBitmap } from './dirty.ts';
import { check, fail } from './errors.ts';
import { triggerIopf } from './fault.ts';
import type { DeviceObject, HwptNestedObject, HwptPagingObject } from './objects.ts';
import { SelftestObject } from './objects.ts';
import { addReserved, checkAccessLength, createAccess, mockDevCache, replaceAccessIoas, setTempMemoryLimit, triggerVevent } from './test-ops.ts';

/** The IOMMU_TEST_OP_* names the hook takes (the numeric op inside the struct is ignored). */
export const TEST_CMD_OPS = [
  'ADD_RESERVED', 'MOCK_DOMAIN', 'MD_CHECK_MAP', 'MD_CHECK_REFS', 'CREATE_ACCESS', 'DESTROY_ACCESS_PAGES', 'ACCESS_PAGES',
  'ACCESS_RW', 'SET_TEMP_MEMORY_LIMIT', 'MOCK_DOMAIN_REPLACE', 'ACCESS_REPLACE_IOAS', 'MOCK_DOMAIN_FLAGS', 'DIRTY',
  'MD_CHECK_IOTLB', 'TRIGGER_IOPF', 'DEV_CHECK_CACHE', 'TRIGGER_VEVENT', 'PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH',
  'PASID_CHECK_HWPT',
] as const;
export type TestCmdOp = (typeof TEST_CMD_OPS)[number];

const STRUCT = 'iommu_test_cmd';
/** offsetofend(struct iommu_test_cmd, last): the ioctl table's min_size. */
export const TEST_CMD_MIN_BYTES = fieldInfo(STRUCT, 'last').offsetBytes + fieldInfo(STRUCT, 'last').sizeBytes;
export const TEST_CMD_BYTES = structInfo(STRUCT).sizeBytes;

/** MOCK_FLAGS_DEVICE_*: NO_DIRTY, HUGE_IOVA (v6.7), PASID (v6.15). */
const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0;
const MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1;
const MOCK_FLAGS_DEVICE_PASID = 1 << 2;
const MOCK_DEVICE_FLAGS = MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_HUGE_IOVA | MOCK_FLAGS_DEVICE_PASID;
/** MOCK_FLAGS_ACCESS_WRITE and MOCK_FLAGS_ACCESS_SYZ (ACCESS_PAGES). */
const MOCK_FLAGS_ACCESS_WRITE = 1 << 0;
const MOCK_FLAGS_ACCESS_SYZ = 1 << 16;
/** MOCK_ACCESS_RW_WRITE and MOCK_ACCESS_RW_SLOW_PATH (ACCESS_RW; SYZ also accepted). */
const MOCK_ACCESS_RW_WRITE = 1 << 0;
const MOCK_ACCESS_RW_SLOW_PATH = 1 << 2;
const U64_MAX = (1n << 64n) - 1n;

type Cmd = Record<string, WireValue>;
type Member = Record<string, WireValue>;

const big = (v: WireValue): bigint => BigInt(v as number | string);
const num = (v: WireValue): number => Number(v);

/**
 * main.c's reading of the argument: size (EFAULT when not even it is there), size below
 * offsetofend(last) EINVAL, bytes the size covers past the struct non-zero E2BIG or unreadable
 * EFAULT. Returns the kernel's zero-extended copy and the size.
 */
function copyIn(data: Uint8Array): { kernel: Uint8Array; userSizeBytes: number } {
  if (data.length < 4) fail('EFAULT', 'reading size');
  const size = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
  check(size >= TEST_CMD_MIN_BYTES, 'EINVAL', `size ${size} below offsetofend(last) = ${TEST_CMD_MIN_BYTES}`);
  if (size > TEST_CMD_BYTES) {
    // check_zeroed_user: a non-zero byte it reads stops it before any byte it cannot read.
    const tail = data.subarray(TEST_CMD_BYTES, Math.min(size, data.length));
    check(tail.every((b) => b === 0), 'E2BIG', 'non-zero bytes past the struct');
  }
  check(data.length >= Math.min(size, TEST_CMD_BYTES) && (size <= TEST_CMD_BYTES || data.length >= size), 'EFAULT', `the ${size} bytes size covers are not all there`);
  const kernel = new Uint8Array(TEST_CMD_BYTES);
  kernel.set(data.subarray(0, Math.min(size, TEST_CMD_BYTES)));
  return { kernel, userSizeBytes: size };
}

/**
 * iommufd_ucmd_respond: the kernel's copy with member `name` updated by `fields`, over the first
 * min(size, sizeof) bytes of the caller's.
 */
function respond(data: Uint8Array, kernel: Uint8Array, name: string, fields: Member, userSizeBytes: number): Uint8Array {
  const f = fieldInfo(STRUCT, name);
  const member = decodeStruct(f.ctype, kernel, f.offsetBytes);
  kernel.set(encodeStruct(f.ctype, { ...member, ...fields }), f.offsetBytes);
  const out = data.slice();
  out.set(kernel.subarray(0, Math.min(userSizeBytes, TEST_CMD_BYTES)));
  return out;
}

export class SelftestCmd {
  constructor(
    private readonly ctx: IommufdContext,
    /** get_unused_fd_flags: the lowest free fd of the process (the adapter's fd table). */
    private readonly allocFd: () => number,
    /**
     * fget of an access fd: the context that owns it, whichever /dev/iommu the ioctl came
     * through (the access file is the process's, its access belongs to the context it was made in).
     */
    private readonly accessFdOwner: (fd: number) => IommufdContext | undefined = (fd) => (ctx.accessFds.has(fd) ? ctx : undefined),
  ) {}

  /**
   * Runs `op` on `data` (the caller's bytes); returns the caller's bytes after it, or throws
   * UapiError. An op name it does not know is EOPNOTSUPP, after the size rules (iommufd_test's default).
   */
  run(op: string, data: Uint8Array): Uint8Array {
    const { kernel, userSizeBytes } = copyIn(data);
    if (!(TEST_CMD_OPS as readonly string[]).includes(op)) fail('EOPNOTSUPP', `unknown op ${op}`);
    const cmd = decodeStruct(STRUCT, kernel) as Cmd;
    const id = num(cmd.id);
    const member = (name: string): Member => cmd[name] as Member;
    // Ops that answer through iommufd_ucmd_respond return the struct to copy back; the others null.
    const answer = this.dispatch(op as TestCmdOp, id, member);
    if (answer === null) return data.slice();
    const [name, fields] = answer;
    return respond(data, kernel, name, fields, userSizeBytes);
  }

  private dispatch(op: TestCmdOp, id: number, m: (name: string) => Member): [string, Member] | null {
    const ctx = this.ctx;
    switch (op) {
      case 'ADD_RESERVED': {
        const a = m('add_reserved');
        addReserved(ctx, id, big(a.start), big(a.length));
        return null;
      }
      case 'MOCK_DOMAIN':
      case 'MOCK_DOMAIN_FLAGS':
        return ['mock_domain', this.mockDomain(id, op === 'MOCK_DOMAIN_FLAGS' ? num(m('mock_domain_flags').dev_flags) : 0)];
      case 'MOCK_DOMAIN_REPLACE': {
        const sobj = this.selftestObject(id);
        return ['mock_domain_replace', { pt_id: attachDevice(ctx, sobj.idev!, num(m('mock_domain_replace').pt_id), IOMMU_NO_PASID, true) }];
      }
      case 'MD_CHECK_MAP': {
        const a = m('check_map');
        this.checkMap(id, big(a.iova), big(a.length), big(a.uptr));
        return null;
      }
      case 'MD_CHECK_REFS': {
        const a = m('check_refs');
        this.checkRefs(big(a.uptr), big(a.length), num(a.refs));
        return null;
      }
      case 'MD_CHECK_IOTLB': {
        const a = m('check_iotlb');
        this.checkIotlb(id, num(a.id), num(a.iotlb));
        return null;
      }
      case 'DEV_CHECK_CACHE': {
        // iommufd_test_dev_check_cache: `id` is the iommufd device (idev) id.
        const a = m('check_dev_cache');
        const cache = mockDevCache(ctx.table.device(id));
        const slot = num(a.id);
        check(slot <= cache.length - 1 && cache[slot] === num(a.cache), 'EINVAL', `cache slot ${slot}`);
        return null;
      }
      case 'CREATE_ACCESS':
        return ['create_access', { out_access_fd: this.createAccessFd(id, num(m('create_access').flags)) }];
      case 'DESTROY_ACCESS_PAGES':
        this.accessFd(id).unpinItem(num(m('destroy_access_pages').access_pages_id));
        return null;
      case 'ACCESS_PAGES':
        return ['access_pages', { out_access_pages_id: this.accessPages(id, m('access_pages')) }];
      case 'ACCESS_RW':
        this.accessRw(id, m('access_rw'));
        return null;
      case 'ACCESS_REPLACE_IOAS':
        // iommufd_access_replace looks the IOAS up in the access's own context.
        replaceAccessIoas(this.accessFdOwner(id) ?? ctx, this.accessFd(id), num(m('access_replace_ioas').ioas_id));
        return null;
      case 'SET_TEMP_MEMORY_LIMIT':
        setTempMemoryLimit(num(m('memory_limit').limit));
        return null;
      case 'DIRTY': {
        const a = m('dirty');
        // Its flags are read but not used by the op.
        return ['dirty', { out_nr_dirty: markDirtyFromBitmap(ctx, id, big(a.iova), big(a.length), big(a.page_size), big(a.uptr)) }];
      }
      case 'TRIGGER_IOPF': {
        const a = m('trigger_iopf');
        const dev = ctx.table.device(num(a.dev_id));
        // v6.11/6.12 refuse a device that is not a mock device (iommufd_selftest_is_mock_dev).
        check(dev.dev.unit instanceof MockUnit, 'EINVAL', 'not a mock device');
        triggerIopf(dev, { pasid: num(a.pasid), grpid: num(a.grpid), perm: num(a.perm), addrBytes: big(a.addr) });
        return null;
      }
      case 'TRIGGER_VEVENT':
        triggerVevent(ctx.table.device(num(m('trigger_vevent').dev_id)));
        return null;
      case 'PASID_ATTACH':
      case 'PASID_REPLACE': {
        const name = op === 'PASID_ATTACH' ? 'pasid_attach' : 'pasid_replace';
        const a = m(name);
        const sobj = this.selftestObject(id);
        return [name, { pt_id: attachDevice(ctx, sobj.idev!, num(a.pt_id), this.pasidOf(a), op === 'PASID_REPLACE') }];
      }
      case 'PASID_DETACH': {
        const a = m('pasid_detach');
        detachDevice(ctx, this.selftestObject(id).idev!, this.pasidOf(a));
        return null;
      }
      case 'PASID_CHECK_HWPT':
        this.pasidCheckHwpt(id, m('pasid_check'));
        return null;
    }
  }

  /** iommufd_test_get_selftest_obj: ENOENT unless `id` is a selftest object. */
  private selftestObject(id: number): SelftestObject {
    return this.ctx.table.get(id, 'SELFTEST') as SelftestObject;
  }

  private pasidOf(a: Member): number {
    const pasid = num(a.pasid);
    if (pasid === IOMMU_NO_PASID) throw new AdapterError(RPC_INVALID_PARAMS, 'TEST_CMD PASID op on IOMMU_NO_PASID (the RID): not modelled, use MOCK_DOMAIN_REPLACE');
    return pasid;
  }

  /**
   * iommufd_test_mock_domain: the selftest object (its ID first), the mock device (dev_flags
   * EINVAL), the bind (ENODEV without a mock IOMMU: iommufd_device_bind finds no iommu_group),
   * the attach to `ptId`; undone in reverse when a step fails.
   */
  private mockDomain(ptId: number, devFlags: number): Member {
    const ctx = this.ctx;
    const machine = ctx.machine;
    machine.failNth.point('selftest object');
    const bridge = [...machine.topology.bridges.values()].find((b) => b.unit.model === 'mock');
    const device = newMockDevice(machine.topology.devices, bridge, devFlags);
    const sobj = new SelftestObject(device, () => {
      machine.topology.devices.delete(device.name);
      if (device.unit instanceof MockUnit) device.unit.forgetDevice(device);
    });
    // iommufd_object_alloc reserves the selftest object's ID before the device and HWPT get theirs.
    ctx.table.add(sobj);
    try {
      check((devFlags & ~MOCK_DEVICE_FLAGS) === 0, 'EINVAL', `dev_flags 0x${devFlags.toString(16)}`);
      check(bridge !== undefined, 'ENODEV', 'no mock IOMMU in the world: the device has no iommu_group');
      machine.topology.devices.set(device.name, device);
      sobj.idev = bindDevice(ctx, device.name);
      // The reserved ID is no object yet: a lookup of it fails as for any unknown ID.
      check(ptId !== sobj.id, 'ENOENT', `no object with id ${ptId}`);
      const hwptId = attachDevice(ctx, sobj.idev, ptId, IOMMU_NO_PASID, false);
      return { out_stdev_id: sobj.id, out_hwpt_id: hwptId, out_idev_id: sobj.idev.id };
    } catch (e) {
      if (sobj.idev !== null && sobj.idev.id !== 0) {
        ctx.table.remove(sobj.idev);
        ctx.machineBindings.delete(device.name);
      }
      if (machine.topology.devices.get(device.name) === device) sobj.removeDevice();
      ctx.table.remove(sobj);
      throw e;
    }
  }

  /** A mock paging HWPT (get_md_pagetable): ENOENT for another kind, EINVAL for another driver's domain. */
  private mockPaging(id: number): HwptPagingObject {
    const hwpt = this.ctx.table.get(id, 'HWPT_PAGING') as HwptPagingObject;
    check(hwpt.domain.spec.unit instanceof MockUnit, 'EINVAL', 'not a mock domain');
    return hwpt;
  }

  /**
   * iommufd_test_md_check_pa: alignment and overflow EINVAL first, then the HWPT; each
   * MOCK_IO_PAGE_SIZE IOPTE must hold the physical address of the user VA (GUP of its page:
   * EFAULT when unmapped), else EINVAL.
   */
  private checkMap(id: number, iova: bigint, length: bigint, uptr: bigint): void {
    const mockPage = BigInt(MOCK_IO_PAGE_SIZE);
    check(iova % mockPage === 0n && length % mockPage === 0n && uptr % mockPage === 0n && uptr + length <= U64_MAX, 'EINVAL', 'alignment or overflow');
    const table = this.mockPaging(id).domain.table;
    for (let at = 0n; at < length; at += mockPage) {
      const va = uptr + at;
      const pfn = this.gupFrame(va);
      const t = table.translate(iova + at);
      check(t !== null && pfn >= 0 && t.physBytes === pfn * PAGE_BYTES + Number(va % BigInt(PAGE_BYTES)), 'EINVAL', `IOVA 0x${(iova + at).toString(16)} does not map the page of VA 0x${va.toString(16)}`);
    }
  }

  /**
   * get_user_pages_fast of one page for reading: EFAULT when the VA is not mapped; an untouched
   * anonymous page reads as the zero page, which no IOPTE holds (-1 here).
   */
  private gupFrame(va: bigint): number {
    const memory = this.ctx.machine.memory;
    check(va < BigInt(USER_VA_END), 'EFAULT', 'VA past the user address space');
    const vpn = Number(va / BigInt(PAGE_BYTES));
    check(memory.vmaAt(vpn) !== undefined, 'EFAULT', `VA 0x${va.toString(16)} is not mapped`);
    return memory.frameForVpn(vpn, false);
  }

  /**
   * iommufd_test_md_check_refs: page alignment and overflow EINVAL; every CPU page of the range
   * (GUP: EFAULT when unmapped) that is not part of a compound (huge) page must have pin count
   * `refs`, else EIO.
   */
  private checkRefs(uptr: bigint, length: bigint, refs: number): void {
    const page = BigInt(PAGE_BYTES);
    check(length % page === 0n && uptr % page === 0n && uptr + length <= U64_MAX, 'EINVAL', 'alignment or overflow');
    const memory = this.ctx.machine.memory;
    for (let at = 0n; at < length; at += page) {
      const pfn = this.gupFrame(uptr + at);
      const vma = memory.vmaAt(Number((uptr + at) / page))!;
      if (vma.object.huge) continue;
      const count = pfn < 0 ? 0 : memory.pinCount(pfn);
      check(count === refs, 'EIO', `page at VA 0x${(uptr + at).toString(16)} has ${count} pins, not ${refs}`);
    }
  }

  /** iommufd_test_md_check_iotlb: a mock nested HWPT (ENOENT / EINVAL), slot ≤ 3 holding `value` (EINVAL). */
  private checkIotlb(id: number, slot: number, value: number): void {
    const hwpt = this.ctx.table.get(id, 'HWPT_NESTED') as HwptNestedObject;
    const nested = hwpt.nested as { unit: unknown; iotlb?: number[] };
    check(nested.unit instanceof MockUnit && Array.isArray(nested.iotlb), 'EINVAL', 'not a mock nested domain');
    check(slot <= MOCK_NESTED_DOMAIN_IOTLB_ID_MAX && nested.iotlb![slot] === value, 'EINVAL', `iotlb slot ${slot}`);
  }

  /**
   * iommufd_test_create_access: the access (flags EOPNOTSUPP, IOAS ENOENT), then its fd, the
   * lowest free one. Its pin items count from 0 as the selftest_access's do.
   */
  private createAccessFd(ioasId: number, flags: number): number {
    const access = createAccess(this.ctx, ioasId, flags, 0);
    const fd = this.allocFd();
    this.ctx.accessFds.set(fd, access);
    return fd;
  }

  /** iommufd_access_get: EBADFD unless `fd` is an open access fd (of any context). */
  private accessFd(fd: number): AccessObject {
    const access = this.accessFdOwner(fd)?.accessFds.get(fd);
    check(access !== undefined, 'EBADFD', `fd ${fd} is not an access fd`);
    return access;
  }

  /**
   * iommufd_test_access_pages: 16 MiB (ENOMEM), flags (EOPNOTSUPP), the access fd (EBADFD), its
   * pin ops (EOPNOTSUPP), the pin, then (uptr non-zero) each pinned page against GUP of the user
   * VA (EFAULT, EBADE), unpinned again on a mismatch.
   */
  private accessPages(fd: number, a: Member): number {
    const length = big(a.length);
    const flags = num(a.flags);
    checkAccessLength(length);
    check((flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) === 0, 'EOPNOTSUPP', 'flags');
    const access = this.accessFd(fd);
    check((access.flags & ACCESS_NEEDS_PIN_PAGES) !== 0, 'EOPNOTSUPP', 'access was created without page pinning');
    if (flags & MOCK_FLAGS_ACCESS_SYZ) throw new AdapterError(RPC_INVALID_PARAMS, 'MOCK_FLAGS_ACCESS_SYZ (the syzkaller IOVA encoding) is not modelled');
    const iova = big(a.iova);
    // The page-pointer array the selftest allocates before it pins (kvcalloc).
    this.ctx.machine.failNth.point('access_pages page array');
    const itemId = access.pin(iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
    const uptr = big(a.uptr);
    if (uptr !== 0n) {
      try {
        this.checkPinnedPages(access, itemId, uptr - (iova % BigInt(PAGE_BYTES)));
      } catch (e) {
        access.unpinItem(itemId);
        throw e;
      }
    }
    return itemId;
  }

  /** iommufd_test_check_pages: the pinned pages, in order, against GUP of the user pages from `uptr`. */
  private checkPinnedPages(access: AccessObject, itemId: number, uptr: bigint): void {
    const frames = access.itemFrames(itemId);
    frames.forEach((pfn, i) => {
      const va = uptr + BigInt(i * PAGE_BYTES);
      check(this.gupFrame(va) === pfn, 'EBADE', `pinned page ${i} is not the page of VA 0x${va.toString(16)}`);
    });
  }

  /**
   * iommufd_test_access_rw: 16 MiB (ENOMEM), flags (EOPNOTSUPP), the access fd (EBADFD), the
   * bounce buffer, the user buffer for a write (EFAULT), the copy, the user buffer for a read
   * (EFAULT, after the copy).
   */
  private accessRw(fd: number, a: Member): void {
    const length = big(a.length);
    const flags = num(a.flags);
    checkAccessLength(length);
    check((flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) === 0, 'EOPNOTSUPP', 'flags');
    const access = this.accessFd(fd);
    this.ctx.machine.failNth.point('access_rw bounce buffer');
    if (flags & MOCK_FLAGS_ACCESS_SYZ) throw new AdapterError(RPC_INVALID_PARAMS, 'MOCK_FLAGS_ACCESS_SYZ (the syzkaller IOVA encoding) is not modelled');
    const uptr = big(a.uptr);
    const n = Number(length);
    const slow = (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0;
    if (flags & MOCK_ACCESS_RW_WRITE) {
      const bytes = this.ctx.readUser(uptr, n);
      check(bytes !== null, 'EFAULT', 'uptr');
      access.rw(big(a.iova), length, bytes, true, slow, this.ctx.machine.memory);
      return;
    }
    const got = access.rw(big(a.iova), length, null, false, slow, this.ctx.machine.memory);
    check(this.ctx.writeUser(uptr, got), 'EFAULT', 'uptr');
  }

  /**
   * IOMMU_TEST_OP_PASID_CHECK_HWPT (v6.15): the selftest object (ENOENT); hwpt_id 0 asks that
   * the PASID be detached, else the HWPT (ENOENT; EINVAL when the object is no HWPT) must be the
   * one attached; any mismatch is EINVAL.
   */
  private pasidCheckHwpt(id: number, a: Member): void {
    const dev: DeviceObject = this.selftestObject(id).idev!;
    const attached = dev.pasids.get(num(a.pasid)) ?? null;
    const hwptId = num(a.hwpt_id);
    if (hwptId === 0) {
      check(attached === null, 'EINVAL', 'PASID is attached');
      return;
    }
    const obj = this.ctx.table.get(hwptId);
    check(obj.kind === 'HWPT_PAGING' || obj.kind === 'HWPT_NESTED', 'EINVAL', 'not a HWPT');
    check(attached === obj, 'EINVAL', 'PASID is attached elsewhere');
  }
}

/**
 * mock_dev_create: a device `iommufd_mock<n>` (n: the lowest number free, as the kernel's IDA
 * gives it) behind `bridge`, with the MOCK_FLAGS_DEVICE_* flags. Not yet in the topology.
 */
function newMockDevice(devices: ReadonlyMap<string, Device>, bridge: Bridge | undefined, devFlags: number): Device {
  let n = 0;
  while (devices.has(`iommufd_mock${n}`)) n++;
  const unitBridge = bridge ?? ({ name: '', unit: undefined, iotlb: undefined } as unknown as Bridge);
  return {
    name: `iommufd_mock${n}`,
    bridge: unitBridge,
    unit: unitBridge.unit,
    noDirty: (devFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0,
    pasid: (devFlags & MOCK_FLAGS_DEVICE_PASID) !== 0,
    hugeIova: (devFlags & MOCK_FLAGS_DEVICE_HUGE_IOVA) !== 0,
    vfToken: null,
    madeByMockDomain: true,
  };
}
