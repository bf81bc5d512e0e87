// Structure only (benchmarks are not timed tests): every format reports finite, positive figures.
import { describe, expect, it } from 'vitest';
import { formatNames } from '../reference/formats/registry.ts';
import { benchFormats } from './formats.ts';

describe('benchFormats', () => {
  it('reports the four figures per format', async () => {
    const r = await benchFormats({ quick: true });
    for (const name of formatNames()) {
      for (const key of ['map_ratio_vs_flat', 'unmap_ratio_vs_flat', 'huge_map_ratio_vs_flat', 'ptes_per_sec']) {
        const v = r[`formats.${name}.${key}`];
        expect(Number.isFinite(v) && v > 0, `formats.${name}.${key} = ${v}`).toBe(true);
      }
    }
  });
});
