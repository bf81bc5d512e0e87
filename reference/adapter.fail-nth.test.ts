/**
 * The fail-nth sweep (iommufd_fail_nth.c): for n = 1, 2, … the n-th injection point of one
 * ioctl fails; every attempt must fail with the errno of that point (ENOMEM for an allocation,
 * ENOENT/EINVAL/EFAULT for iommufd's own iommufd_should_fail() sites, fail-nth.ts) and leave
 * STATE exactly as before, until n passes the last point and the ioctl succeeds.
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

/** The errno of each injected failure, in order: the kinds of point the call passes. */
async function sweepErrnos(setup: Setup): Promise<string[]> {
  const errnos: string[] = [];
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
      expect(errnos.length).toBe(n - 1);
      return errnos;
    }
    expect(['ENOMEM', 'ENOENT', 'EINVAL', 'EFAULT'], `${cmd} fail_nth=${n}`).toContain(r.errno);
    errnos.push(r.errno!);
    expect(JSON.stringify(await ad.test({ fd, op: 'STATE', arg: {} })), `${cmd} fail_nth=${n} changed STATE`).toBe(before);
  }
  throw new Error('sweep did not end');
}

async function sweep(setup: Setup): Promise<number> {
  return (await sweepErrnos(setup)).length;
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
    const errnos = await sweepErrnos(async (ad, fd, buf) => {
      const i = await ioas(ad, fd);
      await bindAttach(ad, fd, i, 'dev0');
      await ok(ad, fd, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: i });
      return { cmd: 'IOMMU_IOAS_MAP', arg: { flags: 6, ioas_id: i, user_va: buf, length: 0x10000 } };
    });
    // Linux 6.12: iommufd_get_ioas (ENOENT) first; the iopt_pages and the area; the pfn
    // reader's batch and page-pointer array (temp_kmalloc); pfn_reader_user_pin (EFAULT); the
    // charge of the new pins (update_pinned); the mock's map_pages in each domain (ENOENT).
    // (Linux charges after it maps; the reference before: fail-nth.ts.)
    expect(errnos).toEqual(['ENOENT', 'ENOMEM', 'ENOMEM', 'ENOMEM', 'ENOMEM', 'EFAULT', 'ENOMEM', 'ENOENT', 'ENOENT']);
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
    // ioas.c iommufd_ioas_copy: the source IOAS, iopt_get_pages' list element per area, the
    // destination IOAS, then the MAP path into the destination's domain.
    expect(await sweepErrnos(async (ad, fd, buf) => {
      const src = await ioas(ad, fd);
      const dst = await ioas(ad, fd);
      await bindAttach(ad, fd, dst);
      await ok(ad, fd, 'IOMMU_IOAS_MAP', { flags: 7, ioas_id: src, user_va: buf, length: 0x8000, iova: 0x10000 });
      return { cmd: 'IOMMU_IOAS_COPY', arg: { flags: 7, src_ioas_id: src, dst_ioas_id: dst, src_iova: 0x10000, length: 0x8000, dst_iova: 0x1000000 } };
    })).toEqual(['ENOENT', 'ENOMEM', 'ENOENT', 'ENOMEM', 'ENOMEM', 'ENOMEM', 'EFAULT', 'ENOMEM', 'ENOENT']);
    // ioas.c iommufd_ioas_allow_iovas: the IOAS, then one node per range.
    expect(await sweepErrnos(async (ad, fd, buf) => {
      const i = await ioas(ad, fd);
      await ad.test({ fd, op: 'MEM_WRITE', arg: { addr: buf, data: '00100000000000000020000000000000' + '00400000000000000050000000000000' } });
      return { cmd: 'IOMMU_IOAS_ALLOW_IOVAS', arg: { ioas_id: i, num_iovas: 2, allowed_iovas: buf } };
    })).toEqual(['ENOENT', 'ENOMEM', 'ENOMEM']);
  });
});

/**
 * The selftest's access pin (iommufd_test_access_pages → iommufd_access_pin_pages →
 * iopt_area_add_access): no object lookup (the access is found by its fd); the page-pointer
 * array, the iopt_pages_access, then for pages nobody holds pfn_reader_user_pin (EFAULT);
 * pages_to_xarray (EINVAL, "xarray does not participate in fault injection"); the charge.
 */
describe('fail-nth sweep of ACCESS_PIN', () => {
  async function pinErrnos(withDomain: boolean): Promise<string[]> {
    const ad = createReferenceAdapter();
    await ad.world({ topology });
    const { fd } = await ad.open({});
    const buf = ((await ad.test({ fd, op: 'MMAP', arg: { length: 0x40000 } })) as unknown as { out: { addr: number } }).out.addr;
    const i = await ioas(ad, fd);
    if (withDomain) await bindAttach(ad, fd, i);
    await ok(ad, fd, 'IOMMU_IOAS_MAP', { flags: 7, ioas_id: i, user_va: buf, length: 0x4000, iova: 0x1000000 });
    const created = (await ad.test({ fd, op: 'CREATE_ACCESS', arg: { ioas_id: i, flags: 1 } })) as unknown as { out: { access_id: number } };
    const arg = { access_id: created.out.access_id, iova: 0x1000000, length: 0x4000 };
    const errnos: string[] = [];
    for (let n = 1; n < 100; n++) {
      const before = JSON.stringify(await ad.test({ fd, op: 'STATE', arg: {} }));
      await ad.test({ fd, op: 'FAIL_NTH', arg: { n } });
      const r = (await ad.test({ fd, op: 'ACCESS_PIN', arg })) as { errno?: string; fail_nth_reached?: boolean };
      if (!r.fail_nth_reached) {
        expect(r.errno).toBeUndefined();
        return errnos;
      }
      errnos.push(r.errno!);
      expect(JSON.stringify(await ad.test({ fd, op: 'STATE', arg: {} })), `ACCESS_PIN fail_nth=${n} changed STATE`).toBe(before);
    }
    throw new Error('sweep did not end');
  }

  it('pins pages nobody holds: EFAULT at the pin, then EINVAL at pages_to_xarray', async () => {
    expect(await pinErrnos(false)).toEqual(['ENOMEM', 'ENOMEM', 'EFAULT', 'EINVAL', 'ENOMEM']);
  });

  it('pins pages a domain holds: no pin, EINVAL at pages_to_xarray', async () => {
    expect(await pinErrnos(true)).toEqual(['ENOMEM', 'ENOMEM', 'EINVAL']);
  });

  it('answers ENOENT at the first point of an ioctl that looks an object up', async () => {
    const ad = createReferenceAdapter();
    await ad.world({ topology });
    const { fd } = await ad.open({});
    const i = await ioas(ad, fd);
    await ad.test({ fd, op: 'FAIL_NTH', arg: { n: 1 } });
    expect(await ad.ioctl({ fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: i, num_iovas: 0, allowed_iovas: 0 } })).toMatchObject({ errno: 'ENOENT', fail_nth_reached: true });
    // IOMMU_DESTROY finds the object without iommufd_get_object: no point, it succeeds.
    await ad.test({ fd, op: 'FAIL_NTH', arg: { n: 1 } });
    expect(await ad.ioctl({ fd, cmd: 'IOMMU_DESTROY', arg: { id: i } })).toMatchObject({ ret: 0, fail_nth_reached: false });
  });
});
