/**
 * The reference implementation as an in-process adapter (schemas/lib/adapter.ts): `world`
 * builds a Machine from a topology, `open`/`close` manage /dev/iommu contexts (fds share one
 * process fd space with memfd-like files), `ioctl` goes through the dispatcher, and `test`
 * offers the hooks of the adapter protocol (memory, DMA, refs, accounting, accesses, STATE).
 *
 * Failure channels: an errno the kernel would return resolves as `{errno}`; anything the
 * reference cannot answer (bad hook arguments, an unmodelled ioctl, an internal bug) rejects
 * with an AdapterError. Pointer fields are addresses in simulated user memory.
 */

import type { Adapter, CloseParams, Empty, HelloParams, HelloResult, IoctlParams, IoctlResult, JsonObject, OpenResult, TestParams, TestResult, WireStruct, WorldParams } from '../schemas/lib/adapter.ts';
import { AdapterError, HOOK_DATA_MAX_BYTES, PROTOCOL_VERSION, RPC_INTERNAL, RPC_INVALID_PARAMS, RPC_METHOD_NOT_FOUND, RPC_UNSUPPORTED_PROTOCOL } from '../schemas/lib/adapter.ts';
import type { UapiCatalog } from '../schemas/lib/catalog-types.ts';
import { getCatalog } from '../schemas/lib/catalog.ts';
import { formatIssues, validateBySchemaId, validateIoctlArg } from '../schemas/lib/validate.ts';
import type { AccessObject } from './iommufd/access.ts';
import { IommufdContext } from './iommufd/context.ts';
import { attachDevice, detachDevice, IOMMU_NO_PASID, unbindDevice } from './iommufd/device.ts';
import { markDirtyFromBitmap } from './iommufd/dirty.ts';
import { dma, translate, type DmaAttrs } from './iommufd/dma.ts';
import { bytesToHex, dispatchIoctl, hexToBytes, toBig } from './iommufd/dispatch.ts';
import { check, fail, UapiError } from './iommufd/errors.ts';
import type { DeviceObject, HwptPagingObject } from './iommufd/objects.ts';
import { dumpState } from './iommufd/state.ts';
import { pageRequestStatus, raisePageRequest, triggerIopf, type FaultObject } from './iommufd/fault.ts';
import type { VeventqObject } from './iommufd/veventq.ts';
import type { MmapMapping } from './iommufd/mmap-region.ts';
import { checkInvariants } from './invariants.ts';
import { SelftestCmd } from './iommufd/selftest-cmd.ts';
import { addReserved, checkAccessLength, createAccess, mockDevCache, replaceAccessIoas, setTempMemoryLimit, triggerVevent } from './iommufd/test-ops.ts';
import { Machine } from './machine/machine.ts';
import { HUGE_PAGE_BYTES, PAGE_BYTES, type MemoryObject } from './machine/process-memory.ts';
import { unitModels } from './iommu/registry.ts';
import { formatNames } from './formats/registry.ts';

const DEFAULT_TOPOLOGY = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [{ name: 'mock0', bridge: 'pci0' }],
};

/** Test hooks that model kernel calls and so are swept by FAIL_NTH like ioctls. */
export const FAIL_NTH_HOOKS: ReadonlySet<string> = new Set(['CREATE_ACCESS', 'DESTROY_ACCESS', 'ACCESS_PIN', 'ACCESS_UNPIN', 'ACCESS_RW', 'ACCESS_REPLACE_IOAS', 'DEVICE_UNBIND', 'ADD_RESERVED', 'TEST_CMD']);

/** What the reference offers; model and format capabilities follow the registries. */
export function capabilities(): string[] {
  return [
    'ioas', 'hwpt', 'access', 'options', 'vfio-compat', 'vfio-device', 'dirty', 'pasid', 'map-file', 'change-process',
    'nesting:selftest', 'nesting:vtd-s1', 'viommu', 'vdevice', 'nesting:smmuv3-s1', 'fault', 'veventq', 'hw-queue',
    ...unitModels().map((m) => `model:${m}`),
    ...formatNames().map((f) => `format:${f}`),
    'test:mem', 'test:mmap-huge', 'test:mmap-private', 'test:dma', 'test:refs', 'test:accounting', 'test:reserved', 'test:pgtable', 'test:set-dirty', 'test:state', 'test:fail-nth',
    'test:process',
    'test:access-rw-slow-path', 'test:temp-memory-limit', 'test:iotlb', 'test:mem-mirror', 'test:mem-batch', 'test:selftest-cmd',
    'x-raw-ioctl',
  ];
}

/** The lowest free fd ≥ 3, as open(2) hands them out. */
function lowestFreeFd(used: Set<number>): number {
  let fd = 3;
  while (used.has(fd)) fd++;
  return fd;
}

const IOMMUFD_TYPE = 0x3b;
/** CHECK_REFS answers one number a page: it refuses ranges longer than this. */
const REFS_MAX_BYTES = 256 * 1024 * 1024;
const IOMMUFD_CMD_BASE = 0x80;
/** IOMMU_HW_QUEUE_ALLOC: the last uAPI command of the iommufd ioctl table. */
const IOMMUFD_CMD_LAST = 0x94;
/**
 * IOMMU_TEST_CMD (IOMMUFD_CMD_BASE + 32): the reference is a CONFIG_IOMMUFD_TEST kernel (it
 * offers test:selftest-cmd), whose table runs to this slot; 0x95..0x9f are empty slots in it.
 */
const IOMMU_TEST_CMD_NR = 0xa0;
/** VFIO_GET_API_VERSION, CHECK_EXTENSION, SET_IOMMU, IOMMU_GET_INFO, MAP_DMA, UNMAP_DMA (DIRTY_PAGES is ENOTTY). */
const VFIO_CONTAINER_REQUESTS = new Set([0x3b64, 0x3b65, 0x3b66, 0x3b70, 0x3b71, 0x3b72]);

type Hook = (ctx: IommufdContext | undefined, a: JsonObject) => JsonObject;

export interface ReferenceOptions {
  /**
   * Debug mode: after every call that can change state, check the machine's invariants
   * (invariants.ts) and answer an internal error naming the first ones that broke.
   */
  checkInvariants?: boolean;
}

export class ReferenceAdapter implements Adapter {
  private machine = new Machine(DEFAULT_TOPOLOGY);
  private contexts = new Map<number, IommufdContext>();
  /** Live mmaps of iommufd regions (each holds its region's owner). */
  private iommufdMaps: Array<MmapMapping & { ctx: IommufdContext }> = [];
  private bindings = new Map<string, DeviceObject>();
  private readonly catalog: UapiCatalog;
  private lastReached: boolean | undefined;

  constructor(catalog?: UapiCatalog, private readonly options: ReferenceOptions = {}) {
    this.catalog = catalog ?? getCatalog();
  }

  /** In debug mode, an internal error if the call `what` left the machine inconsistent. */
  private verify(what: string): void {
    if (this.options.checkInvariants !== true) return;
    const broken = checkInvariants(this.machine, this.contexts.values());
    if (broken.length > 0) throw new AdapterError(RPC_INTERNAL, `invariant broken after ${what}: ${broken.slice(0, 3).join('; ')}${broken.length > 3 ? ` (+${broken.length - 3} more)` : ''}`);
  }

  async hello(params: HelloParams): Promise<HelloResult> {
    if (params.protocol !== PROTOCOL_VERSION) throw new AdapterError(RPC_UNSUPPORTED_PROTOCOL, `protocol ${params.protocol} is not supported`);
    return { protocol: PROTOCOL_VERSION, implementation: { name: 'ioasid-reference', version: '0.1.0' }, capabilities: capabilities() };
  }

  async world(params: WorldParams): Promise<Empty> {
    let m: Machine;
    try {
      m = new Machine(params.topology);
    } catch (e) {
      throw new AdapterError(RPC_INVALID_PARAMS, (e as Error).message);
    }
    this.machine = m;
    this.contexts = new Map();
    this.iommufdMaps = [];
    this.bindings = new Map();
    return {};
  }

  private usedFds(): Set<number> {
    const used = new Set([...this.contexts.keys(), ...this.machine.files.keys()]);
    for (const c of this.contexts.values()) for (const fd of [...c.eventFds.keys(), ...c.accessFds.keys()]) used.add(fd);
    return used;
  }

  async open(_params: Empty = {}): Promise<OpenResult> {
    const fd = lowestFreeFd(this.usedFds());
    const ctx = new IommufdContext(fd, this.machine, this.bindings);
    ctx.allocFd = () => lowestFreeFd(this.usedFds());
    this.contexts.set(fd, ctx);
    return { fd };
  }

  /** The context and object behind a fault or vEVENTQ fd (EBADF when it is none: read(2) of a closed fd). */
  private eventFd(a: JsonObject): { ctx: IommufdContext; obj: FaultObject | VeventqObject } {
    const fd = this.num(a, 'fd_id');
    for (const ctx of this.contexts.values()) {
      const obj = ctx.eventFds.get(fd);
      if (obj !== undefined) return { ctx, obj };
    }
    return fail('EBADF', `fd ${fd} is not a fault or vEVENTQ fd`);
  }

  /**
   * The context of an access fd (IOMMU_TEST_OP_CREATE_ACCESS), or undefined. Its file has only a
   * release op: read(2) and write(2) of it are EINVAL (vfs_read / vfs_write without FMODE_CAN_*).
   */
  private accessFdContext(a: JsonObject): IommufdContext | undefined {
    const fd = this.num(a, 'fd_id');
    return [...this.contexts.values()].find((c) => c.accessFds.has(fd));
  }

  /** Drops the mappings of iommufd regions `which` selects (munmap, or the context's close). */
  private releaseIommufdMaps(which: (m: MmapMapping & { ctx: IommufdContext }) => boolean, unmap = false): void {
    for (let i = this.iommufdMaps.length - 1; i >= 0; i--) {
      const m = this.iommufdMaps[i];
      if (!which(m)) continue;
      if (unmap) this.machine.memory.munmap(m.addr, m.lengthBytes);
      m.region.owner.users--;
      this.iommufdMaps.splice(i, 1);
    }
  }

  async close(params: CloseParams): Promise<Empty> {
    const ctx = this.contexts.get(params.fd);
    if (ctx !== undefined) {
      // A mapping keeps the file open in Linux; the runner closes a context at the end of a
      // case, so its mappings go with it.
      this.releaseIommufdMaps((m) => m.ctx === ctx, true);
      ctx.close();
      this.contexts.delete(params.fd);
    } else if (this.machine.files.has(params.fd)) {
      this.machine.files.delete(params.fd);
    } else if ([...this.contexts.values()].some((c) => c.eventFds.has(params.fd))) {
      for (const c of this.contexts.values()) if (c.eventFds.has(params.fd)) c.closeEventFd(params.fd);
    } else if ([...this.contexts.values()].some((c) => c.accessFds.has(params.fd))) {
      for (const c of this.contexts.values()) if (c.accessFds.has(params.fd)) c.closeAccessFd(params.fd);
    } else {
      throw new AdapterError(RPC_INVALID_PARAMS, `close: fd ${params.fd} is not open`);
    }
    this.verify('close');
    return {};
  }

  private ctx(fd: number | undefined): IommufdContext {
    const ctx = fd === undefined ? undefined : this.contexts.get(fd);
    if (ctx === undefined) throw new AdapterError(RPC_INVALID_PARAMS, `fd ${String(fd)} is not an open /dev/iommu`);
    return ctx;
  }

  /**
   * Runs `call` as process `pid` (default: the initial one), the kernel's `current`; a pid that
   * is not a live process is the caller's protocol error.
   */
  private async as<T>(pid: number | undefined, call: () => Promise<T>): Promise<T> {
    if (pid === undefined) return call();
    const p = this.machine.liveProcess(pid);
    if (p === undefined) throw new AdapterError(RPC_INVALID_PARAMS, `pid ${pid} is not a live process`);
    this.machine.current = p;
    try {
      return await call();
    } finally {
      this.machine.current = this.machine.initial;
    }
  }

  async ioctl(params: IoctlParams): Promise<IoctlResult> {
    return this.as(params.pid, () => this.withMemory(params, () => this.ioctlAsCurrent(params)));
  }

  /**
   * test:mem-batch: the request's mem_write applied first as MEM_WRITE hooks would be, and with
   * mem_written the MEM_WRITTEN answer attached after the call — one exchange for what a
   * mirror (the fake /dev/iommu) would otherwise send as three.
   */
  private async withMemory<R extends object>(params: Pick<IoctlParams, 'mem_write' | 'mem_written'>, call: () => Promise<R>): Promise<R> {
    for (const w of params.mem_write ?? []) {
      try {
        this.hooks.MEM_WRITE(undefined, w as unknown as JsonObject);
      } catch (e) {
        if (!(e instanceof UapiError)) throw e;
        throw new AdapterError(RPC_INVALID_PARAMS, `mem_write at ${JSON.stringify(w.addr)}: ${e.errno}`);
      }
    }
    const r = await call();
    return params.mem_written === true ? { ...r, mem_written: this.memWritten() } : r;
  }

  private async ioctlAsCurrent(params: IoctlParams): Promise<IoctlResult> {
    if (!this.contexts.has(params.fd)) return { errno: 'EBADF' };
    // The same schemas the runner uses decide what is well-formed: a malformed argument is the
    // caller's protocol error, never an errno the kernel would give.
    if (getCatalog().ioctls.has(params.cmd) && params.argp === undefined) {
      const bad = validateIoctlArg(params.cmd, params.arg ?? {});
      if (bad) throw new AdapterError(RPC_INVALID_PARAMS, formatIssues(`${params.cmd} arg`, bad).join('; '));
    }
    // Protocol extension (cases report): `argp` passes the argument pointer itself. Reading the
    // struct's size faults first for a NULL or unmapped pointer (main.c get_user(size)).
    const argp = params.argp ?? (params.arg as JsonObject | undefined)?.__argp;
    if (argp !== undefined) {
      const p = toBig(argp, 'argp');
      if (p === 0n || this.machine.memory.read(Number(p), 4) === null) return { errno: 'EFAULT' };
      throw new AdapterError(RPC_INVALID_PARAMS, 'argp pointing at user memory is not supported; pass arg');
    }
    const fn = this.machine.failNth;
    fn.begin();
    let r: IoctlResult;
    try {
      r = dispatchIoctl(this.ctx(params.fd), this.catalog, params.cmd, params.arg ?? {});
    } finally {
      const reached = fn.end();
      if (reached !== undefined) this.lastReached = reached;
      else this.lastReached = undefined;
    }
    this.verify(params.cmd);
    return this.lastReached === undefined ? r : ({ ...r, fail_nth_reached: this.lastReached, fail_nth_passed: fn.passed } as unknown as IoctlResult);
  }

  async test(params: TestParams): Promise<TestResult> {
    // TEST_CMD may name its caller in its arg (the fake /dev/iommu forwards the ioctl's process).
    const argPid = params.op === 'TEST_CMD' ? (params.arg as JsonObject | undefined)?.pid : undefined;
    if (typeof argPid === 'number' && params.pid !== undefined && params.pid !== argPid) throw new AdapterError(RPC_INVALID_PARAMS, `TEST_CMD: arg.pid ${argPid} and pid ${params.pid} differ`);
    return this.as(params.pid ?? (typeof argPid === 'number' ? argPid : undefined), () => this.withMemory(params, () => this.testAsCurrent(params)));
  }

  private async testAsCurrent(params: TestParams): Promise<TestResult> {
    // Object.hasOwn: an op named like an Object.prototype member (constructor, toString) is unknown.
    const hook = Object.hasOwn(this.hooks, params.op) ? this.hooks[params.op] : undefined;
    if (hook === undefined) throw new AdapterError(RPC_METHOD_NOT_FOUND, `test hook ${params.op} is not offered`);
    const bad = validateBySchemaId(`protocol.schema.json#/$defs/hookArg_${params.op}`, params.arg ?? {});
    if (bad) throw new AdapterError(RPC_INVALID_PARAMS, formatIssues(`${params.op} arg`, bad).join('; '));
    const ctx = params.fd === undefined ? (this.contexts.size > 0 ? this.contexts.values().next().value : undefined) : this.contexts.get(params.fd);
    // Hooks that stand for kernel calls (the selftest's access and device ops) take part in a
    // FAIL_NTH sweep like an ioctl; the runner's own memory and state hooks never do.
    const swept = FAIL_NTH_HOOKS.has(params.op);
    const fn = this.machine.failNth;
    if (swept) fn.begin();
    let result: TestResult;
    try {
      result = { ret: 0, out: hook(ctx, params.arg ?? {}) };
    } catch (e) {
      if (!(e instanceof UapiError)) throw e;
      result = { errno: e.errno };
    } finally {
      if (swept) this.lastReached = fn.end();
    }
    if (params.op !== 'STATE') this.verify(params.op);
    return swept && this.lastReached !== undefined ? { ...result, fail_nth_reached: this.lastReached, fail_nth_passed: fn.passed } : result;
  }

  async shutdown(_params: Empty = {}): Promise<Empty> {
    this.releaseIommufdMaps(() => true, true);
    for (const [fd, ctx] of this.contexts) {
      ctx.close();
      this.contexts.delete(fd);
    }
    return {};
  }

  // ---- hooks ----

  private need(ctx: IommufdContext | undefined): IommufdContext {
    if (ctx === undefined) throw new AdapterError(RPC_INVALID_PARAMS, 'this hook needs an open /dev/iommu');
    return ctx;
  }

  /** A byte count a hook materialises in memory: bounded, or the adapter refuses the request. */
  private bytesLen(a: JsonObject, key: string, max = HOOK_DATA_MAX_BYTES): number {
    const n = this.num(a, key);
    if (n > max) throw new AdapterError(RPC_INVALID_PARAMS, `${key} ${n} exceeds the ${max}-byte limit of this hook`);
    return n;
  }

  /** Hex data a hook writes: bounded like what a hook reads. */
  private data(a: JsonObject, key: string): Uint8Array {
    const bytes = hexToBytes(a[key], key);
    if (bytes.length > HOOK_DATA_MAX_BYTES) throw new AdapterError(RPC_INVALID_PARAMS, `${key} exceeds the ${HOOK_DATA_MAX_BYTES}-byte limit of this hook`);
    return bytes;
  }

  private num(a: JsonObject, key: string): number {
    const v = toBig(a[key], key);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new AdapterError(RPC_INVALID_PARAMS, `${key} is too large for this hook`);
    return Number(v);
  }

  /** A DMA hook's request attributes: `privileged` is a PASID-prefix bit, so it needs a pasid. */
  private dmaAttrs(a: JsonObject): DmaAttrs {
    if (a.privileged !== true) return {};
    if (a.pasid === undefined || this.num(a, 'pasid') === 0) throw new AdapterError(RPC_INVALID_PARAMS, 'privileged: a request without PASID cannot be privileged (the privilege bit travels in the PASID prefix)');
    return { privileged: true };
  }

  /** The selftest's PASID ops take IOMMU_NO_PASID as the caller's error (the RID has its own ops). */
  private pasidArg(a: JsonObject): number {
    const pasid = this.num(a, 'pasid');
    if (pasid === 0) throw new AdapterError(RPC_INVALID_PARAMS, 'pasid 0 is the RID: use the device commands');
    return pasid;
  }

  /**
   * A DMA that faulted (not-present, permission) raises a page request when the unit says so
   * (a PRI device with `iopf`, a stalled SMMU master) and a FAULT takes it; the answer is then
   * {fault: "pending", grpid}. Null: report the DMA as is.
   */
  private pageRequest(ctx: IommufdContext, a: JsonObject, r: { fault: string | null; faultIova?: bigint; stalled?: boolean; stage?: 1 | 2 }, write: boolean): JsonObject | null {
    if ((r.fault !== 'not-present' && r.fault !== 'permission') || r.faultIova === undefined) return null;
    const dev = this.device(ctx, a);
    const pasid = this.num(a, 'pasid');
    const attrs = this.dmaAttrs(a);
    const faultIova = r.faultIova;
    const grpid = a.grpid === undefined ? 0 : this.num(a, 'grpid');
    const req = { iova: faultIova, pasid, hasPasid: pasid !== IOMMU_NO_PASID, write, privileged: attrs.privileged === true };
    const nested = (pasid === IOMMU_NO_PASID ? dev.hwpt : (dev.pasids.get(pasid) ?? dev.hwpt))?.kind === 'HWPT_NESTED';
    let queued: boolean;
    try {
      queued = raisePageRequest(dev, req, { iopf: a.iopf === true, grpid, nested, last: a.last !== false, stalled: r.stalled === true, ...(r.stage !== undefined ? { faultStage: r.stage } : {}) });
    } catch (e) {
      if (e instanceof RangeError) throw new AdapterError(RPC_INVALID_PARAMS, e.message);
      throw e;
    }
    return queued ? { fault: 'pending', grpid } : null;
  }

  private access(ctx: IommufdContext, a: JsonObject): AccessObject {
    const obj = ctx.table.get(this.num(a, 'access_id'), 'ACCESS');
    return obj as AccessObject;
  }

  private device(ctx: IommufdContext, a: JsonObject): DeviceObject {
    return ctx.table.device(this.num(a, 'dev_id'));
  }

  /**
   * test:mem-mirror: the pages of the calling process's memory the implementation wrote (copy
   * to user, access writes, DMA) since the last call, with their content, so that a mirror of a
   * real process (the fake /dev/iommu) can copy them back. The first call after `world` starts
   * the log and answers no page. At most HOOK_DATA_MAX_BYTES of pages an answer; `more` says
   * that the rest waits for the next call.
   */
  private memWritten(): JsonObject {
    const phys = this.machine.phys;
    const log = phys.writeLog;
    if (log === null) {
      phys.writeLog = new Set();
      return { pages: [] };
    }
    const pages: JsonObject[] = [];
    if (log.size === 0) return { pages };
    const memory = this.machine.memory;
    const maxPages = HOOK_DATA_MAX_BYTES / PAGE_BYTES;
    const sent: number[] = [];
    let more = false;
    for (const vpn of memory.pagesBackedBy(log)) {
      if (pages.length === maxPages) {
        more = true;
        break;
      }
      const addr = vpn * PAGE_BYTES;
      pages.push({ addr, data: bytesToHex(memory.read(addr, PAGE_BYTES)!) });
      sent.push(memory.frameForVpn(vpn, false));
    }
    if (more) for (const pfn of sent) log.delete(pfn);
    else log.clear();
    return more ? { pages, more } : { pages };
  }

  private readonly hooks: Record<string, Hook> = {
    MMAP: (_c, a) => {
      const length = this.num(a, 'length');
      const options = { huge: a.huge === true, private: a.private === true, ...(a.addr !== undefined ? { addr: this.num(a, 'addr') } : {}) };
      const memory = this.machine.memory;
      let file: MemoryObject | undefined;
      if (a.fd !== undefined) {
        file = this.machine.files.get(this.num(a, 'fd'));
        check(file !== undefined, 'EBADF', 'fd');
      }
      const offset = file === undefined || a.offset === undefined ? 0 : this.num(a, 'offset');
      const bad = memory.mmapError(length, file, offset, options);
      if (bad !== null) fail(bad);
      if (options.private && file!.huge) throw new AdapterError(RPC_INVALID_PARAMS, 'MAP_PRIVATE of a hugetlb file is not modelled');
      return { addr: memory.mmap(length, file, offset, options) };
    },
    // mmap(2) of the iommufd itself: a region a vIOMMU driver published (mmap-region.ts).
    IOMMUFD_MMAP: (c, a) => {
      const ctx = this.need(c);
      const m = ctx.mmapSpace.map(this.machine.memory, toBig(a.offset, 'offset'), this.bytesLen(a, 'length'), a.private === true);
      this.iommufdMaps.push({ ctx, ...m });
      return { addr: m.addr };
    },
    MUNMAP: (_c, a) => {
      const addr = this.num(a, 'addr');
      const length = this.num(a, 'length');
      const e = this.machine.memory.munmap(addr, length);
      if (e !== null) fail(e);
      // The VMA of an iommufd region is gone once all of it is unmapped: its owner is let go.
      this.releaseIommufdMaps((m) => addr <= m.addr && m.addr + m.lengthBytes <= addr + length);
      return {};
    },
    MEMFD_CREATE: (_c, a) => {
      const length = this.num(a, 'length');
      // MFD_HUGETLB: hugetlbfs_setattr takes only sizes that are whole huge pages.
      check(a.huge !== true || length % HUGE_PAGE_BYTES === 0, 'EINVAL', 'hugetlb size');
      const fd = lowestFreeFd(this.usedFds());
      this.machine.createFile(fd, length, a.huge === true);
      return { fd };
    },
    FTRUNCATE: (_c, a) => {
      const file = this.machine.files.get(this.num(a, 'fd'));
      check(file !== undefined, 'EBADF', 'fd');
      const length = this.num(a, 'length');
      check(!file.huge || length % HUGE_PAGE_BYTES === 0, 'EINVAL', 'hugetlb size');
      this.machine.truncateFile(file, length);
      return {};
    },
    MEM_WRITE: (_c, a) => {
      // The CPU's own writes are not the implementation's: a mirror already has them.
      const phys = this.machine.phys;
      const log = phys.writeLog;
      phys.writeLog = null;
      try {
        check(this.machine.memory.write(this.num(a, 'addr'), this.data(a, 'data')), 'EFAULT', 'addr');
      } finally {
        phys.writeLog = log;
      }
      return {};
    },
    MEM_WRITTEN: () => this.memWritten(),
    MEM_READ: (_c, a) => {
      const got = this.machine.memory.read(this.num(a, 'addr'), this.bytesLen(a, 'length'));
      check(got !== null, 'EFAULT', 'addr');
      return { data: bytesToHex(got) };
    },
    DMA_WRITE: (c, a) => {
      const ctx = this.need(c);
      const data = this.data(a, 'data');
      const r = dma(this.machine.phys, this.device(ctx, a), this.num(a, 'pasid'), toBig(a.iova, 'iova'), data.length, data, this.dmaAttrs(a));
      const pending = this.pageRequest(ctx, a, r, true);
      if (pending !== null) return pending;
      const out: JsonObject = r.stage === undefined ? { fault: r.fault } : { fault: r.fault, stage: r.stage };
      if (r.stale) out.stale = true;
      return out;
    },
    DMA_READ: (c, a) => {
      const ctx = this.need(c);
      const r = dma(this.machine.phys, this.device(ctx, a), this.num(a, 'pasid'), toBig(a.iova, 'iova'), this.bytesLen(a, 'length'), null, this.dmaAttrs(a));
      const pending = this.pageRequest(ctx, a, r, false);
      if (pending !== null) return pending;
      const out: JsonObject = r.fault === null ? { fault: null, data: bytesToHex(r.data!) } : r.stage === undefined ? { fault: r.fault } : { fault: r.fault, stage: r.stage };
      if (r.stale) out.stale = true;
      return out;
    },
    TRANSLATE: (c, a) => {
      const ctx = this.need(c);
      const r = translate(this.machine.phys, this.device(ctx, a), this.num(a, 'pasid'), toBig(a.iova, 'iova'), a.write === true, this.dmaAttrs(a));
      const out: JsonObject = r.fault === null ? { fault: null, phys: r.t.physBytes, page_size: r.t.pageSizeBytes, readable: r.t.read, writeable: r.t.write }
        : r.stage === undefined ? { fault: r.fault } : { fault: r.fault, stage: r.stage };
      if (r.stale) out.stale = true;
      return out;
    },
    CHECK_REFS: (_c, a) => ({ refs: this.machine.memory.refs(this.num(a, 'addr'), this.bytesLen(a, 'length', REFS_MAX_BYTES)) }),
    ACCOUNTING: () => {
      const acc = this.machine.accounting;
      return { user_pages: acc.userLockedPages, mm_pages: acc.mmLockedPages, pinned_pages: acc.mmPinnedPages };
    },
    SET_MEMLOCK_LIMIT: (_c, a) => {
      this.machine.accounting.memlockLimitPages = this.num(a, 'pages');
      return {};
    },
    SET_TEMP_MEMORY_LIMIT: (c, a) => {
      this.need(c);
      setTempMemoryLimit(this.num(a, 'limit'));
      return {};
    },
    ADD_RESERVED: (c, a) => {
      addReserved(this.need(c), this.num(a, 'ioas_id'), toBig(a.start, 'start'), toBig(a.length, 'length'));
      return {};
    },
    CREATE_ACCESS: (c, a) => ({ access_id: createAccess(this.need(c), this.num(a, 'ioas_id'), this.num(a, 'flags')).id }),
    FAIL_NTH: (_c, a) => {
      this.machine.failNth.arm(this.num(a, 'n'));
      return {};
    },
    DESTROY_ACCESS: (c, a) => {
      const ctx = this.need(c);
      ctx.destroyAccess(this.access(ctx, a));
      return {};
    },
    ACCESS_PIN: (c, a) => {
      const ctx = this.need(c);
      // selftest.c iommufd_test_access_pages: the 16 MiB cap first, then the access, then its pin ops.
      const length = toBig(a.length, 'length');
      checkAccessLength(length);
      const access = this.access(ctx, a);
      check(access.needsPinPages, 'EOPNOTSUPP', 'access was created without page pinning');
      return { pages_id: access.pin(toBig(a.iova, 'iova'), length, a.write === true) };
    },
    ACCESS_UNPIN: (c, a) => {
      const ctx = this.need(c);
      this.access(ctx, a).unpinItem(this.num(a, 'pages_id'));
      return {};
    },
    ACCESS_RW: (c, a): JsonObject => {
      const ctx = this.need(c);
      // selftest.c iommufd_test_access_rw caps its bounce buffer at 16 MiB (ENOMEM) before it
      // looks the access up.
      checkAccessLength(a.data !== undefined ? BigInt(hexToBytes(a.data, 'data').length) : toBig(a.length, 'length'));
      const access = this.access(ctx, a);
      // The selftest's bounce buffer (kvzalloc of length), after the access lookup.
      this.machine.failNth.point('access_rw bounce buffer');
      if (a.write === true || a.data !== undefined) {
        const data = hexToBytes(a.data, 'data');
        access.rw(toBig(a.iova, 'iova'), BigInt(data.length), data, true, a.slow_path === true, this.machine.memory);
        return {};
      }
      return { data: bytesToHex(access.rw(toBig(a.iova, 'iova'), toBig(a.length, 'length'), null, false, a.slow_path === true, this.machine.memory)) };
    },
    ACCESS_REPLACE_IOAS: (c, a) => {
      const ctx = this.need(c);
      replaceAccessIoas(ctx, this.access(ctx, a), this.num(a, 'ioas_id'));
      return {};
    },
    DEVICE_UNBIND: (c, a) => {
      const ctx = this.need(c);
      unbindDevice(ctx, this.device(ctx, a));
      return {};
    },
    // x-raw-ioctl (proposed by the cases report): a request number and the argument as bytes
    // (or a pointer), for the dispatch rules a named ioctl cannot express.
    RAW_IOCTL: (c, a) => {
      const ctx = this.need(c);
      const request = this.num(a, 'request');
      const nr = request & 0xff;
      // main.c: numbers outside the iommufd table go to the VFIO compat handler, which knows
      // only its own full request numbers.
      if (nr < IOMMUFD_CMD_BASE || nr > IOMMU_TEST_CMD_NR) {
        if (!VFIO_CONTAINER_REQUESTS.has(request)) fail('ENOTTY', 'not an iommufd or VFIO container request');
        throw new AdapterError(RPC_INVALID_PARAMS, 'RAW_IOCTL of a VFIO container request: use its name');
      }
      let bytes: Uint8Array;
      if (a.bytes !== undefined) bytes = hexToBytes(a.bytes, 'bytes');
      else {
        const p = toBig(a.argp, 'argp');
        const size = p === 0n ? null : this.machine.memory.read(Number(p), 4);
        if (size === null) fail('EFAULT', 'reading size');
        bytes = size;
      }
      if (bytes.length < 4) fail('EFAULT', 'reading size');
      if (request !== (IOMMUFD_TYPE << 8 | nr)) fail('ENOTTY', 'request bits do not match the table');
      // An empty slot of the test kernel's table has no request number to match (ENOIOCTLCMD).
      if (nr > IOMMUFD_CMD_LAST && nr < IOMMU_TEST_CMD_NR) fail('ENOTTY', 'no command in this slot of the table');
      if (nr === IOMMU_TEST_CMD_NR) throw new AdapterError(RPC_INVALID_PARAMS, 'RAW_IOCTL of IOMMU_TEST_CMD: use the TEST_CMD hook (op numbers differ between kernel versions)');
      const catalog = this.catalog;
      const info = [...catalog.ioctls.values()].find((i) => i.request === request);
      const struct = info?.struct !== undefined ? catalog.structs.get(info.struct) : undefined;
      if (info === undefined || struct === undefined) throw new AdapterError(RPC_INVALID_PARAMS, 'RAW_IOCTL of a valid request needs the uAPI catalog');
      if (a.bytes === undefined) throw new AdapterError(RPC_INVALID_PARAMS, 'RAW_IOCTL of a valid request: pass bytes');
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const arg: WireStruct = {};
      for (const f of struct.fields) {
        if (f.offsetBytes + f.sizeBytes > bytes.length || f.count !== undefined) continue;
        const v = f.sizeBytes === 8 ? dv.getBigUint64(f.offsetBytes, true) : BigInt(f.sizeBytes === 4 ? dv.getUint32(f.offsetBytes, true) : f.sizeBytes === 2 ? dv.getUint16(f.offsetBytes, true) : dv.getUint8(f.offsetBytes));
        arg[f.name] = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`;
      }
      arg.size = dv.getUint32(0, true);
      if (bytes.length > struct.sizeBytes) arg.__trailing = bytesToHex(bytes.subarray(struct.sizeBytes));
      const r = dispatchIoctl(ctx, catalog, info.name, arg);
      if ('errno' in r) throw new UapiError(r.errno);
      return r.arg;
    },
    PGTABLE_DUMP: (c, a) => {
      const ctx = this.need(c);
      const hwpt = ctx.table.get(this.num(a, 'hwpt_id'), 'HWPT_PAGING') as HwptPagingObject;
      const dump = hwpt.domain.table.dump?.();
      if (dump === undefined) throw new AdapterError(RPC_INVALID_PARAMS, 'this table cannot be dumped');
      return dump as unknown as JsonObject;
    },
    // test:process — fork(2) by the calling process; exit(2) of a child (its parent's waitpid).
    PROCESS_FORK: () => ({ pid: this.machine.fork(this.machine.current).pid }),
    PROCESS_EXIT: (_c, a) => {
      const pid = this.num(a, 'pid');
      const p = this.machine.liveProcess(pid);
      if (p === undefined) throw new AdapterError(RPC_INVALID_PARAMS, `pid ${pid} is not a live process`);
      if (p === this.machine.initial || p === this.machine.current) throw new AdapterError(RPC_INVALID_PARAMS, 'the initial process and the caller cannot exit');
      p.exit();
      return {};
    },
    SET_DIRTY: (c, a) => {
      const ctx = this.need(c);
      const nr = markDirtyFromBitmap(ctx, this.num(a, 'hwpt_id'), toBig(a.iova, 'iova'), toBig(a.length, 'length'), toBig(a.page_size, 'page_size'), toBig(a.uptr, 'uptr'));
      return { nr_dirty: nr };
    },
    // fault / veventq: read(2) and write(2) of the fds IOMMU_FAULT_QUEUE_ALLOC and
    // IOMMU_VEVENTQ_ALLOC return (offset 0, as every read of these nonseekable fds).
    FD_READ: (_c, a) => {
      if (this.accessFdContext(a) !== undefined) fail('EINVAL', 'an access fd has no read op');
      const { obj } = this.eventFd(a);
      const count = this.bytesLen(a, 'length');
      return { data: bytesToHex(obj.read(count)) };
    },
    FD_WRITE: (_c, a) => {
      if (this.accessFdContext(a) !== undefined) fail('EINVAL', 'an access fd has no write op');
      const { obj } = this.eventFd(a);
      // The vEVENTQ fd has no write op (vfs_write: EINVAL).
      check(obj.kind === 'FAULT', 'EINVAL', 'a vEVENTQ fd is not writable');
      return { written: (obj as FaultObject).write(this.data(a, 'data')) };
    },
    // pasid: the selftest's PASID ops on the iommufd device itself (VFIO's ATTACH of an
    // attached PASID is a replace, so EBUSY on attach is only reachable this way).
    PASID_ATTACH: (c, a) => {
      const ctx = this.need(c);
      return { pt_id: attachDevice(ctx, this.device(ctx, a), this.num(a, 'pt_id'), this.pasidArg(a), false) };
    },
    PASID_REPLACE: (c, a) => {
      const ctx = this.need(c);
      return { pt_id: attachDevice(ctx, this.device(ctx, a), this.num(a, 'pt_id'), this.pasidArg(a), true) };
    },
    PASID_DETACH: (c, a) => {
      const ctx = this.need(c);
      detachDevice(ctx, this.device(ctx, a), this.pasidArg(a));
      return {};
    },
    PASID_CHECK_HWPT: (c, a) => {
      const ctx = this.need(c);
      return { hwpt_id: this.device(ctx, a).pasids.get(this.pasidArg(a))?.id ?? 0 };
    },
    IOPF_STATUS: (c, a) => {
      const ctx = this.need(c);
      return { response: pageRequestStatus(this.device(ctx, a), this.num(a, 'grpid')) };
    },
    FD_CLOSE: (_c, a) => {
      const accessCtx = this.accessFdContext(a);
      if (accessCtx !== undefined) {
        accessCtx.closeAccessFd(this.num(a, 'fd_id'));
        return {};
      }
      const { ctx } = this.eventFd(a);
      ctx.closeEventFd(this.num(a, 'fd_id'));
      return {};
    },
    TRIGGER_IOPF: (c, a) => {
      const ctx = this.need(c);
      const dev = this.device(ctx, a);
      triggerIopf(dev, { pasid: this.num(a, 'pasid'), grpid: this.num(a, 'grpid'), perm: this.num(a, 'perm'), addrBytes: toBig(a.addr, 'addr') });
      return {};
    },
    TRIGGER_VEVENT: (c, a) => {
      const ctx = this.need(c);
      triggerVevent(this.device(ctx, a));
      return {};
    },
    MOCK_DEV_CACHE: (c, a) => {
      const ctx = this.need(c);
      return { cache: mockDevCache(this.device(ctx, a)) };
    },
    // test:selftest-cmd — the test kernel's IOMMU_TEST_CMD, the struct as bytes (selftest-cmd.ts).
    TEST_CMD: (c, a) => {
      const ctx = this.need(c);
      const op = String(a.op);
      const data = hexToBytes(a.data, 'data');
      if (data.length > HOOK_DATA_MAX_BYTES) throw new AdapterError(RPC_INVALID_PARAMS, `data exceeds the ${HOOK_DATA_MAX_BYTES}-byte limit of this hook`);
      const accessFdOwner = (afd: number) => [...this.contexts.values()].find((x) => x.accessFds.has(afd));
      return { data: bytesToHex(new SelftestCmd(ctx, () => lowestFreeFd(this.usedFds()), accessFdOwner).run(op, data)) };
    },
    STATE: () => dumpState(this.machine, this.contexts) as unknown as JsonObject,
    IOTLB_STATS: (c, a) => {
      check((a.dev_id === undefined) !== (a.iommu === undefined), 'EINVAL', 'IOTLB_STATS takes exactly one of dev_id and iommu');
      let tlb;
      if (a.dev_id !== undefined) tlb = this.device(this.need(c), a).dev.bridge.iotlb;
      else {
        tlb = this.machine.topology.bridges.get(String(a.iommu))?.iotlb;
        check(tlb !== undefined, 'ENODEV', `no bridge '${String(a.iommu)}' in the topology`);
      }
      return { ...tlb.stats };
    },
  };
}

export function createReferenceAdapter(catalog?: UapiCatalog, options: ReferenceOptions = {}): ReferenceAdapter {
  return new ReferenceAdapter(catalog, options);
}

export default createReferenceAdapter();
