/**
 * The IOTLB engine: one translation cache of one IOMMU unit, written once and parameterised by
 * policy. Entries are leaf translations (one per leaf, at the leaf's size) or paging-structure
 * (walk-cache) entries, each tagged with a numeric *context*: what the hardware tags an entry
 * with (VT-d DID+PASID, SMMUv3 VMID+ASID, …) interned by `context(kind, group, sub)` into a small
 * integer. Invalidations select contexts (by kind, group, sub) and optionally an IOVA range and
 * leaf-only, and remove exactly those entries; the family files (invalidate-*.ts) turn each
 * architecture's commands into these selections.
 *
 * Layout: parallel typed arrays, open addressing over numeric keys (page number at the entry's
 * size as two 32-bit halves, the size, the context). A lookup probes once per page size present
 * in the context (usually one). Context-wide invalidation bumps the context's generation (O(1)):
 * entries of an older generation are dead and get overwritten. The hit path allocates nothing.
 *
 * Paging-structure (walk-cache) entries are made by `fillWalk` (the nested DMA path fills one per
 * non-leaf stage-1 entry it walked, reference/iotlb/unit-iotlb.ts) and selected by the commands'
 * leaf-only bits (VT-d IH, SMMUv3 Leaf, AMD PDE = 0, RISC-V NL = 0): an entry a leaf-only command
 * kept is where the next walk of its range starts, stale or not. Each carries an opaque `aux`
 * (what the walker needs from the levels above it); the leaf hit path never reads it.
 *
 * Policies: `realistic` = bounded, `ways`-way set-associative, LRU within a set (deterministic);
 * `sticky` = unbounded (grows), so a translation stays until an invalidation removes it;
 * `off` = nothing is ever cached (every DMA walks).
 *
 * Invariants: a live entry has gen[slot] === ctxGen[ctx[slot]] and gen ≠ 0 (0 = empty slot);
 * in sticky mode a removed entry keeps gen = DEAD so probe chains stay unbroken.
 */

export type IotlbPolicy = 'realistic' | 'sticky' | 'off';

export const ENTRY_READ = 1;
export const ENTRY_WRITE = 2;
/** The leaf's dirty state was set (or seen set) when this entry was made: writes need no walk. */
export const ENTRY_DIRTY = 4;

/** Key-high bit marking a paging-structure (non-leaf) entry. */
const NON_LEAF = 0x40000000;
const EMPTY = 0;
const DEAD = -1;
const REALISTIC = 0;
const STICKY = 1;
const OFF = 2;
const MAX_SIZES = 64;
/** Range invalidations needing more probes than this scan the table instead. */
const PROBE_LIMIT = 256;

export interface IotlbStats {
  hits: number;
  misses: number;
  evictions: number;
  invalidations: number;
  stale_uses: number;
}

/** Which contexts an invalidation selects; omitted fields match everything. */
export interface ContextSelector {
  /** Bit mask over context kinds (1 << kind). */
  kinds?: number;
  group?: number;
  sub?: number;
}

/** An IOVA range in bytes (inclusive last), bigint: control-plane values up to 2^64 − 1. */
export interface ByteRange {
  start: bigint;
  last: bigint;
}

export interface InvalidateOptions {
  range?: ByteRange;
  /** Keep paging-structure entries (VT-d IH, SMMUv3 Leaf, AMD PDE = 0, RISC-V NL = 0). */
  leafOnly?: boolean;
  /** Only entries at this leaf size (SMMUv3 TTL): other sizes stay. */
  sizeLg2?: number;
}

/**
 * Page number of (hi:lo) at 2^s bytes: low half, and high half with the size (and the non-leaf
 * bit) packed above bit 24. Both as int32 (`| 0`), so V8 keeps them in registers.
 */
function keyLoOf(hi: number, lo: number, s: number): number {
  return s >= 32 ? (hi >>> (s - 32)) | 0 : (lo >>> s) | (hi << (32 - s));
}
function keyHiOf(hi: number, s: number, nonLeaf: number): number {
  return (s >= 32 ? 0 : hi >>> s) | (s << 24) | nonLeaf;
}
function hashOf(ctx: number, kHi: number, kLo: number): number {
  let h = Math.imul(kLo ^ Math.imul(kHi, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(ctx + 1, 0xc2b2ae35);
  h ^= h >>> 15;
  return h;
}

export class IotlbEngine {
  readonly policy: IotlbPolicy;
  private readonly mode: number;
  /** realistic: number of ways per set. */
  readonly ways: number;
  private sets: number;
  private mask: number;
  private used = 0;

  /**
   * Four int32 per slot, interleaved so that a probe reads one cache line: key low half, key
   * high half (page number bits 32.., size << 24, non-leaf bit), context, generation.
   */
  keys: Int32Array;
  /** Leaf (or next table) output address in bytes, at the entry's base. */
  oa: Float64Array;
  flags: Uint8Array;
  /** The page table's modification epoch when the entry was made (stale-use detection). */
  epoch: Float64Array;
  /** Walk-cache entries: the walker's data for the levels down to the entry (unused for leaves). */
  aux: unknown[] = [];
  private stamp: Uint32Array;
  private clock = 0;
  /** Paging-structure entries ever made (0 = a range invalidation never needs to look for them). */
  private walkEntries = 0;

  // Contexts.
  private ctxGen = new Int32Array(64);
  private ctxKind = new Int32Array(64);
  private ctxGroup = new Float64Array(64);
  private ctxSub = new Float64Array(64);
  private ctxSizes = new Uint8Array(64 * MAX_SIZES);
  private ctxSizeCount = new Uint8Array(64);
  private ctxCount = 0;
  private readonly ctxIds = new Map<number, number>();
  private nextGen = 1;

  // Counters as plain fields: the hit path bumps one number, no object to load first.
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  invalidations = 0;
  /** Counted by the caller that checks a hit against the tables (cachedTranslate). */
  staleUses = 0;

  get stats(): IotlbStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, invalidations: this.invalidations, stale_uses: this.staleUses };
  }

  constructor(policy: IotlbPolicy, entries: number, ways = 8) {
    this.policy = policy;
    this.mode = policy === 'realistic' ? REALISTIC : policy === 'sticky' ? STICKY : OFF;
    this.ways = policy === 'realistic' ? Math.min(ways, entries) : 1;
    const capacity = policy === 'realistic' ? entries : policy === 'sticky' ? 1024 : 1;
    this.sets = Math.max(1, capacity / this.ways);
    if ((this.sets & (this.sets - 1)) !== 0) throw new RangeError(`IOTLB: entries / ways must be a power of two (${capacity} / ${this.ways})`);
    this.mask = this.sets - 1;
    const n = this.sets * this.ways;
    this.keys = new Int32Array(n * 4);
    this.oa = new Float64Array(n);
    this.flags = new Uint8Array(n);
    this.epoch = new Float64Array(n);
    this.stamp = new Uint32Array(n);
  }

  /** Slots in the table (capacity for realistic; the current table size for sticky). */
  get slots(): number {
    return this.oa.length;
  }

  // ---- contexts ----

  /** The context id of the tag (kind, group, sub); made on first use. kind < 16, group/sub < 2^24. */
  context(kind: number, group: number, sub: number): number {
    const key = (kind * 2 ** 24 + group) * 2 ** 24 + sub;
    let id = this.ctxIds.get(key);
    if (id !== undefined) return id;
    id = this.ctxCount++;
    if (id >= this.ctxGen.length) this.growContexts();
    this.ctxGen[id] = this.nextGen++;
    this.ctxKind[id] = kind;
    this.ctxGroup[id] = group;
    this.ctxSub[id] = sub;
    this.ctxIds.set(key, id);
    return id;
  }

  private growContexts(): void {
    const n = this.ctxGen.length * 2;
    const grow = <T extends Int32Array | Float64Array | Uint8Array>(a: T, size: number): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.ctxGen = grow(this.ctxGen, n);
    this.ctxKind = grow(this.ctxKind, n);
    this.ctxGroup = grow(this.ctxGroup, n);
    this.ctxSub = grow(this.ctxSub, n);
    this.ctxSizes = grow(this.ctxSizes, n * MAX_SIZES);
    this.ctxSizeCount = grow(this.ctxSizeCount, n);
  }

  private selects(c: number, sel: ContextSelector): boolean {
    return (sel.kinds === undefined || (sel.kinds & (1 << this.ctxKind[c])) !== 0)
      && (sel.group === undefined || this.ctxGroup[c] === sel.group)
      && (sel.sub === undefined || this.ctxSub[c] === sel.sub);
  }

  // ---- lookup / fill (hot path) ----

  /**
   * The slot of the live leaf entry of `ctx` covering the byte address hi:lo, or −1. One probe
   * sequence per leaf size present in the context. Counts a hit or a miss. The hot path: int32
   * keys, everything inlined, no allocation.
   */
  lookup(ctx: number, hi: number, lo: number): number {
    if (this.mode !== STICKY) return this.lookupSet(ctx, hi, lo);
    // sticky: linear probing until an empty slot.
    const nSizes = this.ctxSizeCount[ctx];
    const g = this.ctxGen[ctx];
    const keys = this.keys;
    const mask = this.mask;
    for (let i = 0; i < nSizes; i++) {
      const s = this.ctxSizes[ctx * MAX_SIZES + i];
      const kLo = keyLoOf(hi, lo, s);
      const kHi = keyHiOf(hi, s, 0);
      for (let j = hashOf(ctx, kHi, kLo) & mask; ; j = (j + 1) & mask) {
        const k = j << 2;
        const e = keys[k + 3];
        if (e === EMPTY) break;
        if (keys[k] === kLo && e === g && keys[k + 1] === kHi && keys[k + 2] === ctx) {
          this.hits++;
          return j;
        }
      }
    }
    this.misses++;
    return -1;
  }

  /** realistic (and off, which has no sizes): the ways of one set, LRU stamp on a hit. */
  private lookupSet(ctx: number, hi: number, lo: number): number {
    const nSizes = this.ctxSizeCount[ctx];
    const g = this.ctxGen[ctx];
    const keys = this.keys;
    const ways = this.ways;
    for (let i = 0; i < nSizes; i++) {
      const s = this.ctxSizes[ctx * MAX_SIZES + i];
      const kLo = keyLoOf(hi, lo, s);
      const kHi = keyHiOf(hi, s, 0);
      for (let j = (hashOf(ctx, kHi, kLo) & this.mask) * ways, end = j + ways; j < end; j++) {
        const k = j << 2;
        if (keys[k] === kLo && keys[k + 3] === g && keys[k + 1] === kHi && keys[k + 2] === ctx) {
          this.hits++;
          this.stamp[j] = ++this.clock;
          return j;
        }
      }
    }
    this.misses++;
    return -1;
  }

  private find(ctx: number, g: number, kHi: number, kLo: number, set: number): number {
    const keys = this.keys;
    if (this.mode === REALISTIC) {
      const start = set * this.ways;
      for (let j = start, end = start + this.ways; j < end; j++) {
        const k = j << 2;
        if (keys[k] === kLo && keys[k + 3] === g && keys[k + 1] === kHi && keys[k + 2] === ctx) return j;
      }
      return -1;
    }
    // sticky: linear probing until an empty slot.
    for (let j = set; ; j = (j + 1) & this.mask) {
      const k = j << 2;
      const e = keys[k + 3];
      if (e === EMPTY) return -1;
      if (e === g && keys[k] === kLo && keys[k + 1] === kHi && keys[k + 2] === ctx) return j;
    }
  }

  /**
   * Caches the leaf of 2^sizeLg2 bytes covering hi:lo for `ctx`: output address of the leaf
   * base `oaBytes`, ENTRY_* flags, table epoch. Returns the slot (−1 with policy off).
   */
  fill(ctx: number, hi: number, lo: number, sizeLg2: number, oaBytes: number, flags: number, epoch: number): number {
    return this.insert(ctx, hi, lo, sizeLg2, oaBytes, flags, epoch, 0);
  }

  /**
   * Caches a paging-structure entry (covering 2^coverLg2 bytes at hi:lo) pointing at the table at
   * `tableBytes`, made at table epoch `epoch`, with the walker's `aux`.
   */
  fillWalk(ctx: number, hi: number, lo: number, coverLg2: number, tableBytes: number, epoch = 0, aux?: unknown): number {
    const slot = this.insert(ctx, hi, lo, coverLg2, tableBytes, 0, epoch, NON_LEAF);
    if (slot >= 0) this.aux[slot] = aux;
    return slot;
  }

  /** The live walk-cache slot of `ctx` for the non-leaf entry covering 2^coverLg2 bytes at hi:lo, or −1. */
  lookupWalk(ctx: number, hi: number, lo: number, coverLg2: number): number {
    if (this.mode === OFF) return -1;
    const kLo = keyLoOf(hi, lo, coverLg2);
    const kHi = keyHiOf(hi, coverLg2, NON_LEAF);
    return this.find(ctx, this.ctxGen[ctx], kHi, kLo, hashOf(ctx, kHi, kLo) & this.mask);
  }

  private insert(ctx: number, hi: number, lo: number, s: number, oaBytes: number, flags: number, epoch: number, nonLeaf: number): number {
    if (this.mode === OFF) return -1;
    const g = this.ctxGen[ctx];
    const kLo = keyLoOf(hi, lo, s);
    const kHi = keyHiOf(hi, s, nonLeaf);
    const set = hashOf(ctx, kHi, kLo) & this.mask;
    let slot = this.find(ctx, g, kHi, kLo, set);
    if (slot < 0) {
      slot = this.mode === REALISTIC ? this.victim(set) : this.freeSlot(set);
      if (slot < 0) {
        this.grow();
        return this.insert(ctx, hi, lo, s, oaBytes, flags, epoch, nonLeaf);
      }
    }
    const k = slot << 2;
    this.keys[k] = kLo;
    this.keys[k + 1] = kHi;
    this.keys[k + 2] = ctx;
    this.keys[k + 3] = g;
    this.oa[slot] = oaBytes;
    this.flags[slot] = flags;
    this.epoch[slot] = epoch;
    this.stamp[slot] = ++this.clock;
    if (!nonLeaf) this.noteSize(ctx, s);
    else this.walkEntries++;
    return slot;
  }

  private noteSize(ctx: number, s: number): void {
    const base = ctx * MAX_SIZES;
    const n = this.ctxSizeCount[ctx];
    for (let i = 0; i < n; i++) if (this.ctxSizes[base + i] === s) return;
    // Smaller sizes first: most DMA lands in the smallest pages.
    let i = n;
    while (i > 0 && this.ctxSizes[base + i - 1] > s) {
      this.ctxSizes[base + i] = this.ctxSizes[base + i - 1];
      i--;
    }
    this.ctxSizes[base + i] = s;
    this.ctxSizeCount[ctx] = n + 1;
  }

  private live(j: number): boolean {
    const e = this.keys[(j << 2) + 3];
    return e !== EMPTY && e !== DEAD && e === this.ctxGen[this.keys[(j << 2) + 2]];
  }

  /** realistic: a dead way of the set, else the least recently used (an eviction). */
  private victim(set: number): number {
    const start = set * this.ways;
    let best = start;
    for (let j = start; j < start + this.ways; j++) {
      if (!this.live(j)) return j;
      if (this.stamp[j] < this.stamp[best]) best = j;
    }
    this.evictions++;
    return best;
  }

  /** sticky: the first non-live slot of the probe chain, or −1 when the table should grow. */
  private freeSlot(set: number): number {
    if ((this.used + 1) * 2 > this.slots) return -1;
    for (let j = set; ; j = (j + 1) & this.mask) {
      const e = this.keys[(j << 2) + 3];
      if (e === EMPTY) {
        this.used++;
        return j;
      }
      if (!this.live(j)) return j;
    }
  }

  /** sticky: doubles the table (or rehashes it), keeping only live entries. */
  private grow(): void {
    const old = { keys: this.keys, oa: this.oa, flags: this.flags, epoch: this.epoch, aux: this.aux, slots: this.slots };
    let live = 0;
    for (let j = 0; j < old.slots; j++) if (this.live(j)) live++;
    let n = old.slots;
    while ((live + 1) * 2 > n) n *= 2;
    this.sets = n;
    this.mask = n - 1;
    this.keys = new Int32Array(n * 4);
    this.oa = new Float64Array(n);
    this.flags = new Uint8Array(n);
    this.epoch = new Float64Array(n);
    this.stamp = new Uint32Array(n);
    this.aux = [];
    this.used = 0;
    const ok = old.keys;
    for (let j = 0; j < old.slots; j++) {
      const o = j << 2;
      const c = ok[o + 2];
      const g = ok[o + 3];
      if (g === EMPTY || g === DEAD || g !== this.ctxGen[c]) continue;
      let k = hashOf(c, ok[o + 1], ok[o]) & this.mask;
      while (this.keys[(k << 2) + 3] !== EMPTY) k = (k + 1) & this.mask;
      this.keys.set(ok.subarray(o, o + 4), k << 2);
      this.oa[k] = old.oa[j];
      this.flags[k] = old.flags[j];
      this.epoch[k] = old.epoch[j];
      if ((ok[o + 1] & NON_LEAF) !== 0) this.aux[k] = old.aux[j];
      this.used++;
    }
  }

  /** Size (log2 bytes) of the entry in `slot`. */
  sizeLg2Of(slot: number): number {
    return (this.keys[(slot << 2) + 1] >>> 24) & 63;
  }

  /** Drops one entry (a hit found stale and refreshed by the caller, or a targeted removal). */
  remove(slot: number): void {
    this.keys[(slot << 2) + 3] = this.mode === STICKY ? DEAD : EMPTY;
  }

  // ---- invalidation ----

  /**
   * Removes every entry of the selected contexts that `opts` names: all of them (generation
   * bump, O(1) per context), or those overlapping a range (probes per present size for small
   * ranges, a scan otherwise), optionally only leaves or only one leaf size. Counts one
   * invalidation per call.
   */
  invalidate(sel: ContextSelector, opts: InvalidateOptions = {}): void {
    this.invalidations++;
    if (this.mode === OFF) return;
    const whole = opts.range === undefined && !opts.leafOnly && opts.sizeLg2 === undefined;
    const chosen: number[] = [];
    for (let c = 0; c < this.ctxCount; c++) if (this.selects(c, sel)) chosen.push(c);
    if (chosen.length === 0) return;
    if (whole) {
      for (const c of chosen) {
        this.ctxGen[c] = this.nextGen++;
        this.ctxSizeCount[c] = 0;
      }
      return;
    }
    const r = opts.range;
    if (r !== undefined && (opts.leafOnly || this.walkEntries === 0) && this.probeRange(chosen, r, opts.sizeLg2)) return;
    const chosenSet = new Uint8Array(this.ctxCount);
    for (const c of chosen) chosenSet[c] = 1;
    for (let j = 0; j < this.slots; j++) {
      if (!this.live(j) || chosenSet[this.keys[(j << 2) + 2]] === 0) continue;
      const kHi = this.keys[(j << 2) + 1];
      const nonLeaf = (kHi & NON_LEAF) !== 0;
      if (nonLeaf && opts.leafOnly) continue;
      const s = (kHi >>> 24) & 63;
      if (!nonLeaf && opts.sizeLg2 !== undefined && s !== opts.sizeLg2) continue;
      if (r !== undefined) {
        const page = (BigInt(kHi & 0xffffff) << 32n) | BigInt(this.keys[j << 2] >>> 0);
        const first = page << BigInt(s);
        const last = first + (1n << BigInt(s)) - 1n;
        if (last < r.start || first > r.last) continue;
      }
      this.remove(j);
    }
  }

  /**
   * Small ranges: removes the leaf entries by probing each page of each present size (at most
   * PROBE_LIMIT probes in all). False (nothing done) when the range is too large for that.
   */
  private probeRange(chosen: number[], r: ByteRange, onlySize: number | undefined): boolean {
    let probes = 0;
    for (const c of chosen) {
      const base = c * MAX_SIZES;
      for (let i = 0; i < this.ctxSizeCount[c]; i++) {
        const s = BigInt(this.ctxSizes[base + i]);
        probes += Number((r.last >> s) - (r.start >> s)) + 1;
        if (probes > PROBE_LIMIT) return false;
      }
    }
    for (const c of chosen) {
      const g = this.ctxGen[c];
      const base = c * MAX_SIZES;
      for (let i = 0; i < this.ctxSizeCount[c]; i++) {
        const sz = this.ctxSizes[base + i];
        if (onlySize !== undefined && sz !== onlySize) continue;
        const s = BigInt(sz);
        for (let page = r.start >> s; page <= r.last >> s; page++) {
          const kLo = Number(page & 0xffffffffn) | 0;
          const kHi = Number(page >> 32n) | (sz << 24);
          const slot = this.find(c, g, kHi, kLo, hashOf(c, kHi, kLo) & this.mask);
          if (slot >= 0) this.remove(slot);
        }
      }
    }
    return true;
  }

  /** Live entries (leaf and walk) per context, for STATE-like dumps and tests. */
  liveEntries(): Array<{ ctx: number; kind: number; group: number; sub: number; iova: bigint; sizeLg2: number; leaf: boolean; oa: number; flags: number }> {
    const out = [];
    for (let j = 0; j < this.slots; j++) {
      if (!this.live(j)) continue;
      const c = this.keys[(j << 2) + 2];
      const kHi = this.keys[(j << 2) + 1];
      const s = (kHi >>> 24) & 63;
      const page = (BigInt(kHi & 0xffffff) << 32n) | BigInt(this.keys[j << 2] >>> 0);
      out.push({ ctx: c, kind: this.ctxKind[c], group: this.ctxGroup[c], sub: this.ctxSub[c], iova: page << BigInt(s), sizeLg2: s, leaf: (kHi & NON_LEAF) === 0, oa: this.oa[j], flags: this.flags[j] });
    }
    return out;
  }
}
