/**
 * The registry of IOMMU unit models: topology model name → factory. Adding a model touches its
 * own file plus one line in `MODELS` below. Unknown models and bad knobs fail with a message
 * that names the model, so a wrong topology fails before anything is built.
 */

import type { IommuUnit, UnitFactory } from './unit.ts';
import { createMockUnit } from './mock.ts';
import { createAmdViUnit } from './amd-vi.ts';
import { createArmSmmuV3Unit } from './arm-smmuv3.ts';
import { createIntelVtdUnit } from './intel-vtd.ts';
import { createPpcTceUnit } from './ppc-tce.ts';
import { createRiscvIommuUnit } from './riscv-iommu.ts';

const MODELS: Record<string, UnitFactory> = {
  mock: createMockUnit,
  'intel-vtd': createIntelVtdUnit,
  'amd-vi': createAmdViUnit,
  'arm-smmuv3': createArmSmmuV3Unit,
  'riscv-iommu': createRiscvIommuUnit,
  'ppc-tce': createPpcTceUnit,
};

export function unitModels(): string[] {
  return Object.keys(MODELS).sort();
}

/** Builds the unit a topology bridge describes (`{"model": "mock", ...knobs}`). */
export function createUnit(iommu: Record<string, unknown>): IommuUnit {
  const { model, ...knobs } = iommu;
  if (typeof model !== 'string') throw new TypeError(`iommu: 'model' must be a string (one of ${unitModels().join(', ')})`);
  const factory = Object.hasOwn(MODELS, model) ? MODELS[model] : undefined;
  if (factory === undefined) throw new TypeError(`iommu: unknown model '${model}' (known: ${unitModels().join(', ')})`);
  return factory(knobs);
}
