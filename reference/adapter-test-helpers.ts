/**
 * Helpers the reference adapter's tests share: the output of an ioctl or test hook that must
 * succeed (its `arg` or `out`), so that a test reads a result in one expression.
 */
import type { WireStruct } from '../schemas/lib/adapter.ts';

/** The ioctl's `arg` or the hook's `out`; an errno answer throws, naming it. */
export const out = async (p: Promise<unknown>): Promise<WireStruct> => {
  const r = (await p) as { arg?: WireStruct; out?: WireStruct; errno?: string };
  if (r.errno !== undefined) throw new Error(`unexpected ${r.errno}`);
  return (r.arg ?? r.out)!;
};
