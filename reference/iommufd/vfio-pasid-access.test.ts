import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IOMMU_HWPT_ALLOC_PASID } from '../iommu/unit.ts';
import { AccessObject } from './access.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice, detachDevice } from './device.ts';
import { hwptAlloc } from './hwpt.ts';
import { checkExtension, getInfo, mapDma, setIommu, unmapDma } from './vfio-compat.ts';
import { big, errnoOf } from './test-helpers.ts';


const PAGE = 4096;
const topology = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [
    { name: 'dev0', bridge: 'pci0' },
    { name: 'pdev', bridge: 'pci0', flags: ['pasid'] },
    { name: 'g1', bridge: 'pci0', group: 'grp' },
    { name: 'g2', bridge: 'pci0', group: 'grp' },
  ],
};
let m: Machine;
let ctx: IommufdContext;
let buf: number;
const ioasAlloc = () => Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);

beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
  buf = m.memory.mmap(2 * 1024 * 1024);
});

describe('VFIO type1 compat (vfio_compat_mock_domain, iommufd.*_cmd)', () => {
  const setup = () => {
    const ioas = ioasAlloc();
    attachDevice(ctx, bindDevice(ctx, 'dev0'), ioas, 0, false);
    ctx.vfioIoasCmd(big({ op: 1, ioas_id: ioas, __reserved: 0 }));
    return ioas;
  };
  const mapd = (o: Record<string, number | bigint>) => mapDma(ctx, big({ argsz: 32, flags: 3, vaddr: buf, iova: 0x1000000, size: PAGE, ...o }));
  const unmapd = (o: Record<string, number | bigint>) => unmapDma(ctx, big({ argsz: 24, flags: 0, iova: 0x1000000, size: PAGE, ...o }));

  it('no compat IOAS → ENODEV; argsz 1 or unknown flag → EINVAL first (map_cmd, unmap_cmd, set_iommu_cmd)', () => {
    expect(errnoOf(() => mapd({ argsz: 1 }))).toBe('EINVAL');
    expect(errnoOf(() => mapd({ flags: 1 << 31 }))).toBe('EINVAL');
    expect(errnoOf(() => mapd({}))).toBe('ENODEV');
    expect(errnoOf(() => unmapd({ argsz: 1 }))).toBe('EINVAL');
    expect(errnoOf(() => unmapd({}))).toBe('ENODEV');
    expect(errnoOf(() => setIommu(ctx, 3))).toBe('ENODEV');
    expect(errnoOf(() => setIommu(ctx, 1))).toBe('ENODEV');
    expect(errnoOf(() => getInfo(ctx, big({ argsz: 1 }), new Uint8Array()))).toBe('EINVAL');
    expect(checkExtension(ctx, 3).ret).toBe(1);
    expect(checkExtension(ctx, 2).ret).toBe(0);
  });

  it('map/unmap: empty unmap succeeds with size 0; UNMAP_ALL with a range → EINVAL (vfio_compat_mock_domain.map)', () => {
    setup();
    setIommu(ctx, 3);
    mapd({});
    expect(unmapd({ iova: 0x2000000 }).out).toEqual({ size: 0n });
    expect(errnoOf(() => unmapd({ flags: 2 }))).toBe('EINVAL');
    expect(unmapd({ flags: 2, iova: 0, size: 0 }).out).toEqual({ size: BigInt(PAGE) });
  });

  it('TYPE1 sets HUGE_PAGES 0 and may punch holes; TYPE1v2 cannot (huge_map, option_huge_pages)', () => {
    const ioas = setup();
    setIommu(ctx, 1);
    expect(ctx.option(big({ option_id: 1, op: 1, __reserved: 0, object_id: ioas, val64: 0 }))).toEqual({ val64: 0n });
    mapd({ size: 16 * PAGE });
    expect(unmapd({ iova: 0x1000000 + 4 * PAGE, size: 4 * PAGE }).out).toEqual({ size: BigInt(4 * PAGE) });
    expect(m.memory.refs(buf, 16 * PAGE)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(unmapd({ flags: 2, iova: 0, size: 0 }).out).toEqual({ size: BigInt(12 * PAGE) });
    ctx.vfioType = null;
    const ioas2 = ioasAlloc();
    ctx.vfioIoasCmd(big({ op: 1, ioas_id: ioas2, __reserved: 0 }));
    setIommu(ctx, 3);
    mapd({ size: 16 * PAGE, iova: 0x10000 });
    expect(errnoOf(() => unmapd({ iova: 0x10000 + 4 * PAGE, size: 4 * PAGE }))).toBe('ENOENT');
  });

  it('GET_INFO: PGSIZES|CAPS, cap chain DMA_AVAIL then IOVA_RANGE at 8-byte aligned offsets, argsz grown (get_info)', () => {
    setup();
    // vfio_compat.c: DMA_AVAIL (12 bytes, ALIGN 8 → 16) at 24, IOVA_RANGE (16 + 16) at 40.
    const small = getInfo(ctx, big({ argsz: 16 }), new Uint8Array());
    expect(small.out).toMatchObject({ flags: 3, argsz: 24 + 16 + 32, cap_offset: 0 });
    const full = getInfo(ctx, big({ argsz: 72 }), new Uint8Array(48).fill(0x55));
    expect(full.out).toMatchObject({ argsz: 72, cap_offset: 24, iova_pgsizes: 4096n });
    const t = full.trailing!;
    const dv = new DataView(t.buffer, t.byteOffset);
    expect([dv.getUint16(0, true), dv.getUint16(2, true), dv.getUint32(4, true), dv.getUint32(8, true)]).toEqual([3, 1, 40, 0xffffffff]);
    expect(dv.getUint32(12, true)).toBe(0x55555555); // the alignment hole keeps the caller's bytes
    expect([dv.getUint16(16, true), dv.getUint32(24, true), dv.getUint32(28, true)]).toEqual([1, 1, 0]);
    expect([dv.getBigUint64(32, true), dv.getBigUint64(40, true)]).toEqual([0x1000000n, 0x7fffffffn]);
  });

  it('GET_INFO with argsz short of the chain writes the capabilities that fit and nothing at or past argsz', () => {
    setup();
    // argsz 56: DMA_AVAIL fits (24..35), next (at 28) may point at 40 ≤ 56, IOVA_RANGE (40..71) does not fit.
    const part = getInfo(ctx, big({ argsz: 56 }), new Uint8Array(48).fill(0xaa));
    expect(part.out).toMatchObject({ argsz: 72, cap_offset: 0 });
    const dv = new DataView(part.trailing!.buffer);
    expect([dv.getUint16(0, true), dv.getUint32(4, true)]).toEqual([3, 40]);
    expect([...part.trailing!.subarray(12)].every((b) => b === 0xaa)).toBe(true);
  });
});

describe('PASID attach (iommufd_device_pasid.pasid_attach)', () => {
  it('the PASID rules', () => {
    const ioas = ioasAlloc();
    const d = bindDevice(ctx, 'pdev');
    const plainDev = bindDevice(ctx, 'dev0');
    const pasidHwpt = Number(hwptAlloc(ctx, big({ flags: IOMMU_HWPT_ALLOC_PASID, dev_id: d.id, pt_id: ioas, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0, fault_id: 0 })).out_hwpt_id);
    const plainHwpt = Number(hwptAlloc(ctx, big({ flags: 0, dev_id: d.id, pt_id: ioas, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0, fault_id: 0 })).out_hwpt_id);
    expect(errnoOf(() => attachDevice(ctx, d, ioas, 100, false))).toBe('EINVAL');
    expect(errnoOf(() => attachDevice(ctx, d, plainHwpt, 100, false))).toBe('EINVAL');
    expect(errnoOf(() => attachDevice(ctx, plainDev, pasidHwpt, 100, false))).toBe('EINVAL');
    attachDevice(ctx, d, plainHwpt, 0, false);
    expect(errnoOf(() => attachDevice(ctx, d, pasidHwpt, 100, false))).toBe('EINVAL');
    attachDevice(ctx, d, pasidHwpt, 0, true);
    attachDevice(ctx, d, pasidHwpt, 100, false);
    expect(errnoOf(() => attachDevice(ctx, d, pasidHwpt, 100, false))).toBe('EBUSY');
    expect(errnoOf(() => attachDevice(ctx, d, plainHwpt, 0, true))).toBe('EINVAL');
    expect(errnoOf(() => attachDevice(ctx, d, pasidHwpt, 200, true))).toBe('EINVAL');
    expect(errnoOf(() => attachDevice(ctx, d, ioas, 100, true))).toBe('EINVAL');
    expect(d.pasids.get(100)?.id).toBe(pasidHwpt);
    detachDevice(ctx, d, 300);
    detachDevice(ctx, d, 100);
    expect(errnoOf(() => ctx.destroy(big({ id: pasidHwpt })))).toBe('EBUSY');
    detachDevice(ctx, d, 0);
    ctx.destroy(big({ id: pasidHwpt }));
  });

  it('PASID 1024: the second set_dev_pasid fails with ENOMEM and the old HWPT stays', () => {
    const ioas = ioasAlloc();
    const d = bindDevice(ctx, 'pdev');
    const alloc = () => Number(hwptAlloc(ctx, big({ flags: IOMMU_HWPT_ALLOC_PASID, dev_id: d.id, pt_id: ioas, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0, fault_id: 0 })).out_hwpt_id);
    const h1 = alloc();
    const h2 = alloc();
    attachDevice(ctx, d, h1, 1024, false);
    expect(errnoOf(() => attachDevice(ctx, d, h2, 1024, true))).toBe('ENOMEM');
    expect(d.pasids.get(1024)?.id).toBe(h1);
    attachDevice(ctx, d, h2, 1024, true);
    expect(d.pasids.get(1024)?.id).toBe(h2);
  });
});

describe('groups', () => {
  it('devices of one group must share a HWPT (EINVAL otherwise)', () => {
    const ioas1 = ioasAlloc();
    const ioas2 = ioasAlloc();
    const a = bindDevice(ctx, 'g1');
    const b = bindDevice(ctx, 'g2');
    const h = attachDevice(ctx, a, ioas1, 0, false);
    expect(errnoOf(() => attachDevice(ctx, b, ioas2, 0, false))).toBe('EINVAL');
    expect(attachDevice(ctx, b, ioas1, 0, false)).toBe(h);
  });
});

describe('access (iommufd_ioas.access_pin, access_rw, user_copy)', () => {
  const newAccess = (ioas: number, flags = 1) => {
    const acc = new AccessObject(flags, m.memory);
    ctx.table.ioas(ioas).iopt.addAccess(acc);
    acc.ioas = ctx.table.ioas(ioas);
    acc.ioas.users++;
    ctx.table.add(acc);
    return acc;
  };

  it('pin holds pages through domain add/remove; unpin and close release everything', () => {
    const ioas = ioasAlloc();
    ctx.ioasMap(big({ flags: 7, ioas_id: ioas, __reserved: 0, user_va: buf, length: 8 * PAGE, iova: 0x1000000 }));
    const acc = newAccess(ioas);
    const id = acc.pin(0x1000000n, BigInt(4 * PAGE), true);
    expect(m.memory.refs(buf, 8 * PAGE)).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    const d = bindDevice(ctx, 'dev0');
    attachDevice(ctx, d, ioas, 0, false);
    expect(m.memory.refs(buf, 8 * PAGE)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    detachDevice(ctx, d, 0);
    expect(m.memory.refs(buf, 8 * PAGE)).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    acc.unpinItem(id);
    expect(errnoOf(() => acc.unpinItem(id))).toBe('ENOENT');
    expect(m.memory.refs(buf, 8 * PAGE)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    acc.pin(0x1000000n, BigInt(PAGE), false);
    ctx.close();
    expect(m.memory.pinnedFrames).toBe(0);
  });

  it('pin errnos: length 0 → EINVAL, overflow → EOVERFLOW, unmapped → ENOENT, write on read-only → EPERM, no pin ops → EOPNOTSUPP', () => {
    const ioas = ioasAlloc();
    ctx.ioasMap(big({ flags: 5, ioas_id: ioas, __reserved: 0, user_va: buf, length: PAGE, iova: 0x10000 }));
    const acc = newAccess(ioas);
    expect(errnoOf(() => acc.pin(0x10000n, 0n, false))).toBe('EINVAL');
    expect(errnoOf(() => acc.pin((1n << 64n) - 2n, 4n, false))).toBe('EOVERFLOW');
    expect(errnoOf(() => acc.pin(0x20000n, 1n, false))).toBe('ENOENT');
    expect(errnoOf(() => acc.pin(0x10000n, BigInt(PAGE), true))).toBe('EPERM');
    expect(errnoOf(() => newAccess(ioas, 0).pin(0x10000n, 1n, false))).toBe('EOPNOTSUPP');
  });

  it('rw at every offset around a page boundary reads what the CPU wrote', () => {
    const ioas = ioasAlloc();
    const data = new Uint8Array(2 * PAGE).map((_, i) => (i * 7) & 0xff);
    m.memory.write(buf, data);
    ctx.ioasMap(big({ flags: 7, ioas_id: ioas, __reserved: 0, user_va: buf, length: 2 * PAGE, iova: 0x10000 }));
    const acc = newAccess(ioas, 0);
    for (let off = PAGE - 8; off < PAGE + 8; off++) {
      for (const len of [1, 3, 17]) {
        expect(Array.from(acc.rw(0x10000n + BigInt(off), BigInt(len), null, false))).toEqual(Array.from(data.subarray(off, off + len)));
      }
    }
    acc.rw(0x10000n + BigInt(PAGE - 1), 2n, new Uint8Array([0xaa, 0xbb]), true);
    expect(Array.from(m.memory.read(buf + PAGE - 1, 2)!)).toEqual([0xaa, 0xbb]);
  });

  it('needs-pin access raises the alignment: misaligned areas → EADDRINUSE', () => {
    const ioas = ioasAlloc();
    ctx.ioasMap(big({ flags: 7, ioas_id: ioas, __reserved: 0, user_va: buf + 1, length: 100, iova: 0x10001 }));
    expect(errnoOf(() => newAccess(ioas))).toBe('EADDRINUSE');
  });
});

describe('a driver refusal while mirroring leaves nothing behind', () => {
  it('VFIO MAP_DMA without READ or WRITE into a mock domain fails with the walker EINVAL (formats: amd-v1 refuses no-access maps), state unchanged', () => {
    const ioas = ioasAlloc();
    attachDevice(ctx, bindDevice(ctx, 'dev0'), ioas, 0, false);
    ctx.vfioIoasCmd(big({ op: 1, ioas_id: ioas, __reserved: 0 }));
    const before = JSON.stringify([m.memory.pinnedFrames, m.accounting, ctx.table.ioas(ioas).iopt.areas.length]);
    expect(errnoOf(() => mapDma(ctx, big({ argsz: 32, flags: 0, vaddr: buf, iova: 0x1000000, size: PAGE })))).toBe('EINVAL');
    expect(JSON.stringify([m.memory.pinnedFrames, m.accounting, ctx.table.ioas(ioas).iopt.areas.length])).toBe(before);
  });
});

describe('group replace', () => {
  it('replacing one device of a group moves the whole group and frees the old auto HWPT', () => {
    const ioas1 = ioasAlloc();
    const ioas2 = ioasAlloc();
    const a = bindDevice(ctx, 'g1');
    const b = bindDevice(ctx, 'g2');
    const h1 = attachDevice(ctx, a, ioas1, 0, false);
    attachDevice(ctx, b, ioas1, 0, false);
    const h2 = attachDevice(ctx, a, ioas2, 0, true);
    expect(a.hwpt?.id).toBe(h2);
    expect(b.hwpt?.id).toBe(h2);
    expect(ctx.table.all().some((o) => o.id === h1)).toBe(false);
    expect(ctx.table.get(h2).users).toBe(2);
  });
});

describe('VFIO_DEVICE_BIND_IOMMUFD', () => {
  it('binding a bound device again → EINVAL (vfio_df_ioctl_bind_iommufd: one device cannot be bound twice); unknown name → ENODEV', () => {
    bindDevice(ctx, 'dev0');
    expect(errnoOf(() => bindDevice(ctx, 'dev0'))).toBe('EINVAL');
    expect(errnoOf(() => bindDevice(ctx, 'nope'))).toBe('ENODEV');
  });
});
