/**
 * One open /dev/iommu: its object table, accounting mode, VFIO-compat IOAS, and the IOAS
 * ioctls (ioas.c, main.c): DESTROY, IOAS_ALLOC, IOVA_RANGES, ALLOW_IOVAS, MAP, MAP_FILE, COPY,
 * UNMAP, OPTION, VFIO_IOAS, IOAS_CHANGE_PROCESS, and close(2).
 *
 * Handlers take the struct's fields already size-checked and zero-extended by the dispatcher,
 * every integer as bigint (so `>= ULONG_MAX` tests are exact), and return the output fields.
 * Checks come in the kernel's order; each handler checks everything before it changes state
 * (IOAS_CHANGE_PROCESS's dead-owner EINVAL, returned after the move as Linux does, excepted).
 */

import type { Machine } from '../machine/machine.ts';
import { PAGE_BYTES, USER_VA_END } from '../machine/process-memory.ts';
import type { AccessObject } from './access.ts';
import { check, fail, UapiError } from './errors.ts';
import { unbindDevice } from './device.ts';
import { destroyHwpt } from './hwpt.ts';
import type { Args, Out } from './hwpt.ts';
import type { IovaRange, PagesSlice } from './io-pagetable.ts';
import { IoPagetable, PAGE_SIZE, ULONG_MAX, U64_MAX } from './io-pagetable.ts';
import type { DeviceObject, HwptObject, IommufdObject, SelftestObject } from './objects.ts';
import { IoasObject, ObjectTable } from './objects.ts';
import { IoptPages } from './pages.ts';
import { destroyVdevice, destroyViommu, type VdeviceObject, type ViommuObject } from './viommu.ts';
import type { FaultObject } from './fault.ts';
import { MmapSpace } from './mmap-region.ts';
import { destroyHwQueue, type HwQueueObject } from './hw-queue.ts';
import { destroyVeventq, type VeventqObject } from './veventq.ts';

export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;
const MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
export const IOMMU_OPTION_RLIMIT_MODE = 0;
export const IOMMU_OPTION_HUGE_PAGES = 1;
export const IOMMU_OPTION_OP_SET = 0;
export const IOMMU_OPTION_OP_GET = 1;
export const IOMMU_VFIO_IOAS_GET = 0;
export const IOMMU_VFIO_IOAS_SET = 1;
export const IOMMU_VFIO_IOAS_CLEAR = 2;
/** SIZE_MAX − PAGE_SIZE: iopt_alloc_pages refuses longer lengths. */
const MAX_PAGES_LENGTH = U64_MAX - PAGE_SIZE;
/** Lengths whose byte count is an exact JS number even with a page offset added. */
const MAX_SAFE_LENGTH = BigInt(Number.MAX_SAFE_INTEGER) - PAGE_SIZE;
/** The largest byte address exact as a JS number. */
const MAX_SAFE_ADDR = BigInt(Number.MAX_SAFE_INTEGER);

export class IommufdContext {
  readonly table: ObjectTable;
  accountMode: 'user' | 'mm';
  /** ictx->vfio_ioas: no reference held; destroying the IOAS clears it. */
  vfioIoas: IoasObject | null = null;
  /** VFIO type1 compat state: which SET_IOMMU type was chosen. */
  vfioType: number | null = null;
  /** Regions drivers offer for mmap(2) on this fd. */
  readonly mmapSpace: MmapSpace;
  /** Open fault / vEVENTQ fds of this context (each holds one `users` reference on its object). */
  readonly eventFds = new Map<number, FaultObject | VeventqObject>();
  /**
   * Open access fds of this context (IOMMU_TEST_OP_CREATE_ACCESS's out_access_fd): each owns
   * its access, which closing the fd destroys (iommufd_test_staccess_release).
   */
  readonly accessFds = new Map<number, AccessObject>();
  /**
   * get_unused_fd_flags: the lowest free fd of the process. The adapter installs its own (fds
   * are shared with other contexts and files); alone, a context counts above its own fd.
   */
  allocFd: () => number = () => {
    let fd = this.fd + 1;
    while (this.eventFds.has(fd) || this.accessFds.has(fd)) fd++;
    return fd;
  };

  constructor(
    readonly fd: number,
    readonly machine: Machine,
    /** Devices bound anywhere in the world, by topology name. */
    readonly machineBindings: Map<string, DeviceObject>,
    openedAsVfio = false,
  ) {
    this.table = new ObjectTable(machine.failNth);
    this.accountMode = openedAsVfio ? 'mm' : 'user';
    this.mmapSpace = new MmapSpace((o) => machine.memory.dropObjectPages(o, 0, o.sizePages));
  }

  // ---- user memory ----

  /** copy_from_user: null (EFAULT) when any byte is unmapped. */
  readUser(addr: bigint, lengthBytes: number): Uint8Array | null {
    if (lengthBytes === 0) return new Uint8Array(0);
    if (addr + BigInt(lengthBytes) > BigInt(USER_VA_END)) return null;
    return this.machine.memory.read(Number(addr), lengthBytes);
  }

  writeUser(addr: bigint, data: Uint8Array): boolean {
    if (data.length === 0) return true;
    if (addr + BigInt(data.length) > BigInt(USER_VA_END)) return false;
    return this.machine.memory.write(Number(addr), data);
  }

  /** Whether every byte of [addr, addr + length) is mapped user memory. */
  userMapped(addr: bigint, lengthBytes: number): boolean {
    if (lengthBytes === 0) return true;
    if (addr + BigInt(lengthBytes) > BigInt(USER_VA_END)) return false;
    return this.machine.memory.mapped(Number(addr), lengthBytes);
  }

  /** clear_user: zeros [addr, addr + length) without a buffer of that size; false (EFAULT) if unmapped. */
  clearUser(addr: bigint, lengthBytes: number): boolean {
    if (lengthBytes === 0) return true;
    if (addr + BigInt(lengthBytes) > BigInt(USER_VA_END)) return false;
    return this.machine.memory.clear(Number(addr), lengthBytes);
  }

  devices(): DeviceObject[] {
    return this.table.all().filter((o): o is DeviceObject => o.kind === 'DEVICE');
  }

  // ---- objects ----

  /** IOMMU_DESTROY. */
  destroy(a: Args): Out {
    // iommufd_destroy → iommufd_object_remove: no iommufd_get_object, so no injection point.
    const obj = this.table.find(Number(a.id));
    check(obj.users === 0, 'EBUSY', `object ${obj.id} is in use`);
    this.destroyObject(obj);
    return {};
  }

  private destroyObject(obj: IommufdObject): void {
    switch (obj.kind) {
      case 'IOAS': {
        const ioas = obj as IoasObject;
        ioas.iopt.unmapAll();
        if (this.vfioIoas === ioas) this.vfioIoas = null;
        this.table.remove(ioas);
        break;
      }
      case 'HWPT_PAGING':
      case 'HWPT_NESTED':
        destroyHwpt(this, obj as HwptObject);
        break;
      case 'VIOMMU':
        destroyViommu(this, obj as ViommuObject);
        break;
      case 'VDEVICE':
        destroyVdevice(this, obj as VdeviceObject, false);
        break;
      case 'FAULT':
        (obj as FaultObject).destroy();
        this.table.remove(obj);
        break;
      case 'VEVENTQ':
        destroyVeventq(this, obj as VeventqObject);
        break;
      case 'HW_QUEUE':
        destroyHwQueue(this, obj as HwQueueObject);
        break;
      case 'SELFTEST':
        this.destroySelftest(obj as SelftestObject);
        break;
      default:
        throw new Error(`destroyObject: ${obj.kind} with no users`);
    }
  }

  /** close(2) of a fault or vEVENTQ fd: it lets go of its object. */
  closeEventFd(fd: number): void {
    const obj = this.eventFds.get(fd);
    if (obj === undefined) throw new Error(`fd ${fd} is not an event fd of this context`);
    this.eventFds.delete(fd);
    obj.users--;
  }

  /** iommufd_selftest_destroy: the mock device is detached, unbound and removed. */
  private destroySelftest(sobj: SelftestObject): void {
    if (sobj.idev !== null && sobj.idev.id !== 0) unbindDevice(this, sobj.idev);
    sobj.removeDevice();
    this.table.remove(sobj);
  }

  /** close(2) of an access fd: its pins go, then the access (iommufd_test_staccess_release). */
  closeAccessFd(fd: number): void {
    const access = this.accessFds.get(fd);
    if (access === undefined) throw new Error(`fd ${fd} is not an access fd of this context`);
    this.accessFds.delete(fd);
    this.destroyAccess(access);
  }

  /**
   * close(2): accesses and devices first (their drivers let go), then leaves first. The
   * context's event fds are closed with it (in Linux they keep the context alive until they
   * are closed; the runner closes every fd at the end of a case).
   */
  close(): void {
    for (const fd of [...this.eventFds.keys()]) this.closeEventFd(fd);
    // An access fd holds the context open in Linux; the runner closes every fd at the end of a
    // case, so the context's access fds go with it (pins first, as their release does).
    for (const fd of [...this.accessFds.keys()]) this.closeAccessFd(fd);
    for (const o of this.table.all()) if (o.kind === 'SELFTEST') this.destroySelftest(o as SelftestObject);
    for (const o of this.table.all()) {
      if (o.kind === 'ACCESS') this.destroyAccess(o as AccessObject);
    }
    for (const d of this.devices()) unbindDevice(this, d);
    for (;;) {
      const leaves = this.table.all().filter((o) => o.users === 0);
      if (leaves.length === 0) break;
      for (const o of leaves) if (o.id !== 0 && o.users === 0) this.destroyObject(o);
    }
    if (this.table.size !== 0) throw new Error(`close: ${this.table.size} objects still referenced`);
  }

  destroyAccess(access: AccessObject): void {
    access.releaseAll();
    if (access.ioas !== null) {
      access.ioas.iopt.removeAccess(access);
      access.ioas.users--;
      access.ioas = null;
    }
    this.table.remove(access);
  }

  // ---- IOAS ----

  ioasAlloc(a: Args): Out {
    check(a.flags === 0n, 'EOPNOTSUPP', 'flags');
    this.machine.failNth.point('ioas object');
    const ioas = new IoasObject(new IoPagetable(this.machine.failNth));
    return { out_ioas_id: this.table.add(ioas) };
  }

  /** IOMMU_IOAS_IOVA_RANGES: num_iovas is written back with EMSGSIZE too. */
  iovaRanges(a: Args): Out {
    check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
    const ioas = this.table.ioas(Number(a.ioas_id));
    const ranges = ioas.iopt.iovaRanges();
    const capacity = Number(a.num_iovas);
    const n = Math.min(capacity, ranges.length);
    if (n > 0) {
      const buf = new Uint8Array(16 * n);
      const dv = new DataView(buf.buffer);
      ranges.slice(0, n).forEach((r, i) => {
        dv.setBigUint64(i * 16, r.start, true);
        dv.setBigUint64(i * 16 + 8, r.last, true);
      });
      check(this.writeUser(a.allowed_iovas, buf), 'EFAULT', 'allowed_iovas');
    }
    const out = { num_iovas: ranges.length, out_iova_alignment: BigInt(ioas.iopt.iovaAlignment) };
    if (ranges.length > capacity) throw new UapiError('EMSGSIZE', 'more ranges than room', out);
    return out;
  }

  /** IOMMU_IOAS_ALLOW_IOVAS. */
  allowIovas(a: Args): Out {
    check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
    const ioas = this.table.ioas(Number(a.ioas_id));
    const ranges: IovaRange[] = [];
    for (let i = 0; i < Number(a.num_iovas); i++) {
      const raw = this.readUser(a.allowed_iovas + BigInt(16 * i), 16);
      check(raw !== null, 'EFAULT', 'allowed_iovas');
      const dv = new DataView(raw.buffer, raw.byteOffset, 16);
      const r = { start: dv.getBigUint64(0, true), last: dv.getBigUint64(8, true) };
      check(r.start < r.last, 'EINVAL', 'range start must be below last');
      check(!ranges.some((o) => o.start <= r.last && r.start <= o.last), 'EINVAL', 'ranges overlap');
      ranges.push(r);
    }
    ioas.iopt.setAllowed(ranges);
    return {};
  }

  private mapProt(flags: number) {
    return { read: (flags & IOMMU_IOAS_MAP_READABLE) !== 0, write: (flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0 };
  }

  /** The account mode a new iopt_pages gets (iopt_alloc_pages + the context's RLIMIT mode). */
  private pagesAccountMode(): 'none' | 'user' | 'mm' {
    if (this.machine.capable('CAP_IPC_LOCK')) return 'none';
    return this.accountMode;
  }

  /** IOMMU_IOAS_MAP. */
  ioasMap(a: Args): Out {
    const flags = Number(a.flags);
    check((flags & ~MAP_FLAGS) === 0 && a.__reserved === 0n, 'EOPNOTSUPP', 'flags or __reserved');
    check(a.iova < ULONG_MAX && a.length < ULONG_MAX, 'EOVERFLOW', 'iova or length');
    check((flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) !== 0, 'EINVAL', 'neither READABLE nor WRITEABLE');
    const ioas = this.table.ioas(Number(a.ioas_id));
    check(a.user_va + a.length <= U64_MAX, 'EOVERFLOW', 'user_va + length');
    check(a.length !== 0n && a.length <= MAX_PAGES_LENGTH, 'EINVAL', 'length');
    // A user address below 2^53 (every real one) splits into page and offset as JS numbers:
    // no bigint is made per MAP for it.
    const uvaSafe = a.user_va <= MAX_SAFE_ADDR;
    const uvaNum = uvaSafe ? Number(a.user_va) : 0;
    const startByte = uvaSafe ? uvaNum % PAGE_BYTES : Number(a.user_va % PAGE_SIZE);
    const uptrDown = startByte === 0 ? a.user_va : a.user_va - BigInt(startByte);
    const startVpn = uvaSafe ? (uvaNum - startByte) / PAGE_BYTES : Number(uptrDown / PAGE_SIZE);
    // Any length is accepted (2^53 bytes and more too: nothing is pinned until a domain or an
    // access needs pages, and then pinning faults); the page count stays an exact JS number.
    // User addresses beyond the process's address space are fine: pinning them faults.
    const npages = a.length <= MAX_SAFE_LENGTH ? Math.ceil((startByte + Number(a.length)) / PAGE_BYTES) : Number((BigInt(startByte) + a.length + PAGE_SIZE - 1n) / PAGE_SIZE);
    const pages = new IoptPages(
      this.machine.memory, this.machine.accounting, { kind: 'user', startVpn }, npages,
      (flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0, this.pagesAccountMode(), uptrDown, this.machine.failNth,
    );
    this.machine.failNth.point('iopt_pages');
    const iova = ioas.iopt.mapPages([{ pages, firstPageIndex: 0, pageOffsetBytes: startByte, lengthBytes: Number(a.length), lengthBig: a.length }], Number(a.length),
      flags & IOMMU_IOAS_MAP_FIXED_IOVA ? a.iova : null, this.mapProt(flags));
    return { iova };
  }

  /** IOMMU_IOAS_MAP_FILE (memfd-like files). */
  ioasMapFile(a: Args): Out {
    const flags = Number(a.flags);
    check((flags & ~MAP_FLAGS) === 0, 'EOPNOTSUPP', 'flags');
    check(a.iova < ULONG_MAX && a.length < ULONG_MAX, 'EOVERFLOW', 'iova or length');
    check((flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) !== 0, 'EINVAL', 'neither READABLE nor WRITEABLE');
    const ioas = this.table.ioas(Number(a.ioas_id));
    // iopt_map_file_pages (v6.19, with the dma-buf support): the length and the range's last
    // byte are checked before the fd is looked up; v6.13–v6.18 looked the fd up first (in
    // iommufd_ioas_map_file) and checked the length later, in iopt_alloc_pages.
    check(a.length !== 0n, 'EINVAL', 'length 0');
    check(a.start + a.length - 1n <= U64_MAX, 'EOVERFLOW', 'start + length - 1');
    const fdNum = Number(BigInt.asIntN(32, a.fd));
    const file = this.machine.files.get(fdNum);
    check(file !== undefined, 'EBADF', 'fd is not an open file');
    // iopt_alloc_pages: the length of any pages store.
    check(a.length <= MAX_PAGES_LENGTH, 'EINVAL', 'length');
    // The file's size is not checked here: a range past its end fails with EINVAL only when
    // its pages are pinned (memfd_pin_folios → shmem refuses a folio beyond i_size), i.e. in
    // this call when the IOAS has a domain — after the IOVA is allocated — or later at attach
    // or ACCESS_PIN.
    const startDown = a.start - (a.start % PAGE_SIZE);
    const startByte = Number(a.start - startDown);
    const npages = a.length <= MAX_SAFE_LENGTH ? Math.ceil((startByte + Number(a.length)) / PAGE_BYTES) : Number((BigInt(startByte) + a.length + PAGE_SIZE - 1n) / PAGE_SIZE);
    const pages = new IoptPages(this.machine.memory, this.machine.accounting,
      { kind: 'file', file, startPage: Number(startDown / PAGE_SIZE) }, npages,
      (flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0, this.pagesAccountMode(), startDown, this.machine.failNth);
    this.machine.failNth.point('iopt_pages');
    const iova = ioas.iopt.mapPages([{ pages, firstPageIndex: 0, pageOffsetBytes: startByte, lengthBytes: Number(a.length), lengthBig: a.length }], Number(a.length),
      flags & IOMMU_IOAS_MAP_FIXED_IOVA ? a.iova : null, this.mapProt(flags));
    return { iova };
  }

  /** IOMMU_IOAS_COPY. */
  ioasCopy(a: Args): Out {
    const flags = Number(a.flags);
    check((flags & ~MAP_FLAGS) === 0, 'EOPNOTSUPP', 'flags');
    check(a.length < ULONG_MAX && a.src_iova < ULONG_MAX && a.dst_iova < ULONG_MAX, 'EOVERFLOW', 'length or IOVAs');
    check((flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) !== 0, 'EINVAL', 'neither READABLE nor WRITEABLE');
    const src = this.table.ioas(Number(a.src_ioas_id));
    const slices: PagesSlice[] = src.iopt.getPages(a.src_iova, a.length);
    const dst = this.table.ioas(Number(a.dst_ioas_id));
    const iova = dst.iopt.mapPages(slices, Number(a.length), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? a.dst_iova : null, this.mapProt(flags));
    return { dst_iova: iova };
  }

  /** IOMMU_IOAS_UNMAP. */
  ioasUnmap(a: Args): Out {
    const ioas = this.table.ioas(Number(a.ioas_id));
    if (a.iova === 0n && a.length === U64_MAX) return { length: ioas.iopt.unmapAll() };
    check(a.iova < ULONG_MAX && a.length < ULONG_MAX, 'EOVERFLOW', 'iova or length');
    const unmapped = ioas.iopt.unmap(a.iova, a.length);
    check(unmapped !== 0n, 'ENOENT', 'nothing mapped in the range');
    return { length: unmapped };
  }

  /** IOMMU_OPTION: only val64 is copied back. */
  option(a: Args): Out {
    check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
    const op = Number(a.op);
    switch (Number(a.option_id)) {
      case IOMMU_OPTION_RLIMIT_MODE: {
        check(a.object_id === 0n, 'EOPNOTSUPP', 'object_id must be 0');
        if (op === IOMMU_OPTION_OP_GET) return { val64: this.accountMode === 'mm' ? 1n : 0n };
        check(op === IOMMU_OPTION_OP_SET, 'EOPNOTSUPP', 'op');
        check(this.machine.capable('CAP_SYS_RESOURCE'), 'EPERM', 'CAP_SYS_RESOURCE');
        check(this.table.size === 0, 'EBUSY', 'the context owns objects');
        check(a.val64 === 0n || a.val64 === 1n, 'EINVAL', 'val64');
        this.accountMode = a.val64 === 1n ? 'mm' : 'user';
        return { val64: a.val64 };
      }
      case IOMMU_OPTION_HUGE_PAGES: {
        const ioas = this.table.ioas(Number(a.object_id));
        if (op === IOMMU_OPTION_OP_GET) return { val64: ioas.iopt.disableLargePages ? 0n : 1n };
        check(op === IOMMU_OPTION_OP_SET, 'EOPNOTSUPP', 'op');
        if (a.val64 === 0n) ioas.iopt.disableLarge();
        else if (a.val64 === 1n) ioas.iopt.enableLarge();
        else fail('EINVAL', 'val64');
        return { val64: a.val64 };
      }
      default:
        return fail('EOPNOTSUPP', 'option_id');
    }
  }

  /** IOMMU_VFIO_IOAS. */
  vfioIoasCmd(a: Args): Out {
    check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
    switch (Number(a.op)) {
      case IOMMU_VFIO_IOAS_GET:
        check(this.vfioIoas !== null, 'ENODEV', 'no compat IOAS');
        return { ioas_id: this.vfioIoas.id };
      case IOMMU_VFIO_IOAS_SET:
        this.vfioIoas = this.table.ioas(Number(a.ioas_id));
        return {};
      case IOMMU_VFIO_IOAS_CLEAR:
        this.vfioIoas = null;
        return {};
      default:
        return fail('EOPNOTSUPP', 'op');
    }
  }

  /**
   * IOMMU_IOAS_CHANGE_PROCESS (ioas.c iommufd_ioas_change_process): every area of every IOAS
   * of this context must be file-backed (EINVAL), then the charged pinned pages (npinned −
   * unchargedPinned: last_npinned) of each store whose charge must move (MM mode: another mm;
   * USER mode: another user or mm) are charged to the calling process first, mode by mode
   * (ENOMEM over its limit: the modes charged so far undone, every store's last_npinned reset
   * to npinned, nothing else changed), then each such store's npinned is uncharged from its old
   * owner, and every store pins from and charges the caller (change_mm). A store shared by
   * several areas (COPY) moves once. An MM-mode old owner whose mm is dead cannot be
   * uncharged (update_mm_locked_vm: mmget_not_zero fails): the call still moves every store but
   * returns EINVAL, and that store's pages stay uncharged on the caller's side (last_npinned 0).
   */
  changeProcess(a: Args): Out {
    check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
    const stores = new Set<IoptPages>();
    for (const o of this.table.all()) {
      if (o.kind !== 'IOAS') continue;
      for (const area of (o as IoasObject).iopt.areas) {
        check(area.pages.source.kind === 'file', 'EINVAL', 'an area is not file-backed');
        stores.add(area.pages);
      }
    }
    const caller = this.machine.current;
    const needsMove = (p: IoptPages): boolean =>
      p.accountMode === 'mm' ? p.accounting !== caller.accounting
      : p.accountMode === 'user' ? p.accounting.user !== caller.accounting.user || p.accounting !== caller.accounting
      : false;
    const moving = [...stores].filter(needsMove);
    // IOPT_PAGES_ACCOUNT_NONE, _USER, _MM: charge_current's order (NONE charges nothing).
    const modes = ['user', 'mm'] as const;
    const totals = modes.map((mode) => moving.filter((p) => p.accountMode === mode).reduce((n, p) => n + p.npinned - p.unchargedPinned, 0));
    let charged = 0;
    try {
      for (; charged < modes.length; charged++) caller.accounting.charge(modes[charged], totals[charged]);
    } catch (e) {
      while (charged-- > 0) caller.accounting.uncharge(modes[charged], totals[charged]);
      for (const p of stores) p.unchargedPinned = 0;
      throw e;
    }
    let deadOwner = false;
    for (const p of moving) {
      if (p.accountMode === 'mm' && !p.memory.live) {
        deadOwner = true;
        // The caller was charged for these pages, and the store will never uncharge them.
        caller.accounting.unbackedPages += p.npinned - p.unchargedPinned;
        p.unchargedPinned = p.npinned;
      } else {
        p.accounting.uncharge(p.accountMode, p.npinned);
        p.unchargedPinned = 0;
      }
    }
    for (const p of stores) {
      p.accounting = caller.accounting;
      p.memory = caller.memory;
    }
    check(!deadOwner, 'EINVAL', 'an MM-mode owner is dead: its charge could not be released (the stores moved anyway)');
    return {};
  }
}
