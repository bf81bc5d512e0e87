/**
 * Builds what `ioasid kernel-check` boots, in a work folder that caches it:
 * - the kernel tree: a directory as given, or a tarball unpacked once (`src/`, stamped with the
 *   tarball's SHA-256);
 * - the test kernel: `make tinyconfig`, the fragment (test-kernel.config) merged in,
 *   `make olddefconfig`, every fragment line checked in the .config, then bzImage with -j<jobs>
 *   under nice, logged to build.log; the uAPI headers installed beside it. The build is kept
 *   under a key, the SHA-256 of the fragment and the tree's identity: same key, no rebuild;
 * - the op table: a probe compiled against the tree's iommufd_test.h (test-ops.ts);
 * - the C adapter and init.c, static (cc -static), and the initramfs (cpio.ts).
 * Every step's failure names the step and its log.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from '../runner/repo-root.ts';
import { writeCpio } from './cpio.ts';
import { readFragment, unmetLines, FRAGMENT_PATH } from './config-fragment.ts';
import { opsHeader, parseProbeOutput, probeSource, testOpNames, type TestOps } from './test-ops.ts';

export const DEFAULT_LINUX = '/usr/src/linux-source-6.12.tar.xz';
const ADAPTER_DIR = join(REPO_ROOT, 'conformance', 'adapters', 'c');
const INIT_C = join(REPO_ROOT, 'conformance', 'kernel', 'init.c');

export interface BuildOptions {
  linux: string;
  work: string;
  jobs?: number;
  say?: (line: string) => void;
}

export interface Built {
  bzImage: string;
  initramfs: string;
  release: string;
  ops: TestOps;
  kernelCached: boolean;
  kernelBuildSeconds: number;
}

export class BuildError extends Error {}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function run(step: string, cmd: string, args: string[], opts: { cwd?: string; log?: string; nice?: boolean } = {}): string {
  const argv = opts.nice ? ['nice', cmd, ...args] : [cmd, ...args];
  if (opts.log) {
    const fd = openSync(opts.log, 'a');
    try {
      const r = spawnSync(argv[0], argv.slice(1), { cwd: opts.cwd, stdio: ['ignore', fd, fd] });
      if (r.status !== 0) throw new BuildError(`${step} failed (exit ${r.status ?? r.signal}); see ${opts.log}`);
    } finally {
      closeSync(fd);
    }
    return '';
  }
  const r = spawnSync(argv[0], argv.slice(1), { cwd: opts.cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new BuildError(`${step} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).trim().slice(0, 2000)}`);
  return r.stdout;
}

/** The kernel tree to build from, and its identity for the cache key. */
async function kernelTree(linux: string, work: string, say: (l: string) => void): Promise<{ tree: string; identity: string }> {
  const abs = resolve(linux);
  if (!existsSync(abs)) throw new BuildError(`--linux ${linux}: no such file or folder`);
  if (statSync(abs).isDirectory()) {
    const git = spawnSync('git', ['-C', abs, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
    const makefile = readFileSync(join(abs, 'Makefile'), 'utf8').split('\n').slice(0, 6).join('\n');
    return { tree: abs, identity: `dir ${realpathSync(abs)} ${git.status === 0 ? git.stdout.trim() : ''} ${makefile}` };
  }
  const sum = await sha256File(abs);
  const src = join(work, 'src');
  const stamp = join(src, '.ioasid-tarball');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== sum) {
    say(`unpacking ${abs}`);
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src, { recursive: true });
    run('unpacking the kernel tarball', 'tar', ['-xf', abs, '-C', src]);
    writeFileSync(stamp, sum);
  }
  const top = readdirSync(src).filter((n) => !n.startsWith('.'));
  const tree = top.length === 1 && existsSync(join(src, top[0], 'Makefile')) ? join(src, top[0]) : src;
  if (!existsSync(join(tree, 'Makefile'))) throw new BuildError(`--linux ${linux}: no kernel Makefile in the tarball`);
  return { tree, identity: `tarball ${sum}` };
}

function buildKernel(tree: string, out: string, key: string, jobs: number, say: (l: string) => void): { cached: boolean; seconds: number } {
  const stamp = join(out, '.ioasid-key');
  const bzImage = join(out, 'arch', 'x86', 'boot', 'bzImage');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key && existsSync(bzImage)) return { cached: true, seconds: 0 };
  mkdirSync(out, { recursive: true });
  const log = join(out, 'build.log');
  writeFileSync(log, '');
  rmSync(stamp, { force: true });
  const started = Date.now();
  say(`configuring the test kernel in ${out} (log ${log})`);
  run('make tinyconfig', 'make', [`O=${out}`, 'tinyconfig'], { cwd: tree, log });
  run('merging test-kernel.config', join(tree, 'scripts', 'kconfig', 'merge_config.sh'), ['-m', '-O', out, join(out, '.config'), FRAGMENT_PATH], { cwd: tree, log });
  run('make olddefconfig', 'make', [`O=${out}`, 'olddefconfig'], { cwd: tree, log });
  const unmet = unmetLines(readFragment(), readFileSync(join(out, '.config'), 'utf8'));
  if (unmet.length > 0) throw new BuildError(`the kernel configuration dropped lines of ${FRAGMENT_PATH} (a dependency is missing): ${unmet.join('; ')}`);
  say(`building bzImage with -j${jobs} (minutes; log ${log})`);
  run('make bzImage', 'make', [`O=${out}`, `-j${jobs}`, 'bzImage'], { cwd: tree, log, nice: true });
  run('make headers_install', 'make', [`O=${out}`, 'headers_install', `INSTALL_HDR_PATH=${join(out, 'ioasid-headers')}`], { cwd: tree, log });
  writeFileSync(stamp, key);
  return { cached: false, seconds: Math.round((Date.now() - started) / 1000) };
}

function probeOps(tree: string, kernelOut: string, work: string): TestOps {
  const headerPath = join(tree, 'drivers', 'iommu', 'iommufd', 'iommufd_test.h');
  if (!existsSync(headerPath)) throw new BuildError(`${headerPath}: not in the tree (a kernel without IOMMUFD selftests?)`);
  const header = readFileSync(headerPath, 'utf8');
  const src = join(work, 'test-ops-probe.c');
  const exe = join(work, 'test-ops-probe');
  writeFileSync(src, probeSource(testOpNames(header), header));
  run('compiling the test-op probe', 'cc', ['-std=gnu11', `-I${join(tree, 'drivers', 'iommu', 'iommufd')}`, `-I${join(kernelOut, 'ioasid-headers', 'include')}`, '-o', exe, src]);
  return parseProbeOutput(run('running the test-op probe', exe, []));
}

export async function buildAll(o: BuildOptions): Promise<Built> {
  const say = o.say ?? (() => {});
  const work = resolve(o.work);
  mkdirSync(work, { recursive: true });
  const jobs = o.jobs ?? Math.max(1, cpus().length);
  const { tree, identity } = await kernelTree(o.linux, work, say);
  const key = createHash('sha256').update(readFragment()).update('\0').update(identity).digest('hex');
  const kernelOut = join(work, 'build');
  const k = buildKernel(tree, kernelOut, key, jobs, say);
  say(k.cached ? `test kernel: cached (${kernelOut})` : `test kernel: built in ${k.seconds} s`);
  const release = readFileSync(join(kernelOut, 'include', 'config', 'kernel.release'), 'utf8').trim();
  const ops = probeOps(tree, kernelOut, work);
  const opsPath = join(work, 'kernel-test-ops.h');
  writeFileSync(opsPath, opsHeader(ops));
  const adapter = join(work, 'adapter');
  const init = join(work, 'init');
  const cflags = ['-std=gnu11', '-O2', '-static', '-Wall', '-Wno-unused-parameter'];
  run('building the C adapter (static)', 'cc', [...cflags, `-DIOASID_KERNEL_OPS="${opsPath}"`, `-I${ADAPTER_DIR}`, '-o', adapter,
    ...['adapter.c', 'kernel-hooks.c', 'json.c', 'layout.c'].map((f) => join(ADAPTER_DIR, f)), '-ldl']);
  run('building init (static)', 'cc', [...cflags, '-o', init, INIT_C]);
  const initramfs = join(work, 'initramfs.cpio');
  writeFileSync(initramfs, writeCpio([
    { kind: 'dir', name: 'dev' }, { kind: 'dir', name: 'proc' }, { kind: 'dir', name: 'sys' },
    { kind: 'char', name: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', name: 'init', data: readFileSync(init), mode: 0o755 },
    { kind: 'file', name: 'adapter', data: readFileSync(adapter), mode: 0o755 },
  ]));
  return { bzImage: join(kernelOut, 'arch', 'x86', 'boot', 'bzImage'), initramfs, release, ops, kernelCached: k.cached, kernelBuildSeconds: k.seconds };
}

