/**
 * The uAPI calls a VMM makes for one assigned device, each a thin wrapper over one ioctl:
 * binding the device, IOASes and their mappings, NEST_PARENT and nested HWPTs, the SMMUv3
 * vIOMMU and vDEVICE, attach/replace/detach, and HWPT_INVALIDATE. Driver data and invalidation
 * arrays are written to a scratch buffer in the VMM's memory and passed by pointer, as a VMM
 * passes them to the kernel.
 *
 * Constants from include/uapi/linux/iommufd.h: IOMMU_HWPT_ALLOC_NEST_PARENT 1,
 * IOMMU_HWPT_DATA_VTD_S1 1, IOMMU_HWPT_DATA_ARM_SMMUV3 2, IOMMU_VIOMMU_TYPE_ARM_SMMUV3 1,
 * IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 0, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 1.
 */

import type { UapiClient } from './uapi-client.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from './emulated-mappings.ts';

export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1;

const SCRATCH_BYTES = 1 << 20;

export class HostSession {
  /** HWPT_INVALIDATE calls and the entries they carried. */
  invalidateCalls = 0;
  invalidateEntries = 0;

  private constructor(
    readonly client: UapiClient,
    readonly device: string,
    readonly devId: number,
    /** A VMM buffer for ioctl payloads (hw-info, driver data, invalidation arrays). */
    readonly scratchHva: number,
  ) {}

  static async bind(client: UapiClient, device: string): Promise<HostSession> {
    const scratch = await client.mmap(SCRATCH_BYTES);
    const out = await client.ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 24, flags: 0, device });
    return new HostSession(client, device, Number(out.out_devid), scratch);
  }

  async allocIoas(): Promise<number> {
    return Number((await this.client.ioctl('IOMMU_IOAS_ALLOC', {})).out_ioas_id);
  }

  async map(ioasId: number, userVa: number, lengthBytes: number, iova: number, write = true): Promise<void> {
    const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | (write ? IOMMU_IOAS_MAP_WRITEABLE : 0);
    await this.client.ioctl('IOMMU_IOAS_MAP', { ioas_id: ioasId, flags, user_va: userVa, length: lengthBytes, iova });
  }

  async allocNestParent(ioasId: number): Promise<number> {
    const out = await this.client.ioctl('IOMMU_HWPT_ALLOC', { flags: IOMMU_HWPT_ALLOC_NEST_PARENT, dev_id: this.devId, pt_id: ioasId, data_type: 0, data_len: 0, data_uptr: 0 });
    return Number(out.out_hwpt_id);
  }

  /** A paging HWPT on an IOAS, not attached (it keeps the IOAS's pages pinned). */
  async allocPaging(ioasId: number): Promise<number> {
    const out = await this.client.ioctl('IOMMU_HWPT_ALLOC', { flags: 0, dev_id: this.devId, pt_id: ioasId, data_type: 0, data_len: 0, data_uptr: 0 });
    return Number(out.out_hwpt_id);
  }

  async allocNested(ptId: number, dataType: number, data: Uint8Array): Promise<number> {
    await this.client.memWrite(this.scratchHva, data);
    const out = await this.client.ioctl('IOMMU_HWPT_ALLOC', { flags: 0, dev_id: this.devId, pt_id: ptId, data_type: dataType, data_len: data.length, data_uptr: this.scratchHva });
    return Number(out.out_hwpt_id);
  }

  async allocViommu(parentHwptId: number): Promise<number> {
    const out = await this.client.ioctl('IOMMU_VIOMMU_ALLOC', { flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: this.devId, hwpt_id: parentHwptId, data_len: 0, data_uptr: 0 });
    return Number(out.out_viommu_id);
  }

  async allocVdevice(viommuId: number, virtId: number): Promise<number> {
    const out = await this.client.ioctl('IOMMU_VDEVICE_ALLOC', { viommu_id: viommuId, dev_id: this.devId, virt_id: virtId });
    return Number(out.out_vdevice_id);
  }

  /** Attaches (or replaces the attachment) to an IOAS or HWPT; returns the HWPT the device got. */
  async attach(ptId: number): Promise<number> {
    const out = await this.client.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, flags: 0, device: this.device, pt_id: ptId });
    return Number(out.pt_id);
  }

  async detach(): Promise<void> {
    await this.client.ioctl('VFIO_DEVICE_DETACH_IOMMUFD_PT', { argsz: 16, flags: 0, device: this.device });
  }

  async destroy(id: number): Promise<void> {
    await this.client.ioctl('IOMMU_DESTROY', { id });
  }

  /** One IOMMU_HWPT_INVALIDATE carrying `entryNum` entries of `entryLen` bytes. */
  async invalidate(hwptId: number, dataType: number, entryLen: number, bytes: Uint8Array): Promise<void> {
    const entryNum = bytes.length / entryLen;
    if (entryNum === 0) return;
    await this.client.memWrite(this.scratchHva, bytes);
    const out = await this.client.ioctl('IOMMU_HWPT_INVALIDATE', { hwpt_id: hwptId, data_uptr: this.scratchHva, data_type: dataType, entry_len: entryLen, entry_num: entryNum });
    this.invalidateCalls++;
    this.invalidateEntries += Number(out.entry_num);
  }
}
