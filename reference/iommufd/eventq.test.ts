/**
 * The event queues and mmap space below the protocol: what a case cannot reach cheaply (the
 * sequence wrap at INT_MAX, a region freed in the middle of the mmap space) and the STATE
 * dump of every new object kind against the protocol schema.
 */

import { describe, expect, it } from 'vitest';
import { validateBySchemaId } from '../../schemas/lib/validate.ts';
import { createReferenceAdapter } from '../adapter.ts';
import { MmapSpace } from './mmap-region.ts';
import { INT_MAX, IommufdObject } from './objects.ts';
import { VeventqObject } from './veventq.ts';
import type { ViommuObject } from './viommu.ts';

class Owner extends IommufdObject {
  readonly kind = 'VIOMMU';
}

const hdr = (bytes: Uint8Array, at: number) => {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  return { flags: dv.getUint32(at, true), sequence: dv.getUint32(at + 4, true) };
};

describe('vEVENTQ sequence numbers', () => {
  it('run from INT_MAX to 0', () => {
    const q = new VeventqObject({} as ViommuObject, 1, 4, 5);
    q.sequence = INT_MAX;
    q.report(new Uint8Array([1, 0, 0, 0]));
    q.report(new Uint8Array([2, 0, 0, 0]));
    const out = q.read(24);
    expect(out.length).toBe(24);
    expect(hdr(out, 0)).toEqual({ flags: 0, sequence: INT_MAX });
    expect(hdr(out, 12)).toEqual({ flags: 0, sequence: 0 });
  });

  it('a LOST_EVENTS header is never queued twice and leaves with the next accepted event', () => {
    const q = new VeventqObject({} as ViommuObject, 1, 1, 5);
    for (let i = 0; i < 4; i++) q.report(new Uint8Array([i, 0, 0, 0]));
    expect(q.deliver.map((e) => [e.lost, e.sequence])).toEqual([[false, 0], [true, 3]]);
    q.read(12);
    q.report(new Uint8Array([9, 0, 0, 0]));
    expect(q.deliver.map((e) => [e.lost, e.sequence])).toEqual([[false, 4]]);
  });
});

describe('iommufd mmap space', () => {
  it('hands out the lowest free page-aligned offset from PAGE_SIZE', () => {
    const s = new MmapSpace(() => {});
    const a = new Owner();
    const b = new Owner();
    expect(s.alloc(a, 8192n, new Uint8Array(0)).offsetBytes).toBe(4096n);
    expect(s.alloc(b, 100n, new Uint8Array(0)).offsetBytes).toBe(12288n);
    s.release(a);
    expect(s.alloc(new Owner(), 4096n, new Uint8Array(0)).offsetBytes).toBe(4096n);
    expect(s.alloc(new Owner(), 8192n, new Uint8Array(0)).offsetBytes).toBe(16384n);
  });
});

describe('STATE with FAULT, VEVENTQ and HW_QUEUE objects', () => {
  it('dumps them within the protocol schema', async () => {
    const a = createReferenceAdapter();
    const { fd } = await a.open({});
    const io = async (cmd: string, arg: Record<string, unknown>) => {
      const r = await a.ioctl({ fd, cmd, arg } as never);
      if ('errno' in r) throw new Error(`${cmd}: ${r.errno}`);
      return r.arg as Record<string, number>;
    };
    const hook = async <T>(op: string, arg: Record<string, unknown>): Promise<T> => {
      const r = await a.test({ op, arg } as never);
      if (!('out' in r)) throw new Error(`${op}: ${r.errno}`);
      return r.out as T;
    };
    const { addr } = await hook<{ addr: number }>('MMAP', { length: 4096 });
    const ioas = (await io('IOMMU_IOAS_ALLOC', {})).out_ioas_id;
    const dev = (await io('VFIO_DEVICE_BIND_IOMMUFD', { device: 'mock0' })).out_devid;
    const parent = (await io('IOMMU_HWPT_ALLOC', { flags: 1, dev_id: dev, pt_id: ioas })).out_hwpt_id;
    const viommu = (await io('IOMMU_VIOMMU_ALLOC', { type: 0xdeadbeef, dev_id: dev, hwpt_id: parent })).out_viommu_id;
    await io('IOMMU_FAULT_QUEUE_ALLOC', {});
    await io('IOMMU_VEVENTQ_ALLOC', { viommu_id: viommu, type: 0xbeefbeef, veventq_depth: 2 });
    const iova = (await io('IOMMU_IOAS_MAP', { ioas_id: ioas, flags: 6, user_va: addr, length: 4096 })).iova;
    await io('IOMMU_HW_QUEUE_ALLOC', { viommu_id: viommu, type: 0xdeadbeef, index: 0, nesting_parent_iova: iova, length: 4096 });
    const state = await hook<{ contexts: Array<{ objects: Array<{ type: string }> }> }>('STATE', {});
    expect(state.contexts[0].objects.map((o) => o.type)).toEqual(['IOAS', 'DEVICE', 'HWPT_PAGING', 'VIOMMU', 'FAULT', 'VEVENTQ', 'HW_QUEUE']);
    expect(validateBySchemaId('protocol.schema.json#/$defs/hookOut_STATE', state)).toBeFalsy();
    await a.close({ fd });
    expect((await hook<{ contexts: unknown[] }>('STATE', {})).contexts).toEqual([]);
  });
});
