/**
 * fail_nth_passed (conformance/PROTOCOL.md): next to fail_nth_reached, how many allocation
 * points the armed call passed without failing — all it has when n lies beyond them, n − 1
 * when it reached n — so that a caller can count across calls as the kernel's fail-nth does.
 */
import { describe, expect, it } from 'vitest';
import { createReferenceAdapter } from './adapter.ts';

describe('fail_nth_passed', () => {
  it('says how many points a call passed, reached or not', async () => {
    const ad = createReferenceAdapter();
    await ad.world({ topology: { bridges: [], devices: [] } });
    const { fd } = await ad.open({});
    const alloc = async (n: number) => {
      await ad.test({ fd, op: 'FAIL_NTH', arg: { n } });
      return ad.ioctl({ fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0 } }) as unknown as Promise<{ errno?: string; fail_nth_reached: boolean; fail_nth_passed: number }>;
    };
    const far = await alloc(1000);
    expect(far.errno).toBeUndefined();
    expect(far.fail_nth_reached).toBe(false);
    const points = far.fail_nth_passed;
    expect(points).toBeGreaterThan(0);
    // Each point of the call fails in turn; the one past the last does not.
    for (let n = 1; n <= points; n++) expect(await alloc(n)).toEqual({ errno: 'ENOMEM', fail_nth_reached: true, fail_nth_passed: n - 1 });
    expect(await alloc(points + 1)).toMatchObject({ fail_nth_reached: false, fail_nth_passed: points });
  });
});
