/**
 * The registry of IOMMU unit models: topology model name → factory. Adding a model touches its
 * own file plus one line in `MODELS` below. Unknown models and bad knobs fail with a message
 * that names the model, so a wrong topology fails before anything is built.
 */

import type { IommuUnit, UnitFactory } from './unit.ts';
import { createMockUnit } from './mock.ts';

const MODELS: Record<string, UnitFactory> = {
  mock: createMockUnit,
};

export function unitModels(): string[] {
  return Object.keys(MODELS).sort();
}

/** Builds the unit a topology bridge describes (`{"model": "mock", ...knobs}`). */
export function createUnit(iommu: Record<string, unknown>): IommuUnit {
  const { model, ...knobs } = iommu;
  if (typeof model !== 'string') throw new TypeError(`iommu: 'model' must be a string (one of ${unitModels().join(', ')})`);
  const factory = MODELS[model];
  if (factory === undefined) throw new TypeError(`iommu: unknown model '${model}' (known: ${unitModels().join(', ')})`);
  return factory(knobs);
}
