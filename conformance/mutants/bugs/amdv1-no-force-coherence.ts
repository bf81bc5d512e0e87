/**
 * An AMD-Vi v1 page table that leaves FC (b60) out of its PTEs, as a port that takes Linux's
 * generic_pt AMDv1 format without PT_FEAT_AMDV1_FORCE_COHERENCE would: DMA stays coherent on the
 * reference, but real hardware would no longer snoop for these pages.
 */
import type { EntryWords } from '../../../reference/formats/format.ts';
import { installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

const AMDV1_FC_HI = 1 << (60 - 32);

export const amdv1NoForceCoherence: Mutant = {
  name: 'amdv1-no-force-coherence',
  models: 'AMD-Vi v1 PTEs written without FC (force coherent, bit 60)',
  violates: ['HW-PTE-AMD-1'],
  areas: ['hw/*'],
  install: () => installFormatRewrite('amd-v1', (real) => ({
    leafAttrs: (prot: number, out: EntryWords): boolean => {
      const ok = real.leafAttrs(prot, out);
      out.hi = (out.hi & ~AMDV1_FC_HI) >>> 0;
      return ok;
    },
  })),
};
