/**
 * The STATE test hook: a canonical dump of everything that must not leak — every context's
 * objects (with their references), every IOAS's areas, reserved and allowed ranges, domains
 * and accesses, every pages store with its pinned count, the pin and charge counters (mm
 * counters summed over every process, each listed once there are several), and the bytes
 * each table maps. Not state: user memory the CPU or a pin faulted in
 * (a failed pin leaves it populated, as GUP does) and table levels a walk allocated (generic_pt
 * keeps them until the domain is freed, also after a failed map). The protocol's StateDump fields (contexts[].objects[].id/type,
 * pinned_pages, user_pages, mm_pages) come first; the rest is diagnostics. Canonical: objects in ID order, areas in IOVA order, u64
 * values as lowercase "0x…" strings, so two dumps compare with deep equality.
 */

import type { Machine } from '../machine/machine.ts';
import type { Accounting } from './accounting.ts';
import type { AccessObject } from './access.ts';
import type { IommufdContext } from './context.ts';
import type { DeviceObject, HwptNestedObject, HwptPagingObject, IoasObject, IommufdObject, SelftestObject } from './objects.ts';
import { PAGE_SIZE } from './io-pagetable.ts';
import type { VdeviceObject, ViommuObject } from './viommu.ts';
import type { IoptPages } from './pages.ts';
import type { FaultObject } from './fault.ts';
import type { VeventqObject } from './veventq.ts';
import type { HwQueueObject } from './hw-queue.ts';

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function describeObject(o: IommufdObject, pages: Map<number, IoptPages>): Record<string, unknown> {
  const base = { id: o.id, type: o.kind, users: o.users };
  switch (o.kind) {
    case 'IOAS': {
      const { iopt } = o as IoasObject;
      for (const a of iopt.areas) pages.set(a.pages.serial, a.pages);
      return {
        ...base,
        iova_alignment: iopt.iovaAlignment,
        huge_pages: !iopt.disableLargePages,
        areas: iopt.areas.map((a) => ({
          iova: hex(a.start), last: hex(a.last), pages: a.pages.serial, pages_offset: hex(BigInt(a.firstPageIndex) * PAGE_SIZE + BigInt(a.pageOffsetBytes)),
          prot: `${a.prot.read ? 'r' : '-'}${a.prot.write ? 'w' : '-'}`, filled: a.filled, access_pins: a.accessPins,
        })),
        reserved: iopt.reserved
          .map((r) => ({ start: hex(r.start), last: hex(r.last), owner: r.owner === null ? null : ((r.owner as { id?: number }).id ?? 'domain') }))
          .sort((x, y) => (BigInt(x.start) < BigInt(y.start) ? -1 : BigInt(x.start) > BigInt(y.start) ? 1 : 0)),
        allowed: iopt.allowed.map((r) => ({ start: hex(r.start), last: hex(r.last) })),
        hwpts: (o as IoasObject).hwpts.map((h) => h.id),
      };
    }
    case 'HWPT_PAGING': {
      const h = o as HwptPagingObject;
      return {
        ...base, ioas: h.ioas.id, auto: h.autoDomain, nest_parent: h.nestParent, dirty_ops: h.domain.spec.dirtyOps,
        format: h.domain.spec.table.format, mapped_bytes: h.domain.table.mappedBytes(),
      };
    }
    case 'HWPT_NESTED': {
      const h = o as HwptNestedObject;
      return {
        ...base, parent: h.parent.id, ...(h.viommu !== null ? { viommu: h.viommu.id } : {}), data_type: h.nested.dataType,
        driver: h.nested.dumpState?.() ?? {},
      };
    }
    case 'DEVICE': {
      const d = o as DeviceObject;
      return {
        ...base, device: d.dev.name, hwpt: d.hwpt?.id ?? null, pasids: [...d.pasids].map(([p, h]) => ({ pasid: p, hwpt: h.id })),
        ...(d.vdev !== null ? { vdevice: d.vdev.id } : {}),
      };
    }
    case 'VIOMMU': {
      const v = o as ViommuObject;
      return { ...base, hwpt: v.parent.id, viommu_type: v.type, vdevices: [...v.vdevs.values()].map((d) => d.id).sort((x, y) => x - y), driver: v.driver.dumpState?.() ?? {} };
    }
    case 'VDEVICE': {
      const d = o as VdeviceObject;
      return { ...base, viommu: d.viommu.id, dev: d.dev.id, virt_id: hex(d.virtId) };
    }
    case 'ACCESS':
      return { ...base, ...(o as AccessObject).describe() };
    case 'FAULT': {
      const f = o as FaultObject;
      return { ...base, fd: f.fd, queued: f.deliver.length, awaiting_response: f.response.size };
    }
    case 'VEVENTQ': {
      const q = o as VeventqObject;
      return { ...base, viommu: q.viommu.id, veventq_type: q.type, depth: q.depth, fd: q.fd, queued: q.deliver.length };
    }
    case 'SELFTEST': {
      const so = o as SelftestObject;
      return { ...base, device: so.device.name, idev: so.idev?.id ?? null };
    }
    case 'HW_QUEUE': {
      const q = o as HwQueueObject;
      return { ...base, viommu: q.viommu.id, hw_queue_type: q.type, index: q.index, iova: hex(q.iova), length: hex(q.lengthBytes) };
    }
  }
}

export function dumpState(machine: Machine, contexts: Map<number, IommufdContext>): Record<string, unknown> {
  const pages = new Map<number, IoptPages>();
  const ctxs = [...contexts.values()]
    .sort((a, b) => a.fd - b.fd)
    .map((c) => ({
      fd: c.fd,
      account_mode: c.accountMode,
      vfio_ioas: c.vfioIoas?.id ?? null,
      objects: c.table.all().map((o) => describeObject(o, pages)),
    }));
  // Charges of every live process and of every exited one whose mm a store still holds (it
  // mmgrab()s its source_mm): such a store must eventually release its charge on that mm. An
  // exited mm no store holds is freed (mmdrop), its counters with it — IOAS_CHANGE_PROCESS
  // can drop a dead mm that it failed to uncharge (ioas.c change_mm).
  const procs = [...machine.processes.values()];
  const heldAccounts = new Set([...pages.values()].map((p) => p.accounting));
  const counted = procs.filter((p) => !p.exited || heldAccounts.has(p.accounting));
  const sum = (f: (a: Accounting) => number): number => counted.reduce((n, p) => n + f(p.accounting), 0);
  const init = machine.initial.accounting;
  return {
    contexts: ctxs,
    pinned_pages: machine.memory.pinnedFrames,
    user_pages: init.userLockedPages,
    mm_pages: sum((a) => a.mmLockedPages),
    pages: [...pages.values()].sort((a, b) => a.serial - b.serial).map((p) => p.describe()),
    pins: { pinned_frames: machine.memory.pinnedFrames },
    accounting: {
      user_locked_pages: init.userLockedPages,
      mm_locked_pages: sum((a) => a.mmLockedPages),
      mm_pinned_pages: sum((a) => a.mmPinnedPages),
      memlock_limit_pages: init.memlockLimitPages,
    },
    ...(procs.length > 1 ? {
      processes: procs.map((p) => ({
        pid: p.pid, exited: p.exited, mm_locked_pages: p.accounting.mmLockedPages, mm_pinned_pages: p.accounting.mmPinnedPages,
      })),
    } : {}),
  };
}
