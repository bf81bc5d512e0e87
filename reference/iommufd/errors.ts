/**
 * How the reference reports a uAPI failure: an `UapiError` carrying the errno name Linux
 * returns. Checks throw it *before* any state changes (the discipline every handler follows:
 * check everything, then commit), and the dispatcher turns it into `{errno}`. Anything else
 * thrown is a bug in the reference and surfaces as an adapter error, never as an errno.
 */

export class UapiError extends Error {
  constructor(
    readonly errno: string,
    readonly why = '',
    /** Fields the kernel copies back on this failure (num_iovas with EMSGSIZE, entry_num, …). */
    readonly out?: Record<string, unknown>,
  ) {
    super(why === '' ? errno : `${errno}: ${why}`);
    this.name = 'UapiError';
  }
}

/** Throws `errno` unless `condition` holds. */
export function check(condition: boolean, errno: string, why = ''): asserts condition {
  if (!condition) throw new UapiError(errno, why);
}

export function fail(errno: string, why = ''): never {
  throw new UapiError(errno, why);
}
