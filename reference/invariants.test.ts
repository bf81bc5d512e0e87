/**
 * The invariant checker (reference/invariants.ts): silent on a consistent machine, and it names
 * each kind of inconsistency when one is planted behind the model's back — a pin nobody holds,
 * a domain that lost a mapping, a charge no store made, a page table no domain owns. The
 * adapter's debug mode turns the first broken invariant into an internal error.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { AdapterError, RPC_INTERNAL, type JsonObject, type TestParams, type WireStruct } from '../schemas/lib/adapter.ts';
import { createReferenceAdapter, type ReferenceAdapter } from './adapter.ts';
import { out } from './adapter-test-helpers.ts';
import type { IommufdContext } from './iommufd/context.ts';
import type { IoasObject } from './iommufd/objects.ts';
import { checkInvariants } from './invariants.ts';
import { decodeStruct, encodeStruct } from '../schemas/lib/codec.ts';
import type { Machine } from './machine/machine.ts';

let ad: ReferenceAdapter;
let fd: number;
let ioas: number;
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const test = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });
const inside = () => ad as unknown as { machine: Machine; contexts: Map<number, IommufdContext> };
const check = () => checkInvariants(inside().machine, inside().contexts.values());
const iopt = () => (inside().contexts.get(fd)!.table.get(ioas, 'IOAS') as IoasObject).iopt;

async function setUp(checkMode: boolean): Promise<void> {
  ad = createReferenceAdapter(undefined, { checkInvariants: checkMode });
  await ad.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] } });
  fd = (await ad.open({})).fd;
  ioas = (await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }))).out_ioas_id as number;
  await out(ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, flags: 0, device: 'dev0' }));
  await out(ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, flags: 0, pt_id: ioas, device: 'dev0' }));
  const { addr } = await out(test('MMAP', { length: 0x10000 }));
  await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 7, ioas_id: ioas, __reserved: 0, user_va: addr, length: 0x8000, iova: 0x1000000 }));
  const { access_id } = await out(test('CREATE_ACCESS', { ioas_id: ioas, flags: 1 }));
  await out(test('ACCESS_PIN', { access_id, iova: 0x1002000, length: 0x2000 }));
}

describe('invariant checker', () => {
  beforeEach(async () => setUp(false));

  it('finds nothing on a consistent machine, with a domain, an access pin and a fork', async () => {
    expect(check()).toEqual([]);
    await out(test('PROCESS_FORK'));
    expect(check()).toEqual([]);
  });

  it('a frame pinned behind the stores\' back', () => {
    const pfn = iopt().areas[0].pages.frameAt(0);
    inside().machine.phys.pins.add(pfn, 1);
    expect(check().join('\n')).toMatch(/frame 0x[0-9a-f]+: pin count 2, the stores holding it make 1/);
  });

  it('a domain that lost one mapping', () => {
    iopt().domains[0].table.unmap(0x1004000n, 0x1000);
    expect(check().join('\n')).toMatch(/domain 0: maps 28672 bytes, its areas cover 32768/);
  });

  it('an IOTLB entry for a kernel-managed domain that its table no longer gives (an unmap without the flush)', async () => {
    const dev = inside().contexts.get(fd)!.table.all().find((o) => o.kind === 'DEVICE')!;
    expect((await out(test('DMA_READ', { dev_id: dev.id, iova: 0x1004000, length: 8 }))).fault).toBeNull();
    expect(check()).toEqual([]);
    // The table loses the page behind the IOTLB's back: PagingDomain.unmap would have flushed.
    iopt().domains[0].table.unmap(0x1004000n, 0x1000);
    expect(check().join('\n')).toMatch(/domain 0: mock IOTLB: a \d+-byte entry at IOVA 0x1004000 \(output 0x[0-9a-f]+\) that the kernel-managed table no longer maps/);
  });

  it('a holder count the areas and accesses do not explain', () => {
    iopt().areas[0].pages.pin(6, 1);
    expect(check().join('\n')).toMatch(/page 6 has 2 holder\(s\), its areas and access pins make 1/);
  });

  it('a charge no store made', () => {
    inside().machine.accounting.charge('none', 3);
    expect(check().join('\n')).toMatch(/pinned_vm 11, its stores charged 8/);
  });

  it('a mock device MOCK_DOMAIN made that outlives its selftest object, and an access fd whose access left the table', async () => {
    const cmd = (op: string, fields: Record<string, unknown>) => test('TEST_CMD', { op, data: Buffer.from(encodeStruct('iommu_test_cmd', { size: 72, ...fields })).toString('hex') });
    const md = decodeStruct('iommu_test_cmd', Buffer.from((await out(cmd('MOCK_DOMAIN', { id: ioas }))).data as string, 'hex')) as { mock_domain: { out_stdev_id: number } };
    const acc = decodeStruct('iommu_test_cmd', Buffer.from((await out(cmd('CREATE_ACCESS', { id: ioas }))).data as string, 'hex')) as { create_access: { out_access_fd: number } };
    expect(check()).toEqual([]);
    const ctx = inside().contexts.get(fd)!;
    ctx.table.remove(ctx.table.get(md.mock_domain.out_stdev_id));
    ctx.table.remove(ctx.accessFds.get(acc.create_access.out_access_fd)!);
    const broken = check();
    expect(broken).toContain('mock device iommufd_mock0 outlives its selftest object');
    expect(broken).toContain(`access fd ${acc.create_access.out_access_fd}: its access is not in the table`);
  });

  it('a page table no live domain owns', () => {
    inside().machine.phys.allocFrames(1);
    expect(check().join('\n')).toMatch(/frames: \d+ allocated, but memory objects hold \d+, live page tables \d+, pinned orphans 0/);
  });
});

describe('debug mode of the adapter', () => {
  it('answers the next call with an internal error naming what broke', async () => {
    await setUp(true);
    inside().machine.phys.allocFrames(1);
    const e = await ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AdapterError);
    expect((e as AdapterError).code).toBe(RPC_INTERNAL);
    expect((e as AdapterError).message).toMatch(/^invariant broken after IOMMU_IOAS_ALLOC: frames: /);
  });
});
