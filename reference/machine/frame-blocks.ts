/**
 * The frames of a memory object, by blocks of 512 pages: block index → Int32Array of pfn + 1
 * per page (0 = no frame yet). It reads and writes like a Map of those arrays, with one
 * difference inside: a block backed by one run of 512 consecutive frames (a transparent huge
 * page, a hugetlb page) is kept as the run's first frame only, and its array is made the first
 * time anything asks for it (`get`, iteration). Pinning 64 GiB of 2 MiB pages therefore writes
 * 32,768 numbers instead of 16.7 M array entries; `runBase` lets the pin path and `frameOf` use
 * a run without making its array.
 *
 * Invariants: a block index is in `runs` or in `arrays`, never both; once made, an array is the
 * only truth for its block (callers may write into it), so a run is never recreated from it.
 */

const BLOCK_PAGES = 512;

export class FrameBlocks implements Iterable<[number, Int32Array]> {
  private readonly arrays = new Map<number, Int32Array>();
  /** Block index → first frame of the run that backs the whole block. */
  private readonly runs = new Map<number, number>();

  /** Records block `no` as backed by frames [basePfn, basePfn + 512). */
  setRun(no: number, basePfn: number): void {
    this.arrays.delete(no);
    this.runs.set(no, basePfn);
  }

  /** The first frame of block `no` if it is still kept as a run, else -1 (absent or an array). */
  runBase(no: number): number {
    if (this.runs.size === 0) return -1;
    const base = this.runs.get(no);
    return base === undefined ? -1 : base;
  }

  /** The block's per-page array (a run gets its array now), or undefined. */
  get(no: number): Int32Array | undefined {
    if (this.runs.size !== 0) this.makeArray(no);
    return this.arrays.get(no);
  }

  set(no: number, frames: Int32Array): this {
    this.runs.delete(no);
    this.arrays.set(no, frames);
    return this;
  }

  has(no: number): boolean {
    return this.arrays.has(no) || this.runs.has(no);
  }

  delete(no: number): boolean {
    const wasRun = this.runs.delete(no);
    return this.arrays.delete(no) || wasRun;
  }

  clear(): void {
    this.runs.clear();
    this.arrays.clear();
  }

  get size(): number {
    return this.arrays.size + this.runs.size;
  }

  /** Frames the object holds, without making any run's array (invariant checks). */
  frameCount(): number {
    let n = this.runs.size * BLOCK_PAGES;
    for (const frames of this.arrays.values()) for (let k = 0; k < BLOCK_PAGES; k++) if (frames[k] !== 0) n++;
    return n;
  }

  private makeArray(no: number): void {
    const base = this.runs.get(no);
    if (base === undefined) return;
    const frames = new Int32Array(BLOCK_PAGES);
    for (let k = 0; k < BLOCK_PAGES; k++) frames[k] = base + k + 1;
    this.runs.delete(no);
    this.arrays.set(no, frames);
  }

  private makeAllArrays(): void {
    for (const no of [...this.runs.keys()]) this.makeArray(no);
  }

  /** Iteration sees every block as an array (runs get theirs first), in no particular order. */
  entries(): IterableIterator<[number, Int32Array]> {
    this.makeAllArrays();
    return this.arrays.entries();
  }

  keys(): IterableIterator<number> {
    this.makeAllArrays();
    return this.arrays.keys();
  }

  values(): IterableIterator<Int32Array> {
    this.makeAllArrays();
    return this.arrays.values();
  }

  [Symbol.iterator](): IterableIterator<[number, Int32Array]> {
    return this.entries();
  }

  forEach(fn: (frames: Int32Array, no: number) => void): void {
    for (const [no, frames] of this.entries()) fn(frames, no);
  }
}
