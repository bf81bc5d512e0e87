/**
 * Simulated physical memory of the machine: 4 KiB frames addressed by page frame number,
 * allocated by the reference for user pages and for I/O page tables alike. Storage is sparse
 * and lazy: a frame costs nothing until a non-zero word is written to it, so a 64 GiB mapping
 * is cheap until touched. Words are kept as 32-bit halves in a Uint32Array per frame, in the
 * host's order of halves (lo at the lower address): a little-endian machine, as x86, ARM and
 * RISC-V IOMMUs see memory. A big-endian format (PPC TCE) swaps bytes itself.
 *
 * The machine has a size (the topology's `memory.bytes`, DEFAULT_MEMORY_BYTES otherwise): every
 * frame lies below it, and an allocation that finds no room throws OutOfMemory (ENOMEM), so a
 * caller that claims terabytes runs out of frames, never of host memory or of frame numbers.
 *
 * Invariants: a frame is either free or allocated exactly once, and lies in [firstPfn, limitPfn);
 * reads and writes must fall in allocated frames (a bug in a walker shows up as an exception,
 * not silent corruption); freeing clears a frame, so a later allocation reads zeros; every free
 * frame below `nextPfn` is on `freeSingles` (which may also hold stale entries a run took since).
 */

import { UapiError } from '../iommufd/errors.ts';
import { PinTable } from './pin-table.ts';

export const FRAME_SHIFT = 12;
export const FRAME_BYTES = 1 << FRAME_SHIFT;
const WORDS_PER_FRAME = FRAME_BYTES / 4;
const GIB = 1024 ** 3;
/**
 * Physical memory of a machine whose topology does not say: 128 GiB, enough for the 64 GiB
 * map benchmark with its page tables, and little enough that a pin of more runs out quickly.
 */
export const DEFAULT_MEMORY_BYTES = 128 * GIB;
/** The smallest and largest sizes a topology may give (frame numbers + 1 fit an Int32Array). */
export const MIN_MEMORY_BYTES = 16 * 1024 * 1024;
export const MAX_MEMORY_BYTES = 4096 * GIB;

/** No free frame (or no free aligned run) is left: what a kernel allocation gives as ENOMEM. */
export class OutOfMemory extends UapiError {
  constructor(what: string) {
    super('ENOMEM', `physical memory exhausted: ${what}`);
    this.name = 'OutOfMemory';
  }
}

export class PhysicalMemory {
  private readonly storage = new Map<number, Uint32Array>();
  /**
   * One bit per PFN below `nextPfn`: allocated or free. A bitmap rather than a Set: a Set holds
   * at most 2^24 entries (64 GiB of frames) and allocating a 512-frame run is 512 hash inserts.
   */
  private allocatedBits = new Uint32Array(1024);
  private allocatedCount = 0;
  private readonly freeSingles: number[] = [];
  private nextPfn: number;
  /** One past the last frame of the machine. */
  readonly limitPfn: number;
  /**
   * The run shapes ("count/align") a search found no room for; cleared when a frame is freed. Keeps a machine that is out of 2 MiB runs from rescanning per THP fault.
   */
  private readonly noFreeRun = new Set<string>();
  /** Pin counts of the frames (and the frames kept alive only by a pin). */
  readonly pins: PinTable = new PinTable(this);

  /**
   * Bumped by every write, free and copy: an IOTLB entry of a table in this memory (a guest's
   * stage 1) made at the current epoch is known to match the memory, so it needs no re-walk.
   */
  writeEpoch = 0;

  /**
   * The frames written since the log was last drained, while a mirror of a real process asks
   * for them (the MEM_WRITTEN hook); null (not logging, the usual case) costs one test a write.
   */
  writeLog: Set<number> | null = null;

  /**
   * Frames start above `firstPfn` so that physical address 0 is never handed out; the machine
   * has `sizeBytes` of memory (a multiple of the frame size).
   */
  constructor(readonly firstPfn = 0x100, readonly sizeBytes = DEFAULT_MEMORY_BYTES) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes % FRAME_BYTES !== 0 || sizeBytes / FRAME_BYTES <= firstPfn || sizeBytes > MAX_MEMORY_BYTES) {
      throw new RangeError(`physical memory of ${sizeBytes} bytes: not whole frames above frame ${firstPfn} and at most ${MAX_MEMORY_BYTES}`);
    }
    this.nextPfn = firstPfn;
    this.limitPfn = sizeBytes / FRAME_BYTES;
  }

  /** Frames that can still be allocated (one at a time; a run also needs them contiguous). */
  get framesFree(): number {
    return this.limitPfn - this.firstPfn - this.allocatedCount;
  }

  /** Whether `allocFrames(count, alignFrames)` would succeed now. */
  canAllocFrames(count = 1, alignFrames = 1): boolean {
    if (count > this.framesFree) return false;
    if (count === 1) return true;
    return Math.ceil(this.nextPfn / alignFrames) * alignFrames + count <= this.limitPfn || this.findFreeRun(count, alignFrames) >= 0;
  }

  /**
   * Allocates `count` contiguous frames whose first PFN is a multiple of `alignFrames`; throws
   * OutOfMemory (changing nothing) when the machine has no such run free.
   */
  allocFrames(count = 1, alignFrames = 1): number {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`allocFrames: bad count ${count}`);
    if (!Number.isInteger(alignFrames) || alignFrames < 1 || (alignFrames & (alignFrames - 1)) !== 0) {
      throw new RangeError(`allocFrames: alignment ${alignFrames} is not a power of two`);
    }
    if (count > this.framesFree) throw new OutOfMemory(`${count} frame(s) wanted, ${this.framesFree} free`);
    let pfn = -1;
    if (count === 1 && alignFrames === 1) {
      // Entries a run took since they were freed are stale: skip them.
      while (this.freeSingles.length > 0) {
        const f = this.freeSingles.pop()!;
        if (!this.isAllocated(f)) {
          pfn = f;
          break;
        }
      }
    }
    if (pfn < 0) {
      const bumped = Math.ceil(this.nextPfn / alignFrames) * alignFrames;
      if (bumped + count <= this.limitPfn) {
        pfn = bumped;
        for (let gap = this.nextPfn; gap < pfn; gap++) this.freeSingles.push(gap);
        this.nextPfn = pfn + count;
      } else {
        pfn = this.findFreeRun(count, alignFrames);
        if (pfn < 0) throw new OutOfMemory(`no free run of ${count} frame(s) aligned to ${alignFrames}`);
      }
    }
    this.markRun(pfn, count);
    return pfn;
  }

  /**
   * The first free run of `count` frames aligned to `alignFrames` in the machine, or -1; a run
   * that reaches past `nextPfn` moves it. Linear in the frames below `nextPfn`: only asked when
   * the top of memory has no room, and remembered when it finds none.
   */
  private findFreeRun(count: number, alignFrames: number): number {
    const shape = `${count}/${alignFrames}`;
    if (this.noFreeRun.has(shape)) return -1;
    const step = Math.max(alignFrames, 1);
    for (let pfn = Math.ceil(this.firstPfn / step) * step; pfn + count <= this.limitPfn && pfn < this.nextPfn; pfn += step) {
      let free = true;
      for (let f = pfn; f < pfn + count; ) {
        if ((f & 31) === 0 && pfn + count - f >= 32) {
          if ((this.allocatedBits[f >>> 5] ?? 0) !== 0) {
            free = false;
            break;
          }
          f += 32;
        } else {
          if (this.isAllocated(f)) {
            free = false;
            break;
          }
          f++;
        }
      }
      if (free) {
        this.nextPfn = Math.max(this.nextPfn, pfn + count);
        return pfn;
      }
    }
    this.noFreeRun.add(shape);
    return -1;
  }

  /** Returns frames to the allocator; their content is discarded. */
  freeFrames(pfn: number, count = 1): void {
    this.writeEpoch++;
    for (let i = 0; i < count; i++) {
      if (!this.isAllocated(pfn + i)) throw new Error(`freeFrames: pfn 0x${(pfn + i).toString(16)} is not allocated`);
    }
    for (let i = 0; i < count; i++) {
      const f = pfn + i;
      this.allocatedBits[f >>> 5] &= ~(1 << (f & 31));
      this.storage.delete(f);
      this.freeSingles.push(f);
    }
    this.allocatedCount -= count;
    this.noFreeRun.clear();
  }

  isAllocated(pfn: number): boolean {
    const word = pfn >>> 5;
    return pfn >= 0 && word < this.allocatedBits.length && (this.allocatedBits[word] & (1 << (pfn & 31))) !== 0;
  }

  /** How many frames are allocated now: leak checks compare this before and after. */
  get framesInUse(): number {
    return this.allocatedCount;
  }

  private markRun(pfn: number, count: number): void {
    const lastWord = (pfn + count - 1) >>> 5;
    if (lastWord >= this.allocatedBits.length) {
      let length = this.allocatedBits.length;
      while (length <= lastWord) length *= 2;
      const grown = new Uint32Array(length);
      grown.set(this.allocatedBits);
      this.allocatedBits = grown;
    }
    for (let f = pfn, end = pfn + count; f < end; f++) {
      if ((f & 31) === 0 && end - f >= 32) {
        this.allocatedBits[f >>> 5] = 0xffffffff;
        f += 31;
      } else {
        this.allocatedBits[f >>> 5] |= 1 << (f & 31);
      }
    }
    this.allocatedCount += count;
  }

  private frameForRead(phys: number): Uint32Array | undefined {
    const pfn = Math.floor(phys / FRAME_BYTES);
    if (!this.isAllocated(pfn)) throw new RangeError(`physical access to unallocated frame at 0x${phys.toString(16)}`);
    return this.storage.get(pfn);
  }

  private frameForWrite(phys: number): Uint32Array {
    const pfn = Math.floor(phys / FRAME_BYTES);
    let frame = this.storage.get(pfn);
    if (frame === undefined) {
      if (!this.isAllocated(pfn)) throw new RangeError(`physical access to unallocated frame at 0x${phys.toString(16)}`);
      frame = new Uint32Array(WORDS_PER_FRAME);
      this.storage.set(pfn, frame);
    }
    return frame;
  }

  /**
   * The 32-bit words of frame `pfn` in place, for walkers that scan a table without copying it;
   * undefined while the frame reads as zeros. Valid until the frame is freed.
   */
  frameWords(pfn: number): Uint32Array | undefined {
    return this.frameForRead(pfn * FRAME_BYTES);
  }

  /** The words of frame `pfn` in place, for writing (its storage is created). */
  frameWordsForWrite(pfn: number): Uint32Array {
    this.writeEpoch++;
    this.writeLog?.add(pfn);
    return this.frameForWrite(pfn * FRAME_BYTES);
  }

  /** Reads the aligned 32-bit word at `phys` (phys % 4 === 0). */
  read32(phys: number): number {
    const frame = this.frameForRead(phys);
    return frame === undefined ? 0 : frame[(phys % FRAME_BYTES) >>> 2];
  }

  write32(phys: number, value: number): void {
    this.writeEpoch++;
    this.writeLog?.add(Math.floor(phys / FRAME_BYTES));
    const frame = this.storage.get(Math.floor(phys / FRAME_BYTES));
    if (frame === undefined && value === 0) {
      this.frameForRead(phys);
      return;
    }
    (frame ?? this.frameForWrite(phys))[(phys % FRAME_BYTES) >>> 2] = value >>> 0;
  }

  /** The 64-bit word at `phys` (8-aligned) as its low and high halves. */
  read64Lo(phys: number): number {
    return this.read32(phys);
  }

  read64Hi(phys: number): number {
    return this.read32(phys + 4);
  }

  write64(phys: number, lo: number, hi: number): void {
    this.write32(phys, lo);
    this.write32(phys + 4, hi);
  }

  readBytes(phys: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const addr = phys + done;
      const inFrame = addr % FRAME_BYTES;
      const chunk = Math.min(length - done, FRAME_BYTES - inFrame);
      const frame = this.frameForRead(addr);
      if (frame !== undefined) {
        out.set(new Uint8Array(frame.buffer, frame.byteOffset + inFrame, chunk), done);
      }
      done += chunk;
    }
    return out;
  }

  writeBytes(phys: number, data: Uint8Array): void {
    this.writeEpoch++;
    let done = 0;
    while (done < data.length) {
      const addr = phys + done;
      const inFrame = addr % FRAME_BYTES;
      const chunk = Math.min(data.length - done, FRAME_BYTES - inFrame);
      const frame = this.frameForWrite(addr);
      this.writeLog?.add(Math.floor(addr / FRAME_BYTES));
      new Uint8Array(frame.buffer, frame.byteOffset + inFrame, chunk).set(data.subarray(done, done + chunk));
      done += chunk;
    }
  }

  /** Copies a whole frame's content to another frame (copy-on-write breaks, file pages). */
  copyFrame(fromPfn: number, toPfn: number): void {
    this.writeEpoch++;
    this.writeLog?.add(toPfn);
    const src = this.frameForRead(fromPfn * FRAME_BYTES);
    this.frameForRead(toPfn * FRAME_BYTES);
    if (src === undefined) this.storage.delete(toPfn);
    else this.storage.set(toPfn, src.slice());
  }
}
