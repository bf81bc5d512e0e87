/**
 * A VT-d second-stage encoder that writes W at bit 10 (an ignored bit) instead of bit 1, with a
 * walker that reads it back from the same wrong place: every DMA behaves, but the hardware would
 * see read-only leaves where the user mapped writeable ones.
 */
import { bitSwap, installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

export const vtdssWriteBitMoved: Mutant = {
  name: 'vtdss-write-bit-moved',
  models: 'VT-d second-stage W written at bit 10 instead of bit 1 (encoder and walker agree)',
  violates: ['HW-PTE-VTDSS-1'],
  areas: ['hw/*'],
  install: () => installFormatRewrite('vtd-ss', bitSwap(1, 10)),
};
