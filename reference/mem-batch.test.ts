/**
 * test:mem-batch (conformance/PROTOCOL.md): `mem_write` on a request is written before the call
 * as MEM_WRITE hooks would be, `mem_written: true` brings MEM_WRITTEN's answer back with the
 * call's, and a write MEM_WRITE would refuse makes the request invalid without making the call.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createReferenceAdapter, type ReferenceAdapter } from './adapter.ts';
import { AdapterError, RPC_INVALID_PARAMS } from '../schemas/lib/adapter.ts';

let ad: ReferenceAdapter;
let fd: number;
let addr: number;

beforeEach(async () => {
  ad = createReferenceAdapter();
  await ad.world({ topology: { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [] } });
  fd = (await ad.open({})).fd;
  addr = Number((await ad.test({ op: 'MMAP', arg: { length: 8192 } }) as unknown as { out: { addr: number } }).out.addr);
  await ad.test({ op: 'MEM_WRITTEN', arg: {} }); // starts the log
});

describe('test:mem-batch', () => {
  it('is offered', async () => {
    expect((await ad.hello({ protocol: 1 })).capabilities).toContain('test:mem-batch');
  });

  it('writes mem_write before the call and answers what the call wrote in mem_written', async () => {
    const alloc = await ad.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0 } }) as unknown as { arg: { out_ioas_id: number } };
    const r = await ad.ioctl({
      fd, cmd: 'IOMMU_IOAS_IOVA_RANGES',
      arg: { size: 32, ioas_id: alloc.arg.out_ioas_id, num_iovas: 1, allowed_iovas: addr },
      mem_write: [{ addr: addr + 4096, data: 'a55a' }], mem_written: true,
    }) as unknown as { ret: number; mem_written: { pages: Array<{ addr: number; data: string }> } };
    expect(r.ret).toBe(0);
    // The ranges array went to the first page; the second page holds only the CPU's write.
    expect(r.mem_written.pages.map((p) => p.addr)).toEqual([addr]);
    expect(r.mem_written.pages[0].data.slice(0, 32)).not.toBe('0'.repeat(32));
    const read = await ad.test({ op: 'MEM_READ', arg: { addr: addr + 4096, length: 2 } }) as unknown as { out: { data: string } };
    expect(read.out.data).toBe('a55a');
    // Taken from the log: a MEM_WRITTEN now has nothing more.
    expect(await ad.test({ op: 'MEM_WRITTEN', arg: {} })).toEqual({ ret: 0, out: { pages: [] } });
  });

  it('refuses a request whose mem_write MEM_WRITE would refuse, without making the call', async () => {
    const call = ad.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0 }, mem_write: [{ addr: 0x1000, data: '00' }] });
    await expect(call).rejects.toSatisfy((e: unknown) => e instanceof AdapterError && e.code === RPC_INVALID_PARAMS && /EFAULT/.test(e.message));
    // The IOAS was not allocated: the next one is the first.
    const alloc = await ad.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0 } }) as unknown as { arg: { out_ioas_id: number } };
    expect(alloc.arg.out_ioas_id).toBe(1);
  });
});
