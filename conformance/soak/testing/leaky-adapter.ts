/**
 * A seeded leak for the soak test's own test: the reference, keeping 64 KiB of memory alive for
 * every ioctl it answers (`ioasid serve --adapter module:<this file>`).
 */
import type { Adapter, IoctlParams, IoctlResult } from '../../../schemas/lib/adapter.ts';
import { createReferenceAdapter } from '../../../reference/adapter.ts';

const kept: Buffer[] = [];

export default function leakyReference(): Adapter {
  const ad = createReferenceAdapter();
  const ioctl = ad.ioctl.bind(ad);
  ad.ioctl = async (p: IoctlParams): Promise<IoctlResult> => {
    kept.push(Buffer.alloc(64 * 1024, 1));
    return ioctl(p);
  };
  return ad;
}
