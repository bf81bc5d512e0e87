// The VMM library end to end on the embedded reference: which strategy GET_HW_INFO leads to,
// where the shadow lives and what it keeps out, and what a refused leaf or a disabled context
// does to the device.
import { describe, expect, it } from 'vitest';
import { createReferenceAdapter } from '../adapter.ts';
import { GuestDriver, type GuestShape } from './check/guest-driver.ts';
import { chooseStrategy } from './virtual-iommu.ts';
import { parseHwInfo } from './host-caps.ts';
import { UapiClient } from './uapi-client.ts';
import { VirtualIommu } from './virtual-iommu.ts';
import type { StrategyName } from './strategy.ts';

const RAM = 64 << 20;
const AREA = 8 << 20;
const IOVA = (8 * 2 ** 30) / 4096;
const RW = { write: true, user: true, exec: false, af: true };

async function boot(iommu: Record<string, unknown>, shape: GuestShape, strategy?: StrategyName) {
  const adapter = createReferenceAdapter();
  await adapter.world({ topology: { bridges: [{ name: 'pci0', iommu }], devices: [{ name: 'dev0', bridge: 'pci0' }] } } as never);
  const client = await UapiClient.open(adapter);
  const viommu = await VirtualIommu.create(client, { device: 'dev0', guest: shape.guest, ramBytes: RAM, strategy });
  const driver = new GuestDriver(client, viommu.ram, shape, viommu.ram.gpaBase + RAM - AREA, AREA, [viommu]);
  await driver.boot();
  const translate = async (iovaPfn: number) => client.hook('TRANSLATE', { dev_id: viommu.devId, iova: iovaPfn * 4096 });
  return { client, viommu, driver, translate };
}

const ARM: GuestShape = { guest: 'arm-lpae-s1', granule: 4096, ias: 48 };
const X86: GuestShape = { guest: 'vtd-fs', granule: 4096, ias: 48 };

describe('choosing a strategy from GET_HW_INFO', () => {
  it.each([
    [{ model: 'intel-vtd' }, ARM, 'swnest'],
    [{ model: 'intel-vtd' }, X86, 'native'],
    [{ model: 'intel-vtd', nesting: false }, ARM, 'emulation'],
    [{ model: 'arm-smmuv3' }, ARM, 'native'],
    [{ model: 'arm-smmuv3' }, X86, 'swnest'],
    [{ model: 'amd-vi' }, X86, 'emulation'],
  ] as const)('%j with a %j guest → %s', async (iommu, shape, strategy) => {
    const { viommu } = await boot(iommu, shape);
    expect(viommu.strategy.name).toBe(strategy);
  });

  it('the rule itself: native when the host nests the guest format, swnest when it nests another, else emulation', () => {
    const vtd = parseHwInfo(1, new Uint8Array(24));
    expect(vtd.kind).toBe('intel-vtd');
    expect(chooseStrategy(vtd, 'vtd-fs').strategy).toBe('emulation');
    expect(chooseStrategy({ ...vtd, nestsFormats: ['vtd-fs'] }, 'arm-lpae-s1').strategy).toBe('swnest');
    expect(chooseStrategy({ ...vtd, nestsFormats: ['vtd-fs'] }, 'vtd-fs').strategy).toBe('native');
  });

  it('an SMMUv3 host without the 4K granule cannot hold an x86 guest: refused with the reason', async () => {
    await expect(boot({ model: 'arm-smmuv3', granules: ['64K'] }, X86)).rejects.toThrow(/no 4K granule \(IDR5 granules: 64K\)/);
  });

  it('a forced strategy the host cannot do is refused with the reason', async () => {
    await expect(boot({ model: 'intel-vtd' }, ARM, 'native')).rejects.toThrow(/does not walk arm-lpae-s1/);
    await expect(boot({ model: 'amd-vi' }, X86, 'swnest')).rejects.toThrow(/offers no nesting/);
  });
});

describe('software nesting of an ARM guest on VT-d', () => {
  it('a 64K page becomes sixteen 4K shadow entries', async () => {
    const { driver, translate, viommu } = await boot({ model: 'intel-vtd' }, { guest: 'arm-lpae-s1', granule: 65536, ias: 48 });
    await driver.map(IOVA, 16, viommu.ram.gpaBase + 0x30000, RW);
    for (const k of [0, 15]) expect(await translate(IOVA + k)).toMatchObject({ fault: null, page_size: 4096 });
    expect((await translate(IOVA + 16)).fault).not.toBeNull();
  });

  it('a 32M block (16K granule) becomes 2M shadow leaves', async () => {
    const { driver, translate, viommu } = await boot({ model: 'intel-vtd' }, { guest: 'arm-lpae-s1', granule: 16384, ias: 47 });
    await driver.map(IOVA, 25, viommu.ram.gpaBase, RW);
    for (const k of [0, 8191]) expect(await translate(IOVA + k)).toMatchObject({ fault: null, page_size: 2 ** 21 });
  });

  it('a leaf into the shadow pool (above guest RAM) is kept out: the device faults there', async () => {
    const { driver, translate, viommu } = await boot({ model: 'intel-vtd' }, ARM);
    const poolGpa = Math.ceil((viommu.ram.gpaBase + RAM) / 2 ** 30) * 2 ** 30;
    await driver.map(IOVA, 12, poolGpa, RW);
    expect((await translate(IOVA)).fault).not.toBeNull();
    await driver.map(IOVA + 1, 12, viommu.ram.gpaBase, RW);
    expect((await translate(IOVA + 1)).fault).toBeNull();
  });

  it('a device-memory leaf is refused and recorded, not mapped write-back', async () => {
    const { driver, translate, viommu } = await boot({ model: 'intel-vtd' }, ARM);
    const a = driver.leafAttrs(RW);
    await driver.mapRaw(IOVA, 12, viommu.ram.gpaBase, (a.lo & ~(7 << 2)) | (2 << 2), a.hi);
    expect((await translate(IOVA)).fault).not.toBeNull();
    expect(viommu.strategy.counters().refusals.join('\n')).toMatch(/memory attribute 0x04 \(MAIR index 2\) is not Normal write-back/);
  });

  it('abort blocks the device, bypass gives it guest RAM at IOVA = GPA', async () => {
    const { viommu, client } = await boot({ model: 'intel-vtd' }, ARM);
    await viommu.setArmContext(1n, 0n);
    const gpa = viommu.ram.gpaBase + 0x5000;
    expect((await client.hook('TRANSLATE', { dev_id: viommu.devId, iova: gpa })).fault).toBe('blocked');
    await viommu.setArmContext(1n | (4n << 1n), 0n);
    expect(await client.hook('TRANSLATE', { dev_id: viommu.devId, iova: gpa })).toMatchObject({ fault: null, writeable: true });
  });
});

describe('context changes through invalidation', () => {
  it.each(['swnest', 'emulation'] as const)('%s: a CD made valid and announced with CFGI_CD starts translating', async (strategy) => {
    const { driver, translate, viommu } = await boot({ model: 'intel-vtd' }, ARM, strategy);
    await driver.map(IOVA, 12, viommu.ram.gpaBase, RW);
    expect((await translate(IOVA)).fault).toBeNull();
    // The guest clears CD.V (word 0 bit 31) and says so: the device is cut off.
    const w0 = await viommu.ram.readWords64(driver.cdGpa, 1);
    const [lo, hi] = w0[0];
    const word = (l: number): Uint8Array => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setUint32(0, l >>> 0, true);
      new DataView(b.buffer).setUint32(4, hi, true);
      return b;
    };
    await viommu.ram.write(driver.cdGpa, word(lo & ~(1 << 31)));
    await viommu.invalidateCmdq([[0x05n, 1n]]);
    expect((await translate(IOVA)).fault).not.toBeNull();
    await viommu.ram.write(driver.cdGpa, word(lo));
    await viommu.invalidateCmdq([[0x05n, 1n]]);
    expect((await translate(IOVA)).fault).toBeNull();
  });
});
