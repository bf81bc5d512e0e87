import { describe, expect, it } from 'vitest';
import { FRAME_BYTES, OutOfMemory, PhysicalMemory } from './physical-memory.ts';

describe('PhysicalMemory', () => {
  it('never hands out frame 0 and reads zeros from fresh frames', () => {
    const mem = new PhysicalMemory();
    const pfn = mem.allocFrames();
    expect(pfn).toBeGreaterThan(0);
    expect(mem.read32(pfn * FRAME_BYTES + 8)).toBe(0);
  });

  it('stores 64-bit words as little-endian halves', () => {
    const mem = new PhysicalMemory();
    const phys = mem.allocFrames() * FRAME_BYTES;
    mem.write64(phys + 16, 0x89abcdef, 0x01234567);
    expect(Array.from(mem.readBytes(phys + 16, 8))).toEqual([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]);
    expect(mem.read64Lo(phys + 16)).toBe(0x89abcdef);
    expect(mem.read64Hi(phys + 16)).toBe(0x01234567);
  });

  it('aligns contiguous allocations and reuses the frames skipped for alignment', () => {
    const mem = new PhysicalMemory(0x101);
    const first = mem.allocFrames(16, 16);
    expect(first % 16).toBe(0);
    expect(mem.framesInUse).toBe(16);
    const single = mem.allocFrames();
    expect(single).toBeLessThan(first);
  });

  it('refuses access to unallocated frames and double frees', () => {
    const mem = new PhysicalMemory();
    const pfn = mem.allocFrames();
    mem.freeFrames(pfn);
    expect(() => mem.read32(pfn * FRAME_BYTES)).toThrow(RangeError);
    expect(() => mem.freeFrames(pfn)).toThrow();
  });

  it('clears a frame on free so that reallocation reads zeros', () => {
    const mem = new PhysicalMemory();
    const pfn = mem.allocFrames();
    mem.write32(pfn * FRAME_BYTES, 0xdeadbeef);
    mem.freeFrames(pfn);
    const again = mem.allocFrames();
    expect(again).toBe(pfn);
    expect(mem.read32(again * FRAME_BYTES)).toBe(0);
  });

  it('moves bytes across frame boundaries', () => {
    const mem = new PhysicalMemory();
    const pfn = mem.allocFrames(2);
    const data = Uint8Array.from({ length: 100 }, (_, i) => i + 1);
    mem.writeBytes(pfn * FRAME_BYTES + FRAME_BYTES - 50, data);
    expect(Array.from(mem.readBytes(pfn * FRAME_BYTES + FRAME_BYTES - 50, 100))).toEqual(Array.from(data));
  });
});

describe('PhysicalMemory at scale', () => {
  it('tracks more than 2^24 frames (64 GiB) without a per-frame object', () => {
    const mem = new PhysicalMemory();
    const runs = (1 << 24) / 512 + 4;
    let last = 0;
    for (let i = 0; i < runs; i++) last = mem.allocFrames(512, 512);
    expect(mem.framesInUse).toBe(runs * 512);
    expect(mem.isAllocated(last + 511)).toBe(true);
    expect(mem.isAllocated(last + 512)).toBe(false);
    mem.freeFrames(last, 512);
    expect(mem.framesInUse).toBe((runs - 1) * 512);
    expect(mem.isAllocated(last)).toBe(false);
  });
});

describe('PhysicalMemory size', () => {
  it('hands out frames only below its size and throws OutOfMemory (ENOMEM) past it, changing nothing', () => {
    const mem = new PhysicalMemory(0x100, 0x200 * FRAME_BYTES);
    expect(mem.framesFree).toBe(0x100);
    expect(() => mem.allocFrames(0x101)).toThrow(OutOfMemory);
    const run = mem.allocFrames(0x80, 0x80);
    expect(run + 0x80).toBeLessThanOrEqual(0x200);
    for (let i = 0; i < 0x80; i++) expect(mem.allocFrames()).toBeLessThan(0x200);
    expect(mem.framesFree).toBe(0);
    expect(mem.canAllocFrames()).toBe(false);
    const e = (() => {
      try {
        mem.allocFrames();
      } catch (x) {
        return x as OutOfMemory;
      }
    })();
    expect(e?.errno).toBe('ENOMEM');
    expect(mem.framesInUse).toBe(0x100);
  });

  it('finds a freed aligned run below the top once the top is full', () => {
    const mem = new PhysicalMemory(0x100, 0x400 * FRAME_BYTES);
    const a = mem.allocFrames(0x100, 0x100);
    mem.allocFrames(0x200, 0x100);
    expect(mem.canAllocFrames(0x100, 0x100)).toBe(false);
    mem.freeFrames(a, 0x100);
    expect(mem.allocFrames(0x100, 0x100)).toBe(a);
    // A single frame freed later is reused, never one the run took back.
    expect(() => mem.allocFrames()).toThrow(OutOfMemory);
  });
});
