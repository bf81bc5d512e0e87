/**
 * How an Arm SMMUv3 starts the stage-1 walk of a request through a guest's vSTE (a nested
 * domain of a vSMMU): STE Config, SubstreamID selection (S1CDMax, S1DSS), the CD fetch from
 * guest memory through stage 2 (S1ContextPtr is an IPA; S1Fmt linear or 2-level with 4 KiB /
 * 64 KiB leaf tables), CD decoding and its ILLEGAL cases, then the VMSAv8-64 stage-1 rules the
 * walk applies (block levels, output size, AF / AFFD / HA, AP[2:1] and APTable, DBM with HD).
 * Layouts: Arm IHI 0070 (SMMUv3) §5.2 STE, §5.4 CD, §5.4.2 L1CD; Arm ARM D8 descriptors.
 *
 * What a DMA answer says, since the protocol has four fault kinds: an abort vSTE (or a
 * non-valid one, installed as abort) and S1DSS terminate are `blocked`; an unusable SubstreamID
 * is `blocked` too, recorded as C_BAD_SUBSTREAMID (S1CDMax 0 or the SSID beyond it, SSID 0
 * under S1DSS = 0b10); a CD that is not valid or is ILLEGAL (AA64 = 0, a granule the SMMU lacks,
 * T0SZ out of range, CD.S on an SMMU that cannot stall or under vSTE.S1STALLD = 1, TTB0 beyond
 * the output size) is
 * `not-present`, recorded as C_BAD_CD whatever CD.R says (a configuration error); EPD0 or an
 * input outside TTB0's range (F_TRANSLATION; TTB1 is not modelled: Linux never uses it), a
 * missing or reserved descriptor (F_TRANSLATION), an output address beyond the CD's IPS
 * (F_ADDR_SIZE) and AF = 0 without HA or AFFD (F_ACCESS) are `not-present`, and AP bits that
 * forbid the access `permission` — recorded only under CD.R (bit 45), and stalled under CD.S
 * (bit 44; the walk's `stall`): a stalled fault is software's to resume, never a vEVENTQ
 * event. All at stage 1; the CD and
 * table reads themselves may fault at stage 2. An L1CD with V = 0 is `not-present` and carries
 * no record kind here (which event the SMMU records for it was not checked). CD.A (abort vs
 * RAZ/WI termination) only changes what the device sees of a terminated transaction.
 *
 * Invariants: pure — reads guest memory only through req.readIpa64; formats are built once per
 * geometry and kept.
 */

import type { PtFormat } from '../formats/format.ts';
import { ENTRY_LEAF } from '../formats/format.ts';
import { createFormat } from '../formats/registry.ts';
import type { Stage1Bypass, Stage1Entry, Stage1Fault, Stage1Request, Stage1Rules, Stage1Walk } from './unit.ts';

/** STE word 0/1 fields a guest owns (STRTAB_STE_0_*, STRTAB_STE_1_S1DSS). */
const STE_CFG_ABORT = 0;
const STE_CFG_BYPASS = 4;
const STE_CFG_S1_TRANS = 5;
const S1DSS_TERMINATE = 0;
const S1DSS_BYPASS = 1;
const S1DSS_SSID0 = 2;

/** What the unit's ID registers allow a CD (IDR0.HTTU, IDR5.GRAN*, OAS, VAX; IDR0.TTENDIAN 0 = mixed). */
export interface SmmuStage1Caps {
  granules: readonly number[];
  oasBits: number;
  vax52: boolean;
  /** IDR0.HTTU: 0 none, 1 access flag, 2 access and dirty. */
  httu: 0 | 1 | 2;
  /** IDR0.STALL_MODEL allows stalls (0b00 or 0b10): a CD may set S. */
  stalls?: boolean;
}

/** CD word 0 / word 1 fields (IHI 0070 §5.4, Linux CTXDESC_CD_0_* / CTXDESC_CD_1_TTB0). */
export interface DecodedCd {
  t0sz: number;
  granuleLg2: number;
  epd0: boolean;
  endi: boolean;
  /** CD.R: stage-1 translation, address size, access flag and permission faults are recorded. */
  r: boolean;
  ipsBits: number;
  affd: boolean;
  tbi0: boolean;
  aa64: boolean;
  hd: boolean;
  ha: boolean;
  stall: boolean;
  asid: number;
  ttb0: bigint;
  had0: boolean;
}

const bit = (w: bigint, n: number): boolean => ((w >> BigInt(n)) & 1n) === 1n;
const bits = (w: bigint, hi: number, lo: number): number => Number((w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
const IPS_BITS = [32, 36, 40, 42, 44, 48, 52];
/** TG0 encoding → log2 granule (0 = 4K, 1 = 64K, 2 = 16K, 3 reserved). */
const TG0_LG2 = [12, 16, 14, 0];

export function decodeCd(w0: bigint, w1: bigint): DecodedCd {
  return {
    t0sz: bits(w0, 5, 0),
    granuleLg2: TG0_LG2[bits(w0, 7, 6)],
    r: bit(w0, 45), // CTXDESC_CD_0_R; bits 13:12 are SH0
    epd0: bit(w0, 14),
    endi: bit(w0, 15),
    ipsBits: IPS_BITS[bits(w0, 34, 32)] ?? 0,
    affd: bit(w0, 35),
    tbi0: bit(w0, 38),
    aa64: bit(w0, 41),
    hd: bit(w0, 42),
    ha: bit(w0, 43),
    stall: bit(w0, 44),
    asid: bits(w0, 63, 48),
    ttb0: w1 & 0x000ffffffffffff0n,
    had0: bit(w1, 1),
  };
}

/** The descriptor bits the stage-1 rules look at (logical halves). */
const D_AP_UNPRIV = 1 << 6;
const D_AP_RDONLY = 1 << 7;
const D_AF = 1 << 10;
const D_DBM_HI = 1 << 19;
const D_APTABLE_NOUNPRIV_HI = 1 << 29;
const D_APTABLE_RDONLY_HI = 1 << 30;

const formats = new Map<string, PtFormat>();

/** The arm-lpae-s1 walker for a CD's geometry (big-endian tables when CD.ENDI). */
function s1Format(granuleLg2: number, iasBits: number, oasBits: number, bigEndian: boolean): PtFormat {
  const key = `${granuleLg2}/${iasBits}/${oasBits}/${bigEndian}`;
  let f = formats.get(key);
  if (f === undefined) {
    const base = createFormat('arm-lpae-s1', { granule: 2 ** granuleLg2, ias: iasBits, oas: oasBits, stage: 1 });
    // The codec is the same; only the walker's byte order differs.
    f = bigEndian ? (Object.create(base, { bigEndian: { value: true } }) as PtFormat) : base;
    formats.set(key, f);
  }
  return f;
}

/** Output address of a table or leaf descriptor, bytes (64K granule: bits 51:48 in 15:12). */
function descriptorAddr(format: PtFormat, lo: number, hi: number): number {
  const low = format.unitLg2 === 16 ? (lo & 0xffff0000) >>> 0 : (lo & 0xfffff000) >>> 0;
  const top = format.unitLg2 === 16 ? ((lo >>> 12) & 0xf) * 2 ** 48 : 0;
  return low + (hi & 0xffff) * 2 ** 32 + top;
}

function stage1Rules(format: PtFormat, cd: DecodedCd, caps: SmmuStage1Caps, oasBits: number, privileged: boolean): Stage1Rules {
  const ha = cd.ha && caps.httu >= 1;
  const hd = cd.hd && ha && caps.httu === 2;
  const limit = 2 ** oasBits;
  return {
    reserved(level, lo, hi) {
      const leaf = format.kind(level, lo, hi) === ENTRY_LEAF;
      // A block where the granule has none (4K L0, 16K L1, 64K L1 below 52-bit PA) is invalid.
      if (leaf && level > 0 && format.leafSizesLg2[level].length === 0) return true;
      // Address size fault: a table or output address beyond the CD's output size.
      if (descriptorAddr(format, lo, hi) >= limit) return 'addr-size';
      // Access flag fault: AF = 0 with neither hardware update (HA) nor AFFD.
      return leaf && (lo & D_AF) === 0 && !ha && !cd.affd ? 'access' : false;
    },
    permits(path: readonly Stage1Entry[], write: boolean): boolean {
      const leaf = path[path.length - 1];
      let unpriv = (leaf.lo & D_AP_UNPRIV) !== 0;
      let writable = (leaf.lo & D_AP_RDONLY) === 0 || (hd && (leaf.hi & D_DBM_HI) !== 0);
      if (!cd.had0) {
        for (let i = 0; i < path.length - 1; i++) {
          if (path[i].hi & D_APTABLE_NOUNPRIV_HI) unpriv = false;
          if (path[i].hi & D_APTABLE_RDONLY_HI) writable = false;
        }
      }
      if (!privileged && !unpriv) return false;
      return !write || writable;
    },
    accessBits(path: readonly Stage1Entry[], write: boolean) {
      return path.map((e, i) => {
        if (i !== path.length - 1 || !ha) return { lo: 0, hi: 0 };
        // HD: a write through a writable-clean (DBM, AP[2] = 1) leaf makes it dirty (AP[2] = 0).
        const dirty = write && hd && (e.hi & D_DBM_HI) !== 0 && (e.lo & D_AP_RDONLY) !== 0;
        return { lo: D_AF, hi: 0, ...(dirty ? { clearLo: D_AP_RDONLY } : {}) };
      });
    },
  };
}

const NOT_PRESENT: Stage1Fault = { fault: 'not-present', stage: 1 };
const BLOCKED: Stage1Fault = { fault: 'blocked', stage: 1 };
/** Configuration errors are recorded whatever CD.R says (IHI 0070 §7.3: C_BAD_SUBSTREAMID, C_BAD_CD). */
const BAD_SUBSTREAMID: Stage1Fault = { fault: 'blocked', stage: 1, cause: 'bad-substreamid' };
const BAD_CD: Stage1Fault = { fault: 'not-present', stage: 1, cause: 'bad-cd' };
const isFault = (x: bigint | Stage1Fault): x is Stage1Fault => typeof x !== 'bigint';

/**
 * The CD of `ssid` (null = the request has no SubstreamID) under the vSTE words, read through
 * stage 2, or the fault / bypass the STE decides.
 */
function fetchCd(ste0: bigint, ste1: bigint, req: Stage1Request): { w0: bigint; w1: bigint } | Stage1Fault | Stage1Bypass {
  const cdMax = bits(ste0, 63, 59);
  const s1fmt = bits(ste0, 5, 4);
  const ctxPtr = ste0 & 0x000fffffffffffc0n;
  let ssid: number;
  if (!req.hasPasid) {
    if (cdMax === 0) ssid = 0;
    else {
      const dss = bits(ste1, 1, 0);
      if (dss === S1DSS_BYPASS) return { bypass: true };
      if (dss !== S1DSS_SSID0) return BLOCKED; // terminate (0) or reserved (3: C_BAD_STE)
      ssid = 0;
    }
  } else {
    // No substreams (S1CDMax 0), an SSID beyond the table, or SSID 0 reserved by S1DSS=0b10.
    if (cdMax === 0 || req.pasid >= 2 ** cdMax) return BAD_SUBSTREAMID;
    if (req.pasid === 0 && bits(ste1, 1, 0) === S1DSS_SSID0) return BAD_SUBSTREAMID;
    ssid = req.pasid;
  }
  let cdAddr: bigint;
  if (cdMax === 0 || s1fmt === 0) cdAddr = ctxPtr + 64n * BigInt(ssid);
  else if (s1fmt === 1 || s1fmt === 2) {
    const split = s1fmt === 1 ? 6 : 10; // 4 KiB leaves hold 64 CDs, 64 KiB leaves 1024
    const l1 = req.readIpa64(ctxPtr + 8n * BigInt(ssid >>> split));
    if (isFault(l1)) return l1;
    if ((l1 & 1n) === 0n) return NOT_PRESENT;
    cdAddr = (l1 & 0x000ffffffffff000n) + 64n * BigInt(ssid & (2 ** split - 1));
  } else return BLOCKED; // S1Fmt 0b11 is reserved: C_BAD_STE
  const w0 = req.readIpa64(cdAddr);
  if (isFault(w0)) return w0;
  const w1 = req.readIpa64(cdAddr + 8n);
  if (isFault(w1)) return w1;
  return { w0, w1 };
}

/** NestedDomain.stage1 for a vSTE: see the file comment for what each outcome answers. */
export function smmuStage1(caps: SmmuStage1Caps, ste0: bigint, ste1: bigint, req: Stage1Request): Stage1Walk | Stage1Fault | Stage1Bypass {
  const cfg = (ste0 & 1n) === 0n ? STE_CFG_ABORT : bits(ste0, 3, 1);
  if (cfg === STE_CFG_BYPASS) return { bypass: true };
  if (cfg !== STE_CFG_S1_TRANS) return BLOCKED;
  const got = fetchCd(ste0, ste1, req);
  if ('fault' in got || 'bypass' in got) return got;
  if (!bit(got.w0, 31)) return BAD_CD; // CD.V
  const cd = decodeCd(got.w0, got.w1);
  // CD.S needs an SMMU that stalls and a vSTE that allows it (S1STALLD, STE word 1 bit 27).
  if (!cd.aa64 || (cd.stall && (caps.stalls !== true || bit(ste1, 27)))) return BAD_CD;
  if (!caps.granules.includes(cd.granuleLg2)) return BAD_CD;
  const maxBits = cd.granuleLg2 === 16 ? 52 : 48;
  const minT0sz = caps.vax52 && cd.granuleLg2 === 16 ? 12 : 16;
  if (cd.t0sz < minT0sz || cd.t0sz > 39) return BAD_CD;
  const oasBits = Math.min(cd.ipsBits, caps.oasBits, maxBits);
  if (cd.ttb0 >= 1n << BigInt(oasBits)) return BAD_CD;
  // The walk is disabled or the input is beyond TTB0's range: F_TRANSLATION, recorded under CD.R.
  const walkFault: Stage1Fault = cd.stall ? { fault: 'not-present', stage: 1, cause: 'translation', stall: true }
    : cd.r ? { fault: 'not-present', stage: 1, cause: 'translation' } : NOT_PRESENT;
  if (cd.epd0) return walkFault;
  const iasBits = 64 - cd.t0sz;
  const va = cd.tbi0 ? req.iova & 0x00ffffffffffffffn : req.iova;
  if (va >= 1n << BigInt(iasBits)) return walkFault;
  const format = s1Format(cd.granuleLg2, iasBits, oasBits, cd.endi);
  const privileged = req.hasPasid && req.privileged;
  // TTB0 bits below the start table's size (at least 64 bytes) are RES0: taken as zero.
  const top = format.levels - 1;
  const rootBytes = Math.max(64, 8 * 2 ** format.indexBits[top]);
  return {
    format,
    rootIpa: cd.ttb0 & ~BigInt(rootBytes - 1),
    inputUnit: Number(va >> BigInt(cd.granuleLg2)),
    rules: stage1Rules(format, cd, caps, oasBits, privileged),
    tag: cd.asid,
    recordFaults: cd.r,
    ...(cd.stall ? { stall: true } : {}),
  };
}
