/**
 * Address-range encodings the invalidation commands use, as pure functions over bigint byte
 * addresses (control plane): VT-d ADDR+AM (naturally aligned 2^AM pages), AMD and RISC-V NAPOT
 * "trailing ones" ranges, SMMUv3 range TLBI (NUM, SCALE, TG). Each returns the inclusive byte
 * range the hardware invalidates, or null for "the whole address space".
 */

import type { ByteRange } from './engine.ts';

const PAGE = 4096n;
export const U64_LAST = (1n << 64n) - 1n;

/** VT-d PSI / P_IOTLB: 2^am 4 KiB pages at addr, addr aligned down to that size (the hardware ignores the low bits). */
export function vtdAddrMask(addr: bigint, am: number): ByteRange {
  const size = PAGE << BigInt(am);
  const start = addr & ~(size - 1n) & U64_LAST;
  return { start, last: start + size - 1n };
}

/**
 * NAPOT with an S bit (AMD INVALIDATE_IOMMU_PAGES, RISC-V IOTINVAL S, PCIe ATS): S = 0 → the
 * 4 KiB page at addr; S = 1 → the lowest clear bit of addr at position ≥ 12, bit n, gives a
 * 2^(n+1)-byte range with bits 12..n of addr cleared. No clear bit below `topBit` → everything.
 */
export function napotRange(addr: bigint, s: boolean, topBit = 63): ByteRange | null {
  const base = addr & ~(PAGE - 1n);
  if (!s) return { start: base, last: base + PAGE - 1n };
  for (let n = 12; n < topBit; n++) {
    if (((addr >> BigInt(n)) & 1n) === 0n) {
      const size = 1n << BigInt(n + 1);
      const start = addr & ~(size - 1n);
      return { start, last: start + size - 1n };
    }
  }
  return null;
}

/** SMMUv3 granule log2 of a TG field: 1 = 4K, 2 = 16K, 3 = 64K; 0 = not a range/TTL command. */
export function smmuGranuleLg2(tg: number): number {
  return tg === 1 ? 12 : tg === 2 ? 14 : tg === 3 ? 16 : 0;
}

/**
 * SMMUv3 TLBI address range: TG = 0 → the one address (entries of any size that cover it);
 * TG ≠ 0 with range invalidation → (NUM + 1) · 2^SCALE granules from ADDR; TG ≠ 0 without
 * (NUM = SCALE = 0) → one granule.
 */
export function smmuRange(addr: bigint, tg: number, num: number, scale: number): ByteRange {
  const g = smmuGranuleLg2(tg);
  if (g === 0) return { start: addr, last: addr };
  const start = addr & ~((1n << BigInt(g)) - 1n);
  const bytes = BigInt(num + 1) << BigInt(scale + g);
  const last = start + bytes - 1n;
  return { start, last: last > U64_LAST ? U64_LAST : last };
}

/**
 * SMMUv3 TTL: the level of the leaf the command targets (1–3; 0 = no hint) → that leaf's size:
 * granule + (3 − level) · (granule − 3) bits. Undefined when there is no hint.
 */
export function smmuTtlSizeLg2(tg: number, ttl: number): number | undefined {
  const g = smmuGranuleLg2(tg);
  if (g === 0 || ttl === 0) return undefined;
  return g + (3 - ttl) * (g - 3);
}
