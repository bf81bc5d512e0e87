import { describe, expect, it } from 'vitest';
import { buildTopology } from '../machine/topology.ts';
import { readIotlbKnob } from './knobs.ts';

const topo = (iotlb: unknown) => ({ bridges: [{ name: 'pci0', iommu: { model: 'intel-vtd', iotlb } }], devices: [{ name: 'dev0', bridge: 'pci0' }] });

describe('iotlb knob', () => {
  it('defaults to realistic, 512 entries, 8 ways', () => {
    expect(readIotlbKnob('intel-vtd', undefined)).toEqual({ policy: 'realistic', entries: 512, ways: 8 });
    const t = buildTopology(topo(undefined));
    expect(t.bridges.get('pci0')!.iotlb.engine.policy).toBe('realistic');
    expect(t.bridges.get('pci0')!.iotlb.engine.slots).toBe(512);
  });
  it('takes the policy and geometry of each unit, and the models never see it', () => {
    const t = buildTopology(topo({ policy: 'sticky' }));
    expect(t.bridges.get('pci0')!.iotlb.engine.policy).toBe('sticky');
    expect(t.bridges.get('pci0')!.unit.knobs).not.toHaveProperty('iotlb');
    expect(buildTopology(topo({ policy: 'realistic', entries: 64, ways: 4 })).bridges.get('pci0')!.iotlb.engine.slots).toBe(64);
  });
  it('rejects a bad value naming the key', () => {
    expect(() => buildTopology(topo({ policy: 'lru' }))).toThrow(/bridges\[0\]\.iommu.*iotlb\.policy.*"realistic", "sticky", "off"/);
    expect(() => buildTopology(topo({ entries: 100 }))).toThrow(/iotlb\.entries.*power of two/);
    expect(() => buildTopology(topo({ entries: 4, ways: 8 }))).toThrow(/iotlb\.ways.*must not exceed entries/);
    expect(() => buildTopology(topo({ size: 4 }))).toThrow(/iotlb\.size.*unknown knob/);
    expect(() => buildTopology(topo('sticky'))).toThrow(/iotlb.*must be an object/);
  });
});
