/**
 * Bulk data through the reference adapter (issue #15, defect 3): hex up to the protocol's
 * per-hook limit (HOOK_DATA_MAX_BYTES) round-trips through MEM_WRITE / MEM_READ and DMA, is
 * checked by the schema patterns without "Maximum call stack size exceeded", and a
 * `__trailing` of several MiB reaches the size rule; one byte past the limit is refused.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { AdapterError, HOOK_DATA_MAX_BYTES, RPC_INVALID_PARAMS } from '../schemas/lib/adapter.ts';
import type { JsonObject, TestParams, WireStruct } from '../schemas/lib/adapter.ts';
import { isHexBytes } from '../schemas/lib/codec.ts';
import { createReferenceAdapter, type ReferenceAdapter } from './adapter.ts';
import { out } from './adapter-test-helpers.ts';

let ad: ReferenceAdapter;
let fd: number;
const ioctl = (cmd: string, arg: WireStruct) => ad.ioctl({ fd, cmd, arg });
const test = (op: TestParams['op'], arg: JsonObject = {}) => ad.test({ fd, op, arg });

beforeEach(async () => {
  ad = createReferenceAdapter();
  await ad.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] } });
  fd = (await ad.open({})).fd;
});

/** `n` bytes whose value is their index mod 251, as hex. */
function pattern(n: number): string {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b.toString('hex');
}

describe('bulk hex data', () => {
  it('MEM_WRITE then MEM_READ of the whole per-hook limit gives the bytes back', async () => {
    const n = HOOK_DATA_MAX_BYTES;
    const { addr } = await out(test('MMAP', { length: n }));
    const hex = pattern(n);
    await out(test('MEM_WRITE', { addr, data: hex }));
    const { data } = await out(test('MEM_READ', { addr, length: n }));
    expect(data === hex).toBe(true);
  });

  it('DMA_WRITE and DMA_READ of 8 MiB through a mapped domain', async () => {
    const n = 8 * 1024 * 1024;
    const { out_ioas_id: ioas } = await out(ioctl('IOMMU_IOAS_ALLOC', { size: 12, flags: 0 }));
    const { out_devid: dev } = await out(ioctl('VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, flags: 0, device: 'dev0' }));
    await out(ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 16, flags: 0, pt_id: ioas as number, device: 'dev0' }));
    const { addr } = await out(test('MMAP', { length: n }));
    const { iova } = await out(ioctl('IOMMU_IOAS_MAP', { size: 40, flags: 6, ioas_id: ioas, __reserved: 0, user_va: addr, length: n, iova: 0 }));
    const hex = pattern(n);
    expect((await out(test('DMA_WRITE', { dev_id: dev, pasid: 0, iova, data: hex }))).fault).toBeNull();
    const r = await out(test('DMA_READ', { dev_id: dev, pasid: 0, iova, length: n }));
    expect(r.data === hex).toBe(true);
    const { data } = await out(test('MEM_READ', { addr, length: 16 }));
    expect(data).toBe(hex.slice(0, 32));
  });

  it('a __trailing of 4 MiB + 1 byte reaches the size rule: zeros pass, a non-zero last byte is E2BIG', async () => {
    const extra = 4 * 1024 * 1024 + 1;
    const zeros = '00'.repeat(extra);
    expect(await ioctl('IOMMU_IOAS_ALLOC', { size: 12 + extra, flags: 0, __trailing: zeros })).toMatchObject({ ret: 0 });
    expect(await ioctl('IOMMU_IOAS_ALLOC', { size: 12 + extra, flags: 0, __trailing: `${zeros.slice(2)}01` })).toEqual({ errno: 'E2BIG' });
  });

  it('refuses one byte more than the limit, reading or writing, as invalid params', async () => {
    const { addr } = await out(test('MMAP', { length: HOOK_DATA_MAX_BYTES + 4096 }));
    await expect(test('MEM_READ', { addr, length: HOOK_DATA_MAX_BYTES + 1 })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
    const e = await test('MEM_WRITE', { addr, data: '00'.repeat(HOOK_DATA_MAX_BYTES + 1) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AdapterError);
    expect((e as AdapterError).code).toBe(RPC_INVALID_PARAMS);
  });

  it('isHexBytes is linear: 32 M digits, odd lengths and non-hex refused', () => {
    expect(isHexBytes('ab'.repeat(16 * 1024 * 1024))).toBe(true);
    expect(isHexBytes(`${'ab'.repeat(8 * 1024 * 1024)}a`)).toBe(false);
    expect(isHexBytes(`${'ab'.repeat(8 * 1024 * 1024)}zz`)).toBe(false);
    expect(isHexBytes('')).toBe(true);
  });
});
