/**
 * What the host IOMMU behind a device can walk, read from IOMMU_GET_HW_INFO alone (the seed's
 * step 1: "query functions using the device label … look at the entire device path"): the
 * hardware-info type, and from its registers which stage-1 formats the host nests natively and
 * with which geometry. This is all a VMM may know of the host.
 *
 * Register fields: VT-d CAP_REG / ECAP_REG (struct iommu_hw_info_vtd; Linux iommu.h cap_*,
 * ecap_*: ECAP.NEST b26, ECAP.SMTS b43, ECAP.FSTS b47, CAP.FS1GP b56, CAP.FS5LP b60);
 * SMMUv3 IDR0..5 (struct iommu_hw_info_arm_smmuv3; IDR0.S2P b0, S1P b1, IDR3.RIL b10,
 * IDR5.OAS b2:0, GRAN4K b4, GRAN16K b5, GRAN64K b6, VAX b11:10).
 */

import type { UapiClient } from './uapi-client.ts';

export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;

export interface HostCaps {
  kind: 'intel-vtd' | 'arm-smmuv3' | 'other';
  /** Stage-1 formats the host walks on top of its own stage 2 (IOMMU nesting). */
  nestsFormats: Array<'vtd-fs' | 'arm-lpae-s1'>;
  /** VT-d: first-stage 1 GiB leaves and 5-level tables. */
  fs1gp: boolean;
  fs5lp: boolean;
  /** SMMUv3: stage-1 granules (bytes), output bits, 52-bit input, range invalidation. */
  granules: number[];
  oasBits: number;
  vax52: boolean;
  ril: boolean;
  /** How many bytes of hw-info the host gave, and its type (for reports). */
  hwInfoType: number;
}

const OAS_BITS = [32, 36, 40, 42, 44, 48, 52];

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;

export function parseHwInfo(type: number, bytes: Uint8Array): HostCaps {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const caps: HostCaps = { kind: 'other', nestsFormats: [], fs1gp: false, fs5lp: false, granules: [], oasBits: 0, vax52: false, ril: false, hwInfoType: type };
  if (type === IOMMU_HW_INFO_TYPE_INTEL_VTD && bytes.length >= 24) {
    const cap = dv.getBigUint64(8, true);
    const ecap = dv.getBigUint64(16, true);
    caps.kind = 'intel-vtd';
    caps.fs1gp = bit(cap, 56);
    caps.fs5lp = bit(cap, 60);
    if (bit(ecap, 26) && bit(ecap, 43) && bit(ecap, 47)) caps.nestsFormats.push('vtd-fs');
  } else if (type === IOMMU_HW_INFO_TYPE_ARM_SMMUV3 && bytes.length >= 40) {
    const idr = (i: number): number => dv.getUint32(8 + 4 * i, true);
    caps.kind = 'arm-smmuv3';
    const idr0 = idr(0);
    const idr5 = idr(5);
    if (idr5 & (1 << 4)) caps.granules.push(4096);
    if (idr5 & (1 << 5)) caps.granules.push(16384);
    if (idr5 & (1 << 6)) caps.granules.push(65536);
    caps.oasBits = OAS_BITS[idr5 & 7] ?? 48;
    caps.vax52 = ((idr5 >>> 10) & 3) === 1;
    caps.ril = (idr(3) & (1 << 10)) !== 0;
    if (idr0 & 1 && idr0 & 2) caps.nestsFormats.push('arm-lpae-s1');
  }
  return caps;
}

/** IOMMU_GET_HW_INFO for a bound device, through a scratch buffer in the VMM's memory. */
export async function queryHostCaps(client: UapiClient, devId: number, scratchHva: number): Promise<HostCaps> {
  const out = await client.ioctl('IOMMU_GET_HW_INFO', { flags: 0, dev_id: devId, data_len: 64, data_uptr: scratchHva });
  const len = Math.min(64, Number(out.data_len));
  const bytes = await client.memRead(scratchHva, len);
  return parseHwInfo(Number(out.out_data_type), bytes);
}
