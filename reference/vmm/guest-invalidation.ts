/**
 * Invalidation commands, in the two hardware forms this VMM meets and one neutral form the
 * shadow strategies act on: SMMUv3 CMDQ commands (16 bytes; Arm IHI 0070 §4, Linux
 * arm-smmu-v3.h CMDQ_*), and VT-d PASID-based IOTLB invalidation (VT-d §6.5.2.4: address,
 * address mask AM = log2 pages, or PASID-wide) as struct iommu_hwpt_vtd_s1_invalidate carries
 * it to iommufd (addr, npages, flags LEAF).
 *
 * Neutral form: IOVAs in 4 KiB pages. `tlbi-va` covers [iovaPfn, iovaPfn + pages): every
 * cached translation of a leaf that overlaps it (the shadow re-reads whole leaves).
 */

export type GuestInvalidation =
  | { op: 'tlbi-va'; asid: number | null; iovaPfn: number; pages: number; leaf: boolean }
  | { op: 'tlbi-asid'; asid: number }
  | { op: 'tlbi-all' }
  /** CFGI_CD / CFGI_STE / PASID-cache invalidation: the context must be read again. */
  | { op: 'context' };

export const CMDQ_OP_CFGI_STE = 0x03;
export const CMDQ_OP_CFGI_STE_RANGE = 0x04;
export const CMDQ_OP_CFGI_CD = 0x05;
export const CMDQ_OP_CFGI_CD_ALL = 0x06;
export const CMDQ_OP_TLBI_NH_ALL = 0x10;
export const CMDQ_OP_TLBI_NH_ASID = 0x11;
export const CMDQ_OP_TLBI_NH_VA = 0x12;
export const CMDQ_OP_TLBI_NH_VAA = 0x13;
export const CMDQ_OP_TLBI_NSNH_ALL = 0x30;
export const CMDQ_OP_CMD_SYNC = 0x46;

export type CmdqCommand = [bigint, bigint];

const TG_BYTES = [0, 4096, 16384, 65536];

/** A CMDQ command in neutral form (null: nothing the shadow needs, e.g. CMD_SYNC). */
export function decodeCmdq(cmd: CmdqCommand): GuestInvalidation | null {
  const [c0, c1] = cmd;
  const op = Number(c0 & 0xffn);
  switch (op) {
    case CMDQ_OP_TLBI_NH_VA:
    case CMDQ_OP_TLBI_NH_VAA: {
      const asid = op === CMDQ_OP_TLBI_NH_VA ? Number((c0 >> 48n) & 0xffffn) : null;
      const num = Number((c0 >> 12n) & 0x1fn);
      const scale = Number((c0 >> 20n) & 0x1fn);
      const tg = Number((c1 >> 10n) & 3n);
      const addr = c1 & ~0xfffn;
      const iovaPfn = Number(addr >> 12n);
      // TG = 0: one address, whatever the size of the leaf holding it.
      const pages = tg === 0 ? 1 : ((num + 1) * 2 ** scale * TG_BYTES[tg]) / 4096;
      return { op: 'tlbi-va', asid, iovaPfn, pages, leaf: (c1 & 1n) === 1n };
    }
    case CMDQ_OP_TLBI_NH_ASID:
      return { op: 'tlbi-asid', asid: Number((c0 >> 48n) & 0xffffn) };
    case CMDQ_OP_TLBI_NH_ALL:
    case CMDQ_OP_TLBI_NSNH_ALL:
      return { op: 'tlbi-all' };
    case CMDQ_OP_CFGI_STE:
    case CMDQ_OP_CFGI_STE_RANGE:
    case CMDQ_OP_CFGI_CD:
    case CMDQ_OP_CFGI_CD_ALL:
      return { op: 'context' };
    default:
      return null;
  }
}

/**
 * TLBI_NH_VA commands covering [iovaPfn, iovaPfn + pages) in `granuleBytes` units: range
 * commands (TG, SCALE, NUM: (NUM+1)·2^SCALE granules from ADDR) when `ranges`, else one
 * command per granule.
 */
export function encodeTlbiVa(asid: number, iovaPfn: number, pages: number, leaf: boolean, granuleBytes = 4096, ranges = true): CmdqCommand[] {
  const per = granuleBytes / 4096;
  let unit = Math.floor(iovaPfn / per);
  let left = Math.ceil((iovaPfn + pages) / per) - unit;
  const tg = BigInt(TG_BYTES.indexOf(granuleBytes));
  const out: CmdqCommand[] = [];
  const c0base = BigInt(CMDQ_OP_TLBI_NH_VA) | (BigInt(asid) << 48n);
  while (left > 0) {
    let n = 1;
    let c0 = c0base;
    let c1 = BigInt(unit) * BigInt(granuleBytes) | (leaf ? 1n : 0n);
    if (ranges) {
      const scale = Math.max(0, Math.floor(Math.log2(left)) - 4);
      const num = Math.min(31, Math.floor(left / 2 ** scale) - 1);
      n = (num + 1) * 2 ** scale;
      c0 |= (BigInt(num) << 12n) | (BigInt(scale) << 20n);
      c1 |= tg << 10n;
    }
    out.push([c0, c1]);
    unit += n;
    left -= n;
  }
  return out;
}

export function encodeTlbiAsid(asid: number): CmdqCommand {
  return [BigInt(CMDQ_OP_TLBI_NH_ASID) | (BigInt(asid) << 48n), 0n];
}

/** CFGI_CD of SSID 0 of the virtual StreamID `vsid` (leaf). */
export function encodeCfgiCd(vsid: number): CmdqCommand {
  return [BigInt(CMDQ_OP_CFGI_CD) | (BigInt(vsid) << 32n), 1n];
}

/** A VT-d page-selective-within-PASID invalidation: 2^am pages at addr (aligned). */
export interface VtdPiotlb {
  granularity: 'page' | 'pasid';
  /** 4 KiB page number of the first page (aligned to 2^am). */
  iovaPfn: number;
  am: number;
  ih: boolean;
}

export function decodeVtdPiotlb(d: VtdPiotlb): GuestInvalidation {
  if (d.granularity === 'pasid') return { op: 'tlbi-all' };
  return { op: 'tlbi-va', asid: null, iovaPfn: d.iovaPfn, pages: 2 ** d.am, leaf: d.ih };
}

/** The smallest naturally aligned power-of-two block of pages covering [iovaPfn, iovaPfn + pages). */
export function vtdCovering(iovaPfn: number, pages: number, maxAm = 18): VtdPiotlb {
  let am = 0;
  while (am <= maxAm && Math.floor(iovaPfn / 2 ** am) !== Math.floor((iovaPfn + pages - 1) / 2 ** am)) am++;
  if (am > maxAm) return { granularity: 'pasid', iovaPfn: 0, am: 0, ih: false };
  return { granularity: 'page', iovaPfn: Math.floor(iovaPfn / 2 ** am) * 2 ** am, am, ih: false };
}

/** struct iommu_hwpt_vtd_s1_invalidate bytes {addr, npages, flags, __reserved}. */
export const IOMMU_VTD_INV_FLAGS_LEAF = 1;
export function vtdInvalidateEntry(iovaPfn: number | 'all', pages: number, leaf: boolean): Uint8Array {
  const b = new Uint8Array(24);
  const dv = new DataView(b.buffer);
  if (iovaPfn === 'all') {
    dv.setBigUint64(0, 0n, true);
    dv.setBigUint64(8, 0xffffffffffffffffn, true);
  } else {
    dv.setBigUint64(0, BigInt(iovaPfn) << 12n, true);
    dv.setBigUint64(8, BigInt(pages), true);
  }
  dv.setUint32(16, leaf ? IOMMU_VTD_INV_FLAGS_LEAF : 0, true);
  return b;
}

export function cmdqBytes(cmds: readonly CmdqCommand[]): Uint8Array {
  const b = new Uint8Array(16 * cmds.length);
  const dv = new DataView(b.buffer);
  cmds.forEach(([c0, c1], i) => {
    dv.setBigUint64(16 * i, c0, true);
    dv.setBigUint64(16 * i + 8, c1, true);
  });
  return b;
}
