/**
 * The IOTLB of each IOMMU unit of a machine and the points where the core talks to it:
 * domain life cycle (allocation ids, unmap and dirty-clear flushes, destruction), device
 * attachment (which tag a device's DMA uses; the driver's teardown flush), and the device DMA
 * lookup/fill (`cachedTranslate`). The family of the unit's model (vtd.ts, smmuv3.ts, amd.ts,
 * riscv.ts, software.ts) decides tags, ids and the commands the driver sends.
 *
 * Invariants: every kernel-managed change of a domain's table (unmap, dirty clear) invalidates
 * every unit's entries of that domain before the call returns, so a kernel-managed domain never
 * serves a stale translation; a device's binding always names the domain its RID / PASID is
 * attached to. A hit on an entry made before the table last changed is checked against a walk:
 * when the tables no longer give it, the DMA is a stale use (counted and reported).
 */

import type { IommuUnit, PagingDomainSpec, UnitDevice } from '../iommu/unit.ts';
import type { PagingDomain, Translation } from '../iommufd/domain.ts';
import { ENTRY_DIRTY, ENTRY_READ, ENTRY_WRITE, IotlbEngine, type ByteRange, type IotlbStats } from './engine.ts';
import type { DomainIds, Family, FamilyUnit, SharedIds, Tag } from './family.ts';
import { IdAllocator } from './ids.ts';
import { readIotlbKnob, type IotlbConfig } from './knobs.ts';
import { amdFamily } from './amd.ts';
import { riscvFamily } from './riscv.ts';
import { smmuv3Family } from './smmuv3.ts';
import { mockFamily, tceFamily } from './software.ts';
import { vtdFamily } from './vtd.ts';

const FAMILIES: Record<string, Family> = {
  'intel-vtd': vtdFamily,
  'arm-smmuv3': smmuv3Family,
  'amd-vi': amdFamily,
  'riscv-iommu': riscvFamily,
  'ppc-tce': tceFamily,
  mock: mockFamily,
};

/** Machine-wide allocators (AMD protection domains, SMMUv3 ASIDs, RISC-V PSCIDs, mock/TCE numbers). */
export class IotlbWorld implements SharedIds {
  private readonly allocators = new Map<string, IdAllocator>();
  /** Ids of each domain itself, made by its allocating unit's family. */
  readonly domainIds = new WeakMap<PagingDomainSpec, DomainIds>();

  get(name: string, min: number, max: number): IdAllocator {
    let a = this.allocators.get(name);
    if (a === undefined) this.allocators.set(name, (a = new IdAllocator(min, max)));
    return a;
  }
}

interface Binding {
  domain: PagingDomain;
  tag: Tag;
  ctx: number;
}

/** A domain on one unit: its per-unit ids and how many bindings use it. */
interface UnitDomain {
  ids: DomainIds;
  refs: number;
}

/** The tags a domain is cached under, per unit, with how many bindings share each (flushes go once per tag). */
const domainTags = new WeakMap<PagingDomain, Map<UnitIotlb, Map<number, { tag: Tag; refs: number }>>>();
const unitTlbs = new WeakMap<IommuUnit, UnitIotlb>();

export class UnitIotlb implements FamilyUnit {
  readonly engine: IotlbEngine;
  readonly family: Family;
  private readonly locals = new Map<string, IdAllocator>();
  private readonly domains = new Map<PagingDomain, UnitDomain>();
  private readonly bindings = new Map<UnitDevice, Map<number, Binding>>();

  constructor(
    readonly unit: IommuUnit,
    readonly config: IotlbConfig,
    readonly shared: IotlbWorld,
  ) {
    this.engine = new IotlbEngine(config.policy, config.entries, config.ways);
    const family = FAMILIES[unit.model];
    if (family === undefined) throw new Error(`IOTLB: no tag scheme for model '${unit.model}'`);
    this.family = family;
    unitTlbs.set(unit, this);
  }

  get knobs(): Readonly<Record<string, unknown>> {
    return this.unit.knobs;
  }

  get stats(): IotlbStats {
    return this.engine.stats;
  }

  local(name: string, min: number, max: number): IdAllocator {
    let a = this.locals.get(name);
    if (a === undefined) this.locals.set(name, (a = new IdAllocator(min, max)));
    return a;
  }

  /** The binding of (dev, pasid), made (or moved) so that it names `domain`. */
  binding(dev: UnitDevice, pasid: number, domain: PagingDomain): Binding {
    const b = this.bindings.get(dev)?.get(pasid);
    if (b !== undefined && b.domain === domain) return b;
    this.rebind(dev, pasid, domain);
    return this.bindings.get(dev)!.get(pasid)!;
  }

  /** The device's RID / PASID now uses `domain` (null: blocked or not a kernel paging domain). */
  rebind(dev: UnitDevice, pasid: number, domain: PagingDomain | null): void {
    let perDev = this.bindings.get(dev);
    const old = perDev?.get(pasid);
    if (old !== undefined) {
      if (old.domain === domain) return;
      this.unbind(dev, pasid, old);
    }
    if (domain === null) return;
    if (perDev === undefined) this.bindings.set(dev, (perDev = new Map()));
    let ud = this.domains.get(domain);
    if (ud === undefined) this.domains.set(domain, (ud = { ids: {}, refs: 0 }));
    const ids = this.shared.domainIds.get(domain.spec) ?? {};
    const tag = this.family.bind(this, domain.spec, { domain: ids, unit: ud.ids }, dev, pasid);
    ud.refs++;
    const ctx = this.engine.context(tag.kind, tag.group, tag.sub);
    perDev.set(pasid, { domain, tag, ctx });
    let perUnit = domainTags.get(domain);
    if (perUnit === undefined) domainTags.set(domain, (perUnit = new Map()));
    let perCtx = perUnit.get(this);
    if (perCtx === undefined) perUnit.set(this, (perCtx = new Map()));
    const t = perCtx.get(ctx);
    if (t === undefined) perCtx.set(ctx, { tag, refs: 1 });
    else t.refs++;
  }

  private unbind(dev: UnitDevice, pasid: number, b: Binding): void {
    const ud = this.domains.get(b.domain)!;
    this.family.unbind(this, b.domain.spec, b.tag, ud.refs === 1);
    b.tag.free?.();
    this.bindings.get(dev)!.delete(pasid);
    if (--ud.refs === 0) {
      this.family.unitReleased(this, ud.ids);
      this.domains.delete(b.domain);
    }
    const perCtx = domainTags.get(b.domain)?.get(this);
    const t = perCtx?.get(b.ctx);
    if (t !== undefined && --t.refs === 0 && !this.family.domainScopedTags) perCtx!.delete(b.ctx);
  }
}

/** Gives every unit of a machine its IOTLB (called when the topology is built). */
export function createUnitIotlb(unit: IommuUnit, iotlbKnob: unknown, world: IotlbWorld): UnitIotlb {
  return new UnitIotlb(unit, readIotlbKnob(unit.model, iotlbKnob), world);
}

export function iotlbOf(unit: IommuUnit): UnitIotlb | undefined {
  return unitTlbs.get(unit);
}

// ---- domain life cycle (called by reference/iommufd/domain.ts and dirty.ts) ----

/** domain_alloc_paging: the allocating unit's driver takes the domain's ids. */
export function domainCreated(domain: PagingDomain): void {
  const u = unitTlbs.get(domain.spec.unit);
  if (u === undefined) return;
  const ids: DomainIds = {};
  u.family.domainAllocated(u, domain.spec, ids);
  u.shared.domainIds.set(domain.spec, ids);
}

function forEachTag(domain: PagingDomain, fn: (u: UnitIotlb, tag: Tag) => void): void {
  const perUnit = domainTags.get(domain);
  if (perUnit === undefined) return;
  for (const [u, perCtx] of perUnit) for (const { tag } of perCtx.values()) fn(u, tag);
}

/** iommu_unmap's iotlb_sync: the kernel removed [iova, iova + lengthBytes) from the domain. */
export function domainRangeChanged(domain: PagingDomain, iova: bigint, lengthBytes: bigint | number): void {
  const range: ByteRange = { start: iova, last: iova + BigInt(lengthBytes) - 1n };
  forEachTag(domain, (u, tag) => u.family.flushRange(u, domain.spec, tag, range));
}

/** The driver's whole-domain flush (dirty tracking switched on a family that rewrites the context). */
export function domainDirtySwitched(domain: PagingDomain): void {
  forEachTag(domain, (u, tag) => {
    if (u.family.flushOnDirtySwitch) u.family.flushAll(u, domain.spec, tag);
  });
}

/** domain_free: remaining tags (none once every device left) are flushed, the ids go back. */
export function domainDestroyed(domain: PagingDomain): void {
  forEachTag(domain, (u, tag) => u.family.flushAll(u, domain.spec, tag));
  const u = unitTlbs.get(domain.spec.unit);
  const ids = u?.shared.domainIds.get(domain.spec);
  if (u !== undefined && ids !== undefined) {
    u.family.domainFreed(u, domain.spec, ids);
    u.shared.domainIds.delete(domain.spec);
  }
}

/** The device's RID (pasid 0) or PASID is now on `domain` (null: blocked, detached, or nested). */
export function deviceAttached(dev: UnitDevice & { unit: IommuUnit }, pasid: number, domain: PagingDomain | null): void {
  unitTlbs.get(dev.unit)?.rebind(dev, pasid, domain);
}

// ---- device DMA ----

export type CachedAnswer =
  | { fault: null; t: Translation; stale: boolean }
  | { fault: 'not-present' | 'permission'; stale: boolean };

function sizeLg2Of(bytes: number): number {
  return bytes <= 0x80000000 ? 31 - Math.clz32(bytes) : Math.round(Math.log2(bytes));
}

/** Byte offset of hi:lo inside its 2^s-byte page. */
function offsetIn(hi: number, lo: number, s: number): number {
  if (s < 32) return (lo & (2 ** s - 1)) >>> 0;
  return (hi & (2 ** (s - 32) - 1)) * 0x100000000 + lo;
}

/**
 * One device translation of `iova` through the unit's IOTLB, a walk of the domain's table on a
 * miss. The walk sets A (and D on a write) while dirty tracking is on; a write hitting an entry
 * cached clean walks once more to set D, as VT-d SSADS, AMD HD and SMMUv3 HTTU do.
 */
export function cachedTranslate(dev: UnitDevice & { unit: IommuUnit }, pasid: number, domain: PagingDomain, iova: bigint, write: boolean): CachedAnswer {
  const table = domain.table;
  const u = unitTlbs.get(dev.unit);
  if (u === undefined) return walkOnly(domain, iova, write);
  const { ctx } = u.binding(dev, pasid, domain);
  const e = u.engine;
  const hi = Number(iova >> 32n);
  const lo = Number(iova & 0xffffffffn);
  const slot = e.lookup(ctx, hi, lo);
  if (slot >= 0) {
    const s = e.sizeLg2Of(slot);
    const off = offsetIn(hi, lo, s);
    let stale = false;
    if (e.epoch[slot] !== table.epoch) {
      const cur = table.translate(iova);
      const f = e.flags[slot];
      if (cur !== null && cur.physBytes - off === e.oa[slot] && cur.pageSizeBytes === 2 ** s && cur.read === ((f & ENTRY_READ) !== 0) && cur.write === ((f & ENTRY_WRITE) !== 0)) {
        e.epoch[slot] = table.epoch;
      } else {
        stale = true;
        e.staleUses++;
      }
    }
    const f = e.flags[slot];
    const read = (f & ENTRY_READ) !== 0;
    const writable = (f & ENTRY_WRITE) !== 0;
    if (write ? !writable : !read) return { fault: 'permission', stale };
    if (write && domain.dirtyTracking && (f & ENTRY_DIRTY) === 0 && !stale) {
      table.markAccess(iova, true);
      e.flags[slot] = f | ENTRY_DIRTY;
    }
    return { fault: null, t: { physBytes: e.oa[slot] + off, pageSizeBytes: 2 ** s, read, write: writable }, stale };
  }
  const t = table.translate(iova);
  if (t === null) return { fault: 'not-present', stale: false };
  const s = sizeLg2Of(t.pageSizeBytes);
  const flags = (t.read ? ENTRY_READ : 0) | (t.write ? ENTRY_WRITE : 0);
  const permitted = write ? t.write : t.read;
  const dirty = permitted && write && domain.dirtyTracking ? ENTRY_DIRTY : 0;
  e.fill(ctx, hi, lo, s, t.physBytes - offsetIn(hi, lo, s), flags | dirty, table.epoch);
  if (!permitted) return { fault: 'permission', stale: false };
  if (domain.dirtyTracking) table.markAccess(iova, write);
  return { fault: null, t, stale: false };
}

/** A unit without an IOTLB (built outside a topology): walk every time. */
function walkOnly(domain: PagingDomain, iova: bigint, write: boolean): CachedAnswer {
  const t = domain.table.translate(iova);
  if (t === null) return { fault: 'not-present', stale: false };
  if (write ? !t.write : !t.read) return { fault: 'permission', stale: false };
  if (domain.dirtyTracking) domain.table.markAccess(iova, write);
  return { fault: null, t, stale: false };
}
