/**
 * Helpers the engine's unit tests share: handler arguments as bigints, and a call's errno
 * (or 'OK') so that a test can assert the kernel's answer in one expression.
 */
import { UapiError } from './errors.ts';

/** Handler arguments: every integer a bigint, as dispatch hands them over. */
export const big = (o: Record<string, number | bigint>): Record<string, bigint> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, BigInt(v)]));

/** The errno a call fails with, or 'OK'; anything but a UapiError is rethrown. */
export const errnoOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof UapiError) return e.errno;
    throw e;
  }
  return 'OK';
};
