/**
 * Turns the counts the swnest benchmark measures per guest operation into an estimated time on
 * a real host: Σ count × constant. The model measures WHAT each strategy does (system calls,
 * pages pinned and unpinned, host descriptors written, invalidation entries, write-protect
 * traps, guest memory read); how long each costs depends on the CPU, the kernel and the IOMMU,
 * which this project does not measure. So the constants are the user's: `--cost
 * ioctl=1.2,pin=0.3` or `--cost costs.json` ({"ioctl": 1.2, …}), in microseconds.
 *
 * The defaults are round, illustrative orders of magnitude, not measurements: a system call
 * into iommufd with its argument copy ~1 µs; pinning or unpinning a 4 KiB page (GUP, accounting,
 * the kernel's IOPTE) ~0.25 µs; a descriptor store by the VMM ~0.005 µs; an invalidation
 * descriptor through the host's queue and its wait ~1 µs; a stage-2 write-protect trap or a
 * guest's invalidation submission (VM exit, decode, resume) ~2 µs each; reading 1 KiB of guest
 * table ~0.05 µs.
 */

import { readFileSync } from 'node:fs';

export interface CostModel {
  /** µs per ioctl. */
  ioctl: number;
  /** µs per 4 KiB page pinned or unpinned. */
  pin: number;
  /** µs per descriptor the VMM writes into a table the host walks. */
  pte: number;
  /** µs per invalidation entry sent to the host. */
  inval: number;
  /** µs per trapped guest store to a write-protected table frame. */
  trap: number;
  /** µs per invalidation submission of the guest (a VM exit into the VMM). */
  exit: number;
  /** µs per KiB of guest table the VMM reads. */
  readKib: number;
}

export const DEFAULT_COSTS: CostModel = { ioctl: 1, pin: 0.25, pte: 0.005, inval: 1, trap: 2, exit: 2, readKib: 0.05 };

export class CostModelError extends Error {
  override name = 'CostModelError';
}

/** `key=value,…` or a JSON file path; unknown keys and non-numbers are errors naming them. */
export function parseCostModel(spec: string | undefined): CostModel {
  const model: CostModel = { ...DEFAULT_COSTS };
  if (spec === undefined || spec === '') return model;
  let entries: Array<[string, unknown]>;
  if (spec.includes('=')) {
    entries = spec.split(',').map((kv) => {
      const [k, v] = kv.split('=');
      return [k.trim(), v === undefined ? undefined : Number(v.trim())];
    });
  } else {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(spec, 'utf8'));
    } catch (e) {
      throw new CostModelError(`--cost ${spec}: ${(e as Error).message}`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CostModelError(`--cost ${spec}: expected a JSON object of µs per operation`);
    entries = Object.entries(json);
  }
  for (const [k, v] of entries) {
    if (!Object.hasOwn(DEFAULT_COSTS, k)) throw new CostModelError(`--cost: unknown constant '${k}' (known: ${Object.keys(DEFAULT_COSTS).join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new CostModelError(`--cost: '${k}' must be a non-negative number of µs`);
    model[k as keyof CostModel] = v;
  }
  return model;
}

export interface OpCounts {
  ioctls: number;
  pagesPinned: number;
  pagesUnpinned: number;
  hostPtesWritten: number;
  invalidations: number;
  traps: number;
  guestExits: number;
  guestKibRead: number;
}

/** Estimated µs of one guest operation with these counts. */
export function estimateMicros(c: OpCounts, m: CostModel): number {
  return c.ioctls * m.ioctl + (c.pagesPinned + c.pagesUnpinned) * m.pin + c.hostPtesWritten * m.pte + c.invalidations * m.inval + c.traps * m.trap + c.guestExits * m.exit + c.guestKibRead * m.readKib;
}
