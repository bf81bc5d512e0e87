/**
 * The guest's translation context as its vIOMMU shows it to the VMM, decoded into what a walk
 * of its table needs: the configured format, the root GPA, the translation mode, and the leaf
 * rules. Two guests: an ARM guest's vSMMUv3 stream table entry (words 0–1) and the context
 * descriptor it points at (read from guest memory), and an x86 guest's VT-d scalable-mode PASID
 * entry, as struct iommu_hwpt_vtd_s1 carries it (flags, pgtbl_addr, addr_width).
 *
 * Field positions: SMMUv3 STE/CD (Arm IHI 0070, Linux arm-smmu-v3.h STRTAB_STE_*,
 * CTXDESC_CD_*); VT-d PASID entry (VT-d §9.6, iommufd struct iommu_hwpt_vtd_s1).
 * A setting the host cannot express is refused here with the reason, never adjusted.
 */

import { FormatConfigError, type PtFormat } from '../formats/format.ts';
import { createFormat } from '../formats/registry.ts';
import { armTableAttrs, decodeArmLeaf, decodeX86Leaf, NO_TABLE_ATTRS, x86TableAttrs, type LeafMeaning, type TableAttrs } from './leaf-transform.ts';

export type GuestFormatName = 'arm-lpae-s1' | 'vtd-fs';

export interface GuestTableConfig {
  guest: GuestFormatName;
  /** translate: walk the table; abort: every DMA faults; bypass: IOVA = GPA. */
  mode: 'translate' | 'abort' | 'bypass';
  format: PtFormat;
  levels: number;
  rootGpa: number;
  /** ARM: the CD's ASID (TLBI by ASID must match it). */
  asid: number;
  tableAttrs(parent: TableAttrs, level: number, lo: number, hi: number): TableAttrs;
  decodeLeaf(level: number, lo: number, hi: number, table: TableAttrs): LeafMeaning;
}

export type ContextResult = { ok: true; config: GuestTableConfig } | { ok: false; refusal: string };

const refuse = (refusal: string): ContextResult => ({ ok: false, refusal });

const bits = (v: bigint, hi: number, lo: number): number => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

/** STE word-0 S1ContextPtr (bits 51:6): the IPA of the context descriptor table. */
export function steContextPtr(ste0: bigint): number {
  return Number(ste0 & 0x000fffffffffffc0n);
}

const IPS_BITS = [32, 36, 40, 42, 44, 48, 52];
const TG0_GRANULE: Record<number, number> = { 0: 4096, 1: 65536, 2: 16384 };

/** A disabled context: the shadow has no entries and every DMA faults (or bypasses). */
function inactive(guest: GuestFormatName, mode: 'abort' | 'bypass'): ContextResult {
  const format = createFormat(guest, {});
  return { ok: true, config: { guest, mode, format, levels: format.levels, rootGpa: 0, asid: 0, tableAttrs: () => NO_TABLE_ATTRS, decodeLeaf: () => ({ ok: false, fault: mode }) } };
}

/**
 * An ARM guest's vSTE (words 0, 1) and, for Config = S1 translate, its CD 0 (eight 64-bit words
 * read from guest memory at steContextPtr).
 */
export function decodeArmContext(ste0: bigint, ste1: bigint, cd: readonly bigint[] | null): ContextResult {
  if ((ste0 & 1n) === 0n) return inactive('arm-lpae-s1', 'abort');
  const config = bits(ste0, 3, 1);
  if (config === 0) return inactive('arm-lpae-s1', 'abort');
  if (config === 4) return inactive('arm-lpae-s1', 'bypass');
  if (config !== 5) return refuse(`STE.Config ${config} asks for stage-2 translation inside the guest (an EL2 format); the vIOMMU offers stage 1 only`);
  const strw = bits(ste1, 31, 30);
  if (strw !== 0) return refuse(`STE.STRW ${strw} selects an EL2 translation regime; only NS-EL1 tables are shadowed`);
  const cdMax = bits(ste0, 63, 59);
  if (cdMax !== 0) return refuse(`STE.S1CDMax ${cdMax}: substreams (PASIDs) are not shadowed, only SSID 0 with S1CDMax 0`);
  if (cd === null) return refuse('the context descriptor lies outside guest RAM');
  const w0 = cd[0];
  if (bits(w0, 31, 31) === 0) return inactive('arm-lpae-s1', 'abort');
  if (bits(w0, 41, 41) === 0) return refuse('CD.AA64 = 0: VMSAv8-32 LPAE (or VMSAv9-128) descriptors are not shadowed');
  if (bits(w0, 15, 15) === 1) return refuse('CD.ENDI = 1: big-endian tables');
  if (bits(w0, 30, 30) === 0) return refuse('CD.EPD1 = 0: the upper VA range (TTB1) is in use; the host first stage has one range');
  if (bits(w0, 38, 38) === 1) return refuse('CD.TBI0 = 1: top-byte-ignore has no host equivalent (the address must be canonical)');
  if (bits(w0, 42, 42) === 1 || bits(w0, 43, 43) === 1) return refuse('CD.HA/HD: the hardware would update access/dirty state in the shadow, never in the guest table');
  if (bits(w0, 14, 14) === 1) return inactive('arm-lpae-s1', 'abort');
  const tg0 = bits(w0, 7, 6);
  const granule = TG0_GRANULE[tg0];
  if (granule === undefined) return refuse(`CD.TG0 ${tg0} is reserved`);
  const ips = bits(w0, 34, 32);
  if (ips >= IPS_BITS.length) return refuse(`CD.IPS ${ips} is reserved`);
  const ias = 64 - bits(w0, 5, 0);
  let format: PtFormat;
  try {
    // A 4K/16K-granule descriptor holds 48 address bits: a wider IPS changes nothing there.
    format = createFormat('arm-lpae-s1', { granule, ias, oas: Math.min(IPS_BITS[ips], granule === 65536 ? 52 : 48) });
  } catch (e) {
    if (e instanceof FormatConfigError) return refuse(`T0SZ ${64 - ias} / TG0 ${granule} / IPS ${IPS_BITS[ips]}: ${e.message}`);
    throw e;
  }
  const ttb0 = Number(cd[1] & 0x000ffffffffffff0n);
  if (ttb0 % 4096 !== 0) return refuse(`CD.TTB0 0x${ttb0.toString(16)} is not 4 KiB aligned (a start table smaller than a page, placed off a page boundary)`);
  const mairWord = cd[3];
  const mair = Array.from({ length: 8 }, (_, i) => Number((mairWord >> BigInt(8 * i)) & 0xffn));
  const leafCtx = { affd: bits(w0, 35, 35) === 1, mair, wxn: bits(w0, 36, 36) === 1 };
  return {
    ok: true,
    config: {
      guest: 'arm-lpae-s1',
      mode: 'translate',
      format,
      levels: format.levels,
      rootGpa: ttb0,
      asid: bits(w0, 63, 48),
      tableAttrs: (parent, _level, _lo, hi) => armTableAttrs(parent, hi),
      decodeLeaf: (level, lo, hi, table) => decodeArmLeaf(format, level, lo, hi, table, leafCtx),
    },
  };
}

/** struct iommu_hwpt_vtd_s1 flags. */
export const VTD_S1_SRE = 1;
export const VTD_S1_EAFE = 2;
export const VTD_S1_WPE = 4;

export interface VtdPasidContext {
  flags: number;
  pgtblAddr: number;
  addrWidth: number;
}

/** An x86 guest's first-stage PASID entry (FSPTPTR, FSPM as the address width, SRE/EAFE/WPE). */
export function decodeVtdContext(ctx: VtdPasidContext | null): ContextResult {
  if (ctx === null) return inactive('vtd-fs', 'abort');
  if (ctx.flags & ~(VTD_S1_SRE | VTD_S1_EAFE | VTD_S1_WPE)) return refuse(`PASID entry flags 0x${ctx.flags.toString(16)} has unknown bits`);
  if (ctx.flags & VTD_S1_EAFE) return refuse('EAFE: the hardware would set extended-accessed bits in the shadow, never in the guest table');
  if (ctx.addrWidth !== 48 && ctx.addrWidth !== 57) return refuse(`address width ${ctx.addrWidth}: a first-stage table has 48 or 57 bits`);
  if (ctx.pgtblAddr % 4096 !== 0) return refuse(`FSPTPTR 0x${ctx.pgtblAddr.toString(16)} is not 4 KiB aligned`);
  const format = createFormat('vtd-fs', { levels: ctx.addrWidth === 57 ? 5 : 4 });
  return {
    ok: true,
    config: {
      guest: 'vtd-fs',
      mode: 'translate',
      format,
      levels: format.levels,
      rootGpa: ctx.pgtblAddr,
      asid: 0,
      tableAttrs: (parent, _level, lo, hi) => x86TableAttrs(parent, lo, hi),
      decodeLeaf: (level, lo, hi, table) => decodeX86Leaf(level, lo, hi, table),
    },
  };
}
