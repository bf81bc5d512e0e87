/**
 * A VFIO bind that knows nothing of SR-IOV VF tokens: every device binds as a plain one, so a VF
 * of a vfio-pci PF binds without the PF's token (and refuses it when given). Seeded at the
 * adapter boundary: the topology reaches the reference without its `vf_token` fields.
 */
import type { Adapter } from '../../../schemas/lib/adapter.ts';
import type { Mutant } from '../mutant.ts';

export const bindIgnoresVfToken: Mutant = {
  name: 'bind-ignores-vf-token',
  models: 'VFIO_DEVICE_BIND_IOMMUFD does not check a VF token (SR-IOV VFs bind without it)',
  violates: ['DEV-BIND-3'],
  areas: ['devices/bind/*'],
  wrapAdapter: (inner: Adapter): Adapter => ({
    hello: (p) => inner.hello(p),
    world: (p) => {
      const topology = p.topology as { devices?: Array<Record<string, unknown>> };
      // BUG: the device's SR-IOV state is not consulted.
      const devices = (topology.devices ?? []).map(({ vf_token: _token, ...d }) => d);
      return inner.world({ ...p, topology: { ...topology, devices } as typeof p.topology });
    },
    open: (p) => inner.open(p),
    close: (p) => inner.close(p),
    ioctl: (p) => inner.ioctl(p),
    test: (p) => inner.test(p),
    shutdown: (p) => inner.shutdown(p),
  }),
};
