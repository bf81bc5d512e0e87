/**
 * A VT-d second-stage encoder that marks a 2 MiB leaf with bit 10 instead of PS (bit 7), read
 * back from the same place by its walker: the hardware would walk the 2 MiB page's frame as a
 * page table.
 */
import { bitSwap, installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

export const vtdssPageSizeBitMoved: Mutant = {
  name: 'vtdss-page-size-bit-moved',
  models: 'VT-d second-stage PS written at bit 10 instead of bit 7 (encoder and walker agree)',
  violates: ['HW-PTE-VTDSS-1'],
  areas: ['hw/*'],
  install: () => installFormatRewrite('vtd-ss', bitSwap(7, 10)),
};
