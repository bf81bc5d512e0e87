/**
 * What an independent walker sees and returns. A walker gets only a PGTABLE_DUMP answer (the
 * non-zero descriptor words with their physical addresses, as little-endian u64 hex strings)
 * and an IOVA; memory not in the dump reads as zero, as unwritten simulated memory does.
 * Addresses are BigInt: this is a checking tool, not a hot path.
 */
import type { HookOut_PGTABLE_DUMP } from '../../schemas/generated/protocol.ts';

export type WalkResult =
  | { fault: null; phys: bigint; pageSize: bigint; readable: boolean; writeable: boolean }
  | { fault: string };

export interface DumpMemory {
  /** The 8 bytes at a physical address as a little-endian u64 (0 when not in the dump). */
  read64(addr: bigint): bigint;
  root: bigint;
  config: Record<string, unknown>;
}

export type Walker = (mem: DumpMemory, iova: bigint) => WalkResult;

export function dumpMemory(dump: HookOut_PGTABLE_DUMP): DumpMemory {
  const words = new Map<bigint, bigint>();
  for (const w of dump.words) words.set(BigInt(w.addr), BigInt(w.value));
  return { read64: (addr) => words.get(addr) ?? 0n, root: BigInt(dump.root), config: dump.config };
}

export const bits = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
export const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
export const mask = (lg2: number): bigint => (1n << BigInt(lg2)) - 1n;

export function cfgNumber(config: Record<string, unknown>, key: string, fallback?: number): number {
  const v = config[key];
  if (typeof v === 'number') return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`PGTABLE_DUMP config.${key} missing`);
}

/** A leaf reached: phys = the leaf's output base plus the IOVA's offset inside the page. */
export function leaf(baseOa: bigint, sizeLg2: number, iova: bigint, readable: boolean, writeable: boolean): WalkResult {
  return { fault: null, phys: (baseOa & ~mask(sizeLg2)) | (iova & mask(sizeLg2)), pageSize: 1n << BigInt(sizeLg2), readable, writeable };
}

/** An input address that is neither below 2^ias nor (when signExtend) its sign-extended image. */
export function inputOutOfRange(iova: bigint, ias: number, signExtend: boolean): boolean {
  const hi = iova >> BigInt(ias - (signExtend ? 1 : 0));
  if (hi === 0n) return false;
  return !(signExtend && hi === (1n << BigInt(64 - ias + 1)) - 1n);
}
