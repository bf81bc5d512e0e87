/**
 * The Arm SMMUv3 vIOMMU ("vSMMU", IOMMU_VIOMMU_TYPE_ARM_SMMUV3) as Linux's
 * arm-smmu-v3-iommufd.c builds it (v6.17 shape: get_viommu_size + viommu_init): who may have
 * one (arm_smmu_get_viommu_size), its VMID (the S2 parent's), nested domains made from a
 * guest STE (arm_vsmmu_alloc_domain_nested + arm_smmu_validate_vste), their attach rule
 * (arm_smmu_attach_prepare_vmaster), and the guest's CMDQ commands forwarded through
 * IOMMU_HWPT_INVALIDATE (arm_vsmmu_cache_invalidate / arm_vsmmu_convert_user_cmd).
 *
 * Invariants: a failing call changes nothing; converted commands reach the unit's
 * invalidation sink only when the driver would issue them to the command queue — in batches
 * of CMDQ_BATCH_ENTRIES − 1 = 63 and at the end — so a command that fails conversion drops the
 * converted but not yet issued commands before it, as Linux does (entry_num still counts them).
 */

import { validateNestedSte, STE_CFG_ABORT, STE_CFG_S1_TRANS } from './arm-smmuv3.ts';
import { smmuStage1, type SmmuStage1Caps } from './arm-smmuv3-stage1.ts';
import { encodeStage1FaultEvent, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 } from './arm-smmuv3-event.ts';
import { CMDQ_OP_ATC_INV, CMDQ_OP_CFGI_CD, CMDQ_OP_CFGI_CD_ALL, CMDQ_OP_TLBI_NH_ALL, CMDQ_OP_TLBI_NH_ASID, CMDQ_OP_TLBI_NH_VA, CMDQ_OP_TLBI_NH_VAA, CMDQ_OP_TLBI_NSNH_ALL } from './arm-smmuv3-cmdq.ts';
import { copyUserData, fail, ok } from './unit.ts';
import type { Errno, HwInvalidation, InvalidateArray, InvalidateResult, IommuUnit, NestedDomain, Result, UnitDevice, UserData, ViommuCore, ViommuDriver } from './unit.ts';

/** enum iommu_viommu_type / iommu_hwpt_data_type / iommu_hwpt_invalidate_data_type values. */
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1;

/** CMDQ_BATCH_ENTRIES = BITS_PER_LONG: the driver issues after 63 converted commands. */
export const CMDQ_BATCH_ENTRIES = 64;

/** CMDQ_TLBI_0_VMID b47:32; CMDQ_CFGI_0_SID (= CMDQ_ATC_0_SID) b63:32. */
const VMID_MASK = 0xffffn << 32n;
const SID_MASK = 0xffffffffn << 32n;

/** One converted command: words in CPU order, VMID / SID physical. */
export type SmmuCommand = HwInvalidation;

/**
 * arm_vsmmu_convert_user_cmd: the command as the SMMU will execute it, or EIO. NSNH_ALL
 * becomes NH_ALL of the vIOMMU's VMID (its second word cleared); the other TLBI NH commands
 * get that VMID; ATC_INV / CFGI_CD / CFGI_CD_ALL get the physical StreamID of the vSID's
 * vDEVICE (EIO when the vSID has none); any other opcode is EIO.
 */
export function convertUserCommand(cmd0: bigint, cmd1: bigint, vmid: number, sidOfVsid: (vsid: bigint) => number | null): SmmuCommand | 'EIO' {
  const op = Number(cmd0 & 0xffn);
  switch (op) {
    case CMDQ_OP_TLBI_NSNH_ALL:
      return { op: CMDQ_OP_TLBI_NH_ALL, words: [BigInt(CMDQ_OP_TLBI_NH_ALL) | (BigInt(vmid) << 32n), 0n] };
    case CMDQ_OP_TLBI_NH_VA:
    case CMDQ_OP_TLBI_NH_VAA:
    case CMDQ_OP_TLBI_NH_ALL:
    case CMDQ_OP_TLBI_NH_ASID:
      return { op, words: [(cmd0 & ~VMID_MASK) | (BigInt(vmid) << 32n), cmd1] };
    case CMDQ_OP_ATC_INV:
    case CMDQ_OP_CFGI_CD:
    case CMDQ_OP_CFGI_CD_ALL: {
      const sid = sidOfVsid(cmd0 >> 32n);
      if (sid === null) return 'EIO';
      return { op, words: [(cmd0 & ~SID_MASK) | (BigInt(sid) << 32n), cmd1] };
    }
    default:
      return 'EIO';
  }
}

/**
 * iommu_copy_struct_from_full_user_array for 16-byte entries: the type (EINVAL), entry_num
 * 0 (EINVAL), then every entry is copied before any is looked at — a shorter entry_len is
 * zero-extended, a longer one must be zero past 16 bytes (E2BIG), a fault is EFAULT.
 */
export function copyFullUserArray(array: InvalidateArray, dataType: number, entryBytes: number): Uint8Array[] | Errno {
  if (array.dataType !== dataType) return 'EINVAL';
  if (array.entryNum === 0) return 'EINVAL';
  const out: Uint8Array[] = [];
  for (let i = 0; i < array.entryNum; i++) {
    const raw = array.readEntry(i);
    if (raw === null) return 'EFAULT';
    for (let b = entryBytes; b < raw.length; b++) if (raw[b] !== 0) return 'E2BIG';
    const e = new Uint8Array(entryBytes);
    e.set(raw.subarray(0, entryBytes));
    out.push(e);
  }
  return out;
}

const u64At = (b: Uint8Array, off: number): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);

/** arm_vsmmu_cache_invalidate: handled = commands converted before the failure (or all). */
export function vsmmuCacheInvalidate(
  array: InvalidateArray,
  vmid: number,
  sidOfVsid: (vsid: bigint) => number | null,
  issue: (batch: SmmuCommand[]) => void,
): InvalidateResult {
  const entries = copyFullUserArray(array, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16);
  if (typeof entries === 'string') return { handled: 0, errno: entries };
  let pending: SmmuCommand[] = [];
  for (let i = 0; i < entries.length; i++) {
    const c = convertUserCommand(u64At(entries[i], 0), u64At(entries[i], 8), vmid, sidOfVsid);
    if (c === 'EIO') return { handled: i, errno: 'EIO' };
    pending.push(c);
    if (i + 1 === entries.length || pending.length === CMDQ_BATCH_ENTRIES - 1) {
      issue(pending);
      pending = [];
    }
  }
  return { handled: entries.length };
}

/** The nested domain of a vSMMU: the guest's STE words as arm_vsmmu_alloc_domain_nested keeps them. */
export interface VsmmuNested extends NestedDomain {
  readonly vsmmu: Vsmmu;
  /** STE word 0 (zero for a non-valid vSTE) and word 1 without EATS. */
  readonly ste0: bigint;
  readonly ste1: bigint;
  /** EATS = 1 (full ATS) on a translating vSTE. */
  readonly enableAts: boolean;
}

export const isVsmmuNested = (d: NestedDomain): d is VsmmuNested => 'vsmmu' in d;

/** The STE Config a vSTE makes the SMMU use: a non-valid vSTE is installed as abort. */
export function vsteConfig(ste0: bigint): number {
  return (ste0 & 1n) === 0n ? STE_CFG_ABORT : Number((ste0 >> 1n) & 7n);
}

export class Vsmmu implements ViommuDriver {
  readonly type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3;

  constructor(
    readonly unit: IommuUnit,
    /** vsmmu->vmid = s2_parent->s2_cfg.vmid. */
    readonly vmid: number,
    private readonly core: ViommuCore,
    /** The physical StreamID of a device behind this unit. */
    private readonly streamId: (dev: UnitDevice) => number,
    private readonly issue: (batch: SmmuCommand[]) => void,
    /** What the unit's ID registers let a guest CD use. */
    private readonly caps: SmmuStage1Caps,
  ) {}

  /** arm_vsmmu_alloc_domain_nested: flags (EOPNOTSUPP), the copy (EINVAL/EFAULT/E2BIG), the vSTE (EIO). */
  allocNested(flags: number, data: UserData): Result<NestedDomain> {
    if (flags !== 0) return fail('EOPNOTSUPP', 'arm_vsmmu_alloc_domain_nested takes no flags');
    const bytes = copyUserData(data, IOMMU_HWPT_DATA_ARM_SMMUV3, 16, 16);
    if (!bytes.ok) return fail(bytes.errno, bytes.why);
    let ste0 = u64At(bytes.value, 0);
    let ste1 = u64At(bytes.value, 8);
    const bad = validateNestedSte(ste0, ste1);
    if (bad) return fail(bad, 'vSTE outside STRTAB_STE_*_NESTING_ALLOWED, Config or EATS');
    if ((ste0 & 1n) === 0n) {
      ste0 = 0n;
      ste1 = 0n;
    }
    const eats = Number((ste1 >> 28n) & 3n);
    const cfg = vsteConfig(ste0);
    ste1 &= ~(3n << 28n);
    const core = this.core;
    const caps = this.caps;
    const nested: VsmmuNested = {
      unit: this.unit,
      dataType: IOMMU_HWPT_DATA_ARM_SMMUV3,
      fields: { ste0, ste1 },
      pasid: false,
      vsmmu: this,
      ste0,
      ste1,
      enableAts: cfg === STE_CFG_S1_TRANS && eats === 1,
      // arm_smmu_attach_prepare_vmaster: abort and bypass may attach without a vDEVICE.
      checkAttach: (dev) => (cfg === STE_CFG_S1_TRANS && core.virtIdOf(dev) === null ? 'ENOENT' : null),
      stage1: (req) => smmuStage1(caps, ste0, ste1, req),
      substreams: true,
      // arm_smmu_handle_event → arm_vmaster_report_event: recorded stage-1 faults only (S2 = 0).
      reportFault: (dev, req, fault) => {
        if (fault.stage !== 1 || fault.cause === undefined) return;
        const vsid = core.virtIdOf(dev);
        if (vsid === null) return;
        const ev = { cause: fault.cause, vsid, ssid: req.hasPasid ? req.pasid : null, inputAddr: req.iova, write: req.write, privileged: req.hasPasid && req.privileged };
        core.reportEvent(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, encodeStage1FaultEvent(ev));
      },
      dumpState: () => ({ ste0: `0x${ste0.toString(16)}`, ste1: `0x${ste1.toString(16)}`, vmid: this.vmid }),
    };
    return ok(nested);
  }

  invalidate(array: InvalidateArray): InvalidateResult {
    return vsmmuCacheInvalidate(array, this.vmid, (vsid) => this.sidOf(vsid), this.issue);
  }

  /** arm_vsmmu_vsid_to_sid: the vSID is 32 bits of the command; its vDEVICE's device's StreamID. */
  private sidOf(vsid: bigint): number | null {
    const dev = this.core.deviceOf(vsid);
    return dev === null ? null : this.streamId(dev);
  }

  dumpState(): Record<string, unknown> {
    return { vmid: this.vmid };
  }
}
