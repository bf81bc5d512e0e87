/**
 * The two-stage (nested) translation of one DMA request, the same for every architecture: the
 * nested domain says how its stage 1 starts (NestedDomain.stage1: format, root, input, rules),
 * the user-owned stage-1 table is walked in guest memory with the formats' one-shot walker
 * (reference/formats/walk.ts), and every intermediate address — each stage-1 table entry's
 * page (the root included), whatever the domain reads first (a CD), and the final output — is
 * translated by stage 2, the NEST_PARENT's kernel-managed table.
 *
 * Order of checks, as hardware meets them: the domain's own checks (stage 1 or 2), then level
 * by level a stage-2 fault on the table page (stage 2) or a missing / reserved entry (stage 1,
 * `not-present`), then the stage-1 permission of the request (stage 1, `permission`), then the
 * output's stage-2 translation and permission (stage 2). Permissions combine: both stages must
 * allow the access; the page size is the smaller of the two leaves.
 *
 * Accessed/dirty updates: when, and only when, the request succeeds, the bits the domain's
 * rules name (x86: A in every entry used, D in the leaf of a write, EA with EAFE) are ORed into
 * the stage-1 entries at their host addresses; such a write needs stage-2 write permission on
 * the table page (else a stage-2 permission fault and nothing changes). An architecture may set
 * A bits on the way to a fault; this reference does not, and no golden case depends on it.
 * With dirty tracking on in the parent, stage 2's own A/D follow every page stage 2 served.
 *
 * Paging-structure caches: given a `Stage1WalkCache` (the unit's IOTLB walk caches), the walk
 * starts from the deepest cached non-leaf stage-1 entry covering the address — the levels above
 * are not read again, so a guest's change there is not seen until an invalidation that is not
 * leaf-only removes that entry (VT-d IH = 0, SMMUv3 Leaf = 0) — and a successful walk offers
 * every non-leaf entry it read to the cache. Entries taken from the cache get no A/D update
 * (hardware does not write an entry it did not read).
 *
 * Invariant: without a cache the walk is a pure function of the tables (nothing is cached here)
 * so an IOTLB can cache its result; the only writes are the A/D updates of a successful request,
 * and none with `probe` (the IOTLB re-checking a cached translation, never through a cache).
 */

import type { PtFormat } from '../formats/format.ts';
import { ENTRY_TABLE } from '../formats/format.ts';
import { walkTable } from '../formats/walk.ts';
import type { NestedDomain, Stage1Entry, Stage1Fault, Stage1FaultCause, Stage1Request } from '../iommu/unit.ts';
import type { PhysicalMemory } from '../machine/physical-memory.ts';
import type { PagingDomain, Translation } from './domain.ts';

export type NestedResult = { fault: null; t: Translation } | Stage1Fault;

/** A request as the DMA hooks give it (readIpa64 is added here). */
export type NestedRequest = Omit<Stage1Request, 'readIpa64'>;

interface S2Hit {
  physBytes: number;
  pageSizeBytes: number;
  read: boolean;
  write: boolean;
}

/** Stage 2 alone: the parent's aperture, table and permission, for an intermediate address. */
function stage2(parent: PagingDomain, ipa: bigint, write: boolean): S2Hit | Stage1Fault {
  const { aperture } = parent.spec;
  if (ipa < aperture.start || ipa > aperture.last) return { fault: 'aperture', stage: 2 };
  const t = parent.table.translate(ipa);
  if (t === null) return { fault: 'not-present', stage: 2 };
  if (write ? !t.write : !t.read) return { fault: 'permission', stage: 2 };
  return t;
}

const isFault = (x: object): x is Stage1Fault => 'fault' in x;

/** What the walk read in one stage-1 entry: its host address and its stage-2 page. */
export interface Walked extends Stage1Entry {
  hostAddr: number;
  gpa: bigint;
  s2Write: boolean;
}

/**
 * The paging-structure caches a stage-1 walk may use: a non-leaf entry covering 2^coverLg2 bytes
 * at `iova`, as the table it points at (intermediate 4 KiB frame) and the entries read from the
 * root down to it (it last).
 */
export interface Stage1WalkCache {
  lookup(iova: bigint, coverLg2: number): { tableGfn: number; path: readonly Walked[] } | null;
  fill(iova: bigint, coverLg2: number, tableGfn: number, path: readonly Walked[]): void;
}

function writeEntry(phys: PhysicalMemory, format: PtFormat, addr: number, lo: number, hi: number): void {
  if (!format.bigEndian) {
    phys.write64(addr, lo >>> 0, hi >>> 0);
    return;
  }
  const sw = (x: number): number => (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
  phys.write64(addr, sw(hi), sw(lo));
}

/**
 * Translates one request through `nested` over its NEST_PARENT domain `parent`. Returns the
 * combined translation (host physical address of `req.iova`, the smaller leaf, the combined
 * permissions for this request's privilege) or the fault and its stage.
 */
export function translateNested(phys: PhysicalMemory, parent: PagingDomain, nested: NestedDomain, req: NestedRequest, probe = false, cache?: Stage1WalkCache): NestedResult {
  if (nested.stage1 === undefined) return { fault: 'blocked', stage: 1 };
  const readIpa64 = (ipa: bigint): bigint | Stage1Fault => {
    const r = stage2(parent, ipa, false);
    if (isFault(r)) return r;
    return (BigInt(phys.read64Hi(r.physBytes)) << 32n) | BigInt(phys.read64Lo(r.physBytes));
  };
  const start = nested.stage1({ ...req, readIpa64 });
  if (isFault(start)) return start;
  if ('bypass' in start) {
    // Stage 1 bypassed (SMMUv3 bypass vSTE): the input address is the IPA.
    const out = stage2(parent, req.iova, req.write);
    if (isFault(out)) return out;
    if (parent.dirtyTracking && !probe) parent.table.markAccess(req.iova, req.write);
    return { fault: null, t: { physBytes: out.physBytes, pageSizeBytes: out.pageSizeBytes, read: out.read, write: out.write } };
  }
  const { format, rules } = start;

  const walked: Walked[] = [];
  let s2Fault: Stage1Fault | null = null;
  let lastS2: S2Hit | null = null;
  let lastGpa = 0n;
  const tableFrame = (gfn: number): number | null => {
    lastGpa = BigInt(gfn) << 12n;
    const r = stage2(parent, lastGpa, false);
    if (isFault(r)) {
      s2Fault = r;
      return null;
    }
    lastS2 = r;
    return Math.floor(r.physBytes / 4096);
  };
  let stopCause: Stage1FaultCause = 'translation';
  const visit = (level: number, hostAddr: number, lo: number, hi: number): boolean => {
    walked.push({ level, lo, hi, hostAddr, gpa: lastGpa, s2Write: lastS2!.write });
    const stop = rules.reserved(level, lo, hi);
    if (stop !== false) stopCause = stop === true ? 'translation' : stop;
    return stop === false;
  };
  // A recorded fault says its kind (an SMMUv3 event); others say only not-present / permission.
  // A stalling walk (SMMUv3 CD.S) records every such fault, with its kind, as a stall.
  const s1Fault = (fault: 'not-present' | 'permission', cause: Stage1FaultCause): Stage1Fault =>
    start.stall === true ? { fault, stage: 1, cause, stall: true } : start.recordFaults === true ? { fault, stage: 1, cause } : { fault, stage: 1 };
  // The deepest cached non-leaf entry (lowest level first) replaces the reads above it.
  let from: { level: number; tableFrame: number } | undefined;
  const cached = probe || cache === undefined ? null : deepestCached(cache, format, req.iova);
  if (cached !== null) {
    walked.push(...cached.path);
    from = { level: cached.path[cached.path.length - 1].level - 1, tableFrame: cached.tableGfn };
  }
  const fromCache = walked.length;
  const w = walkTable(phys, format, Number(start.rootIpa >> 12n), start.inputUnit, format.levels, tableFrame, visit, Number(start.rootIpa & 0xfffn), from);
  if (!w.ok) {
    if (w.fault === 'table-fetch') return s2Fault!;
    // out-of-range is the domain's job (canonical / T0SZ checks); it can only mean a bad input.
    if (w.fault === 'out-of-range') return { fault: 'aperture', stage: 1 };
    return s1Fault('not-present', stopCause);
  }
  const canRead = rules.permits(walked, false);
  const canWrite = rules.permits(walked, true);
  if (req.write ? !canWrite : !canRead) return s1Fault('permission', 'permission');

  // The output: an intermediate address, translated by stage 2 with the request's access.
  const unitBytes = 2 ** format.unitLg2;
  const inUnit = Number(req.iova & BigInt(unitBytes - 1));
  const outIpa = BigInt(w.oaUnit) * BigInt(unitBytes) + BigInt(inUnit);
  const out = stage2(parent, outIpa, req.write);
  if (isFault(out)) return out;

  // An IOTLB checking a cached translation against the tables (probe) changes nothing.
  if (probe) return { fault: null, t: { physBytes: out.physBytes, pageSizeBytes: Math.min(2 ** w.sizeLg2, out.pageSizeBytes), read: canRead && out.read, write: canWrite && out.write } };
  // A/D: only bits not yet set are written, each write needing stage 2's write permission.
  const bits = rules.accessBits(walked, req.write);
  const updates: Array<{ e: Walked; lo: number; hi: number }> = [];
  for (let i = fromCache; i < walked.length; i++) {
    const e = walked[i];
    const lo = ((e.lo | bits[i].lo) & ~(bits[i].clearLo ?? 0)) >>> 0;
    const hi = ((e.hi | bits[i].hi) & ~(bits[i].clearHi ?? 0)) >>> 0;
    if (lo === e.lo >>> 0 && hi === e.hi >>> 0) continue;
    if (!e.s2Write) return { fault: 'permission', stage: 2 };
    updates.push({ e, lo, hi });
  }
  for (const u of updates) writeEntry(phys, format, u.e.hostAddr, u.lo, u.hi);
  if (parent.dirtyTracking) {
    for (let i = fromCache; i < walked.length; i++) parent.table.markAccess(walked[i].gpa, false);
    for (const u of updates) parent.table.markAccess(u.e.gpa, true);
    parent.table.markAccess(outIpa, req.write);
  }

  if (cache !== undefined) fillWalkCache(cache, format, req.iova, walked, fromCache, updates);

  return {
    fault: null,
    t: {
      physBytes: out.physBytes,
      pageSizeBytes: Math.min(2 ** w.sizeLg2, out.pageSizeBytes),
      read: canRead && out.read,
      write: canWrite && out.write,
    },
  };
}

/** The deepest cached non-leaf entry for `iova`: level 1 (pointing at the leaf table) upwards. */
function deepestCached(cache: Stage1WalkCache, format: PtFormat, iova: bigint): { tableGfn: number; path: readonly Walked[] } | null {
  for (let level = 1; level < format.levels; level++) {
    const hit = cache.lookup(iova, format.itemLg2[level]);
    if (hit !== null) return hit;
  }
  return null;
}

/** Offers each non-leaf entry the walk read itself (as written back with its A bit) to the cache. */
function fillWalkCache(cache: Stage1WalkCache, format: PtFormat, iova: bigint, walked: Walked[], fromCache: number, updates: ReadonlyArray<{ e: Walked; lo: number; hi: number }>): void {
  const path = walked.map((e) => {
    const u = updates.find((x) => x.e === e);
    return u === undefined ? e : { ...e, lo: u.lo, hi: u.hi };
  });
  for (let i = fromCache; i < path.length - 1; i++) {
    const e = path[i];
    if (format.kind(e.level, e.lo, e.hi) !== ENTRY_TABLE) continue;
    cache.fill(iova, format.itemLg2[e.level], format.tablePfn(e.level, e.lo, e.hi), path.slice(0, i + 1));
  }
}
