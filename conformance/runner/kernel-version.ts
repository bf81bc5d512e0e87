/**
 * Linux release numbers, as a case's `min_kernel` ("6.13", "6.15.2") and an adapter's hello
 * `kernel` (uname -r: "6.12.118", "6.15.0-rc3+") write them: compared numerically by major,
 * minor and patch level; anything after the numbers (a -rc, a local version) is ignored, so a
 * release candidate of 6.15 counts as 6.15.
 */

/** [major, minor, patch] of a release string, or null when it does not start with major.minor. */
export function parseKernelRelease(release: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** Negative, zero or positive as release a is older than, the same as, or newer than b. */
export function compareKernelReleases(a: string, b: string): number {
  const x = parseKernelRelease(a);
  const y = parseKernelRelease(b);
  if (!x || !y) throw new Error(`not a kernel release: ${!x ? a : b}`);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/**
 * Why a case needing `minKernel` cannot run on `running`, or null when it can: no minimum, or
 * an implementation that is not a kernel (its hello names none), runs every case.
 */
export function kernelTooOld(minKernel: string | undefined, running: string | undefined): string | null {
  if (minKernel === undefined || running === undefined) return null;
  if (parseKernelRelease(running) === null) return null;
  return compareKernelReleases(running, minKernel) < 0 ? `needs Linux ${minKernel} or later; the implementation runs ${running}` : null;
}
