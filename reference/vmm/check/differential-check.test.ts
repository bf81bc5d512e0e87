// The differential check in CI: random guests and operations, every probed DMA through the host
// compared with the guest's own table (fixed seeds, so a failure is reproducible).
import { describe, expect, it } from 'vitest';
import type { Adapter } from '../../../schemas/lib/adapter.ts';
import { createReferenceAdapter } from '../../adapter.ts';
import { SwnestStrategy } from '../swnest-strategy.ts';
import { runCheck } from './differential-check.ts';

describe('swnest differential check', () => {
  it.each([
    ['arm-lpae-s1', 'intel-vtd', 'swnest'],
    ['vtd-fs', 'arm-smmuv3', 'swnest'],
  ] as const)('%s guest on %s: the library picks %s and every probe agrees', async (guest, host, strategy) => {
    const r = await runCheck({ guest, host, seed: 20261204, ops: 1000, probes: 2 });
    expect(r.strategy).toBe(strategy);
    expect(r.difference).toBeNull();
    expect(r.opsRun).toBe(1000);
    expect(r.agreements).toBeGreaterThan(2000);
  }, 120_000);

  it.each([
    ['arm-lpae-s1', 'arm-smmuv3', 'swnest'],
    ['vtd-fs', 'intel-vtd', 'swnest'],
    ['arm-lpae-s1', 'intel-vtd', 'emulation'],
    ['vtd-fs', 'arm-smmuv3', 'emulation'],
  ] as const)('%s guest on %s, %s forced: agrees with the guest table and with a native twin where there is one', async (guest, host, strategy) => {
    const r = await runCheck({ guest, host, seed: 3, ops: 150, strategy });
    expect(r.twin).toBe(host === 'arm-smmuv3' ? guest === 'arm-lpae-s1' : guest === 'vtd-fs');
    expect(r.difference).toBeNull();
  }, 120_000);

  it.each([
    ['arm-lpae-s1', 'intel-vtd'],
    ['vtd-fs', 'arm-smmuv3'],
  ] as const)('emulation by IOAS_COPY from pinned guest RAM: %s guest on %s agrees', async (guest, host) => {
    const r = await runCheck({ guest, host, seed: 6, ops: 150, strategy: 'emulation', emulationCopy: true });
    expect(r.difference).toBeNull();
  }, 120_000);

  it('a 52-bit 64K-granule ARM guest gets a 5-level shadow where the VT-d host has FS5LP, and is refused where it has not', async () => {
    const r = await runCheck({ guest: 'arm-lpae-s1', host: 'intel-vtd', hostKnobs: { levels: 5 }, seed: 4, ops: 100, shape: { granule: 65536, ias: 52 } });
    expect([r.strategy, r.difference]).toEqual(['swnest', null]);
    await expect(runCheck({ guest: 'arm-lpae-s1', host: 'intel-vtd', hostKnobs: { levels: 4 }, seed: 4, ops: 1, shape: { granule: 65536, ias: 52 } })).rejects.toThrow(/address width 52 bits exceeds the host's first stage \(48 bits\)/);
    await expect(runCheck({ guest: 'vtd-fs', host: 'arm-smmuv3', seed: 4, ops: 1, shape: { ias: 57 } })).rejects.toThrow(/57 bits exceeds the 48 bits/);
  }, 120_000);

  it('a VMM that forgets the host invalidation is caught through the host IOTLB', async () => {
    const proto = SwnestStrategy.prototype as unknown as { flushHost(this: { shadow: { takeChanged(): unknown } }): Promise<void> };
    const flushHost = proto.flushHost;
    // A VMM bug: the shadow changes, the host is never told.
    proto.flushHost = async function () {
      this.shadow.takeChanged();
    };
    try {
      const r = await runCheck({ guest: 'vtd-fs', host: 'arm-smmuv3', seed: 12, ops: 400 });
      expect(r.difference).not.toBeNull();
      expect(r.difference!.what).toMatch(/TRANSLATE|DMA/);
    } finally {
      proto.flushHost = flushHost;
    }
  }, 120_000);

  it('a host that reports a wrong permission is caught, with the op list as reproducer', async () => {
    const ref = createReferenceAdapter();
    // An implementation bug: TRANSLATE says every page is writable.
    const buggy: Adapter = {
      hello: (p) => ref.hello(p),
      world: (p) => ref.world(p),
      open: (p) => ref.open(p),
      close: (p) => ref.close(p),
      ioctl: (p) => ref.ioctl(p),
      shutdown: (p) => ref.shutdown(p),
      test: async (p) => {
        const r = await ref.test(p);
        if (p.op === 'TRANSLATE' && 'out' in r && r.out?.fault === null) return { ...r, out: { ...r.out, writeable: true } };
        return r;
      },
    };
    const r = await runCheck({ guest: 'arm-lpae-s1', host: 'intel-vtd', seed: 9, ops: 200, adapter: buggy });
    expect(r.difference).toMatchObject({ what: 'TRANSLATE', expected: { writeable: false }, got: { writeable: true } });
    expect(r.ops.length).toBe(r.difference!.opIndex + 1);
    const again = await runCheck({ guest: 'arm-lpae-s1', host: 'intel-vtd', seed: 9, ops: 0, replay: { shape: r.shape, ops: r.ops } });
    expect(again.difference).toBeNull();
  }, 120_000);
});
