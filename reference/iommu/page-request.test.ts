// The page-request records of each driver, field by field, worked out by hand from
// drivers/iommu/intel/prq.c (intel_prq_report, prq_event_thread) and
// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (arm_smmu_handle_event); and the knobs that
// decide whether a device raises them at all.
import { describe, expect, it } from 'vitest';
import { mockPageRequest, smmuStallRequest, vtdPageRequest } from './page-request.ts';
import { createIntelVtdProfile, encodeEcapReg, readVtdKnobs } from './intel-vtd.ts';
import { createArmSmmuV3Profile, encodeSmmuRegisters, readSmmuKnobs } from './arm-smmuv3.ts';
import type { FaultingRequest, UnitDevice } from './unit.ts';

const read = (iova: bigint, pasid = 0, privileged = false): FaultingRequest => ({ iova, pasid, hasPasid: pasid !== 0, write: false, privileged });
const write = (iova: bigint, pasid = 0, privileged = false): FaultingRequest => ({ ...read(iova, pasid, privileged), write: true });
const dev = (flags: Partial<UnitDevice> = {}): UnitDevice => ({ name: 'd', noDirty: false, pasid: true, ...flags });
const how = (grpid: number, iopf = true, last = true) => ({ iopf, grpid, nested: false, last });

describe('VT-d page requests (intel_prq_report)', () => {
  it('names the 4 KiB page, LAST_PAGE; with a PASID also PASID_VALID | NEEDS_PASID (0x7)', () => {
    expect(vtdPageRequest(read(0x2345678n), 511)).toEqual({ flags: 0x2, pasid: 0, grpid: 511, perm: 0x1, addrBytes: 0x2345000n });
    expect(vtdPageRequest(write(0x3000ff0n, 5), 3)).toEqual({ flags: 0x7, pasid: 5, grpid: 3, perm: 0x2, addrBytes: 0x3000000n });
  });
  it('answers privileged and non-canonical requests itself', () => {
    expect(vtdPageRequest(write(0x1000n, 5, true), 0)).toEqual({ rejected: true });
    expect(vtdPageRequest(read(0x800000001000n), 0)).toEqual({ rejected: true });
    expect(vtdPageRequest(read(0xffff800000000000n), 0)).not.toEqual({ rejected: true });
    expect(vtdPageRequest(read(0x7ffffffff000n), 0)).not.toEqual({ rejected: true });
  });
  it('a request that is not the last of its group (LPIG = 0) has no LAST_PAGE; a stall always has', () => {
    expect(vtdPageRequest(read(0x5000n), 9, false)).toEqual({ flags: 0x0, pasid: 0, grpid: 9, perm: 0x1, addrBytes: 0x5000n });
    expect(vtdPageRequest(write(0x6000n, 2), 9, false)).toEqual({ flags: 0x5, pasid: 2, grpid: 9, perm: 0x2, addrBytes: 0x6000n });
    const stall = createArmSmmuV3Profile({ stall_model: 'stall' });
    expect(stall.pageRequest(dev({ stall: true }), read(0x1000n), how(1, false, false))).toMatchObject({ flags: 0x2 });
  });
  it('a PRG index is 9 bits', () => {
    expect(() => vtdPageRequest(read(0n), 512)).toThrow(RangeError);
  });
  it('only a pri device with iopf on a unit with ECAP.PRS raises one; IOPF enable is ENODEV otherwise', () => {
    const on = createIntelVtdProfile({});
    const off = createIntelVtdProfile({ page_requests: false });
    expect(on.pageRequest(dev({ pri: true }), read(0x1000n), how(1))).not.toBeNull();
    expect(on.pageRequest(dev({ pri: true }), read(0x1000n), how(1, false))).toBeNull();
    expect(on.pageRequest(dev(), read(0x1000n), how(1))).toBeNull();
    expect(off.pageRequest(dev({ pri: true }), read(0x1000n), how(1))).toBeNull();
    expect(on.iopfEnable(dev({ pri: true }))).toBeNull();
    expect(on.iopfEnable(dev())).toBe('ENODEV');
    expect(off.iopfEnable(dev({ pri: true }))).toBe('ENODEV');
  });
  it('page_requests clears ECAP.PRS (bit 29) and nothing else', () => {
    const a = encodeEcapReg(readVtdKnobs({}));
    const b = encodeEcapReg(readVtdKnobs({ page_requests: false }));
    expect(a ^ b).toBe(1n << 29n);
  });
});

describe('SMMUv3 stalls (arm_smmu_handle_event)', () => {
  it('grpid = STAG, the full input address, PRIV for PnU, PASID_VALID for SSV', () => {
    expect(smmuStallRequest(read(0x2345678n), 0x1234)).toEqual({ flags: 0x2, pasid: 0, grpid: 0x1234, perm: 0x1, addrBytes: 0x2345678n });
    expect(smmuStallRequest(write(0x3000ff0n, 9, true), 0xffff)).toEqual({ flags: 0x3, pasid: 9, grpid: 0xffff, perm: 0xa, addrBytes: 0x3000ff0n });
    expect(() => smmuStallRequest(read(0n), 0x10000)).toThrow(RangeError);
  });
  it('STALL_MODEL: "stall" stalls a stall master only, "force" every master, "none" none; never a nested domain', () => {
    const stall = createArmSmmuV3Profile({ stall_model: 'stall' });
    const force = createArmSmmuV3Profile({ stall_model: 'force' });
    const none = createArmSmmuV3Profile({});
    expect(stall.pageRequest(dev({ stall: true }), read(0x1000n), how(1, false))).not.toBeNull();
    expect(stall.pageRequest(dev(), read(0x1000n), how(1))).toBeNull();
    expect(force.pageRequest(dev(), read(0x1000n), how(1, false))).not.toBeNull();
    expect(none.pageRequest(dev({ stall: true }), read(0x1000n), how(1))).toBeNull();
    expect(stall.pageRequest(dev({ stall: true }), read(0x1000n), { iopf: true, grpid: 1, nested: true, last: true })).toBeNull();
    expect(none.iopfEnable(dev())).toBeNull();
  });
  it('IDR0.STALL_MODEL [25:24] encodes the knob: stall 0b00, none 0b01, force 0b10', () => {
    const field = (m: string) => (encodeSmmuRegisters(readSmmuKnobs({ stall_model: m })).idr[0] >>> 24) & 3;
    expect([field('stall'), field('none'), field('force')]).toEqual([0, 1, 2]);
  });
});

describe('mock page requests', () => {
  it('the 4 KiB page, READ or WRITE, PASID_VALID with a PASID', () => {
    expect(mockPageRequest(write(0x1000ffen, 3), 6)).toEqual({ flags: 0x3, pasid: 3, grpid: 6, perm: 0x2, addrBytes: 0x1000000n });
  });
});
