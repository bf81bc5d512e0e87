import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from './physical-memory.ts';
import { MemoryObject, PAGE_BYTES, ProcessMemory, USER_VA_END } from './process-memory.ts';

const make = () => {
  const phys = new PhysicalMemory();
  return { phys, mem: new ProcessMemory(phys) };
};

describe('process memory', () => {
  it('a 64 GiB mapping costs no frames until touched; reads of untouched pages are zeros', () => {
    const { phys, mem } = make();
    const a = mem.mmap(64 * 1024 ** 3);
    expect(phys.framesInUse).toBe(0);
    expect(Array.from(mem.read(a + 12345, 3)!)).toEqual([0, 0, 0]);
    expect(phys.framesInUse).toBe(0);
    expect(mem.write(a + 5 * 1024 ** 3, new Uint8Array([1, 2]))).toBe(true);
    expect(phys.framesInUse).toBe(512); // one 2 MiB block, as a THP would be
    expect(Array.from(mem.read(a + 5 * 1024 ** 3, 2)!)).toEqual([1, 2]);
  });

  it('mappings are 2 MiB aligned with an unmapped gap between them; holes fault', () => {
    const { mem } = make();
    const a = mem.mmap(PAGE_BYTES);
    const b = mem.mmap(PAGE_BYTES);
    expect(a % (2 * 1024 * 1024)).toBe(0);
    expect(b - a).toBeGreaterThan(PAGE_BYTES);
    expect(mem.read(a + PAGE_BYTES, 1)).toBeNull();
    expect(mem.write(a + PAGE_BYTES - 1, new Uint8Array(2))).toBe(false);
    expect(mem.read(USER_VA_END - 1, 2)).toBeNull();
  });

  it('munmap splits a mapping; misaligned munmap → EINVAL', () => {
    const { mem } = make();
    const a = mem.mmap(4 * PAGE_BYTES);
    expect(mem.munmap(a + 1, PAGE_BYTES)).toBe('EINVAL');
    expect(mem.munmap(a + PAGE_BYTES, PAGE_BYTES)).toBeNull();
    expect(mem.isMapped(a / PAGE_BYTES, 1)).toBe(true);
    expect(mem.isMapped(a / PAGE_BYTES + 1, 1)).toBe(false);
    expect(mem.isMapped(a / PAGE_BYTES + 2, 2)).toBe(true);
  });

  it('pinned pages outlive munmap and are freed by the last unpin', () => {
    const { phys, mem } = make();
    const a = mem.mmap(PAGE_BYTES);
    const pfn = mem.frameForVpn(a / PAGE_BYTES, true);
    mem.pin(pfn);
    mem.munmap(a, PAGE_BYTES);
    expect(phys.isAllocated(pfn)).toBe(true);
    expect(mem.pinnedFrames).toBe(1);
    mem.unpin(pfn);
    expect(phys.isAllocated(pfn)).toBe(false);
    expect(() => mem.unpin(pfn)).toThrow(/not pinned/);
  });

  it('two mappings of one file share frames and pin counts', () => {
    const { mem } = make();
    const f = new MemoryObject('file', 2 * PAGE_BYTES);
    const a = mem.mmap(2 * PAGE_BYTES, f, 0);
    const b = mem.mmap(PAGE_BYTES, f, PAGE_BYTES);
    mem.write(b, new Uint8Array([7]));
    expect(mem.read(a + PAGE_BYTES, 1)![0]).toBe(7);
    mem.pin(mem.frameForVpn(b / PAGE_BYTES, true));
    expect(mem.refs(a, 2 * PAGE_BYTES)).toEqual([0, 1]);
  });
});
