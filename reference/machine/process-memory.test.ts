import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from './physical-memory.ts';
import { FRAME_BYTES } from './physical-memory.ts';
import { HUGE_PAGE_BYTES, MemoryObject, PAGE_BYTES, ProcessMemory, USER_VA_END } from './process-memory.ts';

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

  it('MAP_HUGETLB rounds the length up to 2 MiB, populates aligned 2 MiB runs, and munmap splits only on 2 MiB', () => {
    const { phys, mem } = make();
    const a = mem.mmap(3 * 1024 * 1024, undefined, 0, { huge: true });
    expect(mem.isMapped(a / PAGE_BYTES, 1024)).toBe(true);
    expect(mem.isMapped(a / PAGE_BYTES + 1024, 1)).toBe(false);
    expect(phys.framesInUse).toBe(1024);
    const first = mem.frameForVpn(a / PAGE_BYTES, false);
    expect(first % 512).toBe(0);
    expect(mem.frameForVpn(a / PAGE_BYTES + 511, false)).toBe(first + 511);
    expect(mem.munmap(a + PAGE_BYTES, PAGE_BYTES)).toBe('EINVAL');
    expect(mem.munmap(a, HUGE_PAGE_BYTES + PAGE_BYTES)).toBe('EINVAL');
    expect(mem.isMapped(a / PAGE_BYTES, 1024)).toBe(true);
    expect(mem.munmap(a + HUGE_PAGE_BYTES, HUGE_PAGE_BYTES)).toBeNull();
    expect(mem.isMapped(a / PAGE_BYTES, 512)).toBe(true);
    expect(mem.isMapped(a / PAGE_BYTES + 512, 1)).toBe(false);
    expect(phys.framesInUse).toBe(512);
  });

  it('mmap errnos: MAP_HUGETLB of a normal file, offsets off a (huge) page, zero length', () => {
    const { mem } = make();
    const plain = new MemoryObject('file', 4 * PAGE_BYTES);
    const huge = new MemoryObject('file', 2 * HUGE_PAGE_BYTES, true);
    expect(mem.mmapError(PAGE_BYTES, plain, 0, { huge: true })).toBe('EINVAL');
    expect(mem.mmapError(PAGE_BYTES, plain, 100)).toBe('EINVAL');
    expect(mem.mmapError(PAGE_BYTES, huge, PAGE_BYTES)).toBe('EINVAL');
    expect(mem.mmapError(0)).toBe('EINVAL');
    expect(mem.mmapError(PAGE_BYTES, huge, HUGE_PAGE_BYTES)).toBeNull();
    const a = mem.mmap(PAGE_BYTES, huge, HUGE_PAGE_BYTES);
    expect(mem.isMapped(a / PAGE_BYTES, 512)).toBe(true);
    expect(mem.isMapped(a / PAGE_BYTES + 512, 1)).toBe(false);
    // A writable mapping past the end of a hugetlb file grows it (hugetlbfs_file_mmap).
    const b = mem.mmap(2 * HUGE_PAGE_BYTES, huge, 2 * HUGE_PAGE_BYTES);
    expect(huge.sizeBytes).toBe(4 * HUGE_PAGE_BYTES);
    expect(mem.isMapped(b / PAGE_BYTES, 1024)).toBe(true);
  });

  it('MAP_PRIVATE reads the file until a CPU write, which copies the page and leaves the file alone', () => {
    const { phys, mem } = make();
    const f = new MemoryObject('file', PAGE_BYTES);
    const shared = mem.mmap(PAGE_BYTES, f, 0);
    mem.write(shared, new Uint8Array([1, 2, 3]));
    const priv = mem.mmap(PAGE_BYTES, f, 0, { private: true });
    expect(Array.from(mem.read(priv, 3)!)).toEqual([1, 2, 3]);
    const fileFrame = mem.frameForVpn(shared / PAGE_BYTES, false);
    expect(mem.frameForVpn(priv / PAGE_BYTES, false)).toBe(fileFrame);
    mem.write(priv + 1, new Uint8Array([9]));
    expect(Array.from(mem.read(priv, 3)!)).toEqual([1, 9, 3]);
    expect(Array.from(mem.read(shared, 3)!)).toEqual([1, 2, 3]);
    expect(mem.frameForVpn(priv / PAGE_BYTES, false)).not.toBe(fileFrame);
    // Later writes to the file no longer show through the copied page.
    mem.write(shared, new Uint8Array([7]));
    expect(mem.read(priv, 1)![0]).toBe(1);
    const before = phys.framesInUse;
    expect(mem.munmap(priv, PAGE_BYTES)).toBeNull();
    expect(phys.framesInUse).toBe(before - 1);
  });

  it('a long-term pin of a MAP_PRIVATE page pins a private copy, where later CPU writes land', () => {
    const { phys, mem } = make();
    const f = new MemoryObject('file', 2 * PAGE_BYTES);
    const shared = mem.mmap(2 * PAGE_BYTES, f, 0);
    mem.write(shared + PAGE_BYTES, new Uint8Array([5, 6]));
    const priv = mem.mmap(2 * PAGE_BYTES, f, 0, { private: true });
    const out = new Int32Array(2);
    mem.userFramesInto(priv / PAGE_BYTES, 2, out, 0);
    mem.pinFrameList(out, 0, 2);
    const fileFrame = mem.frameForVpn(shared / PAGE_BYTES + 1, false);
    expect(out[1] - 1).not.toBe(fileFrame);
    expect(Array.from(phys.readBytes((out[1] - 1) * FRAME_BYTES, 2))).toEqual([5, 6]);
    expect(mem.refs(priv, 2 * PAGE_BYTES)).toEqual([1, 1]);
    expect(mem.refs(shared, 2 * PAGE_BYTES)).toEqual([0, 0]);
    mem.write(priv + PAGE_BYTES, new Uint8Array([8]));
    expect(mem.frameForVpn(priv / PAGE_BYTES + 1, false)).toBe(out[1] - 1);
    expect(phys.readBytes((out[1] - 1) * FRAME_BYTES, 2)[0]).toBe(8);
    expect(mem.read(shared + PAGE_BYTES, 1)![0]).toBe(5);
    // The pinned copies outlive munmap of the private mapping and go with the last unpin.
    expect(mem.munmap(priv, 2 * PAGE_BYTES)).toBeNull();
    expect(phys.isAllocated(out[1] - 1)).toBe(true);
    mem.unpinFrameList(out, 0, 2);
    expect(phys.isAllocated(out[0] - 1)).toBe(false);
    expect(phys.isAllocated(out[1] - 1)).toBe(false);
    expect(phys.isAllocated(fileFrame)).toBe(true);
  });
});
