/**
 * `ioasid schema check-header` on Linux 6.12's own <linux/iommufd.h> (Debian's linux-source-6.12,
 * which `.ci/run` installs; in CI a missing package fails the test instead of skipping it). The
 * expected differences are facts of the 6.12 header itself: its command enum ends at
 * IOMMUFD_CMD_FAULT_QUEUE_ALLOC (0x8e) — IOAS_MAP_FILE (0x8f) and the vIOMMU family came later —
 * and its struct iommu_hw_info has out_data_type alone at offset 24, where newer headers put the
 * union with in_data_type (IOMMU_HW_INFO_FLAG_INPUT_TYPE).
 */
import { describe, expect, it } from 'vitest';
import { getCatalog } from './catalog.ts';
import { checkHeader, isConflict } from './header-check.ts';
import { haveCompiler } from './layout-probe.ts';
import { LINUX_612_TARBALL, linux612File } from './linux-source.ts';

const header = linux612File('include/uapi/linux/iommufd.h');
const mustRun = header !== null || !!process.env.CI;
if (!mustRun) console.warn(`header-check.linux612.test: SKIPPED — ${LINUX_612_TARBALL} is not installed (apt-get install -y linux-source-6.12); it runs in CI`);

describe.skipIf(!mustRun)('check-header on Linux 6.12\'s <linux/iommufd.h>', () => {
  it('finds what 6.12 lacks and nothing that conflicts', async () => {
    expect(header, `${LINUX_612_TARBALL} must be installed (.ci/run installs linux-source-6.12)`).not.toBeNull();
    expect(haveCompiler()).toBe(true);
    const check = await checkHeader(header!, getCatalog());
    expect(check.differences.filter(isConflict)).toEqual([]);
    const missing = (what: string) => check.differences.filter((d) => d.what === what).map((d) => d.path).sort();
    expect(missing('ioctl-missing-in-header')).toEqual([
      'IOMMU_HW_QUEUE_ALLOC', 'IOMMU_IOAS_CHANGE_PROCESS', 'IOMMU_IOAS_MAP_FILE', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_VIOMMU_ALLOC',
    ]);
    expect(missing('ioctl-missing-in-schemas')).toEqual([]);
    expect(missing('field-missing-in-header')).toEqual(['struct iommu_hw_info.in_data_type']);
    // The ioctls 6.12 has (DESTROY 0x80 … FAULT_QUEUE_ALLOC 0x8e) agree number for number.
    expect(check.agreed.ioctls).toBe(15);
  }, 120_000);
});
