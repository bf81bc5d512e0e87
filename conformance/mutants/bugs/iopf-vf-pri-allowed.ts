/**
 * The attach of a HWPT with a FAULT does not know that PRI is shared between a PF and its VFs:
 * a VF whose PF has PRI takes the FAULT like any device (the check iommufd_hwpt_compatible_device
 * makes is missing). Seeded at the adapter boundary: the topology reaches the reference with the
 * `pri` flag taken off every SR-IOV VF.
 */
import type { Adapter } from '../../../schemas/lib/adapter.ts';
import type { Mutant } from '../mutant.ts';

export const iopfVfPriAllowed: Mutant = {
  name: 'iopf-vf-pri-allowed',
  models: 'a VF with PRI attaches to a HWPT with a FAULT (no EINVAL for the shared PRI)',
  violates: ['FAULT-IOPF-VF-1'],
  areas: ['fault/iopf/*'],
  wrapAdapter: (inner: Adapter): Adapter => ({
    hello: (p) => inner.hello(p),
    world: (p) => {
      const topology = p.topology as { devices?: Array<Record<string, unknown>> };
      // BUG: whether a VF shares its PF's PRI is not consulted.
      const devices = (topology.devices ?? []).map((d) =>
        d.vf_token === undefined ? d : { ...d, flags: ((d.flags as string[] | undefined) ?? []).filter((f) => f !== 'pri') },
      );
      return inner.world({ ...p, topology: { ...topology, devices } as typeof p.topology });
    },
    open: (p) => inner.open(p),
    close: (p) => inner.close(p),
    ioctl: (p) => inner.ioctl(p),
    test: (p) => inner.test(p),
    shutdown: (p) => inner.shutdown(p),
  }),
};
