// The differential check in CI: random guests and operations, every probed DMA through the host
// compared with the guest's own table (fixed seeds, so a failure is reproducible).
import { describe, expect, it } from 'vitest';
import { runCheck } from './differential-check.ts';

describe('swnest differential check', () => {
  it.each([
    ['arm-lpae-s1', 'intel-vtd'],
    ['vtd-fs', 'intel-vtd'],
  ] as const)('emulation: %s guest on %s agrees on every probe', async (guest, host) => {
    const r = await runCheck({ guest, host, seed: 11, ops: 300, strategy: 'emulation', twin: false });
    expect(r.difference).toBeNull();
    expect(r.opsRun).toBe(300);
    expect(r.agreements).toBeGreaterThan(900);
  }, 60_000);

  it('a seeded run is its own reproducer: replaying its ops gives the same agreements', async () => {
    const a = await runCheck({ guest: 'arm-lpae-s1', host: 'intel-vtd', seed: 5, ops: 40, strategy: 'emulation', twin: false });
    const b = await runCheck({ guest: 'arm-lpae-s1', host: 'intel-vtd', seed: 5, ops: 0, strategy: 'emulation', twin: false, replay: { shape: a.shape, ops: a.ops } });
    expect(b.ops).toEqual(a.ops);
    expect(b.difference).toBeNull();
  }, 60_000);
});
