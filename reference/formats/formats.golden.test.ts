// Golden vectors for the x86-64 (VT-d FS, AMD v2), RISC-V, ARM LPAE and PPC TCE formats. Each
// expected word is derived by hand from the cited layout; none was printed by our code.
// PhysicalMemory(0x100) hands out frames from 0x100 upward, aligned to the table size.
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../machine/physical-memory.ts';
import { FormatConfigError, IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_READ, IOMMU_WRITE, PERM_R, PERM_W, PERM_X } from './format.ts';
import { PageTable } from './page-table.ts';
import { createFormat } from './registry.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const words = (pt: PageTable) => Object.fromEntries(pt.dump().words.map((w) => [w.addr, w.value]));

describe('vtd-fs / amd-v2 (x86-64 paging; SDM vol.3 §4.5 tables 4-15..4-20, VT-d §9.7)', () => {
  it('tables P|RW|U|A; leaves P|U|A (+RW|D writable, +PS above the PTE)', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'vtd-fs', {});
    pt.map(0x0, 0x12345, 1, RW);
    pt.map(0x1, 0x5, 1, IOMMU_READ);
    pt.map(0x200, 0x40000, 0x200, RW);
    pt.map(0x40000, 0x80000, 0x40000, IOMMU_READ);
    expect(words(pt)).toEqual({
      '0x100000': '0x0000000000101027', // PML4E: A b5 | U b2 | R/W b1 | P b0
      '0x101000': '0x0000000000102027',
      '0x101008': '0x00000000800000a5', // 1G PDPTE: PS b7 | A | U | P, read-only
      '0x102000': '0x0000000000103027',
      '0x102008': '0x00000000400000e7', // 2M PDE: PS | D b6 | A | U | R/W | P
      '0x103000': '0x0000000012345067', // PTE: D | A | U | R/W | P
      '0x103008': '0x0000000000005025', // PTE read-only: A | U | P
    });
    expect(pt.translate(0x1)).toMatchObject({ perm: PERM_R | PERM_X, sizeLg2: 12 });
    expect(pt.translate(0x0)).toMatchObject({ perm: PERM_R | PERM_W | PERM_X });
    expect(pt.dump().config).toEqual({ levels: 4, granule: 4096, ias: 48, oas: 52 });
  });
  it('amd-v2 is the same codec; 5 levels index bits 56:48; FS1GP off caps at 2M', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'amd-v2', { levels: 5, max_leaf_lg2: 21 });
    pt.map(0x40000, 0x80000, 0x40000, RW); // 1 GiB → 512 × 2M
    expect(pt.dump().format).toBe('amd-v2');
    expect(pt.dump().words.length).toBe(3 + 512); // PML5E, PML4E, PDPTE + 512 PDEs
    expect(words(pt)['0x103000']).toBe('0x00000000800000e7');
  });
});

describe('top-of-space indices (every index 511, or 2047 in an x4 root)', () => {
  it('vtd-fs 5-level: PML5E..PTE at index 511 for IOVA 2^57 − 4K', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'vtd-fs', { levels: 5 });
    pt.map(2 ** 45 - 1, 0x9, 1, RW);
    expect(words(pt)).toEqual({
      '0x100ff8': '0x0000000000101027',
      '0x101ff8': '0x0000000000102027',
      '0x102ff8': '0x0000000000103027',
      '0x103ff8': '0x0000000000104027',
      '0x104ff8': '0x0000000000009067',
    });
  });
  it('riscv-sv Sv57: five levels, VPN[4..0] = 511', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'riscv-sv', { levels: 5 });
    pt.map(2 ** 45 - 1, 0x9, 1, RW);
    expect(words(pt)).toEqual({
      '0x100ff8': '0x0000000000040401',
      '0x101ff8': '0x0000000000040801',
      '0x102ff8': '0x0000000000040c01',
      '0x103ff8': '0x0000000000041001',
      '0x104ff8': '0x00000000000024df',
    });
    expect(pt.dump().config.ias).toBe(57);
  });
  it('riscv-svx4 Sv48x4: 16 KiB root indexed by GPA bits 49:39 (index 2047)', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'riscv-svx4', { levels: 4 });
    pt.map(2 ** 38 - 1, 0x9, 1, RW);
    expect(words(pt)).toEqual({
      '0x103ff8': '0x0000000000041001',
      '0x104ff8': '0x0000000000041401',
      '0x105ff8': '0x0000000000041801',
      '0x106ff8': '0x00000000000024df',
    });
    expect(pt.dump().config).toEqual({ levels: 4, granule: 4096, ias: 50, oas: 56 });
  });
});

describe('riscv-sv / riscv-svx4 (priv. spec §12.4 Sv39 PTE; IOMMU spec §3.1; gpt riscv.h)', () => {
  it('Sv39: non-leaf V|PPN<<10; leaf V|R|W|X|U|A|D', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'riscv-sv', { levels: 3 });
    pt.map(0x0, 0x12345, 1, RW);
    pt.map(0x1, 0x5, 1, IOMMU_READ | IOMMU_NOEXEC);
    pt.map(0x40000, 0x80000, 0x40000, RW); // 1 GiB leaf in the root
    expect(words(pt)).toEqual({
      '0x100000': '0x0000000000040401', // PPN 0x101 at b10 | V
      '0x100008': '0x00000000200000df', // 1G: PPN 0x80000 | D|A|U|X|W|R|V
      '0x101000': '0x0000000000040801', // PPN 0x102
      '0x102000': '0x00000000048d14df', // PPN 0x12345 | D|A|U|X|W|R|V
      '0x102008': '0x0000000000001453', // PPN 5 | A|U|R|V
    });
    expect(pt.translate(0x1)).toMatchObject({ perm: PERM_R });
    expect(pt.dump().config).toEqual({ levels: 3, granule: 4096, ias: 39, oas: 56 });
  });
  it('Svnapot 64K: N b63 and PPN[3:0]=1000b in 16 identical PTEs', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'riscv-sv', { levels: 3, svnapot: true });
    pt.map(0x10, 0x30, 16, RW);
    const w = words(pt);
    for (let i = 16; i < 32; i++) expect(w[`0x${(0x102000 + i * 8).toString(16)}`]).toBe('0x800000000000e0df');
    expect(pt.translate(0x1f)).toMatchObject({ oaUnit: 0x3f, sizeLg2: 16, leafOaUnit: 0x30 });
    expect(pt.unmap(0x10, 16)).toBe(16);
  });
  it('Sv39x4: 16 KiB root (2048 entries) indexed by GPA bits 40:30', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'riscv-svx4', { levels: 3 });
    expect(mem.framesInUse).toBe(4);
    pt.map(0x1fffffff, 0x7, 1, RW); // GPA 0x1fffffff000, the top 4K of 41 bits
    expect(words(pt)).toEqual({
      '0x103ff8': '0x0000000000041001', // root index 0x7ff → PPN 0x104
      '0x104ff8': '0x0000000000041401',
      '0x105ff8': '0x0000000000001cdf',
    });
    expect(pt.dump().config.ias).toBe(41);
  });
});

describe('arm-lpae (Arm ARM D8.3 descriptor formats; io-pgtable-arm.c prot_to_pte)', () => {
  it('S1 4K: table addr|11; page nG|AP[1]|AttrIndx|SH|AF|11; block …|01', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'arm-lpae-s1', {});
    pt.map(0x0, 0x12345, 1, RW | IOMMU_CACHE);
    pt.map(0x1, 0x5, 1, IOMMU_READ | IOMMU_NOEXEC);
    pt.map(0x200, 0x40000, 0x200, RW | IOMMU_CACHE);
    expect(words(pt)).toEqual({
      '0x100000': '0x0000000000101003',
      '0x101000': '0x0000000000102003',
      '0x102000': '0x0000000000103003',
      '0x102008': '0x0000000040000f45', // 2M block: nG b11|AF b10|SH=11|AP[1] b6|AttrIndx=1|01
      '0x103000': '0x0000000012345f47', // page: same attrs, type 11
      '0x103008': '0x0060000000005ec3', // XN b54:53 | nG|AF|SH=10|AP[2] b7|AP[1]|11
    });
    expect(pt.translate(0x1)).toMatchObject({ perm: PERM_R });
    expect(pt.translate(0x0)).toMatchObject({ perm: PERM_R | PERM_W | PERM_X });
    expect(pt.dump().config).toEqual({ levels: 4, granule: 4096, ias: 48, oas: 48, stage: 1 });
  });
  it('S2 4K ias 40: two concatenated level-1 tables (8 KiB root); S2AP and MemAttr', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'arm-lpae-s2', { ias: 40, oas: 40 });
    expect(pt.format.tableFrames[2]).toBe(2);
    pt.map(0x8000000, 0x5, 1, RW | IOMMU_CACHE); // IPA 512G: index 512 of the concatenated root
    pt.map(0x8000001, 0x6, 1, RW);
    expect(words(pt)).toEqual({
      '0x101000': '0x0000000000102003',
      '0x102000': '0x0000000000103003',
      '0x103000': '0x00000000000057ff', // AF|SH=11|S2AP=11|MemAttr=1111|11
      '0x103008': '0x00000000000066d7', // AF|SH=10|S2AP=11|MemAttr=0101|11
    });
    expect(pt.dump().config).toEqual({ levels: 3, granule: 4096, ias: 40, oas: 40, stage: 2, concat: 2 });
  });
  it('64K granule, 52-bit PA: OA[51:48] in descriptor bits 15:12', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'arm-lpae-s1', { granule: 65536, ias: 52, oas: 52 });
    expect(pt.unitLg2).toBe(16);
    expect(pt.pageSizesLg2).toEqual([16, 29, 42]);
    pt.map(0x0, 0xf00000001, 1, RW | IOMMU_CACHE); // PA 0xf_0000_0001_0000
    expect(words(pt)).toEqual({
      '0x100000': '0x0000000000110003', // 8 KiB root (1024 entries); 64 KiB tables at 0x110, 0x120
      '0x110000': '0x0000000000120003',
      '0x120000': '0x000000000001ff47',
    });
    expect(pt.translate(0x0)).toMatchObject({ oaUnit: 0xf00000001 });
  });
  it('a map over an existing leaf is EEXIST (io-pgtable-arm arm_lpae_init_pte)', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'arm-lpae-s2', {});
    pt.map(0x10, 0x10, 1, RW);
    expect(() => pt.map(0x10, 0x20, 1, RW)).toThrow(/EEXIST/);
  });
  it('S2 16K granule ias 40 with 16 concatenated level-2 tables (Arm ARM mandatory case for 40-bit PA)', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'arm-lpae-s2', { granule: 16384, ias: 40, oas: 40, concat: 16 });
    expect(pt.format.levels).toBe(2);
    expect(pt.format.indexBits).toEqual([11, 15]);
    expect(pt.format.tableFrames).toEqual([4, 64]);
    pt.map(2 ** 26 - 1, 0x5, 1, RW); // the last 16K page of the 40-bit IPA space
    expect(pt.translate(2 ** 26 - 1)).toMatchObject({ oaUnit: 0x5, sizeLg2: 14 });
    expect(pt.dump().config).toMatchObject({ levels: 2, concat: 16 });
  });
  it('16K granule: 16K pages and 32M blocks; ias 48 starts at level 0 with 2 entries', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'arm-lpae-s1', { granule: 16384 });
    expect(pt.format.levels).toBe(4);
    expect(pt.format.indexBits).toEqual([11, 11, 11, 1]);
    expect(pt.pageSizesLg2).toEqual([14, 25]);
    // 16 KiB tables: 4 frames aligned to 4 (0x104, 0x108, 0x10c after the 1-frame root)
    pt.map(0x0, 0x48d1, 1, RW | IOMMU_CACHE); // PA 0x12344000
    pt.map(0x800, 0x1000, 0x800, RW | IOMMU_CACHE); // 32M block at IOVA 32M → PA 64M
    expect(words(pt)).toEqual({
      '0x100000': '0x0000000000104003',
      '0x104000': '0x0000000000108003',
      '0x108000': '0x000000000010c003',
      '0x108008': '0x0000000004000f45', // L2 index 1 (IOVA bits 35:25): block, type 01
      '0x10c000': '0x0000000012344f47', // L3 page, type 11
    });
  });
  it('HTTU dirty (S1 hw_dirty): DBM b51 on writable leaves; a write clears AP[2]; cleaning sets it', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'arm-lpae-s1', { hw_dirty: true });
    pt.map(0x0, 0x12345, 1, RW | IOMMU_CACHE);
    expect(words(pt)['0x103000']).toBe('0x0008000012345f47');
    const seen: number[][] = [];
    pt.readAndClearDirty(0, 1, 'clear', (i, n) => seen.push([i, n]));
    expect(seen).toEqual([[0, 1]]); // writable-dirty right after map: AP[2]=0 with DBM
    expect(words(pt)['0x103000']).toBe('0x0008000012345fc7');
    pt.markAccess(0x0, true);
    expect(words(pt)['0x103000']).toBe('0x0008000012345f47');
  });
});

describe('ppc-tce (pci-ioda-tce.c, tce.h): big-endian words, read back as little-endian u64', () => {
  it('one level, 4K pages, 2 GiB window: TCE = PA | W b1 | R b0', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'ppc-tce', {});
    pt.map(0x0, 0x12345, 1, RW);
    pt.map(0x5, 0x6, 1, IOMMU_READ);
    expect(words(pt)).toEqual({
      '0x400000': '0x0350341200000000', // bytes 00 00 00 00 12 34 50 03
      '0x400028': '0x0160000000000000', // bytes 00 00 00 00 00 00 60 01
    });
    expect(pt.translate(0x5)).toMatchObject({ oaUnit: 0x6, perm: PERM_R });
    expect(pt.dump().config).toEqual({ levels: 1, granule: 4096, ias: 31, oas: 52, big_endian: true });
    pt.map(0x6, 0x7, 1, IOMMU_WRITE); // DMA_FROM_DEVICE: pnv_tce_build still sets READ
    expect(words(pt)['0x400030']).toBe('0x0370000000000000'); // 0x7003 big-endian
  });
  it('two levels, 64K pages, 1 TiB window: indirect entry = table PA | R | W', () => {
    const pt = PageTable.create(new PhysicalMemory(0x100), 'ppc-tce', { levels: 2, granule: 65536, ias: 40 });
    pt.map(0x1001, 0x3, 1, RW);
    expect(words(pt)).toEqual({
      '0x100008': '0x0380100000000000', // 0x108003 big-endian
      '0x108008': '0x0300030000000000', // 0x30003 big-endian
    });
  });
});

describe('unit plan configs (reference/iommu) are accepted as given', () => {
  it('ppc-tce 64-bit DDW window at 2^59: IOVA units are bus page numbers, the table indexes from it_offset', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'ppc-tce', { levels: 2, granule: 65536, ias: 60, oas: 52, big_endian: true, window: { start: 1n << 59n, sizeBytes: 1n << 40n } });
    expect(pt.iovaBaseUnit).toBe(2 ** 43);
    pt.map(2 ** 43 + 0x1001, 0x3, 1, RW);
    expect(words(pt)).toEqual({ '0x100008': '0x0380100000000000', '0x108008': '0x0300030000000000' });
    expect(pt.translate(2 ** 43 + 0x1001)).toMatchObject({ oaUnit: 3, leafIovaUnit: 2 ** 43 + 0x1001 });
    expect(pt.dump().config).toEqual({ levels: 2, granule: 65536, ias: 60, oas: 52, big_endian: true });
    expect(() => pt.map(0x1001, 0x3, 1, RW)).toThrow(/ERANGE/);
    expect(pt.unmap(2 ** 43 + 0x1001, 1)).toBe(1);
    pt.destroy();
    expect(mem.framesInUse).toBe(0);
  });
  it.each([
    ['vtd-fs', { levels: 4, granule: 4096, ias: 48, oas: 52, sign_extend: true }],
    ['vtd-ss', { levels: 4, granule: 4096, ias: 46, oas: 52 }],
    ['amd-v1', { levels: 6, granule: 4096, ias: 64, oas: 52 }],
    ['amd-v2', { levels: 4, granule: 4096, ias: 47, oas: 52 }],
    ['riscv-sv', { levels: 3, granule: 4096, ias: 39, oas: 56, sign_extend: true }],
    ['arm-lpae-s2', { levels: 3, granule: 4096, ias: 40, oas: 40, stage: 2, concat: 2 }],
    ['mock', { granule: 2048, huge: true }],
  ] as const)('%s %j', (name, config) => {
    const pt = PageTable.create(new PhysicalMemory(0x100), name, config as never);
    pt.map(0x10, 0x20, 1, RW);
    expect(pt.translate(0x10)).toMatchObject({ oaUnit: 0x20 });
  });
});

describe('config validation names the key', () => {
  const cases: [Parameters<typeof createFormat>[0], object, string][] = [
    ['vtd-ss', { levels: 2 }, 'levels'],
    ['vtd-ss', { granule: 65536 }, 'granule'],
    ['vtd-ss', { ias: 39 }, 'ias'], // 4 levels index 40..48 bits
    ['vtd-fs', { levels: 3 }, 'levels'],
    ['amd-v1', { levels: 7 }, 'levels'],
    ['arm-lpae-s1', { oas: 50 }, 'oas'],
    ['arm-lpae-s1', { concat: 2 }, 'concat'],
    ['arm-lpae-s2', { ias: 48, concat: 4 }, 'concat'],
    ['arm-lpae-s1', { ias: 52 }, 'ias'],
    ['riscv-sv', { svnapot: 1 as unknown as boolean, bogus: 1 }, 'bogus'],
    ['ppc-tce', { big_endian: false }, 'big_endian'],
    ['ppc-tce', { levels: 1, ias: 59, granule: 4096 }, 'levels'],
  ];
  it.each(cases)('%s %j → %s', (name, config, key) => {
    try {
      createFormat(name, config);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FormatConfigError);
      expect((e as FormatConfigError).key).toBe(key);
      expect((e as Error).message).toContain(`'${key}'`);
    }
  });
  it('unknown format', () => {
    expect(() => createFormat('bogus' as never)).toThrow(FormatConfigError);
  });
});
