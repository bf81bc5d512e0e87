import { describe, expect, it } from 'vitest';
import { Machine } from './machine.ts';

const PAGE = 4096;
const topology = { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [] };
const bytes = (...v: number[]) => new Uint8Array(v);

describe('fork(2) and exit(2) of simulated processes', () => {
  it('a child sees the anonymous content of the fork moment; later writes stay on their side', () => {
    const m = new Machine(topology);
    const va = m.memory.mmap(4 * PAGE);
    m.memory.write(va + PAGE, bytes(1, 2, 3));
    const child = m.fork(m.initial);
    expect(child.pid).not.toBe(m.initial.pid);
    expect(child.memory.read(va + PAGE, 3)).toEqual(bytes(1, 2, 3));
    // A page without a frame reads as zeros in the child too, and costs no frame.
    expect(child.memory.read(va, 2)).toEqual(bytes(0, 0));
    child.memory.write(va + PAGE, bytes(9));
    m.memory.write(va + PAGE + 1, bytes(8));
    expect(m.memory.read(va + PAGE, 3)).toEqual(bytes(1, 8, 3));
    expect(child.memory.read(va + PAGE, 3)).toEqual(bytes(9, 2, 3));
  });

  it('a shared file mapping is one memory for parent and child', () => {
    const m = new Machine(topology);
    const file = m.createFile(5, 2 * PAGE);
    const va = m.memory.mmap(2 * PAGE, file, 0);
    const child = m.fork(m.initial);
    child.memory.write(va + 10, bytes(7, 7));
    expect(m.memory.read(va + 10, 2)).toEqual(bytes(7, 7));
    expect(child.memory.frameForVpn(va / PAGE, false)).toBe(m.memory.frameForVpn(va / PAGE, false));
  });

  it('the private copies of a MAP_PRIVATE file mapping are copied at fork, not shared', () => {
    const m = new Machine(topology);
    const file = m.createFile(5, 2 * PAGE);
    const shared = m.memory.mmap(2 * PAGE, file, 0);
    m.memory.write(shared, bytes(1, 1));
    const priv = m.memory.mmap(2 * PAGE, file, 0, { private: true });
    m.memory.write(priv, bytes(2)); // the parent's private copy of page 0
    const child = m.fork(m.initial);
    expect(child.memory.read(priv, 2)).toEqual(bytes(2, 1));
    child.memory.write(priv + 1, bytes(3));
    expect(m.memory.read(priv, 2)).toEqual(bytes(2, 1));
    expect(child.memory.read(priv, 2)).toEqual(bytes(2, 3));
    // Neither write reached the file.
    expect(m.memory.read(shared, 2)).toEqual(bytes(1, 1));
  });

  it('the child starts with no pinned or locked pages, the same user and the same RLIMIT_MEMLOCK', () => {
    const m = new Machine(topology);
    m.accounting.memlockLimitPages = 7;
    m.accounting.charge('mm', 2);
    const child = m.fork(m.initial);
    expect(child.accounting.mmPinnedPages).toBe(0);
    expect(child.accounting.mmLockedPages).toBe(0);
    expect(child.accounting.memlockLimitPages).toBe(7);
    child.accounting.charge('user', 3);
    expect(m.accounting.userLockedPages).toBe(3);
    m.accounting.uncharge('mm', 2);
    child.accounting.uncharge('user', 3);
  });

  it('exit tears the address space down; anonymous frames go back unless pinned; files live on', () => {
    const m = new Machine(topology);
    const child = m.fork(m.initial);
    const va = child.memory.mmap(2 * PAGE);
    child.memory.write(va, bytes(1));
    child.memory.write(va + PAGE, bytes(2));
    const pinned = child.memory.frameForVpn(va / PAGE, false);
    child.memory.pin(pinned);
    const file = m.createFile(5, PAGE);
    const fva = child.memory.mmap(PAGE, file, 0);
    child.memory.write(fva, bytes(4));
    const unpinned = child.memory.frameForVpn(va / PAGE + 1, false);
    child.exit();
    expect(child.exited).toBe(true);
    expect(child.memory.mappings()).toEqual([]);
    expect(child.memory.read(va, 1)).toBeNull();
    expect(m.liveProcess(child.pid)).toBeUndefined();
    // The unpinned anonymous frame is freed; the pinned one lives until its last unpin.
    expect(m.phys.isAllocated(unpinned)).toBe(false);
    expect(m.phys.isAllocated(pinned)).toBe(true);
    m.memory.unpin(pinned);
    expect(m.phys.isAllocated(pinned)).toBe(false);
    // The file keeps its page (its fd is open): the parent maps and reads it.
    const pva = m.memory.mmap(PAGE, file, 0);
    expect(m.memory.read(pva, 1)).toEqual(bytes(4));
  });
});
