/**
 * The ioctl entry copies min(size, sizeof(struct)) bytes and never looks past the struct it
 * knows (copy_from_user instead of copy_struct_from_user): a newer userspace's non-zero
 * extension bytes are silently dropped instead of failing with E2BIG. The dispatcher is a free
 * function, so this bug sits at the adapter boundary: the trailing bytes never reach it.
 */
import type { Adapter } from '../../../schemas/lib/adapter.ts';
import type { Mutant } from '../mutant.ts';

export const trailingBytesIgnored: Mutant = {
  name: 'trailing-bytes-ignored',
  models: 'bytes past the kernel struct are ignored instead of E2BIG when non-zero',
  violates: ['GEN-SIZE-2'],
  areas: ['general/size/*'],
  wrapAdapter: (inner: Adapter): Adapter => ({
    hello: (p) => inner.hello(p),
    world: (p) => inner.world(p),
    open: (p) => inner.open(p),
    close: (p) => inner.close(p),
    ioctl: (p) => {
      if (p.arg === undefined || !('__trailing' in p.arg)) return inner.ioctl(p);
      const { __trailing: _dropped, ...known } = p.arg; // BUG: never checked for zero
      return inner.ioctl({ ...p, arg: known });
    },
    test: (p) => inner.test(p),
    shutdown: (p) => inner.shutdown(p),
  }),
};
