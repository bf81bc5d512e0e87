// The PASID-entry bits Linux derives from iommu_hwpt_vtd_s1 and the first-stage reserved-bit
// rules (VT-d §9.7), checked against values written from the spec's bit positions.
import { describe, expect, it } from 'vitest';
import { vtdFsReserved, vtdPasidEntryBits, vtdStage1 } from './vtd-stage1.ts';

const fields = (flags: bigint, pgtbl: bigint, aw: bigint) => ({ flags, pgtbl_addr: pgtbl, addr_width: aw });

describe('vtdPasidEntryBits (pasid_pte_config_nested)', () => {
  it('FSPTPTR drops bits 11:0; 57 bits is 5-level; WPE only with SRE; EAFE alone', () => {
    expect(vtdPasidEntryBits(fields(0n, 0x12345fffn, 48n))).toEqual({ fsptptr: 0x12345000n, levels: 4, sre: false, wpe: false, eafe: false });
    expect(vtdPasidEntryBits(fields(4n, 0n, 57n))).toMatchObject({ levels: 5, sre: false, wpe: false });
    expect(vtdPasidEntryBits(fields(5n, 0n, 48n))).toMatchObject({ sre: true, wpe: true });
    expect(vtdPasidEntryBits(fields(2n, 0n, 48n))).toMatchObject({ eafe: true });
    expect(vtdPasidEntryBits(fields(0n, 0n, 39n))).toBe(null);
  });
});

describe('vtdFsReserved (VT-d §9.7)', () => {
  const caps = { fs1gp: true };
  it('PS in a PML5E/PML4E; PS in a PDPTE without FS1GP; low address bits of large leaves', () => {
    expect(vtdFsReserved(caps, 3, 0x1000 | 0x87)).toBe(true);
    expect(vtdFsReserved(caps, 4, 0x1000 | 0x87)).toBe(true);
    expect(vtdFsReserved(caps, 3, 0x1000 | 0x07)).toBe(false);
    expect(vtdFsReserved(caps, 2, 0x40000000 | 0x87)).toBe(false);
    expect(vtdFsReserved({ fs1gp: false }, 2, 0x40000000 | 0x87)).toBe(true);
    expect(vtdFsReserved(caps, 2, 0x40000000 | 0x2000 | 0x87)).toBe(true);
    // Bit 12 is PAT in a large leaf, not reserved.
    expect(vtdFsReserved(caps, 2, 0x40000000 | 0x1000 | 0x87)).toBe(false);
    expect(vtdFsReserved(caps, 1, 0x200000 | 0x100000 | 0x87)).toBe(true);
    expect(vtdFsReserved(caps, 1, 0x200000 | 0x1000 | 0x87)).toBe(false);
    // A PTE's bit 7 is PAT: never reserved.
    expect(vtdFsReserved(caps, 0, 0x5000 | 0x87)).toBe(false);
  });
});

describe('vtdStage1 request checks', () => {
  const start = vtdStage1({ fs1gp: true }, fields(1n, 0x100000n, 48n))!;
  const req = (iova: bigint, privileged = false, hasPasid = privileged) => ({ iova, pasid: hasPasid ? 1 : 0, hasPasid, write: false, privileged, readIpa64: () => 0n });
  it('canonical inputs only, both halves; the input unit is the address truncated to 48 bits', () => {
    expect(start(req(0x00007ffffffff000n))).toMatchObject({ inputUnit: 0x7ffffffff, rootIpa: 0x100000n });
    expect(start(req(0xffff800000000000n))).toMatchObject({ inputUnit: 0x800000000 });
    expect(start(req(0x0000800000000000n))).toEqual({ fault: 'not-present', stage: 1 });
  });
  it('a privileged request needs SRE; a request without PASID is never privileged', () => {
    const noSre = vtdStage1({ fs1gp: true }, fields(0n, 0x100000n, 48n))!;
    expect(noSre(req(0n, true))).toEqual({ fault: 'not-present', stage: 1 });
    expect('rules' in noSre(req(0n, false))).toBe(true);
    const user = [{ level: 0, lo: 0x5003, hi: 0 }];
    const sup = start(req(0n, true));
    const usr = start(req(0n, true, false));
    if ('fault' in sup || 'fault' in usr) throw new Error('unexpected fault');
    expect(sup.rules.permits(user, false)).toBe(true);
    expect(usr.rules.permits(user, false)).toBe(false);
  });
});
