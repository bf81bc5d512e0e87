// What the VMM accepts from a guest's vIOMMU context and leaves, and the reasons it refuses the
// settings a host first stage cannot express (never adjusting them).
import { describe, expect, it } from 'vitest';
import { ARM_AF, ARM_AP_RDONLY, ARM_AP_UNPRIV } from '../formats/arm-lpae.ts';
import { createFormat } from '../formats/registry.ts';
import { decodeArmContext, decodeVtdContext, VTD_S1_EAFE } from './guest-context.ts';
import { decodeArmLeaf, decodeX86Leaf, NO_TABLE_ATTRS } from './leaf-transform.ts';

const STE_S1 = 1n | (5n << 1n) | 0x40001000n;
/** A CD like Linux's: T0SZ 16, TG0 4K, WB, inner, EPD1, V, IPS 48, AA64, R, A, ASET, ASID 7. */
function cd(overrides: { t0sz?: number; tg0?: number; set?: bigint; clear?: bigint; ttb0?: bigint; mair?: bigint } = {}): bigint[] {
  let w0 = BigInt(overrides.t0sz ?? 16) | (BigInt(overrides.tg0 ?? 0) << 6n) | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (7n << 48n);
  w0 = (w0 | (overrides.set ?? 0n)) & ~(overrides.clear ?? 0n);
  return [w0, overrides.ttb0 ?? 0x40200000n, 0n, overrides.mair ?? 0x0004ff44n, 0n, 0n, 0n, 0n];
}

describe('ARM guest context (vSTE + CD)', () => {
  it('a Linux-like CD decodes to a 4-level 4K table at TTB0 with its ASID', () => {
    const r = decodeArmContext(STE_S1, 0n, cd());
    expect(r.ok && { levels: r.config.levels, root: r.config.rootGpa, asid: r.config.asid, g: r.config.format.unitLg2, ias: r.config.format.iasLg2 }).toEqual({ levels: 4, root: 0x40200000, asid: 7, g: 12, ias: 48 });
  });

  it('T0SZ and TG0 give the geometry: 64K granule with T0SZ 24 is a 2-level 40-bit table', () => {
    const r = decodeArmContext(STE_S1, 0n, cd({ t0sz: 24, tg0: 1 }));
    expect(r.ok && [r.config.levels, r.config.format.unitLg2, r.config.format.iasLg2]).toEqual([2, 16, 40]);
  });

  it('abort, bypass, an invalid CD and EPD0 are modes, not refusals', () => {
    expect(decodeArmContext(0n, 0n, null)).toMatchObject({ ok: true, config: { mode: 'abort' } });
    expect(decodeArmContext(1n | (4n << 1n), 0n, null)).toMatchObject({ ok: true, config: { mode: 'bypass' } });
    expect(decodeArmContext(STE_S1, 0n, cd({ clear: 1n << 31n }))).toMatchObject({ ok: true, config: { mode: 'abort' } });
    expect(decodeArmContext(STE_S1, 0n, cd({ set: 1n << 14n }))).toMatchObject({ ok: true, config: { mode: 'abort' } });
  });

  it.each([
    ['stage 2 in the guest (Config 6)', 1n | (6n << 1n), 0n, cd(), /EL2 format/],
    ['an EL2 regime (STRW 2)', STE_S1, 2n << 30n, cd(), /EL2 translation regime/],
    ['substreams (S1CDMax 3)', STE_S1 | (3n << 59n), 0n, cd(), /substreams/],
    ['VMSAv8-32 tables', STE_S1, 0n, cd({ clear: 1n << 41n }), /VMSAv8-32/],
    ['big-endian tables', STE_S1, 0n, cd({ set: 1n << 15n }), /big-endian/],
    ['TTB1 in use', STE_S1, 0n, cd({ clear: 1n << 30n }), /TTB1/],
    ['top-byte-ignore', STE_S1, 0n, cd({ set: 1n << 38n }), /top-byte-ignore/],
    ['hardware dirty update', STE_S1, 0n, cd({ set: 1n << 42n }), /access\/dirty/],
    ['a reserved TG0', STE_S1, 0n, cd({ tg0: 3 }), /TG0 3 is reserved/],
    ['a 52-bit input with the 4K granule', STE_S1, 0n, cd({ t0sz: 12 }), /ias/],
    ['a TTB0 off a page boundary', STE_S1, 0n, cd({ ttb0: 0x40200200n }), /not 4 KiB aligned/],
  ])('refuses %s', (_what, ste0, ste1, words, why) => {
    const r = decodeArmContext(ste0, ste1, words);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.refusal).toMatch(why);
  });
});

describe('ARM leaves', () => {
  const f4k = createFormat('arm-lpae-s1', {});
  const ctx = { affd: false, mair: [0x44, 0xff, 0x04, 0, 0, 0, 0, 0], wxn: false };
  const page = (lo: number, hi = 0) => decodeArmLeaf(f4k, 0, (lo | 3 | 0x1000) >>> 0, hi, NO_TABLE_ATTRS, ctx);

  it('AP[2], AP[1] and XN give the access; AF=0 faults unless AFFD', () => {
    expect(page(ARM_AF | ARM_AP_UNPRIV | (1 << 2))).toEqual({ ok: true, access: { read: true, write: true, user: true, exec: true } });
    expect(page(ARM_AF | ARM_AP_RDONLY | (1 << 2), 3 << 21)).toEqual({ ok: true, access: { read: true, write: false, user: false, exec: false } });
    expect(page(ARM_AP_UNPRIV | (1 << 2))).toMatchObject({ ok: false, fault: expect.stringMatching(/access flag/) });
    expect(decodeArmLeaf(f4k, 0, (ARM_AP_UNPRIV | (1 << 2) | 3 | 0x1000) >>> 0, 0, NO_TABLE_ATTRS, { ...ctx, affd: true })).toMatchObject({ ok: true });
  });

  it('refuses memory types other than write-back, and UXN ≠ PXN on a user page', () => {
    expect(page(ARM_AF | ARM_AP_UNPRIV | (0 << 2))).toMatchObject({ ok: false, refusal: expect.stringMatching(/0x44.*not Normal write-back/) });
    expect(page(ARM_AF | ARM_AP_UNPRIV | (2 << 2))).toMatchObject({ ok: false, refusal: expect.stringMatching(/0x04/) });
    expect(page(ARM_AF | ARM_AP_UNPRIV | (1 << 2), 1 << 22)).toMatchObject({ ok: false, refusal: expect.stringMatching(/UXN=1 and PXN=0/) });
  });

  it('a block where the granule has none faults (4K granule, level 3 = 512 GiB)', () => {
    expect(decodeArmLeaf(f4k, 3, ARM_AF | 1, 0, NO_TABLE_ATTRS, ctx)).toMatchObject({ ok: false, fault: expect.stringMatching(/without blocks/) });
  });
});

describe('x86 guest context and leaves', () => {
  it('48 and 57 bits give 4 and 5 levels; other widths and EAFE are refused', () => {
    expect(decodeVtdContext({ flags: 0, pgtblAddr: 0x1000, addrWidth: 57 })).toMatchObject({ ok: true, config: { levels: 5, rootGpa: 0x1000 } });
    expect(decodeVtdContext({ flags: 0, pgtblAddr: 0x1000, addrWidth: 39 })).toMatchObject({ ok: false, refusal: expect.stringMatching(/48 or 57/) });
    expect(decodeVtdContext({ flags: VTD_S1_EAFE, pgtblAddr: 0x1000, addrWidth: 48 })).toMatchObject({ ok: false, refusal: expect.stringMatching(/EAFE/) });
  });

  it('refuses leaves whose A/D bits the host would set only in its shadow, and memory-type bits', () => {
    expect(decodeX86Leaf(0, 0x1 | 0x4 | 0x20, 0, NO_TABLE_ATTRS)).toEqual({ ok: true, access: { read: true, write: false, user: true, exec: true } });
    expect(decodeX86Leaf(0, 0x1 | 0x4, 0, NO_TABLE_ATTRS)).toMatchObject({ refusal: expect.stringMatching(/A=0/) });
    expect(decodeX86Leaf(0, 0x1 | 0x2 | 0x4 | 0x20, 0, NO_TABLE_ATTRS)).toMatchObject({ refusal: expect.stringMatching(/D=0/) });
    expect(decodeX86Leaf(0, 0x1 | 0x4 | 0x20 | 0x10, 0, NO_TABLE_ATTRS)).toMatchObject({ refusal: expect.stringMatching(/PCD/) });
    expect(decodeX86Leaf(0, 0x1 | 0x20, 1 << 31, NO_TABLE_ATTRS)).toEqual({ ok: true, access: { read: true, write: false, user: false, exec: false } });
  });
});
