/**
 * A TCE domain built as if its window started at bus address 0: the table indexes bus page
 * numbers directly instead of subtracting the window's first page (it_offset). Attach and
 * IOVA_RANGES still report the window, but every MAP inside a window at a non-zero bus address
 * (the 64-bit DDW window) lands beyond the table and fails with ERANGE.
 */
import { ProfileUnit } from '../../../reference/iommu/profile-unit.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const tceWindowOffsetIgnored: Mutant = {
  name: 'tce-window-offset-ignored',
  models: 'TCE table indexed from bus address 0, ignoring the window offset (it_offset)',
  violates: ['HW-FMT-PPC-2'],
  areas: ['hw/*'],
  install: () => Patches.install((p) => p.method(ProfileUnit.prototype, 'allocPaging', (original) => function (this: ProfileUnit, ...args: unknown[]) {
    const r = original.apply(this, args);
    if (r.ok && r.value.table.format === 'ppc-tce' && r.value.table.window !== undefined) {
      const { window, ...rest } = r.value.table as { window: { sizeBytes: bigint }; [k: string]: unknown };
      r.value.table = { ...rest, format: 'ppc-tce', ias: window.sizeBytes.toString(2).length - 1 };
    }
    return r;
  })),
};
