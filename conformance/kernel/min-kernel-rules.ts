/**
 * Which uAPI features came in which Linux release, as far as the golden cases use them: the
 * table behind the cases' `min_kernel`. A case that uses a feature must carry a min_kernel at
 * least the feature's (min-kernel.test.ts), so that a real kernel older than that reports the
 * case unsupported instead of failed. Versions are those of the mainline merge (the ioctl
 * numbers of include/uapi/linux/iommufd.h: 6.12 ends at FAULT_QUEUE_ALLOC, 0x8e, as the tree of
 * linux-source-6.12 shows; the later ones per /work/shared/notes/iommufd-uapi.md's table).
 */

export interface FeatureRule {
  /** The feature, as min_kernel_why names it. */
  feature: string;
  release: string;
  /** Whether a step uses it. */
  uses(step: { op: string; arg?: Record<string, unknown> }): boolean;
}

const op = (...names: string[]) => (s: { op: string }) => names.includes(s.op);
/** The raw TEST_CMD hook with one of these IOMMU_TEST_OP_* names. */
const testCmd = (...names: string[]) => (s: { op: string; arg?: Record<string, unknown> }) => s.op === 'TEST_CMD' && names.includes(String(s.arg?.op));
const argSet = (name: string, field: string) => (s: { op: string; arg?: Record<string, unknown> }) => s.op === name && s.arg !== undefined && field in s.arg;
/**
 * A flags field that names a flag, or an integer that sets its bit among known low bits only:
 * a mask of unknown bits (0xfffffffe, a case checking that unknown flags are refused) is
 * refused by every release and says nothing about the flag's.
 */
const flag = (name: string, field: string, flagName: string, bit: number) => (s: { op: string; arg?: Record<string, unknown> }) => {
  if (s.op !== name || s.arg === undefined) return false;
  const f = s.arg[field];
  if (Array.isArray(f)) return f.includes(flagName);
  const n = typeof f === 'number' ? f : typeof f === 'string' ? Number(f) : 0;
  return Number.isFinite(n) && (n & bit) !== 0 && n < 0x100;
};

export const FEATURE_RULES: FeatureRule[] = [
  { feature: 'IOMMU_IOAS_MAP_FILE (v6.13)', release: '6.13', uses: op('IOMMU_IOAS_MAP_FILE') },
  { feature: 'IOMMU_VIOMMU_ALLOC and IOMMU_VDEVICE_ALLOC (v6.13)', release: '6.13', uses: op('IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC') },
  { feature: 'the selftest IOMMU_TEST_OP_DEV_CHECK_CACHE (v6.13, with the mock vIOMMU)', release: '6.13', uses: (s) => op('MOCK_DEV_CACHE')(s) || testCmd('DEV_CHECK_CACHE')(s) },
  { feature: 'IOMMU_IOAS_CHANGE_PROCESS (v6.14)', release: '6.14', uses: op('IOMMU_IOAS_CHANGE_PROCESS') },
  { feature: 'IOMMU_VEVENTQ_ALLOC (v6.15)', release: '6.15', uses: (s) => op('IOMMU_VEVENTQ_ALLOC', 'TRIGGER_VEVENT')(s) || testCmd('TRIGGER_VEVENT')(s) },
  { feature: 'PASID attach through iommufd (IOMMU_TEST_OP_PASID_*, IOMMU_HWPT_ALLOC_PASID, v6.15)', release: '6.15', uses: (s) => op('PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH', 'PASID_CHECK_HWPT')(s) || testCmd('PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH', 'PASID_CHECK_HWPT')(s) || flag('IOMMU_HWPT_ALLOC', 'flags', 'PASID', 1 << 3)(s) },
  { feature: 'IOMMU_GET_HW_INFO out_max_pasid_log2 (v6.15)', release: '6.15', uses: argSet('IOMMU_GET_HW_INFO', 'out_max_pasid_log2') },
  { feature: 'IOMMU_HW_QUEUE_ALLOC and mmap of the iommufd (v6.17)', release: '6.17', uses: op('IOMMU_HW_QUEUE_ALLOC', 'IOMMUFD_MMAP') },
  { feature: 'IOMMU_GET_HW_INFO in_data_type (IOMMU_HW_INFO_FLAG_INPUT_TYPE, v6.17)', release: '6.17', uses: (s) => argSet('IOMMU_GET_HW_INFO', 'in_data_type')(s) || flag('IOMMU_GET_HW_INFO', 'flags', 'INPUT_TYPE', 1 << 0)(s) },
  { feature: 'VFIO_DEVICE_BIND_FLAG_TOKEN (v6.17)', release: '6.17', uses: flag('VFIO_DEVICE_BIND_IOMMUFD', 'flags', 'TOKEN', 1 << 0) },
];

/** The rules a case's steps meet. */
export function featuresUsed(steps: { op: string; arg?: Record<string, unknown> }[]): FeatureRule[] {
  return FEATURE_RULES.filter((r) => steps.some((s) => r.uses(s)));
}
