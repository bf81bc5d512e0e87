/**
 * The independent walkers by PGTABLE_DUMP format name. Adding a format = one walker file plus
 * one line here. None of them imports reference/formats: they exist to check it.
 */
import { walkAmdV1, walkMock } from './amd-v1.ts';
import { walkArmLpaeS1, walkArmLpaeS2 } from './arm-lpae.ts';
import { walkPpcTce } from './ppc-tce.ts';
import { walkRiscvSv, walkRiscvSvx4 } from './riscv.ts';
import { walkVtdSs } from './vtd-ss.ts';
import type { HookOut_PGTABLE_DUMP } from '../../schemas/generated/protocol.ts';
import { dumpMemory, type WalkResult, type Walker } from './walk-result.ts';
import { walkAmdV2, walkVtdFs } from './x86-64.ts';

export const WALKERS: Readonly<Record<string, Walker>> = {
  'vtd-ss': walkVtdSs,
  'vtd-fs': walkVtdFs,
  'amd-v1': walkAmdV1,
  'amd-v2': walkAmdV2,
  'arm-lpae-s1': walkArmLpaeS1,
  'arm-lpae-s2': walkArmLpaeS2,
  'riscv-sv': walkRiscvSv,
  'riscv-svx4': walkRiscvSvx4,
  'ppc-tce': walkPpcTce,
  mock: walkMock,
};

/** Walk a PGTABLE_DUMP answer for one IOVA with the walker of its format. */
export function walkDump(dump: HookOut_PGTABLE_DUMP, iova: bigint): WalkResult {
  const walker = WALKERS[dump.format];
  if (!walker) throw new Error(`no walker for format ${dump.format}`);
  return walker(dumpMemory(dump), iova);
}
