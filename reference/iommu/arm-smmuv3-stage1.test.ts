import { describe, expect, it } from 'vitest';
import { decodeCd, smmuStage1 } from './arm-smmuv3-stage1.ts';
import type { Stage1Fault, Stage1Request, Stage1Walk } from './unit.ts';

const caps = { granules: [12, 14, 16], oasBits: 48, vax52: false, httu: 2 as const };
/** A CD word 0 with T0SZ 16, 4K, EPD1, V, IPS 48, AA64 (IHI 0070 §5.4). */
const CD0 = 16n | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n);
const S1 = (ctx: bigint, fmt = 0n, cdMax = 0n) => 1n | (5n << 1n) | (fmt << 4n) | ctx | (cdMax << 59n);

function req(mem: Map<bigint, bigint>, extra: Partial<Stage1Request> = {}): Stage1Request {
  return { iova: 0x1000n, pasid: 0, hasPasid: false, write: false, privileged: false, readIpa64: (ipa) => mem.get(ipa) ?? 0n, ...extra };
}

describe('SMMUv3 CD decoding and stage-1 start', () => {
  it('decodes the CD fields Linux and the spec place', () => {
    const cd = decodeCd(CD0 | (1n << 43n) | (0x1234n << 48n) | (2n << 6n), 0xabc000n | 2n);
    expect(cd).toMatchObject({ t0sz: 16, granuleLg2: 14, ipsBits: 48, aa64: true, ha: true, hd: false, asid: 0x1234, ttb0: 0xabc000n, had0: true });
  });
  it('S1CDMax 0: the CD at S1ContextPtr gives TTB0 and the geometry', () => {
    const mem = new Map([[0x100000n, CD0], [0x100008n, 0x101000n]]);
    const w = smmuStage1(caps, S1(0x100000n), 0n, req(mem)) as Stage1Walk;
    expect(w.rootIpa).toBe(0x101000n);
    expect(w.format.levels).toBe(4);
    expect(w.inputUnit).toBe(1);
  });
  it('abort, bypass, invalid CD, bad SSID', () => {
    const mem = new Map([[0x100000n, CD0], [0x100008n, 0x101000n]]);
    expect(smmuStage1(caps, 1n, 0n, req(mem))).toEqual({ fault: 'blocked', stage: 1 });
    expect(smmuStage1(caps, 0n, 0n, req(mem))).toEqual({ fault: 'blocked', stage: 1 });
    expect(smmuStage1(caps, 9n, 0n, req(mem))).toEqual({ bypass: true });
    // A CD with V = 0 (nothing at 0x200000) is C_BAD_CD; an SSID with S1CDMax = 0 is C_BAD_SUBSTREAMID.
    expect(smmuStage1(caps, S1(0x200000n), 0n, req(mem))).toEqual({ fault: 'not-present', stage: 1, cause: 'bad-cd' });
    expect(smmuStage1(caps, S1(0x100000n), 0n, req(mem, { hasPasid: true, pasid: 1 }))).toEqual({ fault: 'blocked', stage: 1, cause: 'bad-substreamid' });
  });
  it('EPD0 and an input beyond TTB0 are F_TRANSLATION, recorded only under CD.R (bit 45, not SH0 at 13:12)', () => {
    const R = 1n << 45n;
    const SH0 = 3n << 12n;
    const epd0 = new Map([[0x100000n, CD0 | (1n << 14n) | SH0], [0x100008n, 0x101000n]]);
    const epd0R = new Map([[0x100000n, CD0 | (1n << 14n) | R], [0x100008n, 0x101000n]]);
    expect(smmuStage1(caps, S1(0x100000n), 0n, req(epd0))).toEqual({ fault: 'not-present', stage: 1 });
    expect(smmuStage1(caps, S1(0x100000n), 0n, req(epd0R))).toEqual({ fault: 'not-present', stage: 1, cause: 'translation' });
    // T0SZ 16: 48-bit input; 2^48 is beyond TTB0's range.
    const wide = new Map([[0x100000n, CD0 | R], [0x100008n, 0x101000n]]);
    expect(smmuStage1(caps, S1(0x100000n), 0n, req(wide, { iova: 1n << 48n }))).toEqual({ fault: 'not-present', stage: 1, cause: 'translation' });
  });
  it('CD.S (bit 44) is legal only on an SMMU that stalls under vSTE.S1STALLD = 0, and makes the walk stall', () => {
    const mem = new Map([[0x100000n, CD0 | (1n << 44n)], [0x100008n, 0x101000n]]);
    const stalls = { ...caps, stalls: true };
    expect(smmuStage1(caps, S1(0x100000n), 0n, req(mem))).toEqual({ fault: 'not-present', stage: 1, cause: 'bad-cd' });
    expect(smmuStage1(stalls, S1(0x100000n), 1n << 27n, req(mem))).toEqual({ fault: 'not-present', stage: 1, cause: 'bad-cd' });
    expect((smmuStage1(stalls, S1(0x100000n), 0n, req(mem)) as Stage1Walk).stall).toBe(true);
    const epd0 = new Map([[0x100000n, CD0 | (1n << 44n) | (1n << 14n)], [0x100008n, 0x101000n]]);
    expect(smmuStage1(stalls, S1(0x100000n), 0n, req(epd0))).toEqual({ fault: 'not-present', stage: 1, cause: 'translation', stall: true });
  });
  it('a stage-2 fault reading the CD is returned as it is', () => {
    const s2: Stage1Fault = { fault: 'permission', stage: 2 };
    expect(smmuStage1(caps, S1(0x100000n), 0n, req(new Map(), { readIpa64: () => s2 }))).toBe(s2);
  });
  it('two-level CD table with 64K leaves: L1CD at ctx + 8 * (ssid >> 10)', () => {
    const mem = new Map([[0x100008n, 0x106001n], [0x106040n, CD0], [0x106048n, 0x101000n]]);
    const w = smmuStage1(caps, S1(0x100000n, 2n, 11n), 2n, req(mem, { hasPasid: true, pasid: 0x401 })) as Stage1Walk;
    expect(w.rootIpa).toBe(0x101000n);
  });
});
