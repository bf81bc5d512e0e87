/**
 * The VMM's view of guest memory: guest RAM is a block of the VMM process's memory (`hva`)
 * that the guest sees at guest-physical addresses [gpaBase, gpaBase + ramBytes). The VMM reads the guest's
 * tables and context descriptors from it with plain loads (MEM_READ here).
 *
 * A walk over guest tables is synchronous (reference/formats walkers take a word reader), but
 * the loads are asynchronous protocol calls; `readWalk` bridges the two: it runs the walk on a
 * per-call snapshot of the memory it has loaded, notes the lines it lacked, loads them and
 * walks again, until a walk needs nothing new (at most one round per table level). The
 * snapshot lives for one call only: the guest may change its memory between calls.
 *
 * Invariants: only frames inside guest RAM are read; a table pointer outside guest RAM is a
 * fault of the walk (`frameInRam` says so), never a read of the VMM's other memory.
 */

import type { WordReader } from '../formats/walk.ts';
import type { UapiClient } from './uapi-client.ts';

const FRAME_BYTES = 4096;
const LINE_BYTES = 512;
const LINE_WORDS = LINE_BYTES / 4;

export class GuestRam {
  constructor(
    readonly client: UapiClient,
    /** User address of guest RAM in the VMM process. */
    readonly hva: number,
    readonly ramBytes: number,
    /** GPA of the first byte of guest RAM (an ARM machine's RAM starts above its MMIO). */
    readonly gpaBase = 0,
  ) {}

  /** Whether [gpa, gpa + lengthBytes) is guest RAM. */
  inRam(gpa: number, lengthBytes = 1): boolean {
    return gpa >= this.gpaBase && gpa + lengthBytes <= this.gpaBase + this.ramBytes;
  }

  hvaOf(gpa: number): number {
    return this.hva + gpa - this.gpaBase;
  }

  /** GPA frame → the same frame when it is guest RAM, else null (a stage-2 fault for a walk). */
  readonly frameInRam = (frame: number): number | null => (this.inRam(frame * FRAME_BYTES, FRAME_BYTES) ? frame : null);

  async read(gpa: number, lengthBytes: number): Promise<Uint8Array> {
    return this.client.memRead(this.hvaOf(gpa), lengthBytes);
  }

  async write(gpa: number, bytes: Uint8Array): Promise<void> {
    await this.client.memWrite(this.hvaOf(gpa), bytes);
  }

  /** Little-endian 64-bit words at `gpa` as [lo, hi] pairs. */
  async readWords64(gpa: number, count: number): Promise<Array<[number, number]>> {
    const b = await this.read(gpa, count * 8);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return Array.from({ length: count }, (_, i) => [dv.getUint32(8 * i, true), dv.getUint32(8 * i + 4, true)] as [number, number]);
  }

  /**
   * Runs `walk` (synchronous, reading through the reader it is given) until it completes on
   * loaded memory only, and returns its last result. Memory is loaded in 512-byte lines (64
   * descriptors: what a walk over a stretch of a table touches), adjacent lines in one load;
   * `bytesRead` is what the loads fetched.
   */
  async readWalk<T>(walk: (reader: WordReader) => T): Promise<{ result: T; bytesRead: number }> {
    const cache = new Map<number, Uint32Array>();
    let bytesRead = 0;
    for (;;) {
      const missing = new Set<number>();
      const reader: WordReader = {
        read32: (addr: number): number => {
          const line = Math.floor(addr / LINE_BYTES);
          const words = cache.get(line);
          if (words === undefined) {
            missing.add(line);
            return 0;
          }
          return words[(addr % LINE_BYTES) >>> 2];
        },
      };
      const result = walk(reader);
      if (missing.size === 0) return { result, bytesRead };
      const lines = [...missing].filter((l) => this.inRam(l * LINE_BYTES, LINE_BYTES)).sort((a, b) => a - b);
      if (lines.length === 0) throw new Error('guest walk read outside guest RAM');
      for (let i = 0; i < lines.length; ) {
        let j = i + 1;
        while (j < lines.length && lines[j] === lines[j - 1] + 1) j++;
        const bytes = await this.read(lines[i] * LINE_BYTES, (j - i) * LINE_BYTES);
        const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
        for (let k = i; k < j; k++) cache.set(lines[k], words.subarray((k - i) * LINE_WORDS, (k - i + 1) * LINE_WORDS));
        bytesRead += (j - i) * LINE_BYTES;
        i = j;
      }
    }
  }
}
