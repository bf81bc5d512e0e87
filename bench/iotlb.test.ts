// Structure only (benchmarks are not timed tests): every figure is finite and positive, and the
// C baseline compiled and ran on the machine's cc.
import { describe, expect, it } from 'vitest';
import { benchIotlb } from './iotlb.ts';

describe('benchIotlb', () => {
  it('reports every figure, the C loop included', async () => {
    const r = await benchIotlb({ quick: true });
    for (const key of ['hit_ns', 'realistic_hit_ns', 'map_hit_ns', 'walk_ns', 'c_hit_ns', 'hits_per_sec', 'ratio_vs_c', 'speedup_vs_walk', 'map_ratio', 'stream.translations_per_sec']) {
      const v = r[`iotlb.${key}`];
      expect(Number.isFinite(v) && v > 0, `iotlb.${key} = ${v}`).toBe(true);
    }
    const rate = r['iotlb.stream.hit_rate'];
    expect(rate > 0 && rate < 1, `hit rate ${rate}`).toBe(true);
  }, 60_000);
});
