/**
 * The reference validates what it is sent with the schemas the runner uses: a malformed
 * argument is a JSON-RPC invalid-params error naming the field and the rule, never an errno.
 */
import { describe, expect, it } from 'vitest';
import { AdapterError, RPC_INVALID_PARAMS } from '../schemas/lib/adapter.ts';
import { createReferenceAdapter } from './adapter.ts';

describe('reference input validation', () => {
  it('refuses an ioctl arg with an unknown field or a value outside its C type', async () => {
    const a = createReferenceAdapter();
    await a.world({ topology: { bridges: [], devices: [] } });
    const { fd } = await a.open({});
    const unknown = a.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { flags: 0, colour: 1 } });
    await expect(unknown).rejects.toBeInstanceOf(AdapterError);
    await expect(unknown).rejects.toMatchObject({ code: RPC_INVALID_PARAMS, message: expect.stringMatching(/additionalProperties/) });
    const wide = a.ioctl({ fd, cmd: 'IOMMU_DESTROY', arg: { id: 2 ** 32 } });
    await expect(wide).rejects.toMatchObject({ code: RPC_INVALID_PARAMS, message: expect.stringMatching(/\/id/) });
    // A well-formed call still answers as the kernel does.
    await expect(a.ioctl({ fd, cmd: 'IOMMU_DESTROY', arg: { id: 7 } })).resolves.toEqual({ errno: 'ENOENT' });
  });

  it('refuses a test hook arg that breaks its schema', async () => {
    const a = createReferenceAdapter();
    await a.world({ topology: { bridges: [], devices: [] } });
    await expect(a.test({ op: 'MMAP', arg: { length: -1 } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
  });

  it('refuses a u64 past 2^64-1 on every path instead of wrapping it (issue #15, defect 4)', async () => {
    const a = createReferenceAdapter();
    await a.world({ topology: { bridges: [], devices: [] } });
    const { fd } = await a.open({});
    // 2^64 + 16384 and 2^64: twenty digits, so the schema's [0-9]{1,20} lets them through.
    await expect(a.test({ fd, op: 'MMAP', arg: { length: '18446744073709568000' } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
    await expect(a.test({ fd, op: 'SET_MEMLOCK_LIMIT', arg: { pages: '18446744073709551616' } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
    await expect(a.test({ fd, op: 'MEM_READ', arg: { addr: '99999999999999999999', length: 1 } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
    // The limit was not changed to 0 by the refused call: a 1-page pin in USER mode still fits.
    expect(await a.test({ fd, op: 'ACCOUNTING', arg: {} })).toMatchObject({ ret: 0 });
    await expect(a.ioctl({ fd, cmd: 'IOMMU_IOAS_MAP', arg: { size: 40, flags: 6, ioas_id: 1, __reserved: 0, user_va: 0x1000000, length: '18446744073709551616', iova: 0 } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
    // A u64 written as a string within range is still taken.
    expect(await a.test({ fd, op: 'SET_MEMLOCK_LIMIT', arg: { pages: '4096' } })).toEqual({ ret: 0, out: {} });
  });
});
