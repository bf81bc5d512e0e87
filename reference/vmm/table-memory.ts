/**
 * A region of the VMM's (or the guest's) memory that holds page tables, seen at the address
 * the table pointers use (a guest-physical address) and mirrored locally: the owner of a
 * table knows what it wrote, so building one never reads it back through the protocol. Stores
 * collect in the mirror and reach the process memory (MEM_WRITE at the region's user address)
 * on `flush`, one write per dirty span of a 4 KiB frame — what a CPU's stores before a barrier
 * amount to.
 *
 * Invariants: addresses are byte GPAs inside [gpaBase, gpaBase + sizeBytes); frames are 4 KiB
 * frame numbers of that space; an allocation of n frames is aligned to n (tables are aligned
 * to their size); freed frames are zeroed in the mirror and in memory before reuse.
 */

import type { UapiClient } from './uapi-client.ts';

const FRAME_BYTES = 4096;
const FRAME_WORDS = FRAME_BYTES / 4;

export interface TableMemory {
  read32(addr: number): number;
  write64(addr: number, lo: number, hi: number): void;
  /** `frames` contiguous frames aligned to `frames` (a power of two); throws when full. */
  allocFrames(frames: number): number;
  freeFrames(frame: number, frames: number): void;
}

export class MirroredRegion implements TableMemory {
  private readonly words: Uint32Array;
  /** Per frame: first and last dirty word + 1 (lo = FRAME_WORDS when clean). */
  private readonly dirtyLo: Uint16Array;
  private readonly dirtyHi: Uint16Array;
  private readonly dirtyFrames: number[] = [];
  private bumpFrame = 0;
  private readonly free = new Map<number, number[]>();
  /** Frames handed out now. */
  framesInUse = 0;

  constructor(
    private readonly client: UapiClient,
    /** User address of the region in the VMM process (what MEM_WRITE takes). */
    readonly hva: number,
    /** Guest-physical address the region has in the IOAS (what table pointers hold). */
    readonly gpaBase: number,
    readonly sizeBytes: number,
  ) {
    this.words = new Uint32Array(sizeBytes / 4);
    const frames = sizeBytes / FRAME_BYTES;
    this.dirtyLo = new Uint16Array(frames).fill(FRAME_WORDS);
    this.dirtyHi = new Uint16Array(frames);
  }

  contains(gpa: number): boolean {
    return gpa >= this.gpaBase && gpa < this.gpaBase + this.sizeBytes;
  }

  read32(addr: number): number {
    return this.words[(addr - this.gpaBase) >>> 2];
  }

  write64(addr: number, lo: number, hi: number): void {
    const w = (addr - this.gpaBase) / 4;
    this.words[w] = lo >>> 0;
    this.words[w + 1] = hi >>> 0;
    const f = Math.floor(w / FRAME_WORDS);
    const off = w % FRAME_WORDS;
    if (this.dirtyLo[f] === FRAME_WORDS) this.dirtyFrames.push(f);
    if (off < this.dirtyLo[f]) this.dirtyLo[f] = off;
    if (off + 2 > this.dirtyHi[f]) this.dirtyHi[f] = off + 2;
  }

  allocFrames(frames: number): number {
    this.framesInUse += frames;
    const list = this.free.get(frames);
    if (list !== undefined && list.length > 0) return list.pop()!;
    const start = Math.ceil(this.bumpFrame / frames) * frames;
    if ((start + frames) * FRAME_BYTES > this.sizeBytes) throw new Error(`table region at GPA 0x${this.gpaBase.toString(16)} is full (${this.sizeBytes} bytes)`);
    this.bumpFrame = start + frames;
    return this.gpaBase / FRAME_BYTES + start;
  }

  freeFrames(frame: number, frames: number): void {
    this.framesInUse -= frames;
    // Only non-zero words need clearing; a freed table has had its entries cleared already
    // except when a whole subtree goes at once, so clear what is left.
    const base = (frame * FRAME_BYTES - this.gpaBase) / 4;
    for (let i = 0; i < frames * FRAME_WORDS; i += 2) {
      if (this.words[base + i] !== 0 || this.words[base + i + 1] !== 0) this.write64(this.gpaBase + (base + i) * 4, 0, 0);
    }
    let list = this.free.get(frames);
    if (list === undefined) this.free.set(frames, (list = []));
    list.push(frame);
  }

  /** Spans written since the last flush, as [gpa, lengthBytes] (before they are written out). */
  dirtySpans(): Array<[number, number]> {
    return this.dirtyFrames.map((f) => [this.gpaBase + f * FRAME_BYTES + this.dirtyLo[f] * 4, (this.dirtyHi[f] - this.dirtyLo[f]) * 4]);
  }

  /** Writes every dirty span to the process memory; returns the spans written. */
  async flush(): Promise<Array<[number, number]>> {
    const spans = this.dirtySpans();
    for (const f of this.dirtyFrames) {
      const lo = this.dirtyLo[f];
      const hi = this.dirtyHi[f];
      const start = f * FRAME_WORDS + lo;
      const bytes = new Uint8Array(this.words.buffer, start * 4, (hi - lo) * 4);
      await this.client.memWrite(this.hva + start * 4, bytes);
      this.dirtyLo[f] = FRAME_WORDS;
      this.dirtyHi[f] = 0;
    }
    this.dirtyFrames.length = 0;
    return spans;
  }
}
