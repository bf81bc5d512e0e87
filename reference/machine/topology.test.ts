import { describe, expect, it } from 'vitest';
import { buildTopology } from './topology.ts';

describe('topology', () => {
  it('builds bridges, devices with flags and groups, and the process capabilities', () => {
    const t = buildTopology({
      bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
      devices: [{ name: 'd0', bridge: 'pci0', flags: ['no_dirty', 'pasid'], group: 'g' }],
      process: { drop: ['CAP_IPC_LOCK'] },
    });
    const d = t.devices.get('d0')!;
    expect([d.noDirty, d.pasid, d.group, d.unit.model]).toEqual([true, true, 'g', 'mock']);
    expect([...t.caps]).toEqual(['CAP_SYS_RESOURCE']);
  });

  it('names the wrong field', () => {
    expect(() => buildTopology({ bridges: [{ name: 'b', iommu: { model: 'nope' } }] })).toThrow(/bridges\[0\]\.iommu: .*unknown model 'nope'/);
    expect(() => buildTopology({ bridges: [], devices: [{ name: 'd', bridge: 'x' }] })).toThrow(/devices\[0\]\.bridge/);
    expect(() => buildTopology({ devices: [{ name: 'd', bridge: 'b', flags: ['fast'] }], bridges: [{ name: 'b', iommu: { model: 'mock' } }] })).toThrow(/devices\[0\]\.flags/);
    expect(() => buildTopology({ process: { drop: ['CAP_NET_ADMIN'] } })).toThrow(/process\.drop/);
    expect(() => buildTopology({ extra: 1 })).toThrow(/extra: unknown field/);
  });
});
