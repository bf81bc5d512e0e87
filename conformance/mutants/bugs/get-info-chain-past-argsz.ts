/**
 * VFIO_IOMMU_GET_INFO builds the whole capability chain in a kernel buffer and copies all of it
 * to the user whenever `argsz` covers the struct, instead of writing each capability only where
 * it fits below `argsz`: a caller that probes with a short buffer gets the bytes after it
 * overwritten. The struct fields stay right (argsz raised, cap_offset 0). GET_INFO is a free
 * function of the reference, so the bug sits at the adapter boundary: it asks again with room
 * for the full chain and hands back that chain over the caller's short buffer.
 */
import type { Adapter, IoctlResult } from '../../../schemas/lib/adapter.ts';
import type { Mutant } from '../mutant.ts';

const INFO_BYTES = 24;

export const getInfoChainPastArgsz: Mutant = {
  name: 'get-info-chain-past-argsz',
  models: 'GET_INFO copies its full capability chain past a short argsz',
  violates: ['VFIO-INFO-1', 'VFIO-INFO-2'],
  areas: ['vfio-compat/get-info/*'],
  wrapAdapter: (inner: Adapter): Adapter => ({
    hello: (p) => inner.hello(p),
    world: (p) => inner.world(p),
    open: (p) => inner.open(p),
    close: (p) => inner.close(p),
    ioctl: async (p): Promise<IoctlResult> => {
      const first = await inner.ioctl(p);
      if (p.cmd !== 'VFIO_IOMMU_GET_INFO' || 'errno' in first) return first;
      const given = Number(p.arg.argsz ?? INFO_BYTES);
      const full = Number(first.arg.argsz);
      const callerHex = String(p.arg.__trailing ?? '');
      if (given < INFO_BYTES || given >= full || callerHex.length === 0) return first;
      const room = callerHex.padEnd(2 * (full - INFO_BYTES), '0');
      const whole = await inner.ioctl({ ...p, arg: { ...p.arg, argsz: full, __trailing: room } });
      if ('errno' in whole) return first;
      // BUG: the chain goes out whole; only the caller's buffer length bounds the copy.
      const chain = String(whole.arg.__trailing).slice(0, callerHex.length).padEnd(callerHex.length, callerHex);
      return { ...first, arg: { ...first.arg, __trailing: chain } };
    },
    test: (p) => inner.test(p),
    shutdown: (p) => inner.shutdown(p),
  }),
};
