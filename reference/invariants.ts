/**
 * The reference's invariant checker (`--check-invariants`, and the in-process adapter of the
 * golden-case test): after a call, the whole machine must agree with itself.
 * - Areas: each IOAS's areas are sorted and disjoint; with a domain every area is filled; every
 *   domain of the IOAS maps exactly the areas' bytes (mappedBytes), and sampled IOVAs of each
 *   area translate to the frame its pages store holds for that byte.
 * - Holders: each store's holder count of a page is the number of filled areas plus access pin
 *   pieces that cover it; `npinned` is the number of held pages.
 * - Pins: each frame's pin count is the number of stores holding it; `pinnedFrames` is the
 *   number of distinct such frames.
 * - Accounting: each process's pinned (VmPin) and locked (VmLck) pages and each user's locked
 *   pages are what the stores charged to them (npinned − unchargedPinned by account mode), plus
 *   the pages an IOAS_CHANGE_PROCESS that failed to uncharge a dead MM-mode owner charged with
 *   no store to uncharge them (Accounting.unbackedPages, ACCT-PROC-5: Linux's own drift); an
 *   exited mm no store holds is freed with its counters (as STATE drops it) and not checked.
 * - Frames: every allocated frame belongs to a memory object, a live domain's page table, or is
 *   an orphan kept by a pin — no page table outlives its domain.
 * - IOTLB: no unit caches, for a kernel-managed domain, a leaf its table does not give now
 *   (IOTLB-KERN-1: the kernel invalidates before an unmap returns).
 * - Test kernel objects (IOMMU_TEST_CMD): every mock device MOCK_DOMAIN made is in the machine
 *   exactly while its selftest object lives, bound as that object's device; every access fd
 *   names an access object of its context's table.
 *
 * It reads only; what it reports is a list of sentences, empty when all holds. The cost is
 * proportional to the pinned pages and the areas (a few sampled translations each), so it is a
 * debug mode, not something a benchmark runs.
 */

import type { AccessObject } from './iommufd/access.ts';
import type { Accounting, UserAccount } from './iommufd/accounting.ts';
import type { IommufdContext } from './iommufd/context.ts';
import { areaFirstByte, areaLength, type Area } from './iommufd/io-pagetable.ts';
import type { HwptPagingObject, IoasObject, SelftestObject } from './iommufd/objects.ts';
import type { HwQueueObject } from './iommufd/hw-queue.ts';
import type { IoptPages } from './iommufd/pages.ts';
import { staleKernelEntries } from './iotlb/unit-iotlb.ts';
import type { Machine } from './machine/machine.ts';
import { PAGE_BYTES, type MemoryObject } from './machine/process-memory.ts';

/** Translations checked per area per domain: the first and last page and evenly spaced ones between. */
const SAMPLES_PER_AREA = 16;

interface HolderRange {
  first: number;
  count: number;
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

function areaPages(a: Area): HolderRange {
  const firstByte = areaFirstByte(a);
  const lastByte = firstByte + a.lengthBytes - 1;
  return { first: a.firstPageIndex, count: Math.floor(lastByte / PAGE_BYTES) - a.firstPageIndex + 1 };
}

function checkAreas(ioas: IoasObject, out: string[]): void {
  const { iopt } = ioas;
  const areas = iopt.areas;
  for (let i = 1; i < areas.length; i++) {
    if (areas[i].start <= areas[i - 1].last) out.push(`IOAS ${ioas.id}: area ${hex(areas[i].start)} overlaps or precedes the area ending at ${hex(areas[i - 1].last)}`);
  }
  if (iopt.domains.length === 0) return;
  let total = 0n;
  for (const a of areas) {
    total += areaLength(a);
    if (!a.filled) out.push(`IOAS ${ioas.id}: area ${hex(a.start)} is not filled although the IOAS has ${iopt.domains.length} domain(s)`);
  }
  for (const [d, domain] of iopt.domains.entries()) {
    for (const why of staleKernelEntries(domain)) out.push(`IOAS ${ioas.id} domain ${d}: ${why}`);
    const mapped = domain.table.mappedBytes();
    if (BigInt(mapped) !== total) out.push(`IOAS ${ioas.id} domain ${d}: maps ${mapped} bytes, its areas cover ${total}`);
    for (const a of areas) {
      if (!a.filled || a.lengthBytes > Number.MAX_SAFE_INTEGER) continue;
      const pages = areaPages(a);
      const step = Math.max(1, Math.floor(pages.count / SAMPLES_PER_AREA));
      for (let k = 0; k < pages.count; k += step) checkTranslation(ioas, d, a, k, out);
      checkTranslation(ioas, d, a, pages.count - 1, out);
    }
  }
}

/** The domain translates the first byte of the area that lies in its `k`-th page to the store's frame. */
function checkTranslation(ioas: IoasObject, d: number, a: Area, k: number, out: string[]): void {
  const firstByte = areaFirstByte(a);
  const byte = k === 0 ? firstByte : (a.firstPageIndex + k) * PAGE_BYTES;
  const iova = a.start + BigInt(byte - firstByte);
  const pfn = a.pages.frameAt(a.firstPageIndex + k);
  const t = ioas.iopt.domains[d].table.translate(iova);
  if (pfn < 0) out.push(`IOAS ${ioas.id}: filled area ${hex(a.start)} has no frame for page ${a.firstPageIndex + k}`);
  else if (t === null) out.push(`IOAS ${ioas.id} domain ${d}: IOVA ${hex(iova)} of area ${hex(a.start)} is not mapped`);
  else if (t.physBytes !== pfn * PAGE_BYTES + (byte % PAGE_BYTES)) out.push(`IOAS ${ioas.id} domain ${d}: IOVA ${hex(iova)} translates to ${hex(t.physBytes)}, its pages hold frame ${hex(pfn)}`);
}

/** Expected holder counts per store vs what the store keeps; frame pins as the stores see them. */
function checkHolders(stores: Map<IoptPages, HolderRange[]>, framePins: Map<number, number>, out: string[]): void {
  for (const [store, ranges] of stores) {
    const bounds = new Map<number, number>();
    for (const r of ranges) {
      bounds.set(r.first, (bounds.get(r.first) ?? 0) + 1);
      bounds.set(r.first + r.count, (bounds.get(r.first + r.count) ?? 0) - 1);
    }
    const points = [...bounds.keys()].sort((x, y) => x - y);
    let held = 0;
    let level = 0;
    for (let i = 0; i < points.length; i++) {
      level += bounds.get(points[i])!;
      const end = i + 1 < points.length ? points[i + 1] : points[i];
      for (let p = points[i]; p < end; p++) {
        const have = store.holderCount(p);
        if (have !== level) {
          out.push(`pages ${store.serial}: page ${p} has ${have} holder(s), its areas and access pins make ${level}`);
          return;
        }
        if (level > 0) {
          held++;
          const pfn = store.frameAt(p);
          framePins.set(pfn, (framePins.get(pfn) ?? 0) + 1);
        }
      }
    }
    if (held !== store.npinned) out.push(`pages ${store.serial}: npinned ${store.npinned}, but ${held} page(s) are held`);
  }
}

function checkAccounting(machine: Machine, stores: Iterable<IoptPages>, out: string[]): void {
  const pinned = new Map<Accounting, number>();
  const mmLocked = new Map<Accounting, number>();
  const userLocked = new Map<UserAccount, number>();
  const held = new Set<Accounting>();
  const add = <K>(m: Map<K, number>, k: K, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  for (const s of stores) {
    held.add(s.accounting);
    const charged = s.npinned - s.unchargedPinned;
    add(pinned, s.accounting, charged);
    if (s.accountMode === 'mm') add(mmLocked, s.accounting, charged);
    if (s.accountMode === 'user') add(userLocked, s.accounting.user, charged);
  }
  const users = new Set<UserAccount>();
  for (const p of machine.processes.values()) {
    const a = p.accounting;
    users.add(a.user);
    if (p.exited && !held.has(a)) continue;
    const wantPinned = (pinned.get(a) ?? 0) + a.unbackedPages;
    const wantLocked = (mmLocked.get(a) ?? 0) + a.unbackedPages;
    if (a.mmPinnedPages !== wantPinned) out.push(`pid ${p.pid}: pinned_vm ${a.mmPinnedPages}, its stores charged ${wantPinned - a.unbackedPages} (+${a.unbackedPages} unbacked)`);
    if (a.mmLockedPages !== wantLocked) out.push(`pid ${p.pid}: locked_vm ${a.mmLockedPages}, its MM-mode stores charged ${wantLocked - a.unbackedPages} (+${a.unbackedPages} unbacked)`);
  }
  for (const u of users) {
    if (u.lockedPages !== (userLocked.get(u) ?? 0)) out.push(`user: locked_vm ${u.lockedPages}, its USER-mode stores charged ${userLocked.get(u) ?? 0}`);
  }
}

function checkFrames(machine: Machine, domainTableFrames: number, out: string[], driverObjects: MemoryObject[]): void {
  // Files, mapped objects, and the pages vIOMMU drivers offer for mmap on an iommufd.
  const objects = new Set<MemoryObject>([...machine.files.values(), ...driverObjects]);
  for (const p of machine.processes.values()) {
    for (const v of p.memory.mappings()) {
      objects.add(v.object);
      if (v.cow !== undefined) objects.add(v.cow);
    }
  }
  let objectFrames = 0;
  for (const o of objects) objectFrames += o.blocks.frameCount();
  const orphans = machine.phys.pins.orphanCount;
  const inUse = machine.phys.framesInUse;
  if (inUse !== objectFrames + domainTableFrames + orphans) {
    out.push(`frames: ${inUse} allocated, but memory objects hold ${objectFrames}, live page tables ${domainTableFrames}, pinned orphans ${orphans}`);
  }
}

/** Every invariant that does not hold now, as sentences; empty when the machine is consistent. */
/** MOCK_DOMAIN's devices and CREATE_ACCESS's fds against the objects that own them. */
function checkTestKernelObjects(machine: Machine, contexts: readonly IommufdContext[], out: string[]): void {
  const owned = new Set<string>();
  for (const ctx of contexts) {
    for (const o of ctx.table.all()) {
      if (o.kind !== 'SELFTEST') continue;
      const s = o as SelftestObject;
      owned.add(s.device.name);
      if (machine.topology.devices.get(s.device.name) !== s.device) out.push(`selftest object ${s.id}: its device ${s.device.name} is not in the machine`);
      if (s.idev === null || s.idev.id === 0 || s.idev.dev !== s.device) out.push(`selftest object ${s.id}: its device ${s.device.name} is not bound as its iommufd device`);
    }
    for (const [fd, access] of ctx.accessFds) {
      if (access.id === 0 || ctx.table.find(access.id) !== access) out.push(`access fd ${fd}: its access is not in the table`);
    }
  }
  for (const d of machine.topology.devices.values()) {
    if (d.madeByMockDomain === true && !owned.has(d.name)) out.push(`mock device ${d.name} outlives its selftest object`);
  }
}

export function checkInvariants(machine: Machine, contextsIn: Iterable<IommufdContext>): string[] {
  // Read twice (the objects, then the test kernel's): an iterator would be spent after the first.
  const contexts = [...contextsIn];
  const out: string[] = [];
  const stores = new Map<IoptPages, HolderRange[]>();
  const holders = (s: IoptPages) => {
    let r = stores.get(s);
    if (r === undefined) stores.set(s, (r = []));
    return r;
  };
  let tableFrames = 0;
  const seenDomains = new Set<unknown>();
  const driverObjects: MemoryObject[] = [];
  for (const ctx of contexts) {
    for (const r of ctx.mmapSpace.regions) if (r.object !== null) driverObjects.push(r.object);
    for (const o of ctx.table.all()) {
      if (o.kind === 'IOAS') {
        const ioas = o as IoasObject;
        checkAreas(ioas, out);
        for (const a of ioas.iopt.areas) {
          holders(a.pages);
          if (a.filled) holders(a.pages).push(areaPages(a));
        }
      } else if (o.kind === 'HWPT_PAGING') {
        const d = (o as HwptPagingObject).domain;
        if (!seenDomains.has(d)) {
          seenDomains.add(d);
          tableFrames += d.table.tableFrames();
        }
      } else if (o.kind === 'ACCESS' || o.kind === 'HW_QUEUE') {
        // A HW queue pins its memory through an internal access (not in the table itself).
        const access = o.kind === 'ACCESS' ? (o as AccessObject) : (o as HwQueueObject).access;
        for (const item of access.items.values()) {
          for (const p of item.pieces) holders(p.area.pages).push({ first: p.firstPage, count: p.pageCount });
        }
      }
    }
  }
  const framePins = new Map<number, number>();
  checkHolders(stores, framePins, out);
  for (const [pfn, n] of framePins) {
    const have = machine.phys.pins.get(pfn);
    if (have !== n) {
      out.push(`frame ${hex(pfn)}: pin count ${have}, the stores holding it make ${n}`);
      break;
    }
  }
  if (machine.phys.pins.pinnedFrames !== framePins.size) out.push(`pins: ${machine.phys.pins.pinnedFrames} frame(s) pinned, the stores hold ${framePins.size}`);
  checkAccounting(machine, stores.keys(), out);
  checkFrames(machine, tableFrames, out, driverObjects);
  checkTestKernelObjects(machine, contexts, out);
  return out;
}
