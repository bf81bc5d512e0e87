/**
 * The format registry: format name (as PGTABLE_DUMP spells it) → factory. Adding a format is
 * one file plus one line here.
 */

import { FormatConfigError, type FormatConfig, type FormatFactory, type FormatName, type PtFormat } from './format.ts';
import { createAmdV1 } from './amd-v1.ts';
import { createMock } from './mock.ts';
import { createVtdSs } from './vtd-ss.ts';

const FACTORIES: Partial<Record<FormatName, FormatFactory>> = {
  'vtd-ss': createVtdSs,
  'amd-v1': createAmdV1,
  mock: createMock,
};

export function formatNames(): FormatName[] {
  return Object.keys(FACTORIES) as FormatName[];
}

/** Builds a configured format; unknown names and bad configs throw FormatConfigError. */
export function createFormat(name: FormatName, config: FormatConfig = {}): PtFormat {
  const factory = FACTORIES[name];
  if (factory === undefined) throw new FormatConfigError('format', `unknown page-table format '${name}'`);
  return factory(config);
}
