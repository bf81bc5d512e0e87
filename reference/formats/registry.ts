/**
 * The format registry: format name (as PGTABLE_DUMP spells it) → factory. Adding a format is
 * one file plus one line here.
 */

import { FormatConfigError, type FormatConfig, type FormatFactory, type FormatName, type PtFormat } from './format.ts';
import { createAmdV1 } from './amd-v1.ts';
import { createArmLpaeS1, createArmLpaeS2 } from './arm-lpae.ts';
import { createMock } from './mock.ts';
import { createPpcTce } from './ppc-tce.ts';
import { createRiscvSv, createRiscvSvx4 } from './riscv.ts';
import { createVtdSs } from './vtd-ss.ts';
import { createAmdV2, createVtdFs } from './x86-64.ts';

const FACTORIES: Record<FormatName, FormatFactory> = {
  'vtd-ss': createVtdSs,
  'vtd-fs': createVtdFs,
  'amd-v1': createAmdV1,
  'amd-v2': createAmdV2,
  'arm-lpae-s1': createArmLpaeS1,
  'arm-lpae-s2': createArmLpaeS2,
  'riscv-sv': createRiscvSv,
  'riscv-svx4': createRiscvSvx4,
  'ppc-tce': createPpcTce,
  mock: createMock,
};

export function formatNames(): FormatName[] {
  return Object.keys(FACTORIES) as FormatName[];
}

/** Builds a configured format; unknown names and bad configs throw FormatConfigError. */
export function createFormat(name: FormatName, config: FormatConfig = {}): PtFormat {
  const factory = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (factory === undefined) throw new FormatConfigError('format', `unknown page-table format '${name}'`);
  return factory(config);
}
