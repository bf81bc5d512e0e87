/**
 * The walkers on hand-built tables, for the manual rules that the reference never produces
 * through its adapter (AMD level skipping, 64 KiB ARM granules, RISC-V G-stage roots and
 * Svnapot, non-canonical inputs, TCE byte order). Every table and expected value below is
 * worked out from the bit layouts in the manuals, not from any program's output.
 */
import { describe, expect, it } from 'vitest';
import { walkDump } from './registry.ts';
import type { HookOut_PGTABLE_DUMP } from '../../schemas/generated/protocol.ts';

const hex = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
function dump(format: string, config: Record<string, unknown>, root: bigint, words: Array<[bigint, bigint]>): HookOut_PGTABLE_DUMP {
  return { format, config, root: hex(root), words: words.map(([addr, value]) => ({ addr: hex(addr), value: hex(value) })) };
}
const ok = (phys: bigint, pageSize: bigint, readable: boolean, writeable: boolean) => ({ fault: null, phys, pageSize, readable, writeable });

describe('AMD v1 (AMD IOMMU spec, PDE/PTE format)', () => {
  const IR = 1n << 61n;
  const IW = 1n << 62n;
  const pde = (addr: bigint, next: number) => addr | (BigInt(next) << 9n) | IR | IW | 1n;
  // Mode 3: root (level 3) entry 0 skips level 2 and points straight at a level-1 table.
  const d = dump('amd-v1', { levels: 3, granule: 4096, ias: 39, oas: 52 }, 0x10000n, [
    [0x10000n, pde(0x11000n, 1)],
    [0x11000n + 8n * 5n, 0xabc000n | IR | 1n], // 4 KiB read-only leaf for IOVA 0x5000
    [0x11000n + 8n * 16n, 0x1237000n | (7n << 9n) | IR | IW | 1n], // NextLevel=7, address bits 14:12 = 111, bit 15 = 0 → 64 KiB
  ]);
  it('a skipped level is walked past; its IOVA index bits must be zero', () => {
    expect(walkDump(d, 0x5123n)).toEqual(ok(0xabc123n, 0x1000n, true, false));
    expect(walkDump(d, 0x200000n + 0x5123n).fault).not.toBeNull();
  });
  it('NextLevel=7: the size is 2 × 2^(first zero address bit); bits below it are not address', () => {
    // Only the first of the 16 replicas the spec requires is present, so probe inside its 4 KiB slot.
    expect(walkDump(d, 0x10123n)).toEqual(ok(0x1230123n, 0x10000n, true, true));
    expect(walkDump(d, 0x11123n).fault).not.toBeNull();
  });
  it('an IOVA above the top level faults', () => {
    expect(walkDump(d, 1n << 39n).fault).not.toBeNull();
  });
});

describe('ARM LPAE (Arm ARM D8, 64 KiB granule, 3 levels from level 1)', () => {
  const AF = 1n << 10n;
  // Level 1 indexes bits 47:42, level 2 bits 41:29 (512 MiB blocks), level 3 bits 28:16.
  const d = dump('arm-lpae-s1', { levels: 3, granule: 65536, ias: 48, oas: 48, stage: 1 }, 0x100000n, [
    [0x100000n + 8n * 1n, 0x110000n | 3n], // IOVA 1 << 42 → level-2 table
    [0x110000n + 8n * 2n, 0x40000000n | AF | 1n], // block 512 MiB, read-write
    [0x110000n + 8n * 3n, 0x120000n | 3n], // → level-3 table
    [0x120000n + 8n * 7n, 0x7770000n | AF | (1n << 7n) | 3n], // 64 KiB page, AP[2] read-only
    [0x120000n + 8n * 8n, 0x7780000n | 3n], // AF = 0 → access fault
    [0x120000n + 8n * 9n, 0x7790000n | AF | 1n], // type 01 at level 3 is reserved → fault
  ]);
  const base = 1n << 42n;
  it('walks blocks and pages of the 64 KiB granule', () => {
    expect(walkDump(d, base + 2n * (1n << 29n) + 0x1234567n)).toEqual(ok(0x41234567n, 1n << 29n, true, true));
    expect(walkDump(d, base + 3n * (1n << 29n) + 7n * 0x10000n + 0xabcn)).toEqual(ok(0x7770abcn, 0x10000n, true, false));
  });
  it('AF = 0 and a level-3 block descriptor fault', () => {
    expect(walkDump(d, base + 3n * (1n << 29n) + 8n * 0x10000n).fault).not.toBeNull();
    expect(walkDump(d, base + 3n * (1n << 29n) + 9n * 0x10000n).fault).not.toBeNull();
  });
});

describe('RISC-V (privileged spec PTEs, IOMMU spec G-stage)', () => {
  const V = 1n, R = 2n, W = 4n, U = 16n, A = 64n, D = 128n;
  const pte = (pa: bigint, flags: bigint) => ((pa >> 12n) << 10n) | flags;
  it('Sv39x4: the root has 2048 entries, so GPA bit 40 selects entry 1024 + …', () => {
    const d = dump('riscv-svx4', { levels: 3, granule: 4096, ias: 41, oas: 56 }, 0x200000n, [
      [0x200000n + 8n * 1025n, pte(0x40000000n, V | R | W | U | A | D)], // 1 GiB leaf for GPA 0x100_4000_0000 + …
      [0x200000n + 8n * 3n, pte(0x80000000n, V | R | A)], // U = 0: a G-stage leaf must have U
    ]);
    expect(walkDump(d, (1n << 40n) + (1n << 30n) + 0x1234n)).toEqual(ok(0x40001234n, 1n << 30n, true, true));
    expect(walkDump(d, 3n << 30n).fault).not.toBeNull();
    expect(walkDump(d, 1n << 41n).fault).not.toBeNull();
  });
  it('Sv39: Svnapot 64 KiB leaf, misaligned superpage, sign extension', () => {
    const d = dump('riscv-sv', { levels: 3, granule: 4096, ias: 39, oas: 56 }, 0x300000n, [
      [0x300000n, pte(0x301000n, V)],
      [0x301000n, pte(0x302000n, V)],
      [0x302000n + 8n * 0x13n, (1n << 63n) | (((0x5550000n >> 12n) | 8n) << 10n) | V | R | A], // N=1, PPN[3:0]=1000b
      [0x301000n + 8n * 1n, pte(0x201000n, V | R | A)], // 2 MiB leaf whose PPN[0] ≠ 0 → misaligned
      [0x300000n + 8n * 511n, pte(0x301000n, V)], // top entry 511 = the sign-extended upper half
    ]);
    expect(walkDump(d, 0x13abcn)).toEqual(ok(0x5553abcn, 0x10000n, true, false));
    expect(walkDump(d, 0x200000n).fault).not.toBeNull();
    expect(walkDump(d, 0xffffffffc0013abcn)).toEqual(ok(0x5553abcn, 0x10000n, true, false));
    expect(walkDump(d, 0x7fc0013abcn).fault).not.toBeNull(); // bit 38 set but not sign-extended
  });
});

describe('x86-64 paging (Intel SDM vol. 3 ch. 4): canonical inputs, PAT bit of large pages, R/W ANDed', () => {
  const d = dump('vtd-fs', { levels: 4, granule: 4096, ias: 48, oas: 52 }, 0x1000n, [
    [0x1000n + 8n * 511n, 0x2000n | 0x7n],
    [0x2000n + 8n * 511n, 0x3000n | 0x5n], // R/W = 0 here: nothing below is writable
    [0x3000n + 8n * 511n, 0x40000000n | (1n << 12n) | 0x80n | 0x7n], // 2 MiB leaf with PAT (bit 12) set
  ]);
  it('walks the upper canonical half; bit 12 of a 2 MiB leaf is PAT, not address', () => {
    expect(walkDump(d, 0xffffffffffe01234n)).toEqual(ok(0x40001234n, 0x200000n, true, false));
    expect(walkDump(d, 0x0000ffffffe01234n).fault).not.toBeNull();
  });
});

describe('PowerPC TCE: big-endian entries', () => {
  it('the dump reads the 8 bytes little-endian; the walker swaps them back', () => {
    const tceBe = 0x0000000012345000n | 3n;
    const asLe = BigInt('0x' + Buffer.from(tceBe.toString(16).padStart(16, '0'), 'hex').reverse().toString('hex'));
    const d = dump('ppc-tce', { levels: 1, granule: 4096, ias: 30, oas: 52, big_endian: true }, 0x1000000n, [[0x1000000n + 8n * 0x42n, asLe]]);
    expect(walkDump(d, 0x42abcn)).toEqual(ok(0x12345abcn, 0x1000n, true, true));
    expect(walkDump(d, 0x43000n).fault).not.toBeNull();
    expect(walkDump(d, 1n << 30n).fault).not.toBeNull();
  });
});
