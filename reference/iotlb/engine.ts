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
const DEAD = 0xffffffff;
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

/** Page number of (hi:lo) at 2^s bytes, low and high 32-bit halves. */
function pageLo(hi: number, lo: number, s: number): number {
  return s >= 32 ? hi >>> (s - 32) : ((lo >>> s) | (hi << (32 - s))) >>> 0;
}
function pageHi(hi: number, s: number): number {
  return s >= 32 ? 0 : hi >>> s;
}

export class IotlbEngine {
  readonly policy: IotlbPolicy;
  /** realistic: number of ways per set. */
  readonly ways: number;
  private sets: number;
  private mask: number;
  private used = 0;

  keyLo: Uint32Array;
  keyHi: Uint32Array;
  ctxOf: Int32Array;
  gen: Uint32Array;
  /** Leaf (or next table) output address in bytes, at the entry's base. */
  oa: Float64Array;
  flags: Uint8Array;
  /** The page table's modification epoch when the entry was made (stale-use detection). */
  epoch: Float64Array;
  private stamp: Uint32Array;
  private clock = 0;
  /** Paging-structure entries ever made (0 = a range invalidation never needs to look for them). */
  private walkEntries = 0;

  // Contexts.
  private ctxGen = new Uint32Array(64);
  private ctxKind = new Int32Array(64);
  private ctxGroup = new Float64Array(64);
  private ctxSub = new Float64Array(64);
  private ctxSizes = new Uint8Array(64 * MAX_SIZES);
  private ctxSizeCount = new Uint8Array(64);
  private ctxCount = 0;
  private readonly ctxIds = new Map<number, number>();
  private nextGen = 1;

  readonly stats: IotlbStats = { hits: 0, misses: 0, evictions: 0, invalidations: 0, stale_uses: 0 };

  constructor(policy: IotlbPolicy, entries: number, ways = 8) {
    this.policy = policy;
    this.ways = policy === 'realistic' ? Math.min(ways, entries) : 1;
    const capacity = policy === 'realistic' ? entries : policy === 'sticky' ? 1024 : 1;
    this.sets = Math.max(1, capacity / this.ways);
    if ((this.sets & (this.sets - 1)) !== 0) throw new RangeError(`IOTLB: entries / ways must be a power of two (${capacity} / ${this.ways})`);
    this.mask = this.sets - 1;
    const n = this.sets * this.ways;
    this.keyLo = new Uint32Array(n);
    this.keyHi = new Uint32Array(n);
    this.ctxOf = new Int32Array(n);
    this.gen = new Uint32Array(n);
    this.oa = new Float64Array(n);
    this.flags = new Uint8Array(n);
    this.epoch = new Float64Array(n);
    this.stamp = new Uint32Array(n);
  }

  /** Slots in the table (capacity for realistic; the current table size for sticky). */
  get slots(): number {
    return this.keyLo.length;
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
    const grow = <T extends Uint32Array | Int32Array | Float64Array | Uint8Array>(a: T, size: number): T => {
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

  private hash(ctx: number, kHi: number, kLo: number, s: number): number {
    let h = Math.imul(kLo ^ Math.imul(kHi + s, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(ctx + 1, 0xc2b2ae35);
    h ^= h >>> 15;
    return h & this.mask;
  }

  /**
   * The slot of the live leaf entry of `ctx` covering the byte address hi:lo, or −1. One probe
   * sequence per leaf size present in the context. Counts a hit or a miss.
   */
  lookup(ctx: number, hi: number, lo: number): number {
    if (this.policy === 'off') {
      this.stats.misses++;
      return -1;
    }
    const g = this.ctxGen[ctx];
    const nSizes = this.ctxSizeCount[ctx];
    const base = ctx * MAX_SIZES;
    for (let i = 0; i < nSizes; i++) {
      const s = this.ctxSizes[base + i];
      const kLo = pageLo(hi, lo, s);
      const kHi = (pageHi(hi, s) | (s << 24)) >>> 0;
      const slot = this.find(ctx, g, kHi, kLo, this.hash(ctx, kHi, kLo, s));
      if (slot >= 0) {
        this.stats.hits++;
        if (this.ways > 1) this.stamp[slot] = ++this.clock;
        return slot;
      }
    }
    this.stats.misses++;
    return -1;
  }

  private find(ctx: number, g: number, kHi: number, kLo: number, set: number): number {
    if (this.policy === 'realistic') {
      const start = set * this.ways;
      for (let j = start, end = start + this.ways; j < end; j++) {
        if (this.gen[j] === g && this.keyLo[j] === kLo && this.keyHi[j] === kHi && this.ctxOf[j] === ctx) return j;
      }
      return -1;
    }
    // sticky: linear probing until an empty slot.
    for (let j = set; ; j = (j + 1) & this.mask) {
      const e = this.gen[j];
      if (e === EMPTY) return -1;
      if (e === g && this.keyLo[j] === kLo && this.keyHi[j] === kHi && this.ctxOf[j] === ctx) return j;
    }
  }

  /**
   * Caches the leaf of 2^sizeLg2 bytes covering hi:lo for `ctx`: output address of the leaf
   * base `oaBytes`, ENTRY_* flags, table epoch. Returns the slot (−1 with policy off).
   */
  fill(ctx: number, hi: number, lo: number, sizeLg2: number, oaBytes: number, flags: number, epoch: number): number {
    return this.insert(ctx, hi, lo, sizeLg2, oaBytes, flags, epoch, 0);
  }

  /** Caches a paging-structure entry of `level` (covering 2^coverLg2 bytes) pointing at the table at `tableBytes`. */
  fillWalk(ctx: number, hi: number, lo: number, coverLg2: number, tableBytes: number): number {
    return this.insert(ctx, hi, lo, coverLg2, tableBytes, 0, 0, NON_LEAF);
  }

  /** The live walk-cache slot of `ctx` for the non-leaf entry covering 2^coverLg2 bytes at hi:lo, or −1. */
  lookupWalk(ctx: number, hi: number, lo: number, coverLg2: number): number {
    if (this.policy === 'off') return -1;
    const kLo = pageLo(hi, lo, coverLg2);
    const kHi = (pageHi(hi, coverLg2) | (coverLg2 << 24) | NON_LEAF) >>> 0;
    return this.find(ctx, this.ctxGen[ctx], kHi, kLo, this.hash(ctx, kHi, kLo, coverLg2 | 64));
  }

  private insert(ctx: number, hi: number, lo: number, s: number, oaBytes: number, flags: number, epoch: number, nonLeaf: number): number {
    if (this.policy === 'off') return -1;
    const g = this.ctxGen[ctx];
    const kLo = pageLo(hi, lo, s);
    const kHi = (pageHi(hi, s) | (s << 24) | nonLeaf) >>> 0;
    const set = this.hash(ctx, kHi, kLo, nonLeaf ? s | 64 : s);
    let slot = this.find(ctx, g, kHi, kLo, set);
    if (slot < 0) {
      slot = this.policy === 'realistic' ? this.victim(set) : this.freeSlot(set);
      if (slot < 0) {
        this.grow();
        return this.insert(ctx, hi, lo, s, oaBytes, flags, epoch, nonLeaf);
      }
    }
    this.keyLo[slot] = kLo;
    this.keyHi[slot] = kHi;
    this.ctxOf[slot] = ctx;
    this.gen[slot] = g;
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
    const e = this.gen[j];
    return e !== EMPTY && e !== DEAD && e === this.ctxGen[this.ctxOf[j]];
  }

  /** realistic: a dead way of the set, else the least recently used (an eviction). */
  private victim(set: number): number {
    const start = set * this.ways;
    let best = start;
    for (let j = start; j < start + this.ways; j++) {
      if (!this.live(j)) return j;
      if (this.stamp[j] < this.stamp[best]) best = j;
    }
    this.stats.evictions++;
    return best;
  }

  /** sticky: the first non-live slot of the probe chain, or −1 when the table should grow. */
  private freeSlot(set: number): number {
    if ((this.used + 1) * 2 > this.slots) return -1;
    for (let j = set; ; j = (j + 1) & this.mask) {
      const e = this.gen[j];
      if (e === EMPTY) {
        this.used++;
        return j;
      }
      if (!this.live(j)) return j;
    }
  }

  /** sticky: doubles the table, keeping only live entries. */
  private grow(): void {
    const old = { keyLo: this.keyLo, keyHi: this.keyHi, ctxOf: this.ctxOf, gen: this.gen, oa: this.oa, flags: this.flags, epoch: this.epoch };
    let live = 0;
    for (let j = 0; j < old.gen.length; j++) if (this.live(j)) live++;
    let n = old.gen.length;
    while ((live + 1) * 4 > n) n *= 2;
    this.sets = n;
    this.mask = n - 1;
    this.keyLo = new Uint32Array(n);
    this.keyHi = new Uint32Array(n);
    this.ctxOf = new Int32Array(n);
    this.gen = new Uint32Array(n);
    this.oa = new Float64Array(n);
    this.flags = new Uint8Array(n);
    this.epoch = new Float64Array(n);
    this.stamp = new Uint32Array(n);
    this.used = 0;
    for (let j = 0; j < old.gen.length; j++) {
      const c = old.ctxOf[j];
      if (old.gen[j] === EMPTY || old.gen[j] === DEAD || old.gen[j] !== this.ctxGen[c]) continue;
      const kHi = old.keyHi[j];
      const s = (kHi >>> 24) & 63;
      const nonLeaf = kHi & NON_LEAF;
      let k = this.hash(c, kHi, old.keyLo[j], nonLeaf ? s | 64 : s);
      while (this.gen[k] !== EMPTY) k = (k + 1) & this.mask;
      this.keyLo[k] = old.keyLo[j];
      this.keyHi[k] = kHi;
      this.ctxOf[k] = c;
      this.gen[k] = old.gen[j];
      this.oa[k] = old.oa[j];
      this.flags[k] = old.flags[j];
      this.epoch[k] = old.epoch[j];
      this.used++;
    }
  }

  /** Size (log2 bytes) of the entry in `slot`. */
  sizeLg2Of(slot: number): number {
    return (this.keyHi[slot] >>> 24) & 63;
  }

  /** Drops one entry (a hit found stale and refreshed by the caller, or a targeted removal). */
  remove(slot: number): void {
    this.gen[slot] = this.policy === 'sticky' ? DEAD : EMPTY;
  }

  // ---- invalidation ----

  /**
   * Removes every entry of the selected contexts that `opts` names: all of them (generation
   * bump, O(1) per context), or those overlapping a range (probes per present size for small
   * ranges, a scan otherwise), optionally only leaves or only one leaf size. Counts one
   * invalidation per call.
   */
  invalidate(sel: ContextSelector, opts: InvalidateOptions = {}): void {
    this.stats.invalidations++;
    if (this.policy === 'off') return;
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
      if (!this.live(j) || chosenSet[this.ctxOf[j]] === 0) continue;
      const kHi = this.keyHi[j];
      const nonLeaf = (kHi & NON_LEAF) !== 0;
      if (nonLeaf && opts.leafOnly) continue;
      const s = (kHi >>> 24) & 63;
      if (!nonLeaf && opts.sizeLg2 !== undefined && s !== opts.sizeLg2) continue;
      if (r !== undefined) {
        const page = (BigInt(kHi & 0xffffff) << 32n) | BigInt(this.keyLo[j]);
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
          const kLo = Number(page & 0xffffffffn);
          const kHi = (Number(page >> 32n) | (sz << 24)) >>> 0;
          const slot = this.find(c, g, kHi, kLo, this.hash(c, kHi, kLo, sz));
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
      const c = this.ctxOf[j];
      const kHi = this.keyHi[j];
      const s = (kHi >>> 24) & 63;
      const page = (BigInt(kHi & 0xffffff) << 32n) | BigInt(this.keyLo[j]);
      out.push({ ctx: c, kind: this.ctxKind[c], group: this.ctxGroup[c], sub: this.ctxSub[c], iova: page << BigInt(s), sizeLg2: s, leaf: (kHi & NON_LEAF) === 0, oa: this.oa[j], flags: this.flags[j] });
    }
    return out;
  }
}
