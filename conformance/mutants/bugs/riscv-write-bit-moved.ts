/**
 * A RISC-V Sv encoder that writes W at bit 8 (RSW, software) instead of bit 2, read back from the
 * same place: the hardware would see read-only leaves.
 */
import { bitSwap, installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

export const riscvWriteBitMoved: Mutant = {
  name: 'riscv-write-bit-moved',
  models: 'RISC-V Sv W written at bit 8 (RSW) instead of bit 2 (encoder and walker agree)',
  violates: ['HW-PTE-RISCV-1'],
  areas: ['hw/*'],
  install: () => installFormatRewrite('riscv-sv', bitSwap(2, 8)),
};
