/**
 * The fail-nth sweep (iommufd_fail_nth.c): for n = 1, 2, … the n-th allocation point of one
 * ioctl fails; every attempt must fail with ENOMEM and leave STATE exactly as before, until n
 * passes the last point and the ioctl succeeds.
 */
import { describe, expect, it } from 'vitest';
import type { JsonObject, WireStruct, WorldParams } from '../schemas/lib/adapter.ts';
import { createReferenceAdapter } from './adapter.ts';
import type { ReferenceAdapter } from './adapter.ts';

const topology: WorldParams['topology'] = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [{ name: 'dev0', bridge: 'pci0' }, { name: 'dev1', bridge: 'pci0' }],
  process: { drop: ['CAP_IPC_LOCK'] },
};
type Setup = (ad: ReferenceAdapter, fd: number, buf: number) => Promise<{ cmd: string; arg: WireStruct }>;

async function ok(ad: ReferenceAdapter, fd: number, cmd: string, arg: WireStruct): Promise<WireStruct> {
  const r = (await ad.ioctl({ fd, cmd, arg })) as { errno?: string; arg?: WireStruct };
  if (r.errno !== undefined) throw new Error(`${cmd}: ${r.errno}`);
  return r.arg!;
}

async function sweep(setup: Setup): Promise<number> {
  const ad = createReferenceAdapter();
  await ad.world({ topology });
  const { fd } = await ad.open({});
  const buf = ((await ad.test({ fd, op: 'MMAP', arg: { length: 0x40000 } })) as unknown as { out: { addr: number } }).out.addr;
  const { cmd, arg } = await setup(ad, fd, buf);
  for (let n = 1; n < 100; n++) {
    const before = JSON.stringify(await ad.test({ fd, op: 'STATE', arg: {} }));
    await ad.test({ fd, op: 'FAIL_NTH', arg: { n } });
    const r = (await ad.ioctl({ fd, cmd, arg })) as { errno?: string; fail_nth_reached?: boolean };
    if (!r.fail_nth_reached) {
      expect(r.errno, `${cmd} after the last point`).toBeUndefined();
      await ad.close({ fd });
      const s = (await ad.test({ op: 'STATE', arg: {} })) as unknown as { out: JsonObject };
      expect(s.out).toMatchObject({ contexts: [], pinned_pages: 0, user_pages: 0, mm_pages: 0 });
      return n - 1;
    }
    expect(r.errno, `${cmd} fail_nth=${n}`).toBe('ENOMEM');
    expect(JSON.stringify(await ad.test({ fd, op: 'STATE', arg: {} })), `${cmd} fail_nth=${n} changed STATE`).toBe(before);
  }
  throw new Error('sweep did not end');
}

const ioas = async (ad: ReferenceAdapter, fd: number) => (await ok(ad, fd, 'IOMMU_IOAS_ALLOC', {})).out_ioas_id as number;
const bindAttach = async (ad: ReferenceAdapter, fd: number, pt: number, device = 'dev0') => {
  await ok(ad, fd, 'VFIO_DEVICE_BIND_IOMMUFD', { argsz: 24, device });
  return (await ok(ad, fd, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, pt_id: pt, device })).pt_id as number;
};

describe('fail-nth sweeps (iommufd_fail_nth.c basic, map_domain, map_two_domains, device)', () => {
  it('IOAS_ALLOC', async () => {
    expect(await sweep(async () => ({ cmd: 'IOMMU_IOAS_ALLOC', arg: {} }))).toBe(1);
  });

  it('MAP into an IOAS with two domains', async () => {
    const points = await sweep(async (ad, fd, buf) => {
      const i = await ioas(ad, fd);
      await bindAttach(ad, fd, i, 'dev0');
      await ok(ad, fd, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: i });
      return { cmd: 'IOMMU_IOAS_MAP', arg: { flags: 6, ioas_id: i, user_va: buf, length: 0x10000 } };
    });
    expect(points).toBe(5); // iopt_pages, area, pin batch, map_pages × 2
  });

  it('attach to an IOAS with mappings (automatic domain, fill)', async () => {
    expect(await sweep(async (ad, fd, buf) => {
      const i = await ioas(ad, fd);
      await ok(ad, fd, 'IOMMU_IOAS_MAP', { flags: 7, ioas_id: i, user_va: buf, length: 0x8000, iova: 0x1000000 });
      await ok(ad, fd, 'VFIO_DEVICE_BIND_IOMMUFD', { argsz: 24, device: 'dev0' });
      return { cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { argsz: 16, pt_id: i, device: 'dev0' } };
    })).toBeGreaterThan(3);
  });

  it('COPY into a domain IOAS, ALLOW_IOVAS, nested HWPT_ALLOC', async () => {
    expect(await sweep(async (ad, fd, buf) => {
      const src = await ioas(ad, fd);
      const dst = await ioas(ad, fd);
      await bindAttach(ad, fd, dst);
      await ok(ad, fd, 'IOMMU_IOAS_MAP', { flags: 7, ioas_id: src, user_va: buf, length: 0x8000, iova: 0x10000 });
      return { cmd: 'IOMMU_IOAS_COPY', arg: { flags: 7, src_ioas_id: src, dst_ioas_id: dst, src_iova: 0x10000, length: 0x8000, dst_iova: 0x1000000 } };
    })).toBeGreaterThan(2);
    expect(await sweep(async (ad, fd, buf) => {
      const i = await ioas(ad, fd);
      await ad.test({ fd, op: 'MEM_WRITE', arg: { addr: buf, data: '00100000000000000020000000000000' + '00400000000000000050000000000000' } });
      return { cmd: 'IOMMU_IOAS_ALLOW_IOVAS', arg: { ioas_id: i, num_iovas: 2, allowed_iovas: buf } };
    })).toBe(2);
  });
});
