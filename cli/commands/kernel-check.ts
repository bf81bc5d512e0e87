/**
 * `ioasid kernel-check`: the suite against a real Linux kernel. Builds a small test kernel with
 * IOMMUFD and its selftest mock driver (conformance/kernel/build.ts, cached in --work), the
 * static C adapter and an initramfs, then runs `conform` with QEMU as the adapter
 * (conformance/kernel/qemu.ts): the guest's C adapter answers on a virtio-serial port that is
 * QEMU's stdio. With --against, every case's result is compared with a committed report, and
 * each case of that report that did not pass or was not unsupported must be explained (its id
 * named) in the README beside it: a difference, or an unexplained failure, fails the check.
 */
import { existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, nonNegativeInt, parseFlags, type Command } from '../command.ts';
import { REPO_ROOT } from '../../conformance/runner/repo-root.ts';
import { BuildError, DEFAULT_LINUX, buildAll } from '../../conformance/kernel/build.ts';
import { adapterSpec, QEMU_DEFAULT } from '../../conformance/kernel/qemu.ts';
import { compareWithBaseline, type ResultRow } from '../../conformance/kernel/baseline.ts';
import { runConform } from './conform.ts';

const usage = `usage: ioasid kernel-check [options] [<case id | id prefix/ | glob>…]

Build a test kernel (tinyconfig + IOMMUFD + IOMMUFD_TEST, conformance/kernel/test-kernel.config),
boot it in QEMU (TCG, 2 CPUs, 512 MiB) with the C adapter as its init's child, and run the golden
cases against it. The kernel build is cached in --work by the hash of the configuration and the
tree; the first build takes minutes.

  --linux <tree|tarball>  the kernel source (default ${DEFAULT_LINUX})
  --work <dir>            build cache (default ~/.cache/ioasid/kernel-check)
  --report <dir>          where the reports go (default reports/linux-<major.minor>/)
  --json <file>           also write report.json here
  --format <list>         report formats (default json,md,junit,ktap: the kept report has no
                          HTML; \`ioasid report render\` makes it from report.json)
  --against <dir>         compare with the committed report in <dir> (report.json, README.md):
                          exit 1 when a case's result differs, or when a case of that report that
                          neither passed nor was unsupported is not named in its README.md
  --jobs <n>              make -j (default: the number of CPUs)
  --qemu <program>        the QEMU binary (default ${QEMU_DEFAULT})
  --timeout <ms>          time limit per case (default 60000)
  --build-only            build and stop
  --quiet                 only the summary
  --help                  this text

Exit status: 0 the run (and the comparison) passed; 1 a case failed or differed; 2 usage or build error.
`;

function defaultWork(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ioasid', 'kernel-check');
}

/** The rows of a report.json: id and result of each case. */
function resultRows(path: string): ResultRow[] {
  const r = JSON.parse(readFileSync(path, 'utf8')) as { cases: { id: string; result: string }[] };
  return r.cases.map((c) => ({ id: c.id, result: c.result }));
}

export async function runKernelCheck(argv: string[]): Promise<number> {
  const parsed = parseFlags('kernel-check', usage, {
    args: argv,
    options: {
      linux: { type: 'string', default: DEFAULT_LINUX },
      work: { type: 'string' },
      report: { type: 'string' },
      json: { type: 'string' },
      format: { type: 'string', default: 'json,md,junit,ktap' },
      against: { type: 'string' },
      jobs: { type: 'string' },
      qemu: { type: 'string', default: QEMU_DEFAULT },
      timeout: { type: 'string' },
      'build-only': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (parsed === null) return EXIT_USAGE;
  const opts = parsed.values;
  const say = (line: string) => {
    if (!opts.quiet) process.stderr.write(`kernel-check: ${line}\n`);
  };
  let jobs: number | undefined;
  let timeoutMs: number;
  try {
    jobs = opts.jobs === undefined ? undefined : nonNegativeInt(opts.jobs, '--jobs', 1) || 1;
    timeoutMs = nonNegativeInt(opts.timeout, '--timeout', 60_000);
  } catch (e) {
    process.stderr.write(`ioasid kernel-check: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  if (opts.against !== undefined && !existsSync(join(opts.against, 'report.json'))) {
    process.stderr.write(`ioasid kernel-check: --against ${opts.against}: no report.json there\n`);
    return EXIT_USAGE;
  }
  const work = resolve(opts.work ?? defaultWork());
  let built;
  const buildStarted = performance.now();
  try {
    built = await buildAll({ linux: opts.linux!, work, jobs, say });
  } catch (e) {
    if (!(e instanceof BuildError)) throw e;
    process.stderr.write(`ioasid kernel-check: ${e.message}\n`);
    return EXIT_USAGE;
  }
  say(`Linux ${built.release}: bzImage ${built.bzImage}, initramfs ${built.initramfs} (${Math.round((performance.now() - buildStarted) / 1000)} s${built.kernelCached ? ', kernel cached' : `, kernel built in ${built.kernelBuildSeconds} s`})`);
  if (opts['build-only']) return EXIT_OK;
  const [major, minor] = built.release.split('.');
  const reportDir = resolve(opts.report ?? join(REPO_ROOT, 'reports', `linux-${major}.${minor}`));
  mkdirSync(reportDir, { recursive: true });
  const baseline = opts.against !== undefined ? resultRows(join(opts.against, 'report.json')) : null;
  const readme = opts.against !== undefined && existsSync(join(opts.against, 'README.md')) ? readFileSync(join(opts.against, 'README.md'), 'utf8') : '';
  // The guest console of this run only (QEMU appends: a restarted guest adds its boot).
  writeFileSync(join(work, 'console.log'), '');
  const spec = adapterSpec({ qemu: opts.qemu, kernel: built.bzImage, initrd: built.initramfs, consoleLog: join(work, 'console.log') });
  const conformArgs = ['--adapter', spec, '--report', reportDir, '--format', opts.format!, '--hello-timeout', '300000', '--timeout', String(timeoutMs)];
  if (opts.json) conformArgs.push('--json', opts.json);
  if (opts.quiet) conformArgs.push('--quiet');
  conformArgs.push(...parsed.positionals);
  const started = performance.now();
  const status = await runConform(conformArgs);
  say(`suite: ${Math.round((performance.now() - started) / 1000)} s; guest console: ${join(work, 'console.log')}`);
  if (status === EXIT_USAGE || baseline === null) return status;
  const now = resultRows(join(reportDir, 'report.json'));
  const problems = compareWithBaseline(baseline, now, readme, parsed.positionals.length > 0);
  for (const p of problems) process.stderr.write(`kernel-check: ${p}\n`);
  if (problems.length > 0) return EXIT_FAILED;
  say(`every result is the committed one (${opts.against}), and every failure there is explained`);
  return EXIT_OK;
}

const kernelCheck: Command = {
  name: 'kernel-check',
  summary: 'build a test kernel, boot it in QEMU and run the golden cases against real /dev/iommu',
  usage,
  run: (argv) => runKernelCheck(argv),
};
export default kernelCheck;
