/**
 * The hardware models end to end through the reference adapter: what a user sees from
 * IOMMU_GET_HW_INFO and IOMMU_IOAS_IOVA_RANGES on a device behind each model. Expected bytes
 * are the golden register values of the per-model tests laid out as the uAPI structs; the
 * ranges are the attached domain's aperture minus the model's reserved regions.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceAdapter } from '../adapter.ts';
import type { JsonObject } from '../../schemas/lib/adapter.ts';

async function world(iommu: JsonObject, flags: string[] = ['pasid']) {
  const a = new ReferenceAdapter();
  await a.world({ topology: { bridges: [{ name: 'pci0', iommu }], devices: [{ name: 'dev0', bridge: 'pci0', flags }] } });
  const { fd } = await a.open({});
  const bind = await a.ioctl({ fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { argsz: 24, flags: 0, device: 'dev0', iommufd: fd } });
  if (!('ret' in bind)) throw new Error(`bind: ${bind.errno}`);
  const devId = bind.arg.out_devid as number;
  const mm = await a.test({ fd, op: 'MMAP', arg: { length: 4096 } });
  if (!('ret' in mm)) throw new Error('mmap');
  const buf = mm.out.addr as number;
  return { a, fd, devId, buf };
}

async function hwInfo(iommu: JsonObject, flags?: string[]) {
  const { a, fd, devId, buf } = await world(iommu, flags);
  const r = await a.ioctl({
    fd,
    cmd: 'IOMMU_GET_HW_INFO',
    arg: { size: 48, flags: 0, dev_id: devId, data_len: 64, data_uptr: buf, out_data_type: 0, out_max_pasid_log2: 0, __reserved: [0, 0, 0], out_capabilities: 0 },
  });
  if (!('ret' in r)) throw new Error(`hw_info: ${r.errno}`);
  const mem = await a.test({ fd, op: 'MEM_READ', arg: { addr: buf, length: 64 } });
  if (!('ret' in mem)) throw new Error('read');
  return { arg: r.arg, data: mem.out.data as string };
}

async function ranges(iommu: JsonObject): Promise<Array<[bigint, bigint]>> {
  const { a, fd, buf } = await world(iommu);
  const ioas = await a.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0, out_ioas_id: 0 } });
  if (!('ret' in ioas)) throw new Error('ioas');
  const ioasId = ioas.arg.out_ioas_id as number;
  const att = await a.ioctl({ fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { argsz: 16, flags: 0, device: 'dev0', pt_id: ioasId } });
  if (!('ret' in att)) throw new Error(`attach: ${att.errno}`);
  const r = await a.ioctl({ fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { size: 32, ioas_id: ioasId, num_iovas: 8, __reserved: 0, allowed_iovas: buf, out_iova_alignment: 0 } });
  if (!('ret' in r)) throw new Error(`ranges: ${r.errno}`);
  const mem = await a.test({ fd, op: 'MEM_READ', arg: { addr: buf, length: 16 * (r.arg.num_iovas as number) } });
  if (!('ret' in mem)) throw new Error('read');
  const bytes = Buffer.from(mem.out.data as string, 'hex');
  const out: Array<[bigint, bigint]> = [];
  for (let i = 0; i < (r.arg.num_iovas as number); i++) out.push([bytes.readBigUInt64LE(16 * i), bytes.readBigUInt64LE(16 * i + 8)]);
  return out;
}

const zeros = (n: number) => '00'.repeat(n);

describe('hardware models through the reference adapter', () => {
  it('intel-vtd: GET_HW_INFO type 1, 24 bytes, DIRTY_TRACKING, PASID 20', async () => {
    const { arg, data } = await hwInfo({ model: 'intel-vtd' });
    expect(arg).toMatchObject({ out_data_type: 1, data_len: 24, out_capabilities: 1, out_max_pasid_log2: 20 });
    expect(data).toBe('01000000' + '00000000' + '66046f408c07d209' + '5f50f0a498ef0100' + zeros(40));
  });

  it('arm-smmuv3: GET_HW_INFO type 2, 40 bytes of raw ID registers', async () => {
    const { arg, data } = await hwInfo({ model: 'arm-smmuv3' });
    expect(arg).toMatchObject({ out_data_type: 2, data_len: 40, out_capabilities: 1, out_max_pasid_log2: 20 });
    expect(data).toBe('0000000000000000' + '9b760d09' + '109d7302' + '00000000' + '04150000' + '00000000' + '75000000' + '3b047048' + '02000000' + zeros(24));
  });

  it('amd-vi: GET_HW_INFO type 4, 16 bytes {efr, efr2}; with hw_info "none" type NONE', async () => {
    expect(await hwInfo({ model: 'amd-vi' })).toMatchObject({
      arg: { out_data_type: 4, data_len: 16, out_capabilities: 1, out_max_pasid_log2: 15 },
      data: 'df5a20000f001700' + zeros(8) + zeros(48),
    });
    expect(await hwInfo({ model: 'amd-vi', hw_info: 'none' })).toMatchObject({ arg: { out_data_type: 0, data_len: 0 }, data: zeros(64) });
  });

  it('riscv-iommu, ppc-tce: type NONE, data_len 0, buffer zero-filled', async () => {
    expect(await hwInfo({ model: 'riscv-iommu' })).toMatchObject({ arg: { out_data_type: 0, data_len: 0, out_capabilities: 0, out_max_pasid_log2: 0 } });
    expect(await hwInfo({ model: 'ppc-tce' })).toMatchObject({ arg: { out_data_type: 0, data_len: 0, out_capabilities: 0 } });
  });

  it('no_dirty and non-PASID devices drop DIRTY_TRACKING and the PASID width', async () => {
    expect((await hwInfo({ model: 'intel-vtd' }, ['no_dirty'])).arg).toMatchObject({ out_capabilities: 0, out_max_pasid_log2: 0 });
  });

  it('IOVA ranges: the automatic domain aperture minus the reserved regions', async () => {
    // VT-d first-stage aperture [0, 2^47 − 1] minus the IOAPIC/MSI window.
    expect(await ranges({ model: 'intel-vtd' })).toEqual([
      [0n, 0xfedfffffn],
      [0xfef00000n, 0x7fffffffffffn],
    ]);
    // AMD v1 (64-bit) minus the MSI window and the HyperTransport window.
    expect(await ranges({ model: 'amd-vi' })).toEqual([
      [0n, 0xfedfffffn],
      [0xfef00000n, 0xfcffffffffn],
      [0x10000000000n, 0xffffffffffffffffn],
    ]);
    // SMMUv3 stage 1 (48-bit) minus the software MSI window.
    expect(await ranges({ model: 'arm-smmuv3' })).toEqual([
      [0n, 0x7ffffffn],
      [0x8100000n, 0xffffffffffffn],
    ]);
    // RISC-V Sv48: the lower canonical half.
    expect(await ranges({ model: 'riscv-iommu' })).toEqual([[0n, 0x7fffffffffffn]]);
  });

  it.each([
    [{ model: 'intel-vtd' }, 'vtd-fs', { levels: 4, granule: 4096, ias: 48, oas: 52 }],
    [{ model: 'arm-smmuv3' }, 'arm-lpae-s1', { levels: 4, granule: 4096, ias: 48, oas: 48, stage: 1 }],
    // AMD v1 grows its top on demand (3 levels up to the unit's 6): levels are the formats' call.
    [{ model: 'amd-vi' }, 'amd-v1', { granule: 4096, oas: 52 }],
    [{ model: 'riscv-iommu' }, 'riscv-sv', { levels: 4, granule: 4096, ias: 48, oas: 56 }],
    [{ model: 'ppc-tce', paging: true }, 'ppc-tce', { levels: 1, granule: 4096, ias: 30, oas: 52, big_endian: true }],
  ])('%j: the automatic domain maps, translates and dumps as %s', async (iommu, format, config) => {
    const { a, fd, devId } = await world(iommu as JsonObject, []);
    const mm = await a.test({ fd, op: 'MMAP', arg: { length: 0x400000 } });
    if (!('ret' in mm)) throw new Error('mmap');
    const ioas = await a.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0, out_ioas_id: 0 } });
    if (!('ret' in ioas)) throw new Error('ioas');
    const ioasId = ioas.arg.out_ioas_id as number;
    const att = await a.ioctl({ fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { argsz: 16, flags: 0, device: 'dev0', pt_id: ioasId } });
    if (!('ret' in att)) throw new Error(`attach: ${att.errno}`);
    const map = await a.ioctl({
      fd,
      cmd: 'IOMMU_IOAS_MAP',
      arg: { size: 40, flags: 1 | 2 | 4, ioas_id: ioasId, __reserved: 0, user_va: mm.out.addr as number, length: 0x400000, iova: 0x200000 },
    });
    expect('ret' in map).toBe(true);
    const tr = await a.test({ fd, op: 'TRANSLATE', arg: { dev_id: devId, iova: 0x201000, write: true } });
    expect(tr).toMatchObject({ ret: 0, out: { fault: null, readable: true, writeable: true } });
    const dump = await a.test({ fd, op: 'PGTABLE_DUMP', arg: { hwpt_id: att.arg.pt_id as number } });
    expect(dump).toMatchObject({ ret: 0, out: { format, config } });
  });
});
