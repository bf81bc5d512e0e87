/**
 * Names that are members of every JavaScript object (issue #15, defect 5): as an ioctl
 * command, a test op or a JSON-RPC method they are unknown like any other unknown name, never a
 * JS exception surfacing as an internal error. Unmodelled ioctls and a VFIO device command
 * without `device` are the caller's invalid params.
 */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RPC_INVALID_PARAMS, RPC_METHOD_NOT_FOUND } from '../schemas/lib/adapter.ts';
import { serveStdio } from '../conformance/runner/stdio-server.ts';
import { createReferenceAdapter } from './adapter.ts';
import { getCatalog } from '../schemas/lib/catalog.ts';

const NAMES = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];

async function fresh() {
  const a = createReferenceAdapter();
  await a.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] } });
  const { fd } = await a.open({});
  return { a, fd };
}

describe('names of Object.prototype members', () => {
  for (const name of NAMES) {
    it(`'${name}' as an ioctl command is ENOTTY, as a test op and as an IOMMU model it is unknown`, async () => {
      const { a, fd } = await fresh();
      expect(await a.ioctl({ fd, cmd: name, arg: {} })).toEqual({ errno: 'ENOTTY' });
      await expect(a.test({ fd, op: name as 'STATE', arg: {} })).rejects.toMatchObject({ code: RPC_METHOD_NOT_FOUND });
      await expect(a.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: name as 'mock' } }], devices: [] } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS, message: expect.stringMatching(/unknown model/) });
    });
  }

  it('as a JSON-RPC method each is -32601 through the stdio server', async () => {
    const output = new PassThrough();
    const answers: { id: number; error?: { code: number } }[] = [];
    output.on('data', (b: Buffer) => b.toString().split('\n').filter(Boolean).forEach((l) => answers.push(JSON.parse(l))));
    const lines = NAMES.map((m, i) => `${JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: m, params: {} })}\n`);
    await serveStdio(createReferenceAdapter(), Readable.from(lines), output);
    expect(answers.map((x) => x.error?.code)).toEqual(NAMES.map(() => RPC_METHOD_NOT_FOUND));
  });
});

describe('invalid params, not internal errors', () => {
  it('an ioctl the catalog knows but the reference does not model', async () => {
    // The reference models every command of the current catalog: a catalog from a newer header
    // (one more command) stands for the case.
    const real = getCatalog();
    const ioctls = new Map(real.ioctls);
    ioctls.set('IOMMU_FUTURE_ALLOC', { ...real.ioctls.get('IOMMU_HW_QUEUE_ALLOC')!, name: 'IOMMU_FUTURE_ALLOC' });
    const a = createReferenceAdapter({ ...real, ioctls });
    const { fd } = await a.open({});
    await expect(a.ioctl({ fd, cmd: 'IOMMU_FUTURE_ALLOC', arg: { size: 40, flags: 0 } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS, message: expect.stringMatching(/not implemented/) });
  });

  it('a VFIO device command without arg.device', async () => {
    const { a, fd } = await fresh();
    await expect(a.ioctl({ fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { argsz: 16, flags: 0 } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
    await expect(a.ioctl({ fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { argsz: 16, flags: 0, pt_id: 1 } })).rejects.toMatchObject({ code: RPC_INVALID_PARAMS });
  });
});
