// Structure only (benchmarks are not timed tests): the quick run maps, unmaps and reports every
// figure as a finite positive number; run() itself throws if an unmap misses bytes or leaks pins.
import { describe, expect, it } from 'vitest';
import { benchIoas } from './ioas.ts';

describe('benchIoas', () => {
  it('reports every phase with and without a domain', async () => {
    const r = await benchIoas({ quick: true });
    expect(r.runs).toBe(512);
    const phases = ['fixed_map', 'unmap_runs', 'auto_map', 'unmap_all'];
    const keys = ['baseline_map_set_delete_ms', 'store_insert_delete_ratio', 'domain_pages_pinned_per_ms',
      ...phases.flatMap((p) => [`${p}_ms`, `${p}_ratio`, `domain_${p}_ms`, `domain_${p}_ratio`]),
      ...['fixed_map_first_ms', 'unmap_runs_first_ms'].flatMap((k) => [k, `domain_${k}`])];
    for (const k of keys) expect(Number.isFinite(r[k]) && r[k] > 0, `${k} = ${r[k]}`).toBe(true);
  });
});
