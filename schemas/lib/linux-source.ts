/**
 * Headers of a real Linux release for tests and tools, read from Debian's `linux-source-6.12`
 * package (`/usr/src/linux-source-6.12.tar.xz`, installed by `.ci/run`). Only the files asked for
 * are unpacked, into a cache folder under the system temp dir keyed by the tarball's size and
 * mtime; nothing from the kernel tree is ever written into this repository.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LINUX_612_TARBALL = '/usr/src/linux-source-6.12.tar.xz';
const TOP = 'linux-source-6.12';

/**
 * The path of `relPath` (e.g. `include/uapi/linux/iommufd.h`) unpacked from the 6.12 source
 * tarball, or null when the package is not installed. Unpacking reads the whole .xz once
 * (about 10 s of CPU); later calls find the cached file.
 */
export function linux612File(relPath: string, tarball = LINUX_612_TARBALL): string | null {
  if (!existsSync(tarball)) return null;
  const st = statSync(tarball);
  const dir = join(tmpdir(), `ioasid-linux-6.12-${st.size}-${Math.floor(st.mtimeMs)}`);
  const out = join(dir, TOP, relPath);
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xJf', tarball, '-C', dir, `${TOP}/${relPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return out;
}
