import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT } from '../iommu/unit.ts';
import type { HwInvalidation } from '../iommu/unit.ts';
import { IommufdContext } from './context.ts';
import { bindDevice, unbindDevice } from './device.ts';
import { hwptAlloc, hwptInvalidate } from './hwpt.ts';
import { big, errnoOf } from './test-helpers.ts';
import { vdeviceAlloc, viommuAlloc } from './viommu.ts';

const topology = {
  bridges: [{ name: 'pci0', iommu: { model: 'arm-smmuv3' } }],
  devices: [{ name: 'dev0', bridge: 'pci0' }, { name: 'dev1', bridge: 'pci0' }],
};
let m: Machine;
let ctx: IommufdContext;
let scratch: number;
let ioas: number;
let dev0: number;
let parent: number;
const alloc = (o: Record<string, number | bigint>) =>
  Number(hwptAlloc(ctx, big({ flags: 0, dev_id: dev0, pt_id: 0, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0, fault_id: 0, __reserved2: 0, ...o })).out_hwpt_id);
const viommu = (o: Record<string, number | bigint> = {}) =>
  Number(viommuAlloc(ctx, big({ flags: 0, type: 1, dev_id: dev0, hwpt_id: parent, data_len: 0, __reserved: 0, data_uptr: 0, ...o })).out_viommu_id);
const vdevice = (viommuId: number, devId: number, virtId: bigint) => Number(vdeviceAlloc(ctx, big({ viommu_id: viommuId, dev_id: devId, virt_id: virtId })).out_vdevice_id);
const put64 = (at: number, ...w: bigint[]) => {
  const b = new Uint8Array(8 * w.length);
  w.forEach((x, i) => new DataView(b.buffer).setBigUint64(8 * i, x, true));
  m.memory.write(scratch + at, b);
  return BigInt(scratch + at);
};

beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
  scratch = m.memory.mmap(4 * 4096);
  ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
  dev0 = bindDevice(ctx, 'dev0').id;
  parent = alloc({ pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
});

describe('vIOMMU objects', () => {
  it('references: nested HWPT and vDEVICE hold the vIOMMU, the vIOMMU holds the parent; close releases all', () => {
    const v = viommu();
    const vd = vdevice(v, dev0, 0x99n);
    const n = alloc({ pt_id: v, data_type: 2, data_len: 16, data_uptr: put64(0, 0x9n, 0n) });
    expect(errnoOf(() => ctx.destroy(big({ id: v })))).toBe('EBUSY');
    expect(errnoOf(() => ctx.destroy(big({ id: parent })))).toBe('EBUSY');
    ctx.destroy(big({ id: n }));
    ctx.destroy(big({ id: vd }));
    expect(errnoOf(() => ctx.destroy(big({ id: parent })))).toBe('EBUSY');
    ctx.destroy(big({ id: v }));
    ctx.destroy(big({ id: parent }));
    viommu({ hwpt_id: alloc({ pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }) });
    ctx.close();
    expect(ctx.table.size).toBe(0);
  });

  it('unbinding a device tombstones its vDEVICE: the ID is neither found nor reused', () => {
    const v = viommu();
    const vd = vdevice(v, dev0, 0x99n);
    unbindDevice(ctx, ctx.table.device(dev0));
    expect(errnoOf(() => ctx.destroy(big({ id: vd })))).toBe('ENOENT');
    const ids = [0, 1, 2].map(() => Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id));
    expect(ids).not.toContain(vd);
    ctx.destroy(big({ id: v }));
  });

  it('HWPT_INVALIDATE on a vIOMMU issues converted commands to the unit sink: VMID of the parent, physical SID', () => {
    const v = viommu();
    const dev1 = bindDevice(ctx, 'dev1').id;
    vdevice(v, dev1, 0x77n);
    const got: HwInvalidation[] = [];
    m.topology.devices.get('dev0')!.unit.invalidationSink = { issue: (cmds) => got.push(...cmds) };
    const uptr = put64(0x100, 0x30n, 5n, 0x77_0000_0005n, 1n);
    const out = hwptInvalidate(ctx, big({ hwpt_id: v, data_uptr: uptr, data_type: 1, entry_len: 16, entry_num: 2, __reserved: 0 }));
    expect(out.entry_num).toBe(2);
    expect(got).toHaveLength(2);
    expect(got[0]).toEqual({ op: 0x10, words: [0x10n | (1n << 32n), 0n] });
    expect(got[1].op).toBe(0x05);
    expect(got[1].words[0] & 0xffffffffn).toBe(5n);
  });
});
