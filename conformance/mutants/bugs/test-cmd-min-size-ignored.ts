/**
 * IOMMU_TEST_CMD without the ioctl table's minimum size: a struct shorter than
 * offsetofend(last) is read zero-extended and runs, where Linux answers EINVAL before the op.
 */
import { SelftestCmd } from '../../../reference/iommufd/selftest-cmd.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

const SIZEOF = 72;
const MIN_SIZE = 68;

export const testCmdMinSizeIgnored: Mutant = {
  name: 'test-cmd-min-size-ignored',
  models: 'IOMMU_TEST_CMD takes any size of at least 4 bytes, zero-extending a short struct',
  violates: ['STCMD-SIZE-1'],
  areas: ['selftest-cmd/*'],
  install: () => Patches.install((p) => p.method(SelftestCmd.prototype, 'run', (original) => function (this: SelftestCmd, op: string, data: Uint8Array): Uint8Array {
    const size = data.length >= 4 ? new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true) : SIZEOF;
    if (size >= MIN_SIZE) return original.call(this, op, data) as Uint8Array;
    // BUG: no EINVAL below offsetofend(last); the kernel copy is zero past the size.
    const covered = Math.min(size, data.length);
    const padded = new Uint8Array(SIZEOF);
    padded.set(data.subarray(0, covered));
    new DataView(padded.buffer).setUint32(0, SIZEOF, true);
    const out = new Uint8Array(data.length);
    out.set((original.call(this, op, padded) as Uint8Array).subarray(0, covered));
    out.set(data.subarray(covered), covered);
    new DataView(out.buffer).setUint32(0, size, true);
    return out;
  })),
};
