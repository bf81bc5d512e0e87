/**
 * An Arm stage-1 encoder that leaves the access flag (AF, bit 10) clear in new leaves. The
 * reference walker, like an SMMU with hardware access-flag update, does not fault on it; an SMMU
 * without HTTU raises an access-flag fault on every first DMA.
 */
import type { EntryWords } from '../../../reference/formats/format.ts';
import { installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

const ARM_AF = 1 << 10;

export const armS1NoAccessFlag: Mutant = {
  name: 'arm-s1-no-access-flag',
  models: 'Arm stage-1 leaves written without AF (bit 10)',
  violates: ['HW-PTE-ARM-1'],
  areas: ['hw/*'],
  install: () => installFormatRewrite('arm-lpae-s1', (real) => ({
    leafAttrs: (prot: number, out: EntryWords): boolean => {
      const ok = real.leafAttrs(prot, out);
      out.lo = (out.lo & ~ARM_AF) >>> 0;
      return ok;
    },
  })),
};
