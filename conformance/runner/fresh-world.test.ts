/**
 * A case that reads a unit's cumulative counters (IOTLB_STATS) runs in a freshly built world even
 * when the previous case had the same topology: its expected numbers are those of a unit that has
 * seen nothing else (spec/iotlb.md counts from the unit's creation).
 */
import { describe, expect, it } from 'vitest';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { createReferenceAdapter } from '../../reference/adapter.ts';
import type { GoldenCase } from './types.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';

const topology = { bridges: [{ name: 'pci0', iommu: { model: 'intel-vtd', iotlb: { policy: 'realistic' } } }], devices: [{ name: 'dev0', bridge: 'pci0' }] };

const prelude: GoldenCase['steps'] = [
  { op: 'MMAP', arg: { length: '0x1000' }, out: { addr: '$buf' } },
  { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } },
  { op: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { device: 'dev0' }, out: { out_devid: '$dev' } },
  { op: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { device: 'dev0', pt_id: '$ioas' } },
  { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$ioas', flags: ['FIXED_IOVA', 'READABLE', 'WRITEABLE'], user_va: '$buf', length: '0x1000', iova: '0x100000' } },
];
const dma = { op: 'DMA_READ', arg: { dev_id: '$dev', iova: '0x100000', length: 4 }, out: { fault: null } };

describe('fresh world for counter-reading cases', () => {
  it('a second case on the same topology sees the unit counters of its own DMAs only', async () => {
    const warm = mkCase('w/a-warm', [...prelude, dma, dma], { topology, requires: ['test:dma', 'test:iotlb'] } as Partial<GoldenCase>);
    const counts = mkCase('w/b-counts', [...prelude, dma, dma, { op: 'IOTLB_STATS', arg: { iommu: 'pci0' }, out: { hits: 1, misses: 1 } }], { topology, requires: ['test:dma', 'test:iotlb'] } as Partial<GoldenCase>);
    const report = await runCases([warm, counts], () => createReferenceAdapter(), { catalog: getCatalog() });
    expect(byId(report, 'w/a-warm').result).toBe('pass');
    // Without a fresh world the unit would already hold w/warm's miss and hit (2 hits, 2 misses); the runner orders cases by id.
    expect(byId(report, 'w/b-counts').result, JSON.stringify(byId(report, 'w/b-counts').failure ?? byId(report, 'w/b-counts').message)).toBe('pass');
  });
});
