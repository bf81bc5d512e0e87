/**
 * SMMUv3 event records for stage-1 faults of a nested domain, as the vIOMMU's
 * IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 queue delivers them (struct iommu_vevent_arm_smmuv3, four
 * little-endian 64-bit words; IHI 0070 §7.3 F_TRANSLATION / F_ADDR_SIZE / F_ACCESS /
 * F_PERMISSION, C_BAD_SUBSTREAMID, C_BAD_CD; Linux EVTQ_* in arm-smmu-v3.h).
 *
 * What Linux forwards (arm_smmu_handle_event, v6.15+): a non-stall event whose S2 bit is clear,
 * for a device with a vDEVICE on a vSMMU, of the kinds its filter lets through: C_BAD_STE
 * (0x04), F_STREAM_DISABLED (0x06), C_BAD_SUBSTREAMID (0x08), C_BAD_CD (0x0A) and the four walk
 * faults 0x10–0x13 — not F_CD_FETCH (0x09) nor F_WALK_EABT (0x0B). arm_vmaster_report_event
 * replaces word 0's StreamID [63:32] with the vDEVICE's virt_id (the vSID) and passes every
 * other bit unchanged. So the record here is the one the SMMU writes with the vSID in it:
 * word 0 EventID [7:0], SSV [11], SubstreamID [31:12], StreamID [63:32]; word 1 PnU [33],
 * InD [34] (0: data access), RnW [35] (1: read), S2 [39] = 0, CLASS [41:40] = IN (0b10, the
 * input address; QEMU smmuv3.c records stage-1 walk faults with CLASS IN), Stall [31] = 0 and
 * STAG 0 (no stall mode); word 2 the input address; word 3 (IPA [51:12]) 0: the IPA is provided
 * only when stage 2 faulted (IHI 0070 F_TRANSLATION, "If translating an IPA … IPA is provided";
 * QEMU fills it from the stage-2 walk only). A configuration error's record has word 0 only:
 * C_BAD_CD with SSV and the SubstreamID when the request had one, C_BAD_SUBSTREAMID with the
 * offending SubstreamID and no SSV (as QEMU smmuv3_record_event writes them; the other words 0).
 *
 * Pure functions only; the vSMMU driver decides whether to report.
 */

import type { Stage1FaultCause } from './unit.ts';

/** enum iommu_veventq_type. */
export const IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1;
/** sizeof(struct iommu_vevent_arm_smmuv3). */
export const ARM_SMMUV3_VEVENT_BYTES = 32;

/** Event IDs (EVTQ_0_ID values, EVT_ID_* in Linux). */
export const EVT_ID_BAD_SUBSTREAMID_CONFIG = 0x08;
export const EVT_ID_BAD_CD_CONFIG = 0x0a;
export const EVT_ID_TRANSLATION_FAULT = 0x10;
export const EVT_ID_ADDR_SIZE_FAULT = 0x11;
export const EVT_ID_ACCESS_FAULT = 0x12;
export const EVT_ID_PERMISSION_FAULT = 0x13;

const EVENT_ID: Record<Stage1FaultCause, number> = {
  translation: EVT_ID_TRANSLATION_FAULT,
  'addr-size': EVT_ID_ADDR_SIZE_FAULT,
  access: EVT_ID_ACCESS_FAULT,
  permission: EVT_ID_PERMISSION_FAULT,
  'bad-substreamid': EVT_ID_BAD_SUBSTREAMID_CONFIG,
  'bad-cd': EVT_ID_BAD_CD_CONFIG,
};

const EVTQ_0_SSV = 1n << 11n;
const EVTQ_1_PNU = 1n << 33n;
const EVTQ_1_RNW = 1n << 35n;
const EVTQ_1_CLASS_IN = 2n << 40n;

export interface Stage1FaultEvent {
  cause: Stage1FaultCause;
  /** The vDEVICE's virt_id, as the vSID (32 bits of the record). */
  vsid: bigint;
  /** The SubstreamID, or null when the request had none (SSV = 0). */
  ssid: number | null;
  /** The faulting input address, bytes. */
  inputAddr: bigint;
  write: boolean;
  privileged: boolean;
}

/** The four words of the record, in CPU order. */
export function stage1FaultWords(e: Stage1FaultEvent): [bigint, bigint, bigint, bigint] {
  let w0 = BigInt(EVENT_ID[e.cause]) | ((e.vsid & 0xffffffffn) << 32n);
  if (e.ssid !== null) w0 |= (e.cause === 'bad-substreamid' ? 0n : EVTQ_0_SSV) | (BigInt(e.ssid & 0xfffff) << 12n);
  if (e.cause === 'bad-cd' || e.cause === 'bad-substreamid') return [w0, 0n, 0n, 0n];
  let w1 = EVTQ_1_CLASS_IN;
  if (!e.write) w1 |= EVTQ_1_RNW;
  if (e.privileged) w1 |= EVTQ_1_PNU;
  return [w0, w1, e.inputAddr & 0xffffffffffffffffn, 0n];
}

/** struct iommu_vevent_arm_smmuv3: the words little-endian. */
export function encodeStage1FaultEvent(e: Stage1FaultEvent): Uint8Array {
  const out = new Uint8Array(ARM_SMMUV3_VEVENT_BYTES);
  const dv = new DataView(out.buffer);
  stage1FaultWords(e).forEach((w, i) => dv.setBigUint64(8 * i, w, true));
  return out;
}
