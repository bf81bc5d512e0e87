import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import type { Process } from '../machine/process.ts';
import { IommufdContext } from './context.ts';
import { AccessObject, ACCESS_NEEDS_PIN_PAGES } from './access.ts';
import { attachDevice, bindDevice } from './device.ts';
import { dma } from './dma.ts';
import { dumpState } from './state.ts';
import { big, errnoOf } from './test-helpers.ts';

const R = 1 << 2;
const W = 1 << 1;
const FIXED = 1 << 0;
const PAGE = 4096;
const IOVA = 0x1000000;
const devices = [0, 1, 2].map((i) => ({ name: `dev${i}`, bridge: 'pci0' }));
const topology = { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices, process: { drop: ['CAP_IPC_LOCK'] } };
let m: Machine;
let ctx: IommufdContext;
let ioas: number;

/** Runs `f` as process `p`, as the adapter does around a call with a pid. */
function as<T>(p: Process, f: () => T): T {
  m.current = p;
  try {
    return f();
  } finally {
    m.current = m.initial;
  }
}
const state = () => JSON.stringify(dumpState(m, new Map([[ctx.fd, ctx]])));
const attach = (name: string) => attachDevice(ctx, bindDevice(ctx, name), ioas, 0, false);
const mapUser = (va: number, pages: number, iova = IOVA) => ctx.ioasMap(big({ flags: R | W | FIXED, ioas_id: ioas, __reserved: 0, user_va: va, length: pages * PAGE, iova }));
const mapFile = (fd: number, pages: number) => ctx.ioasMapFile(big({ flags: R | W, ioas_id: ioas, fd, start: 0, length: pages * PAGE, iova: 0 }));
const changeProcess = (reserved = 0) => ctx.changeProcess(big({ __reserved: reserved }));
const counters = (p: Process) => ({ user: p.accounting.userLockedPages, mm: p.accounting.mmLockedPages, pinned: p.accounting.mmPinnedPages });

function accessOn(flags: number): AccessObject {
  const access = new AccessObject(flags, m.memory);
  const obj = ctx.table.ioas(ioas);
  obj.iopt.addAccess(access);
  access.ioas = obj;
  obj.users++;
  ctx.table.add(access);
  return access;
}

function setMmMode(): void {
  ctx.option(big({ option_id: 0, op: 0, __reserved: 0, object_id: 0, val64: 1 }));
}

beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
});

describe('pinning across processes (fork_present, fork_gone)', () => {
  it("a domain added by the parent pins the child's pages and charges the child's mm", () => {
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    const va = m.memory.mmap(4 * PAGE);
    m.memory.write(va, new Uint8Array([1]));
    const child = m.fork(m.initial);
    as(child, () => child.memory.write(va, new Uint8Array([2])));
    as(child, () => mapUser(va, 4));
    const dev = bindDevice(ctx, 'dev0');
    attachDevice(ctx, dev, ioas, 0, false);
    // The device sees the child's copy, not the parent's page at the same address.
    expect(dma(m.phys, dev, 0, BigInt(IOVA), 1, null).data).toEqual(new Uint8Array([2]));
    expect(counters(child)).toEqual({ user: 4, mm: 0, pinned: 4 });
    expect(counters(m.initial)).toEqual({ user: 4, mm: 0, pinned: 0 });
    ctx.close();
    expect(counters(child)).toEqual({ user: 0, mm: 0, pinned: 0 });
  });

  it('after the child exited: a domain that needs fresh pins fails with EFAULT and changes nothing', () => {
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    const va = m.memory.mmap(4 * PAGE);
    const child = m.fork(m.initial);
    as(child, () => mapUser(va, 4));
    child.exit();
    const dev = bindDevice(ctx, 'dev0');
    const before = state();
    expect(errnoOf(() => attachDevice(ctx, dev, ioas, 0, false))).toBe('EFAULT');
    expect(state()).toBe(before);
  });

  it('after the child exited: pages a domain holds fill a new domain without pinning', () => {
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    attach('dev0');
    const va = m.memory.mmap(4 * PAGE);
    const child = m.fork(m.initial);
    as(child, () => child.memory.write(va + PAGE, new Uint8Array([5])));
    as(child, () => mapUser(va, 4));
    child.exit();
    const dev1 = bindDevice(ctx, 'dev1');
    attachDevice(ctx, dev1, ioas, 0, false);
    // The child's anonymous page is orphaned but pinned: the new domain reaches its content.
    expect(dma(m.phys, dev1, 0, BigInt(IOVA + PAGE), 1, null).data).toEqual(new Uint8Array([5]));
    expect(counters(child).pinned).toBe(4);
    ctx.close();
    expect(counters(child)).toEqual({ user: 0, mm: 0, pinned: 0 });
    expect(m.memory.pinnedFrames).toBe(0);
  });
});

describe('whole 2 MiB blocks across fork and exit', () => {
  it("a child's THP blocks pinned whole outlive its exit and go back to physical memory at close", () => {
    const MIB2 = 2 * 1024 * 1024;
    const framesBefore = m.phys.framesInUse;
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    attach('dev0');
    const va = m.memory.mmap(2 * MIB2);
    m.memory.write(va + MIB2 + 5, new Uint8Array([7]));
    const child = m.fork(m.initial);
    as(child, () => mapUser(va, (2 * MIB2) / PAGE));
    expect(counters(child).pinned).toBe((2 * MIB2) / PAGE);
    child.exit();
    // Pinned whole blocks stay reachable after the mm is gone: the device reads the copy the child had.
    const dev1 = bindDevice(ctx, 'dev1');
    attachDevice(ctx, dev1, ioas, 0, false);
    expect(dma(m.phys, dev1, 0, BigInt(IOVA + MIB2 + 5), 1, null).data).toEqual(new Uint8Array([7]));
    expect(m.memory.refs(va + MIB2, 2 * PAGE)).toEqual([0, 0]);
    ctx.close();
    expect(m.memory.pinnedFrames).toBe(0);
    m.memory.munmap(va, 2 * MIB2);
    expect(m.phys.framesInUse).toBe(framesBefore);
  });
});

describe("an access on another process's mapping", () => {

  it("reads the live child's memory, not the caller's; once the child is gone, unpinned pages fault and nothing changes", () => {
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    const va = m.memory.mmap(4 * PAGE);
    const child = m.fork(m.initial);
    as(child, () => child.memory.write(va, new Uint8Array([3])));
    as(child, () => mapUser(va, 4));
    const reader = accessOn(0);
    expect(reader.rw(BigInt(IOVA), 1n, null, false)).toEqual(new Uint8Array([3]));
    const pinner = accessOn(ACCESS_NEEDS_PIN_PAGES);
    const item = pinner.pin(BigInt(IOVA), BigInt(PAGE), false);
    child.exit();
    // The pinned first page is still reachable; the others were never pinned and are gone.
    expect(reader.rw(BigInt(IOVA), 1n, null, false)).toEqual(new Uint8Array([3]));
    const before = state();
    expect(errnoOf(() => reader.rw(BigInt(IOVA + PAGE), 1n, null, false))).toBe('EFAULT');
    expect(errnoOf(() => pinner.pin(BigInt(IOVA + PAGE), BigInt(PAGE), false))).toBe('EFAULT');
    expect(state()).toBe(before);
    pinner.unpinItem(item);
    expect(counters(child)).toEqual({ user: 0, mm: 0, pinned: 0 });
  });
});

describe('IOMMU_IOAS_CHANGE_PROCESS (change_process.basic)', () => {
  beforeEach(() => {
    setMmMode();
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    attach('dev0');
    m.createFile(10, 2 * PAGE);
  });

  it('__reserved → EOPNOTSUPP; a user-address area → EINVAL; both change nothing', () => {
    mapFile(10, 2);
    const child = m.fork(m.initial);
    expect(as(child, () => errnoOf(() => changeProcess(1)))).toBe('EOPNOTSUPP');
    const va = m.memory.mmap(PAGE);
    mapUser(va, 1, IOVA + 0x100000);
    const before = state();
    expect(as(child, () => errnoOf(() => changeProcess()))).toBe('EINVAL');
    expect(state()).toBe(before);
    expect(counters(m.initial)).toEqual({ user: 0, mm: 3, pinned: 3 });
    expect(counters(child)).toEqual({ user: 0, mm: 0, pinned: 0 });
  });

  it('moves pinned and locked counts to the calling child; a COPY-shared store moves once', () => {
    const iova = mapFile(10, 2).iova as bigint;
    const dst = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    ctx.ioasCopy(big({ flags: R | W, src_ioas_id: ioas, dst_ioas_id: dst, src_iova: iova, dst_iova: 0, length: 2 * PAGE }));
    changeProcess();
    expect(counters(m.initial)).toEqual({ user: 0, mm: 2, pinned: 2 });
    const child = m.fork(m.initial);
    as(child, () => changeProcess());
    expect(counters(m.initial)).toEqual({ user: 0, mm: 0, pinned: 0 });
    expect(counters(child)).toEqual({ user: 0, mm: 2, pinned: 2 });
    // The store now belongs to the child: unmapping uncharges the child.
    ctx.close();
    expect(counters(child)).toEqual({ user: 0, mm: 0, pinned: 0 });
  });

  it("over the caller's RLIMIT_MEMLOCK → ENOMEM, nothing moved", () => {
    mapFile(10, 2);
    const child = m.fork(m.initial);
    child.accounting.memlockLimitPages = 1;
    const before = state();
    expect(as(child, () => errnoOf(() => changeProcess()))).toBe('ENOMEM');
    expect(state()).toBe(before);
    expect(counters(child)).toEqual({ user: 0, mm: 0, pinned: 0 });
    expect(counters(m.initial)).toEqual({ user: 0, mm: 2, pinned: 2 });
  });

  it('USER mode: the shared user count stays, the pinned count moves; a user already at its limit refuses', () => {
    m = new Machine(topology);
    ctx = new IommufdContext(3, m, new Map());
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    attach('dev0');
    m.createFile(10, 2 * PAGE);
    mapFile(10, 2);
    const child = m.fork(m.initial);
    as(child, () => changeProcess());
    expect(counters(child)).toEqual({ user: 2, mm: 0, pinned: 2 });
    expect(counters(m.initial)).toEqual({ user: 2, mm: 0, pinned: 0 });
    // The caller is charged before the old owner is uncharged (ioas.c charge_current), so a
    // user whose count plus the moved pages exceeds the limit cannot move them, even to itself.
    m.initial.accounting.memlockLimitPages = 3;
    const before = state();
    expect(errnoOf(() => changeProcess())).toBe('ENOMEM');
    expect(state()).toBe(before);
  });
});

describe('IOMMU_IOAS_CHANGE_PROCESS when the MM-mode owner has exited (ioas.c, pages.c update_mm_locked_vm)', () => {
  let mapper: Process;
  let child: Process;
  /** A forked mapper maps `pages` pages of file 10 (pinned by the domain when `domain`), then `beforeExit` runs, then the mapper exits. */
  function deadOwner(pages: number, domain = true, beforeExit = (): void => {}): void {
    setMmMode();
    ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    if (domain) attach('dev0');
    m.createFile(10, pages * PAGE);
    mapper = m.fork(m.initial);
    as(mapper, () => mapFile(10, pages));
    beforeExit();
    mapper.exit();
    child = m.fork(m.initial);
  }
  const store = () => ctx.table.ioas(ioas).iopt.areas[0].pages;

  it('EINVAL after charging the caller and moving the store; the dead mm keeps its charge; a second call is a no-op', () => {
    deadOwner(1);
    expect(counters(mapper)).toEqual({ user: 0, mm: 1, pinned: 1 });
    expect(as(child, () => errnoOf(() => changeProcess()))).toBe('EINVAL');
    expect(counters(child)).toEqual({ user: 0, mm: 1, pinned: 1 });
    expect(counters(mapper)).toEqual({ user: 0, mm: 1, pinned: 1 });
    expect(store().accounting).toBe(child.accounting);
    const after = state();
    expect(as(child, () => changeProcess())).toEqual({});
    expect(state()).toBe(after);
    // The mapper's mm is no longer held by any store: freed, it leaves the STATE sums.
    expect(dumpState(m, new Map([[ctx.fd, ctx]])).accounting).toMatchObject({ mm_locked_pages: 1, mm_pinned_pages: 1 });
  });

  it("unpinning the moved pages later does not uncharge the caller (last_npinned stayed 0)", () => {
    deadOwner(1);
    as(child, () => errnoOf(() => changeProcess()));
    ctx.close();
    expect(counters(child)).toEqual({ user: 0, mm: 1, pinned: 1 });
  });

  it('the next pin charges the uncharged pages again with the fresh one; unpins release them first for free', () => {
    let pinner!: AccessObject;
    let iova = 0n;
    let first = 0;
    deadOwner(2, false, () => {
      pinner = accessOn(ACCESS_NEEDS_PIN_PAGES);
      iova = BigInt(ctx.table.ioas(ioas).iopt.areas[0].start);
      first = pinner.pin(iova, BigInt(PAGE), false);
    });
    expect(counters(mapper)).toEqual({ user: 0, mm: 1, pinned: 1 });
    expect(as(child, () => errnoOf(() => changeProcess()))).toBe('EINVAL');
    expect(counters(child)).toEqual({ user: 0, mm: 1, pinned: 1 });
    const second = pinner.pin(iova + BigInt(PAGE), BigInt(PAGE), false);
    // npinned 2 − last_npinned 0: both pages are charged again.
    expect(counters(child)).toEqual({ user: 0, mm: 3, pinned: 3 });
    pinner.unpinItem(second);
    pinner.unpinItem(first);
    expect(counters(child)).toEqual({ user: 0, mm: 1, pinned: 1 });
  });

  it("a later ENOMEM resets every store's charged count to its pinned count", () => {
    deadOwner(1);
    as(child, () => errnoOf(() => changeProcess()));
    m.createFile(11, PAGE);
    mapFile(11, 1);
    const third = m.fork(m.initial);
    third.accounting.memlockLimitPages = 0;
    expect(as(third, () => errnoOf(() => changeProcess()))).toBe('ENOMEM');
    expect(store().accounting).toBe(child.accounting);
    // The store charged to the child now gives its page back when it is unpinned.
    ctx.ioasUnmap(big({ ioas_id: ioas, iova: ctx.table.ioas(ioas).iopt.areas[0].start, length: BigInt(PAGE) }));
    expect(counters(child)).toEqual({ user: 0, mm: 0, pinned: 0 });
  });
});
