// Golden vectors for Intel VT-d second stage. Expected words are derived by hand from the VT-d
// spec §9.8 (SS-PTE/PDE/PDPTE/PML4E layouts): R b0, W b1, PS b7, A b8, D b9, SNP b11,
// ADDR b51:12; table entries R|W|addr (Linux gpt vtdss_pt_install_table).
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../machine/physical-memory.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, PERM_R, PERM_W } from './format.ts';
import { PageTable, PtError } from './page-table.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const words = (pt: PageTable) => Object.fromEntries(pt.dump().words.map((w) => [w.addr, w.value]));

describe('vtd-ss golden vectors', () => {
  it('4-level: 4K, 2M and 1G leaves, table entries R|W', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'vtd-ss', { levels: 4 });
    expect(pt.rootPfn).toBe(0x100);
    pt.map(0x0, 0x12345, 1, RW); // IOVA 0 → PA 0x12345000, tables 0x101 (PDPT), 0x102 (PD), 0x103 (PT)
    pt.map(0x200, 0x40000, 0x200, RW); // 2M at IOVA 0x200000 → PA 0x40000000: SS-PDE PS=1
    pt.map(0x40000, 0x80000, 0x40000, IOMMU_READ); // 1G at IOVA 1G → PA 2G read-only: SS-PDPTE PS=1, R only
    pt.map(0x3, 0xffffffffff, 1, IOMMU_WRITE); // PA 0xffffffffff000 (52-bit): ADDR b51:12 all ones, W only
    expect(words(pt)).toEqual({
      '0x100000': '0x0000000000101003', // PML4E[0] → PDPT 0x101000, R|W
      '0x101000': '0x0000000000102003', // PDPTE[0] → PD 0x102000
      '0x101008': '0x0000000080000081', // PDPTE[1]: 1G leaf PA 0x80000000, PS|R
      '0x102000': '0x0000000000103003', // PDE[0] → PT 0x103000
      '0x102008': '0x0000000040000083', // PDE[1]: 2M leaf PA 0x40000000, PS|W|R
      '0x103000': '0x0000000012345003', // PTE[0]: PA 0x12345000, W|R
      '0x103018': '0x000ffffffffff002', // PTE[3]: PA 0xffffffffff000, W
    });
    expect(pt.dump().config).toEqual({ levels: 4, granule: 4096, ias: 48, oas: 52 });
    expect(pt.tableFrameCount).toBe(4);
  });

  it('5-level top index and SNP with force_coherence', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'vtd-ss', { levels: 5, force_coherence: true });
    // IOVA 0x1ff_ffff_ffff_f000 (57-bit max page): every index is 511.
    pt.map(0x1fffffffffff, 0x1, 1, RW | IOMMU_CACHE);
    expect(words(pt)).toEqual({
      '0x100ff8': '0x0000000000101003',
      '0x101ff8': '0x0000000000102003',
      '0x102ff8': '0x0000000000103003',
      '0x103ff8': '0x0000000000104003',
      '0x104ff8': '0x0000000000001803', // SNP b11 | W | R, PA 0x1000
    });
  });

  it('3-level walk starts at the SS-PDPTE', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'vtd-ss', { levels: 3 });
    pt.map(0x7ffffff, 0x5, 1, IOMMU_READ); // IOVA 0x7ffffff000 = top of 39 bits
    expect(words(pt)).toEqual({
      '0x100ff8': '0x0000000000101003',
      '0x101ff8': '0x0000000000102003',
      '0x102ff8': '0x0000000000005001',
    });
    expect(() => pt.map(0x8000000, 0x5, 1, IOMMU_READ)).toThrow(/ERANGE/);
  });

  it('A/D: a DMA write sets A b8 and D b9; read-and-clear clears D only', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'vtd-ss', { levels: 4 });
    pt.map(0x10, 0x20, 1, RW);
    expect(pt.markAccess(0x10, true)).toBe(true);
    expect(words(pt)['0x103080']).toBe('0x0000000000020303');
    const seen: number[][] = [];
    pt.readAndClearDirty(0, 0x100, 'no-clear', (i, n) => seen.push([i, n]));
    expect(seen).toEqual([[0x10, 1]]);
    expect(words(pt)['0x103080']).toBe('0x0000000000020303');
    pt.readAndClearDirty(0, 0x100, 'clear', (i, n) => seen.push([i, n]));
    expect(words(pt)['0x103080']).toBe('0x0000000000020103');
    pt.readAndClearDirty(0, 0x100, 'clear', (i, n) => seen.push([i, n]));
    expect(seen).toEqual([[0x10, 1], [0x10, 1]]);
  });

  it('dirty of a huge leaf reported as generic_pt record_dirty does (from the range start, item size)', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'vtd-ss', {});
    pt.map(0x200, 0x400, 0x200, RW);
    pt.setDirty(0x2ff);
    expect(words(pt)['0x102008']).toBe('0x0000000000400283'); // D b9 | PS | W | R
    const seen: number[][] = [];
    pt.readAndClearDirty(0x280, 0x10, 'clear', (i, n) => seen.push([i, n]));
    expect(seen).toEqual([[0x280, 0x200]]);
    expect(words(pt)['0x102008']).toBe('0x0000000000400083');
  });

  it('errors: EADDRINUSE leaves state unchanged; no R/W is EINVAL; misaligned is ENXIO', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'vtd-ss', {});
    pt.map(0x205, 0x1, 1, RW);
    const before = pt.dump();
    const frames = mem.framesInUse;
    // 2M-aligned 4M range: the first 2M would be a leaf over an existing 4K leaf table
    expect(() => pt.map(0x200, 0x400, 0x400, RW)).toThrow(PtError);
    try {
      pt.map(0x201, 0x401, 8, RW); // maps 0x201..0x204, then hits 0x205: undone
      expect.unreachable();
    } catch (e) {
      expect((e as PtError).errno).toBe('EADDRINUSE');
    }
    expect(() => pt.map(0x200, 0x400, 0x10, RW)).toThrow(/EADDRINUSE/);
    expect(pt.dump()).toEqual(before);
    expect(mem.framesInUse).toBe(frames);
    expect(() => pt.map(0x0, 0x1, 1, 0)).toThrow(/EINVAL/);
    expect(() => pt.map(0x0, 0x1, 1, IOMMU_READ, { pageSizesLg2: [21] })).toThrow(/ENXIO/);
    expect(() => pt.map(0x0, 0x1, 0, IOMMU_READ)).toThrow(/EINVAL/);
    const ro = PageTable.create(mem, 'vtd-ss', { force_writeable: true });
    expect(() => ro.map(0, 1, 1, IOMMU_READ)).toThrow(/EINVAL/);
    ro.map(0, 1, 1, RW);
  });

  it('map after an empty table: the table is freed and replaced by a 2M leaf', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'vtd-ss', {}, { freeEmptyTables: false });
    pt.map(0x200, 0x1, 1, RW);
    expect(pt.unmap(0x200, 1)).toBe(1);
    expect(pt.tableFrameCount).toBe(4); // generic_pt keeps the PT: range did not cover it
    pt.map(0x200, 0x400, 0x200, RW);
    expect(pt.tableFrameCount).toBe(3);
    expect(pt.translate(0x3ff)).toMatchObject({ oaUnit: 0x5ff, sizeLg2: 21, perm: PERM_R | PERM_W, level: 1 });
  });
});

describe('failAlloc (fault injection)', () => {
  it.each([true, false])('the n-th table allocation fails: ENOMEM; tables it installed are freed unless freeEmptyTables is %s=false (kernel)', (freeEmptyTables) => {
    for (let n = 1; n <= 3; n++) {
      const mem = new PhysicalMemory(0x100);
      let calls = 0;
      const pt = PageTable.create(mem, 'vtd-ss', {}, { failAlloc: () => ++calls === n, freeEmptyTables });
      expect(() => pt.map(0x0, 0x1, 1, RW)).toThrow(/ENOMEM/);
      expect(pt.translate(0x0)).toBeNull();
      expect(pt.dump().words.length).toBe(freeEmptyTables ? 0 : n - 1);
      expect(mem.framesInUse).toBe(freeEmptyTables ? 1 : n);
    }
  });
  it('ENOMEM in the middle of a range undoes the leaves already written', () => {
    const mem = new PhysicalMemory(0x100);
    let armed = false;
    const pt = PageTable.create(mem, 'vtd-ss', {}, { failAlloc: () => armed });
    pt.map(0x0, 0x1, 1, RW);
    const dump = pt.dump();
    const frames = mem.framesInUse;
    armed = true;
    // 0x0 .. 0x3ff: the first 512 pages reuse the existing PT, 0x200.. needs a new PT → ENOMEM
    expect(() => pt.map(0x1, 0x2, 0x3ff, RW, { maxLeafLg2: 12 })).toThrow(/ENOMEM/);
    expect(pt.dump()).toEqual(dump);
    expect(mem.framesInUse).toBe(frames);
    armed = false;
    pt.map(0x1, 0x2, 0x3ff, RW, { maxLeafLg2: 12 });
    expect(pt.translate(0x3ff)).toMatchObject({ oaUnit: 0x400 });
  });
  it('a dynamic-top growth that cannot allocate fails whole (amd-v1)', () => {
    const mem = new PhysicalMemory(0x100);
    let armed = false;
    const pt = PageTable.create(mem, 'amd-v1', { levels: 6 }, { failAlloc: () => armed });
    armed = true;
    expect(() => pt.map(2 ** 40, 0x1, 1, RW)).toThrow(/ENOMEM/);
    expect(pt.levels).toBe(3);
    expect(mem.framesInUse).toBe(1);
  });
});

describe('unmap rules (generic_pt) and split mode', () => {
  const setup = () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'vtd-ss', {}, { freeEmptyTables: true });
    pt.map(0x200, 0x400, 0x200, RW); // one 2M leaf
    return { mem, pt };
  };
  it('a range ending inside a huge leaf removes the whole leaf and reports its size', () => {
    const { pt } = setup();
    expect(pt.unmap(0x200, 1)).toBe(0x200);
    expect(pt.translate(0x300)).toBeNull();
  });
  it('a range starting inside a huge leaf unmaps nothing', () => {
    const { pt } = setup();
    expect(pt.unmap(0x201, 1)).toBe(0);
    expect(pt.translate(0x201)).not.toBeNull();
  });
  it('a hole stops the unmap', () => {
    const { pt } = setup();
    pt.map(0x600, 0x1, 1, RW);
    expect(pt.unmap(0x200, 0x500)).toBe(0x200); // 0x400..0x5ff is a hole
    expect(pt.translate(0x600)).not.toBeNull();
    expect(pt.unmap(0x0, 0x10)).toBe(0);
  });
  it("'split' unmaps exactly the range and keeps the rest with the same attributes", () => {
    const { mem, pt } = setup();
    expect(pt.unmap(0x201, 1, { partial: 'split' })).toBe(1);
    expect(pt.translate(0x201)).toBeNull();
    expect(pt.translate(0x200)).toMatchObject({ oaUnit: 0x400, sizeLg2: 12, level: 0 });
    expect(pt.translate(0x3ff)).toMatchObject({ oaUnit: 0x5ff, sizeLg2: 12, perm: PERM_R | PERM_W });
    expect(pt.unmap(0x200, 0x200)).toBe(1); // stops at the hole at 0x201
    expect(pt.unmap(0x202, 0x1fe)).toBe(0x1fe);
    expect(pt.tableFrameCount).toBe(1);
    pt.destroy();
    expect(mem.framesInUse).toBe(0);
  });
});
