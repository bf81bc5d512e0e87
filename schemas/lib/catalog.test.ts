/**
 * The catalog against the headers. Every expected size and offset below was written by hand
 * from the C declarations (natural alignment, __aligned_u64 8-aligned, tail padding), reading
 * torvalds/linux include/uapi/linux/iommufd.h @ b4d90dbc, drivers/iommu/iommufd/iommufd_test.h
 * @ 20896914 and include/uapi/linux/vfio.h (QEMU linux-headers copy @ 23be9f12); struct sizes
 * agree with the table in shared/notes/iommufd-uapi.md §1.0/§1.22. Minimum sizes are the
 * IOCTL_OP `_last` fields of drivers/iommu/iommufd/main.c (newest) and the `minsz` of the VFIO
 * handlers (vfio_compat.c, device_cdev.c). Nothing here is computed by our code.
 */
import { describe, expect, it } from 'vitest';
import { enumForField, errnoNumber, flagNames, flagValue, flagsValue, getCatalog, ioctlInfo, structInfo } from './catalog.ts';

/** struct name → [sizeof, { field: offsetof }]. */
const LAYOUTS: Record<string, [number, Record<string, number>]> = {
  // include/uapi/linux/iommufd.h
  iommu_destroy: [8, { size: 0, id: 4 }],
  iommu_ioas_alloc: [12, { size: 0, flags: 4, out_ioas_id: 8 }],
  iommu_iova_range: [16, { start: 0, last: 8 }],
  iommu_ioas_iova_ranges: [32, { size: 0, ioas_id: 4, num_iovas: 8, __reserved: 12, allowed_iovas: 16, out_iova_alignment: 24 }],
  iommu_ioas_allow_iovas: [24, { size: 0, ioas_id: 4, num_iovas: 8, __reserved: 12, allowed_iovas: 16 }],
  iommu_ioas_map: [40, { size: 0, flags: 4, ioas_id: 8, __reserved: 12, user_va: 16, length: 24, iova: 32 }],
  iommu_ioas_map_file: [40, { size: 0, flags: 4, ioas_id: 8, fd: 12, start: 16, length: 24, iova: 32 }],
  iommu_ioas_copy: [40, { size: 0, flags: 4, dst_ioas_id: 8, src_ioas_id: 12, length: 16, dst_iova: 24, src_iova: 32 }],
  iommu_ioas_unmap: [24, { size: 0, ioas_id: 4, iova: 8, length: 16 }],
  iommu_option: [24, { size: 0, option_id: 4, op: 8, __reserved: 10, object_id: 12, val64: 16 }],
  iommu_vfio_ioas: [12, { size: 0, ioas_id: 4, op: 8, __reserved: 10 }],
  iommu_hwpt_vtd_s1: [24, { flags: 0, pgtbl_addr: 8, addr_width: 16, __reserved: 20 }],
  iommu_hwpt_arm_smmuv3: [16, { ste: 0 }],
  iommu_hwpt_alloc: [48, { size: 0, flags: 4, dev_id: 8, pt_id: 12, out_hwpt_id: 16, __reserved: 20, data_type: 24, data_len: 28, data_uptr: 32, fault_id: 40, __reserved2: 44 }],
  iommu_hw_info_vtd: [24, { flags: 0, __reserved: 4, cap_reg: 8, ecap_reg: 16 }],
  iommu_hw_info_arm_smmuv3: [40, { flags: 0, __reserved: 4, idr: 8, iidr: 32, aidr: 36 }],
  // struct iommu_hw_info_amd { __aligned_u64 efr; __aligned_u64 efr2; } (drivers/iommu/amd/iommufd.c era uAPI)
  iommu_hw_info_amd: [16, { efr: 0, efr2: 8 }],
  iommu_hw_info_tegra241_cmdqv: [8, { flags: 0, version: 4, log2vcmdqs: 5, log2vsids: 6, __reserved: 7 }],
  iommu_hw_info: [40, { size: 0, flags: 4, dev_id: 8, data_len: 12, data_uptr: 16, in_data_type: 24, out_data_type: 24, out_max_pasid_log2: 28, __reserved: 29, out_capabilities: 32 }],
  iommu_hwpt_set_dirty_tracking: [16, { size: 0, flags: 4, hwpt_id: 8, __reserved: 12 }],
  iommu_hwpt_get_dirty_bitmap: [48, { size: 0, hwpt_id: 4, flags: 8, __reserved: 12, iova: 16, length: 24, page_size: 32, data: 40 }],
  iommu_hwpt_vtd_s1_invalidate: [24, { addr: 0, npages: 8, flags: 16, __reserved: 20 }],
  iommu_viommu_arm_smmuv3_invalidate: [16, { cmd: 0 }],
  iommu_hwpt_invalidate: [32, { size: 0, hwpt_id: 4, data_uptr: 8, data_type: 16, entry_len: 20, entry_num: 24, __reserved: 28 }],
  iommu_hwpt_pgfault: [40, { flags: 0, dev_id: 4, pasid: 8, grpid: 12, perm: 16, __reserved: 20, addr: 24, length: 32, cookie: 36 }],
  iommu_hwpt_page_response: [8, { cookie: 0, code: 4 }],
  iommu_fault_alloc: [16, { size: 0, flags: 4, out_fault_id: 8, out_fault_fd: 12 }],
  iommu_viommu_tegra241_cmdqv: [16, { out_vintf_mmap_offset: 0, out_vintf_mmap_length: 8 }],
  iommu_viommu_alloc: [40, { size: 0, flags: 4, type: 8, dev_id: 12, hwpt_id: 16, out_viommu_id: 20, data_len: 24, __reserved: 28, data_uptr: 32 }],
  iommu_vdevice_alloc: [24, { size: 0, viommu_id: 4, dev_id: 8, out_vdevice_id: 12, virt_id: 16 }],
  iommu_ioas_change_process: [8, { size: 0, __reserved: 4 }],
  iommufd_vevent_header: [8, { flags: 0, sequence: 4 }],
  iommu_vevent_arm_smmuv3: [32, { evt: 0 }],
  iommu_vevent_tegra241_cmdqv: [16, { lvcmdq_err_map: 0 }],
  iommu_veventq_alloc: [32, { size: 0, flags: 4, viommu_id: 8, type: 12, veventq_depth: 16, out_veventq_id: 20, out_veventq_fd: 24, __reserved: 28 }],
  iommu_hw_queue_alloc: [40, { size: 0, flags: 4, viommu_id: 8, type: 12, index: 16, out_hw_queue_id: 20, nesting_parent_iova: 24, length: 32 }],
  // drivers/iommu/iommufd/iommufd_test.h
  iommu_test_hw_info: [8, { flags: 0, test_reg: 4 }],
  iommu_hwpt_selftest: [8, { iotlb: 0, pagetable_type: 4 }], // newest revision (generic_pt mock)
  iommu_hwpt_invalidate_selftest: [8, { flags: 0, iotlb_id: 4 }],
  iommu_viommu_selftest: [24, { in_data: 0, out_data: 4, out_mmap_offset: 8, out_mmap_length: 16 }], // v6.17+ (HW queue mmap window)
  iommu_viommu_invalidate_selftest: [12, { flags: 0, vdev_id: 4, cache_id: 8 }],
  iommu_viommu_event_selftest: [4, { virt_id: 0 }],
  // struct iommu_test_cmd: the union members at 16 (sized by dirty, 48 bytes), last at 64, sizeof 72
  iommu_test_cmd: [72, { size: 0, op: 4, id: 8, __reserved: 12, add_reserved: 16, mock_domain: 16, mock_domain_flags: 16, mock_domain_replace: 16, check_map: 16, check_refs: 16, create_access: 16, destroy_access_pages: 16, access_pages: 16, access_rw: 16, memory_limit: 16, access_replace_ioas: 16, dirty: 16, check_iotlb: 16, trigger_iopf: 16, check_dev_cache: 16, trigger_vevent: 16, pasid_attach: 16, pasid_replace: 16, pasid_detach: 16, pasid_check: 16, last: 64 }],
  iommu_test_cmd_add_reserved: [16, { start: 0, length: 8 }],
  iommu_test_cmd_mock_domain: [12, { out_stdev_id: 0, out_hwpt_id: 4, out_idev_id: 8 }],
  iommu_test_cmd_mock_domain_flags: [16, { out_stdev_id: 0, out_hwpt_id: 4, out_idev_id: 8, dev_flags: 12 }],
  iommu_test_cmd_mock_domain_replace: [4, { pt_id: 0 }],
  iommu_test_cmd_check_map: [24, { iova: 0, length: 8, uptr: 16 }],
  iommu_test_cmd_check_refs: [24, { length: 0, uptr: 8, refs: 16 }],
  iommu_test_cmd_create_access: [8, { out_access_fd: 0, flags: 4 }],
  iommu_test_cmd_destroy_access_pages: [4, { access_pages_id: 0 }],
  iommu_test_cmd_access_pages: [32, { flags: 0, out_access_pages_id: 4, iova: 8, length: 16, uptr: 24 }],
  iommu_test_cmd_access_rw: [32, { iova: 0, length: 8, uptr: 16, flags: 24 }],
  iommu_test_cmd_memory_limit: [4, { limit: 0 }],
  iommu_test_cmd_access_replace_ioas: [4, { ioas_id: 0 }],
  iommu_test_cmd_dirty: [48, { flags: 0, iova: 8, length: 16, page_size: 24, uptr: 32, out_nr_dirty: 40 }],
  iommu_test_cmd_check_iotlb: [8, { id: 0, iotlb: 4 }],
  iommu_test_cmd_trigger_iopf: [24, { dev_id: 0, pasid: 4, grpid: 8, perm: 12, addr: 16 }],
  iommu_test_cmd_check_dev_cache: [8, { id: 0, cache: 4 }],
  iommu_test_cmd_trigger_vevent: [4, { dev_id: 0 }],
  iommu_test_cmd_pasid_attach: [8, { pasid: 0, pt_id: 4 }],
  iommu_test_cmd_pasid_replace: [8, { pasid: 0, pt_id: 4 }],
  iommu_test_cmd_pasid_detach: [4, { pasid: 0 }],
  iommu_test_cmd_pasid_check: [8, { pasid: 0, hwpt_id: 4 }],
  // include/uapi/linux/vfio.h
  vfio_device_bind_iommufd: [24, { argsz: 0, flags: 4, iommufd: 8, out_devid: 12, token_uuid_ptr: 16 }],
  vfio_device_attach_iommufd_pt: [16, { argsz: 0, flags: 4, pt_id: 8, pasid: 12 }],
  vfio_device_detach_iommufd_pt: [12, { argsz: 0, flags: 4, pasid: 8 }],
  vfio_info_cap_header: [8, { id: 0, version: 2, next: 4 }],
  vfio_iommu_type1_info: [24, { argsz: 0, flags: 4, iova_pgsizes: 8, cap_offset: 16, pad: 20 }],
  vfio_iova_range: [16, { start: 0, end: 8 }],
  vfio_iommu_type1_info_cap_iova_range: [16, { header: 0, nr_iovas: 8, reserved: 12 }],
  vfio_iommu_type1_info_cap_migration: [32, { header: 0, flags: 8, pgsize_bitmap: 16, max_dirty_bitmap_size: 24 }],
  vfio_iommu_type1_info_dma_avail: [12, { header: 0, avail: 8 }],
  vfio_iommu_type1_dma_map: [32, { argsz: 0, flags: 4, vaddr: 8, iova: 16, size: 24 }],
  vfio_iommu_type1_dma_unmap: [24, { argsz: 0, flags: 4, iova: 8, size: 16 }],
};

/** name → [nr, request, struct | null, min size | null]. */
const IOCTLS: Record<string, [number, number, string | null, number | null]> = {
  IOMMU_DESTROY: [0x80, 0x3b80, 'iommu_destroy', 8],
  IOMMU_IOAS_ALLOC: [0x81, 0x3b81, 'iommu_ioas_alloc', 12],
  IOMMU_IOAS_ALLOW_IOVAS: [0x82, 0x3b82, 'iommu_ioas_allow_iovas', 24],
  IOMMU_IOAS_COPY: [0x83, 0x3b83, 'iommu_ioas_copy', 40],
  IOMMU_IOAS_IOVA_RANGES: [0x84, 0x3b84, 'iommu_ioas_iova_ranges', 32],
  IOMMU_IOAS_MAP: [0x85, 0x3b85, 'iommu_ioas_map', 40],
  IOMMU_IOAS_UNMAP: [0x86, 0x3b86, 'iommu_ioas_unmap', 24],
  IOMMU_OPTION: [0x87, 0x3b87, 'iommu_option', 24],
  IOMMU_VFIO_IOAS: [0x88, 0x3b88, 'iommu_vfio_ioas', 12],
  IOMMU_HWPT_ALLOC: [0x89, 0x3b89, 'iommu_hwpt_alloc', 24],
  IOMMU_GET_HW_INFO: [0x8a, 0x3b8a, 'iommu_hw_info', 32],
  IOMMU_HWPT_SET_DIRTY_TRACKING: [0x8b, 0x3b8b, 'iommu_hwpt_set_dirty_tracking', 16],
  IOMMU_HWPT_GET_DIRTY_BITMAP: [0x8c, 0x3b8c, 'iommu_hwpt_get_dirty_bitmap', 48],
  IOMMU_HWPT_INVALIDATE: [0x8d, 0x3b8d, 'iommu_hwpt_invalidate', 32],
  IOMMU_FAULT_QUEUE_ALLOC: [0x8e, 0x3b8e, 'iommu_fault_alloc', 16],
  IOMMU_IOAS_MAP_FILE: [0x8f, 0x3b8f, 'iommu_ioas_map_file', 40],
  IOMMU_VIOMMU_ALLOC: [0x90, 0x3b90, 'iommu_viommu_alloc', 24],
  IOMMU_VDEVICE_ALLOC: [0x91, 0x3b91, 'iommu_vdevice_alloc', 24],
  IOMMU_IOAS_CHANGE_PROCESS: [0x92, 0x3b92, 'iommu_ioas_change_process', 8],
  IOMMU_VEVENTQ_ALLOC: [0x93, 0x3b93, 'iommu_veventq_alloc', 28],
  IOMMU_HW_QUEUE_ALLOC: [0x94, 0x3b94, 'iommu_hw_queue_alloc', 40],
  // VFIO_TYPE ';', VFIO_BASE 100
  VFIO_GET_API_VERSION: [100, 0x3b64, null, null],
  VFIO_CHECK_EXTENSION: [101, 0x3b65, null, null],
  VFIO_SET_IOMMU: [102, 0x3b66, null, null],
  VFIO_IOMMU_GET_INFO: [112, 0x3b70, 'vfio_iommu_type1_info', 16],
  VFIO_IOMMU_MAP_DMA: [113, 0x3b71, 'vfio_iommu_type1_dma_map', 32],
  VFIO_IOMMU_UNMAP_DMA: [114, 0x3b72, 'vfio_iommu_type1_dma_unmap', 24],
  VFIO_DEVICE_BIND_IOMMUFD: [118, 0x3b76, 'vfio_device_bind_iommufd', 16],
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: [119, 0x3b77, 'vfio_device_attach_iommufd_pt', 12],
  VFIO_DEVICE_DETACH_IOMMUFD_PT: [120, 0x3b78, 'vfio_device_detach_iommufd_pt', 8],
};

describe('struct layouts match the headers', () => {
  it('the catalog has exactly the structs listed here', () => {
    expect([...getCatalog().structs.keys()].sort()).toEqual(Object.keys(LAYOUTS).sort());
  });
  for (const [name, [size, offsets]] of Object.entries(LAYOUTS)) {
    it(`${name}: sizeof ${size}, offsets`, () => {
      const s = structInfo(name);
      expect(s.sizeBytes).toBe(size);
      expect(Object.fromEntries(s.fields.map((f) => [f.name, f.offsetBytes]))).toEqual(offsets);
    });
  }
  it('alignment, including what a flexible array member adds', () => {
    expect(structInfo('iommu_ioas_map').alignBytes).toBe(8);
    expect(structInfo('iommu_hw_info_arm_smmuv3').alignBytes).toBe(4);
    // struct vfio_iova_range iova_ranges[] (two __u64) makes the capability 8-aligned.
    expect(structInfo('vfio_iommu_type1_info_cap_iova_range').alignBytes).toBe(8);
    expect(structInfo('vfio_iommu_type1_info_cap_iova_range').flexibleArray).toEqual({ name: 'iova_ranges', struct: 'vfio_iova_range', countField: 'nr_iovas' });
  });
  it('fixed arrays carry their element count', () => {
    const count = (s: string, f: string) => structInfo(s).fields.find((x) => x.name === f)?.count;
    expect(count('iommu_hw_info', '__reserved')).toBe(3);
    expect(count('iommu_hw_info_arm_smmuv3', 'idr')).toBe(6);
    expect(count('iommu_hwpt_arm_smmuv3', 'ste')).toBe(2);
    expect(count('iommu_vevent_arm_smmuv3', 'evt')).toBe(4);
    expect(structInfo('iommu_hwpt_arm_smmuv3').fields[0].ctype).toBe('__aligned_le64');
  });
});

describe('ioctls match the headers', () => {
  it('the catalog has exactly the ioctls listed here', () => {
    expect([...getCatalog().ioctls.keys()].sort()).toEqual(Object.keys(IOCTLS).sort());
  });
  for (const [name, [nr, request, struct, minSize]] of Object.entries(IOCTLS)) {
    it(`${name}: nr ${nr}, request 0x${request.toString(16)}`, () => {
      const i = ioctlInfo(name);
      expect(i.nr).toBe(nr);
      expect(i.request).toBe(request);
      expect(i.struct ?? null).toBe(struct);
      expect(i.minSizeBytes ?? null).toBe(minSize);
      if (struct) expect(i.sizeField).toBe(name.startsWith('VFIO_') ? 'argsz' : 'size');
    });
  }
  it('integer-argument VFIO commands name their argument', () => {
    expect(ioctlInfo('VFIO_CHECK_EXTENSION').intArg).toBe('type');
    expect(ioctlInfo('VFIO_SET_IOMMU').intArg).toBe('type');
    expect(ioctlInfo('VFIO_GET_API_VERSION').intArg).toBeUndefined();
  });
  it('VFIO device commands carry the protocol-only device name outside the C layout', () => {
    for (const s of ['vfio_device_bind_iommufd', 'vfio_device_attach_iommufd_pt', 'vfio_device_detach_iommufd_pt']) {
      expect(structInfo(s).protocolFields).toEqual(['device']);
      expect(structInfo(s).fields.some((f) => f.name === 'device')).toBe(false);
    }
  });
  it('families', () => {
    expect(ioctlInfo('IOMMU_IOAS_MAP').family).toBe('iommufd');
    expect(ioctlInfo('VFIO_DEVICE_BIND_IOMMUFD').family).toBe('vfio-device');
    expect(ioctlInfo('VFIO_IOMMU_MAP_DMA').family).toBe('vfio-container');
    expect(ioctlInfo('IOMMU_IOAS_MAP').schema).toBe('uapi/iommu-ioas-map.schema.json');
  });
  it('unknown names throw, naming them', () => {
    expect(() => ioctlInfo('IOMMU_NOPE')).toThrow(/IOMMU_NOPE/);
    expect(() => structInfo('iommu_nope')).toThrow(/iommu_nope/);
  });
});

describe('field annotations', () => {
  const field = (s: string, f: string) => structInfo(s).fields.find((x) => x.name === f)!;
  it('directions', () => {
    expect(field('iommu_ioas_map', 'iova').direction).toBe('inout');
    expect(field('iommu_ioas_alloc', 'out_ioas_id').direction).toBe('out');
    expect(field('iommu_ioas_iova_ranges', 'num_iovas').direction).toBe('inout');
    expect(field('iommu_ioas_unmap', 'length').direction).toBe('inout');
    expect(field('iommu_hw_info', 'data_len').direction).toBe('inout');
    expect(field('iommu_hwpt_invalidate', 'entry_num').direction).toBe('inout');
    expect(field('vfio_device_attach_iommufd_pt', 'pt_id').direction).toBe('inout');
    expect(field('iommu_ioas_map', 'user_va').direction).toBe('in');
  });
  it('reserved fields', () => {
    for (const [s, f] of [['iommu_ioas_map', '__reserved'], ['iommu_option', '__reserved'], ['iommu_hw_info', '__reserved'], ['iommu_hwpt_alloc', '__reserved2'], ['iommu_veventq_alloc', '__reserved']]) {
      expect(field(s, f).reserved, `${s}.${f}`).toBe(true);
    }
    expect(field('iommu_ioas_map', 'flags').reserved).toBeUndefined();
  });
  it('the GET_HW_INFO union shares offset 24', () => {
    expect(field('iommu_hw_info', 'in_data_type').union).toBe('data_type');
    expect(field('iommu_hw_info', 'out_data_type').union).toBe('data_type');
  });
  it('pointees', () => {
    expect(field('iommu_ioas_iova_ranges', 'allowed_iovas').pointee).toEqual({ struct: 'iommu_iova_range', countField: 'num_iovas', direction: 'out' });
    expect(field('iommu_ioas_allow_iovas', 'allowed_iovas').pointee).toEqual({ struct: 'iommu_iova_range', countField: 'num_iovas', direction: 'in' });
    expect(field('iommu_hwpt_alloc', 'data_uptr').pointee).toEqual({ bytes: true, lengthField: 'data_len', direction: 'in' });
    expect(field('iommu_hw_info', 'data_uptr').pointee).toEqual({ bytes: true, lengthField: 'data_len', direction: 'out' });
    expect(field('iommu_hwpt_invalidate', 'data_uptr').pointee).toEqual({ bytes: true, countField: 'entry_num', entrySizeField: 'entry_len', direction: 'in' });
    expect(field('iommu_hwpt_get_dirty_bitmap', 'data').pointee).toEqual({ bytes: true, direction: 'out' });
  });
  it('enumForField', () => {
    expect(enumForField('IOMMU_IOAS_MAP', 'flags')?.name).toBe('iommufd_ioas_map_flags');
    expect(enumForField('IOMMU_OPTION', 'op')?.name).toBe('iommufd_option_ops');
    expect(enumForField('IOMMU_HWPT_ALLOC', 'data_type')?.name).toBe('iommu_hwpt_data_type');
    expect(enumForField('VFIO_CHECK_EXTENSION', 'type')?.name).toBe('vfio_extension');
    expect(enumForField('IOMMU_IOAS_MAP', 'length')).toBeUndefined();
    expect(() => enumForField('IOMMU_IOAS_MAP', 'nope')).toThrow(/nope/);
  });
});

describe('flag sets and enums hold the header values', () => {
  // name → full C name → value, from the headers.
  const VALUES: Record<string, Record<string, number>> = {
    iommufd_ioas_map_flags: { IOMMU_IOAS_MAP_FIXED_IOVA: 1, IOMMU_IOAS_MAP_WRITEABLE: 2, IOMMU_IOAS_MAP_READABLE: 4 },
    iommufd_option: { IOMMU_OPTION_RLIMIT_MODE: 0, IOMMU_OPTION_HUGE_PAGES: 1 },
    iommufd_option_ops: { IOMMU_OPTION_OP_SET: 0, IOMMU_OPTION_OP_GET: 1 },
    iommufd_vfio_ioas_op: { IOMMU_VFIO_IOAS_GET: 0, IOMMU_VFIO_IOAS_SET: 1, IOMMU_VFIO_IOAS_CLEAR: 2 },
    iommufd_hwpt_alloc_flags: { IOMMU_HWPT_ALLOC_NEST_PARENT: 1, IOMMU_HWPT_ALLOC_DIRTY_TRACKING: 2, IOMMU_HWPT_FAULT_ID_VALID: 4, IOMMU_HWPT_ALLOC_PASID: 8 },
    iommu_hwpt_data_type: { IOMMU_HWPT_DATA_NONE: 0, IOMMU_HWPT_DATA_VTD_S1: 1, IOMMU_HWPT_DATA_ARM_SMMUV3: 2, IOMMU_HWPT_DATA_SELFTEST: 0xdead },
    iommu_hw_info_type: { IOMMU_HW_INFO_TYPE_NONE: 0, IOMMU_HW_INFO_TYPE_DEFAULT: 0, IOMMU_HW_INFO_TYPE_INTEL_VTD: 1, IOMMU_HW_INFO_TYPE_ARM_SMMUV3: 2, IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV: 3, IOMMU_HW_INFO_TYPE_AMD: 4, IOMMU_HW_INFO_TYPE_SELFTEST: 0xfeedbeef },
    iommufd_hw_capabilities: { IOMMU_HW_CAP_DIRTY_TRACKING: 1, IOMMU_HW_CAP_PCI_PASID_EXEC: 2, IOMMU_HW_CAP_PCI_PASID_PRIV: 4, IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED: 8 },
    iommufd_hw_info_flags: { IOMMU_HW_INFO_FLAG_INPUT_TYPE: 1 },
    iommu_hwpt_invalidate_data_type: { IOMMU_HWPT_INVALIDATE_DATA_VTD_S1: 0, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3: 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST: 0xdeadbeef, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID: 0xdadbeef, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST: 0xdeadbeef, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID: 0xdadbeef },
    iommu_viommu_type: { IOMMU_VIOMMU_TYPE_DEFAULT: 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3: 1, IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV: 2, IOMMU_VIOMMU_TYPE_SELFTEST: 0xdeadbeef },
    iommu_veventq_type: { IOMMU_VEVENTQ_TYPE_DEFAULT: 0, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3: 1, IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV: 2, IOMMU_VEVENTQ_TYPE_SELFTEST: 0xbeefbeef },
    iommu_hw_queue_type: { IOMMU_HW_QUEUE_TYPE_DEFAULT: 0, IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV: 1, IOMMU_HW_QUEUE_TYPE_SELFTEST: 0xdeadbeef },
    iommu_hwpt_pgfault_perm: { IOMMU_PGFAULT_PERM_READ: 1, IOMMU_PGFAULT_PERM_WRITE: 2, IOMMU_PGFAULT_PERM_EXEC: 4, IOMMU_PGFAULT_PERM_PRIV: 8 },
    vfio_extension: { VFIO_TYPE1_IOMMU: 1, VFIO_SPAPR_TCE_IOMMU: 2, VFIO_TYPE1v2_IOMMU: 3, VFIO_DMA_CC_IOMMU: 4, VFIO_EEH: 5, __VFIO_RESERVED_TYPE1_NESTING_IOMMU: 6, VFIO_SPAPR_TCE_v2_IOMMU: 7, VFIO_NOIOMMU_IOMMU: 8, VFIO_UNMAP_ALL: 9, VFIO_UPDATE_VADDR: 10 },
    vfio_dma_unmap_flags: { VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP: 1, VFIO_DMA_UNMAP_FLAG_ALL: 2, VFIO_DMA_UNMAP_FLAG_VADDR: 4 },
  };
  for (const [name, values] of Object.entries(VALUES)) {
    it(name, () => {
      expect(getCatalog().enums.get(name)?.values).toEqual(values);
    });
  }
  it('flagValue takes names with or without the prefix, and unique tails', () => {
    expect(flagValue('iommufd_ioas_map_flags', 'READABLE')).toBe(4);
    expect(flagValue('iommufd_ioas_map_flags', 'IOMMU_IOAS_MAP_FIXED_IOVA')).toBe(1);
    expect(flagValue('iommufd_hwpt_alloc_flags', 'NEST_PARENT')).toBe(1);
    expect(flagValue('iommufd_hwpt_alloc_flags', 'FAULT_ID_VALID')).toBe(4);
    expect(flagValue('iommu_hwpt_data_type', 'SELFTEST')).toBe(0xdead);
    expect(flagsValue('iommufd_ioas_map_flags', ['FIXED_IOVA', 'READABLE'])).toBe(5);
    expect(() => flagValue('iommufd_ioas_map_flags', 'EXEC')).toThrow(/EXEC.*FIXED_IOVA, WRITEABLE, READABLE/);
  });
  it('flagNames splits a value into known bits and the unknown rest', () => {
    expect(flagNames('iommufd_ioas_map_flags', 7)).toEqual({ names: ['IOMMU_IOAS_MAP_FIXED_IOVA', 'IOMMU_IOAS_MAP_WRITEABLE', 'IOMMU_IOAS_MAP_READABLE'], unknownBits: 0 });
    expect(flagNames('iommufd_hwpt_alloc_flags', 0x14)).toEqual({ names: ['IOMMU_HWPT_FAULT_ID_VALID'], unknownBits: 0x10 });
  });
  it('selftest-only values are marked', () => {
    expect(getCatalog().enums.get('iommu_hw_info_type')?.selftest).toEqual(['IOMMU_HW_INFO_TYPE_SELFTEST']);
  });
});

describe('errnos have their asm-generic numbers', () => {
  const ERRNO: Record<string, number> = {
    EPERM: 1, ENOENT: 2, EIO: 5, ENXIO: 6, E2BIG: 7, EBADF: 9, ENOMEM: 12, EFAULT: 14, EBUSY: 16, EEXIST: 17,
    ENODEV: 19, EINVAL: 22, ENOTTY: 25, ENOSPC: 28, ESPIPE: 29, EDEADLK: 35, EDEADLOCK: 35, EBADE: 52,
    EOVERFLOW: 75, EBADFD: 77, EMSGSIZE: 90, EOPNOTSUPP: 95, EADDRINUSE: 98, ETIMEDOUT: 110,
  };
  for (const [name, n] of Object.entries(ERRNO)) {
    it(`${name} = ${n}`, () => expect(errnoNumber(name)).toBe(n));
  }
});
