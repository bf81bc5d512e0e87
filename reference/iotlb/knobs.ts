/**
 * The `iotlb` knob of a unit's `iommu` object in a topology: `{"policy", "entries", "ways"}`.
 * Read here (not by the models) so that every model takes it the same way; errors name the key.
 *
 * Default `realistic`, 512 entries, 8 ways: a bounded set-associative cache like the hardware's
 * (the models' manuals do not publish IOTLB sizes; 512 is within what current parts cache).
 * Kernel-managed paths invalidate before they return, so the policy never changes what a
 * kernel-managed DMA sees; `sticky` is for cases that must show a missing invalidation
 * deterministically, `off` for walking every time.
 */

import { enumKnob, KnobError, readKnobs, type KnobSpec } from '../iommu/knobs.ts';
import type { IotlbPolicy } from './engine.ts';

const powerOfTwo = (defaultValue: number, min: number, max: number): KnobSpec<number> => ({
  default: defaultValue,
  check: (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max && (v & (v - 1)) === 0
      ? null
      : `must be a power of two in ${min}..${max}`,
});

export const IOTLB_KNOBS = {
  policy: enumKnob<IotlbPolicy>('realistic', ['realistic', 'sticky', 'off']),
  entries: powerOfTwo(512, 1, 1 << 20),
  ways: powerOfTwo(8, 1, 64),
};

export interface IotlbConfig {
  policy: IotlbPolicy;
  entries: number;
  ways: number;
}

/** Reads `iommu.iotlb` (undefined → defaults); `model` names the unit in errors. */
export function readIotlbKnob(model: string, value: unknown): IotlbConfig {
  if (value === undefined) return readKnobs(model, IOTLB_KNOBS, {});
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new KnobError(model, 'iotlb', 'must be an object {policy, entries, ways}');
  try {
    const c = readKnobs(model, IOTLB_KNOBS, value as Record<string, unknown>);
    if (c.ways > c.entries) throw new KnobError(model, 'iotlb.ways', `must not exceed entries (${c.entries})`);
    return c;
  } catch (e) {
    if (e instanceof KnobError && !e.key.startsWith('iotlb')) throw new KnobError(model, `iotlb.${e.key}`, e.rule);
    throw e;
  }
}
