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
});
