import { describe, expect, it } from 'vitest';
import { CMDQ_OP_TLBI_NH_ALL } from './arm-smmuv3-cmdq.ts';
import { convertUserCommand, copyFullUserArray, vsmmuCacheInvalidate, type SmmuCommand } from './arm-vsmmu.ts';
import type { InvalidateArray } from './unit.ts';

const entry = (w0: bigint, w1 = 0n, lengthBytes = 16): Uint8Array => {
  const b = new Uint8Array(Math.max(lengthBytes, 16));
  const v = new DataView(b.buffer);
  v.setBigUint64(0, w0, true);
  v.setBigUint64(8, w1, true);
  return b.subarray(0, lengthBytes);
};
const array = (entries: Array<Uint8Array | null>, dataType = 1, entryLenBytes = 16): InvalidateArray => ({
  dataType, entryLenBytes, entryNum: entries.length, readEntry: (i) => entries[i],
});
const sidOf = (vsid: bigint): number | null => (vsid === 0x99n ? 0x12 : null);

describe('arm_vsmmu_convert_user_cmd', () => {
  it('TLBI NH commands get the vIOMMU VMID in bits 47:32, other bits kept', () => {
    const c = convertUserCommand(0x0007_00ff_1234_0012n, 0xabcdn, 5, sidOf);
    expect(c).toEqual({ op: 0x12, words: [0x0007_0005_1234_0012n, 0xabcdn] });
  });
  it('NSNH_ALL becomes NH_ALL of the VMID with word 1 cleared', () => {
    expect(convertUserCommand(0xffff_ffff_0000_0030n, 7n, 9, sidOf)).toEqual({ op: CMDQ_OP_TLBI_NH_ALL, words: [0x9_0000_0010n, 0n] });
  });
  it('CFGI_CD / CFGI_CD_ALL / ATC_INV: vSID (63:32) becomes the physical SID; unknown vSID is EIO', () => {
    expect(convertUserCommand(0x99_0000_3005n, 1n, 1, sidOf)).toEqual({ op: 0x05, words: [0x12_0000_3005n, 1n] });
    expect(convertUserCommand(0x99_0000_0040n, 0n, 1, sidOf)).toMatchObject({ words: [0x12_0000_0040n, 0n] });
    expect(convertUserCommand(0x98_0000_0006n, 0n, 1, sidOf)).toBe('EIO');
  });
  it('anything else is EIO', () => {
    for (const op of [0x00, 0x01, 0x03, 0x04, 0x20, 0x28, 0x2a, 0x46]) expect(convertUserCommand(BigInt(op) | (0x99n << 32n), 0n, 1, sidOf)).toBe('EIO');
  });
});

describe('arm_vsmmu_cache_invalidate', () => {
  it('copies every entry first: type, entry_num 0, E2BIG tails and faults win over bad opcodes', () => {
    expect(copyFullUserArray(array([entry(0x10n)], 0), 1, 16)).toBe('EINVAL');
    expect(copyFullUserArray(array([]), 1, 16)).toBe('EINVAL');
    const long = new Uint8Array(24);
    long[23] = 1;
    expect(vsmmuCacheInvalidate(array([entry(0x03n), long], 1, 24), 1, sidOf, () => {})).toEqual({ handled: 0, errno: 'E2BIG' });
    expect(vsmmuCacheInvalidate(array([entry(0x03n), null]), 1, sidOf, () => {})).toEqual({ handled: 0, errno: 'EFAULT' });
  });
  it('short entries are zero-extended', () => {
    const got: SmmuCommand[] = [];
    expect(vsmmuCacheInvalidate(array([entry(0x10n, 0n, 8)], 1, 8), 3, sidOf, (b) => got.push(...b))).toEqual({ handled: 1 });
    expect(got).toEqual([{ op: 0x10, words: [0x3_0000_0010n, 0n] }]);
  });
  it('issues in batches of 63 and at the end; a failure drops the unissued converted commands', () => {
    const batches: number[] = [];
    const ok = Array.from({ length: 130 }, () => entry(0x12n));
    expect(vsmmuCacheInvalidate(array(ok), 1, sidOf, (b) => batches.push(b.length))).toEqual({ handled: 130 });
    expect(batches).toEqual([63, 63, 4]);
    batches.length = 0;
    const failing = [...Array.from({ length: 70 }, () => entry(0x12n)), entry(0x28n)];
    expect(vsmmuCacheInvalidate(array(failing), 1, sidOf, (b) => batches.push(b.length))).toEqual({ handled: 70, errno: 'EIO' });
    expect(batches).toEqual([63]);
  });
});
