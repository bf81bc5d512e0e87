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

import type { HwInvalidation, IommuUnit, NestedDomain, PagingDomainSpec, Stage1Fault, UnitDevice } from '../iommu/unit.ts';
import type { PagingDomain, Translation } from '../iommufd/domain.ts';
import { translateNested, type NestedRequest, type NestedResult, type Stage1WalkCache, type Walked } from '../iommufd/nested-walk.ts';
import type { PhysicalMemory } from '../machine/physical-memory.ts';
import { decodeTlbi, smmuTlbi } from './smmuv3.ts';
import { ENTRY_DIRTY, ENTRY_READ, ENTRY_WRITE, IotlbEngine, type ByteRange, type IotlbStats } from './engine.ts';
import type { DomainIds, Family, FamilyUnit, SharedIds, Tag } from './family.ts';
import { IdAllocator } from './ids.ts';
import { readIotlbKnob, type IotlbConfig } from './knobs.ts';
import { amdFamily } from './amd.ts';
import { riscvFamily } from './riscv.ts';
import { smmuv3Family } from './smmuv3.ts';
import { mockFamily, tceFamily } from './software.ts';
import { vtdFamily } from './vtd.ts';
import { CMDQ_OP_CFGI_CD, CMDQ_OP_CFGI_CD_ALL, CMDQ_OP_CFGI_STE, CMDQ_OP_CFGI_STE_RANGE } from '../iommu/arm-smmuv3-cmdq.ts';

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
  /** The PagingDomain, or the NestedDomain of a nested attach. */
  domain: object;
  /** A nested attach's NEST_PARENT. */
  parent: PagingDomain | null;
  tag: Tag;
  /** The engine context; −1 while the tag waits for the guest's configuration (SMMUv3 ASID). */
  ctx: number;
}

/** What a device's RID / PASID is attached to, as the IOTLB sees it. */
export type BindTarget = PagingDomain | { nested: NestedDomain; parent: PagingDomain } | null;
const targetKey = (t: Exclude<BindTarget, null>): object => ('nested' in t ? t.nested : t);

/** A domain on one unit: its per-unit ids and how many bindings use it. */
interface UnitDomain {
  ids: DomainIds;
  refs: number;
}

/** The tags a domain (paging or nested) is cached under, per unit, with how many bindings share each (flushes go once per tag). */
type TagMap = WeakMap<object, Map<UnitIotlb, Map<number, { tag: Tag; refs: number }>>>;
const domainTags: TagMap = new WeakMap();
/** The tags of nested domains, under their NEST_PARENT (the parent's changes flush them). */
const nestedTags: TagMap = new WeakMap();

function addTag(map: TagMap, key: object, u: UnitIotlb, ctx: number, tag: Tag): void {
  let perUnit = map.get(key);
  if (perUnit === undefined) map.set(key, (perUnit = new Map()));
  let perCtx = perUnit.get(u);
  if (perCtx === undefined) perUnit.set(u, (perCtx = new Map()));
  const t = perCtx.get(ctx);
  if (t === undefined) perCtx.set(ctx, { tag, refs: 1 });
  else t.refs++;
}

function dropTag(map: TagMap, key: object, u: UnitIotlb, ctx: number, keepAtZero: boolean): void {
  const perCtx = map.get(key)?.get(u);
  const t = perCtx?.get(ctx);
  if (t !== undefined && --t.refs === 0 && !keepAtZero) perCtx!.delete(ctx);
}
const unitTlbs = new WeakMap<IommuUnit, UnitIotlb>();

export class UnitIotlb implements FamilyUnit {
  readonly engine: IotlbEngine;
  readonly family: Family;
  private readonly locals = new Map<string, IdAllocator>();
  private readonly domains = new Map<object, UnitDomain>();
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
    // The unit's command queue (SMMUv3 vIOMMU commands, converted to physical VMID / SID) executes here.
    if ('invalidationSink' in unit) (unit as { invalidationSink: unknown }).invalidationSink = { issue: (cmds: readonly HwInvalidation[]) => this.execute(cmds) };
  }

  /** SMMUv3 commands from the queue: TLBIs select entries; CFGI_* drop the configuration cache (the ASIDs read from CDs). */
  execute(cmds: readonly HwInvalidation[]): void {
    for (const c of cmds) {
      if (c.op === CMDQ_OP_CFGI_STE || c.op === CMDQ_OP_CFGI_STE_RANGE || c.op === CMDQ_OP_CFGI_CD || c.op === CMDQ_OP_CFGI_CD_ALL) {
        this.engine.invalidations++;
        for (const perDev of this.bindings.values()) for (const b of perDev.values()) if (b.parent !== null && b.tag.sub === -1) this.forgetConfig(b);
        continue;
      }
      smmuTlbi(this.engine, decodeTlbi(c.words[0] ?? 0n, c.words[1] ?? 0n));
    }
  }

  private forgetConfig(b: Binding): void {
    if (b.ctx < 0) return;
    dropTag(domainTags, b.domain, this, b.ctx, false);
    if (b.parent !== null) dropTag(nestedTags, b.parent, this, b.ctx, false);
    b.ctx = -1;
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

  /** The binding of (dev, pasid), made (or moved) so that it names `target`; null when not cached (a family without nested tags). */
  binding(dev: UnitDevice, pasid: number, target: Exclude<BindTarget, null>): Binding | null {
    const b = this.bindings.get(dev)?.get(pasid);
    if (b !== undefined && b.domain === targetKey(target)) return b;
    this.rebind(dev, pasid, target);
    return this.bindings.get(dev)?.get(pasid) ?? null;
  }

  /** The device's RID / PASID now uses `target` (null: blocked or detached). */
  rebind(dev: UnitDevice, pasid: number, target: BindTarget): void {
    let perDev = this.bindings.get(dev);
    const old = perDev?.get(pasid);
    if (old !== undefined) {
      if (target !== null && old.domain === targetKey(target)) return;
      this.unbind(dev, pasid, old);
    }
    if (target === null) return;
    const nested = 'nested' in target ? target : null;
    if (nested !== null && this.family.bindNested === undefined) return;
    if (perDev === undefined) this.bindings.set(dev, (perDev = new Map()));
    const key = targetKey(target);
    let ud = this.domains.get(key);
    if (ud === undefined) this.domains.set(key, (ud = { ids: {}, refs: 0 }));
    let tag: Tag;
    let parent: PagingDomain | null = null;
    if (nested !== null) {
      parent = nested.parent;
      const parentIds = this.shared.domainIds.get(parent.spec) ?? {};
      tag = this.family.bindNested!(this, { domain: {}, unit: ud.ids }, parentIds, pasid, nested.nested);
    } else {
      const domain = target as PagingDomain;
      tag = this.family.bind(this, domain.spec, { domain: this.shared.domainIds.get(domain.spec) ?? {}, unit: ud.ids }, dev, pasid);
    }
    ud.refs++;
    const ctx = tag.sub === -1 ? -1 : this.engine.context(tag.kind, tag.group, tag.sub);
    perDev.set(pasid, { domain: key, parent, tag, ctx });
    if (ctx >= 0) {
      addTag(domainTags, key, this, ctx, tag);
      if (parent !== null) addTag(nestedTags, parent, this, ctx, tag);
    }
  }

  /** The context of a binding whose tag comes from the guest's configuration, once it is read. */
  configure(b: Binding, sub: number): number {
    b.ctx = this.engine.context(b.tag.kind, b.tag.group, sub);
    const tag = { kind: b.tag.kind, group: b.tag.group, sub };
    addTag(domainTags, b.domain, this, b.ctx, tag);
    if (b.parent !== null) addTag(nestedTags, b.parent, this, b.ctx, tag);
    return b.ctx;
  }

  private unbind(dev: UnitDevice, pasid: number, b: Binding): void {
    const ud = this.domains.get(b.domain)!;
    if (b.ctx >= 0) this.family.unbind(this, (b.domain as PagingDomain).spec, b.tag, ud.refs === 1);
    b.tag.free?.();
    this.bindings.get(dev)!.delete(pasid);
    if (--ud.refs === 0) {
      this.family.unitReleased(this, ud.ids);
      this.domains.delete(b.domain);
    }
    if (b.ctx >= 0) {
      dropTag(domainTags, b.domain, this, b.ctx, this.family.domainScopedTags);
      if (b.parent !== null) dropTag(nestedTags, b.parent, this, b.ctx, false);
    }
  }

  /** A domain-scoped tag (SMMUv3, mock, TCE) exists from the domain's allocation on its unit. */
  registerDomainTag(domain: PagingDomain): void {
    const tag = this.family.bind(this, domain.spec, { domain: this.shared.domainIds.get(domain.spec) ?? {}, unit: {} }, { name: '', noDirty: false, pasid: false }, 0);
    const ctx = this.engine.context(tag.kind, tag.group, tag.sub);
    addTag(domainTags, domain, this, ctx, tag);
    dropTag(domainTags, domain, this, ctx, true);
  }
}

/** Gives every unit of a machine its IOTLB (called when the topology is built). */
export function createUnitIotlb(unit: IommuUnit, iotlbKnob: unknown, world: IotlbWorld): UnitIotlb {
  return new UnitIotlb(unit, readIotlbKnob(unit.model, iotlbKnob), world);
}

export function iotlbOf(unit: IommuUnit): UnitIotlb | undefined {
  return unitTlbs.get(unit);
}

/** The ids the driver took when it allocated `spec` (SMMUv3 S2: the VMID a vSMMU over it uses); undefined without an IOTLB. */
export function domainIdsOf(spec: PagingDomainSpec): Readonly<DomainIds> | undefined {
  return unitTlbs.get(spec.unit)?.shared.domainIds.get(spec);
}

// ---- domain life cycle (called by reference/iommufd/domain.ts and dirty.ts) ----

/** domain_alloc_paging: the allocating unit's driver takes the domain's ids. */
export function domainCreated(domain: PagingDomain): void {
  const u = unitTlbs.get(domain.spec.unit);
  if (u === undefined) return;
  const ids: DomainIds = {};
  u.family.domainAllocated(u, domain.spec, ids);
  u.shared.domainIds.set(domain.spec, ids);
  if (u.family.domainScopedTags) u.registerDomainTag(domain);
}

function forEachTag(domain: object, fn: (u: UnitIotlb, tag: Tag) => void, map: TagMap = domainTags): void {
  const perUnit = map.get(domain);
  if (perUnit === undefined) return;
  for (const [u, perCtx] of perUnit) for (const { tag } of perCtx.values()) fn(u, tag);
}

/**
 * The invariant of kernel-managed domains (IOTLB-KERN-1, `--check-invariants`): every leaf the
 * IOTLBs hold under one of `domain`'s tags is what its table gives now — same output page, leaf
 * size and permissions. One sentence per entry that is not; empty when all hold.
 */
export function staleKernelEntries(domain: PagingDomain): string[] {
  const out: string[] = [];
  const perUnit = domainTags.get(domain);
  if (perUnit === undefined) return out;
  for (const [u, perCtx] of perUnit) {
    for (const entry of u.engine.liveEntries()) {
      if (!entry.leaf || !perCtx.has(entry.ctx)) continue;
      const t = domain.table.translate(entry.iova);
      const read = (entry.flags & ENTRY_READ) !== 0;
      const write = (entry.flags & ENTRY_WRITE) !== 0;
      if (t === null || t.physBytes !== entry.oa || t.pageSizeBytes !== 2 ** entry.sizeLg2 || t.read !== read || t.write !== write) {
        out.push(`${u.unit.model} IOTLB: a ${2 ** entry.sizeLg2}-byte entry at IOVA 0x${entry.iova.toString(16)} (output 0x${entry.oa.toString(16)}) that the kernel-managed table ${t === null ? 'no longer maps' : `maps to 0x${t.physBytes.toString(16)}`}`);
      }
    }
  }
  return out;
}

/** iommu_unmap's iotlb_sync: the kernel removed [iova, iova + lengthBytes) from the domain (and from every nested domain over it). */
export function domainRangeChanged(domain: PagingDomain, iova: bigint, lengthBytes: bigint | number): void {
  const range: ByteRange = { start: iova, last: iova + BigInt(lengthBytes) - 1n };
  forEachTag(domain, (u, tag) => u.family.flushRange(u, domain.spec, tag, range));
  forEachTag(domain, (u, tag) => u.family.flushNestedOfParent?.(u, tag, range), nestedTags);
}

/**
 * IOMMU_HWPT_INVALIDATE on a nested domain: the entries the driver accepted (the first
 * `handled`), each applied as the driver's cache_invalidate_user flushes it.
 */
export function nestedInvalidated(nested: NestedDomain, dataType: number, handled: number, readEntry: (i: number) => Uint8Array | null): void {
  const entries: Uint8Array[] = [];
  for (let i = 0; i < handled; i++) {
    const e = readEntry(i);
    if (e !== null) entries.push(e);
  }
  forEachTag(nested, (u, tag) => {
    for (const e of entries) u.family.userInvalidate?.(u, tag, dataType, e);
  });
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
export function deviceAttached(dev: UnitDevice & { unit: IommuUnit }, pasid: number, target: BindTarget): void {
  unitTlbs.get(dev.unit)?.rebind(dev, pasid, target);
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
 * Whether the cached entry in `slot` is what the tables give now: the same output page (the
 * walk's address less the in-page offset `off`), leaf size 2^sizeLg2 and permissions. A hit made
 * before the last table write is re-checked with this; a mismatch is a stale use.
 */
function entryGives(e: IotlbEngine, slot: number, t: Translation, off: number, sizeLg2: number): boolean {
  const f = e.flags[slot];
  return t.physBytes - off === e.oa[slot] && t.pageSizeBytes === 2 ** sizeLg2 && t.read === ((f & ENTRY_READ) !== 0) && t.write === ((f & ENTRY_WRITE) !== 0);
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
  const { ctx } = u.binding(dev, pasid, domain)!;
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
      if (cur !== null && entryGives(e, slot, cur, off, s)) {
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

/**
 * A nested translation through the unit's IOTLB: the tag of the binding (for SMMUv3 the
 * ASID of the guest's CD, kept in a configuration cache that CFGI commands drop), then a
 * lookup; a miss runs the two-stage walk (nested-walk.ts, A/D updates included) from the
 * deepest paging-structure entry the unit holds for the address, caches the non-leaf stage-1
 * entries it read and the combined translation (size = the smaller leaf, rights of both
 * stages). A walk that started from a cached entry made before the last memory write is
 * checked against a walk from the root: when they differ the DMA is a stale use (the leaf it
 * caches is checked again at every hit). Kernel-managed (single-stage) walks fill no
 * paging-structure entries: the kernel invalidates them whenever it frees or replaces a table
 * (io-pgtable tlb_flush_walk, VT-d IH = 0 with a freelist), so they could not change what a DMA
 * sees (IOTLB-KERN-1), only cost time. A hit made before
 * the last memory write is checked by a walk that changes nothing; when the tables no longer
 * give it, the DMA is a stale use. A write through an entry cached clean walks again, so the
 * stage-1 D and the parent's stage-2 D are set. Privileged requests are not cached (their
 * rights differ from the unprivileged ones the entry holds).
 */
export function cachedNestedTranslate(phys: PhysicalMemory, dev: UnitDevice & { unit: IommuUnit }, pasid: number, parent: PagingDomain, nested: NestedDomain, req: NestedRequest): NestedResult & { stale?: boolean } {
  const u = unitTlbs.get(dev.unit);
  if (u === undefined || req.privileged || nested.stage1 === undefined) return translateNested(phys, parent, nested, req);
  const b = u.binding(dev, pasid, { nested, parent });
  if (b === null) return translateNested(phys, parent, nested, req);
  let ctx = b.ctx;
  if (ctx < 0) {
    const start = nested.stage1({ ...req, readIpa64: (ipa) => readThroughStage2(phys, parent, ipa) });
    if ('fault' in start || 'bypass' in start || start.tag === undefined) return translateNested(phys, parent, nested, req);
    ctx = u.configure(b, start.tag);
  }
  const e = u.engine;
  const hi = Number(req.iova >> 32n);
  const lo = Number(req.iova & 0xffffffffn);
  const slot = e.lookup(ctx, hi, lo);
  if (slot >= 0) {
    const s = e.sizeLg2Of(slot);
    const off = offsetIn(hi, lo, s);
    let stale = false;
    if (e.epoch[slot] !== phys.writeEpoch) {
      const cur = translateNested(phys, parent, nested, req, true);
      if (cur.fault === null && entryGives(e, slot, cur.t, off, s)) {
        e.epoch[slot] = phys.writeEpoch;
      } else {
        stale = true;
        e.staleUses++;
      }
    }
    const f = e.flags[slot];
    const read = (f & ENTRY_READ) !== 0;
    const writable = (f & ENTRY_WRITE) !== 0;
    if (req.write ? !writable : !read) {
      // The entry holds the combined rights; which stage refused is the walk's to say.
      const w = translateNested(phys, parent, nested, req, true);
      return w.fault !== null ? { ...w, stale } : { fault: 'permission', stage: 1, stale };
    }
    if (req.write && (f & ENTRY_DIRTY) === 0 && !stale) {
      // The cached entry is clean: the hardware walks to set D (and the parent's D with tracking on).
      const w = translateNested(phys, parent, nested, req);
      if (w.fault !== null) return w;
      e.flags[slot] = f | ENTRY_DIRTY;
      e.epoch[slot] = phys.writeEpoch;
    }
    return { fault: null, t: { physBytes: e.oa[slot] + off, pageSizeBytes: 2 ** s, read, write: writable }, stale };
  }
  // A miss walks, from the deepest paging-structure entry the unit kept for this range.
  const cache = walkCacheOf(e, ctx, phys);
  const epochBefore = phys.writeEpoch;
  const r = translateNested(phys, parent, nested, req, false, cache);
  let stale = false;
  if (cache.usedEpoch !== -1 && cache.usedEpoch !== epochBefore) {
    // Memory changed since that entry was cached: the walk is stale when the tables now say otherwise.
    const cur = translateNested(phys, parent, nested, req, true);
    if (!sameNested(r, cur)) {
      stale = true;
      e.staleUses++;
    }
  }
  if (r.fault !== null) return stale ? { ...r, stale } : r;
  const s = sizeLg2Of(r.t.pageSizeBytes);
  const flags = (r.t.read ? ENTRY_READ : 0) | (r.t.write ? ENTRY_WRITE : 0) | (req.write ? ENTRY_DIRTY : 0);
  // A stale leaf is cached with an epoch no table has, so each later hit is checked (and reported) again.
  e.fill(ctx, hi, lo, s, r.t.physBytes - offsetIn(hi, lo, s), flags, stale ? -1 : phys.writeEpoch);
  return stale ? { ...r, stale } : r;
}

function sameNested(a: NestedResult, b: NestedResult): boolean {
  if (a.fault !== null && b.fault !== null) return a.fault === b.fault && a.stage === b.stage;
  if (a.fault !== null || b.fault !== null) return false;
  return a.t.physBytes === b.t.physBytes && a.t.pageSizeBytes === b.t.pageSizeBytes && a.t.read === b.t.read && a.t.write === b.t.write;
}

/**
 * The unit's paging-structure caches for stage-1 walks of one context: non-leaf engine entries
 * (output = the next table's intermediate address, aux = the entries above it). `usedEpoch` is
 * the memory epoch of the entry the last walk started from (−1: none).
 */
class WalkCache implements Stage1WalkCache {
  usedEpoch = -1;
  constructor(
    private readonly e: IotlbEngine,
    private readonly ctx: number,
    private readonly phys: PhysicalMemory,
  ) {}

  lookup(iova: bigint, coverLg2: number): { tableGfn: number; path: readonly Walked[] } | null {
    const slot = this.e.lookupWalk(this.ctx, Number(iova >> 32n), Number(iova & 0xffffffffn), coverLg2);
    if (slot < 0) return null;
    this.usedEpoch = this.e.epoch[slot];
    return { tableGfn: this.e.oa[slot] / 4096, path: this.e.aux[slot] as Walked[] };
  }

  fill(iova: bigint, coverLg2: number, tableGfn: number, path: readonly Walked[]): void {
    this.e.fillWalk(this.ctx, Number(iova >> 32n), Number(iova & 0xffffffffn), coverLg2, tableGfn * 4096, this.phys.writeEpoch, path);
  }
}

function walkCacheOf(e: IotlbEngine, ctx: number, phys: PhysicalMemory): WalkCache {
  return new WalkCache(e, ctx, phys);
}

/** The guest's 64-bit word at `ipa` through stage 2 (a configuration read), or the stage-2 fault. */
function readThroughStage2(phys: PhysicalMemory, parent: PagingDomain, ipa: bigint): bigint | Stage1Fault {
  const { aperture } = parent.spec;
  if (ipa < aperture.start || ipa > aperture.last) return { fault: 'aperture', stage: 2 };
  const t = parent.table.translate(ipa);
  if (t === null) return { fault: 'not-present', stage: 2 };
  if (!t.read) return { fault: 'permission', stage: 2 };
  return (BigInt(phys.read64Hi(t.physBytes)) << 32n) | BigInt(phys.read64Lo(t.physBytes));
}
