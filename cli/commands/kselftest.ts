/**
 * `ioasid kselftest`: builds the kernel's own iommufd selftests (tools/testing/selftests/iommu:
 * `iommufd`, `iommufd_fail_nth`) from a user's kernel tree or source tarball, runs them
 * unmodified against an adapter through the fake /dev/iommu (LD_PRELOAD), and reports every
 * TEST_F instance in our report formats. Exit 0 when every instance that ran passed or was
 * skipped, 1 when one failed, timed out or crashed (or nothing could be built), 2 on a usage
 * error or an adapter that cannot serve the selftests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, nonNegativeInt, parseFlags, type Command } from '../command.ts';
import { anyGlobMatches } from '../../conformance/runner/glob.ts';
import { parseFormats, writeReport } from '../../conformance/runner/write-report.ts';
import { buildSelftests, testOpsEnv, type HeaderSource } from '../../conformance/kselftest/build.ts';
import {
  buildFake, fixtureCounts, helloOf, kselftestReport, listInstances, referenceCommand, runBinary, type BinaryRun,
} from '../../conformance/kselftest/run.ts';

const usage = `usage: ioasid kselftest --linux <kernel tree | source tarball> [options]

Build the kernel's iommufd selftests (tools/testing/selftests/iommu: iommufd and
iommufd_fail_nth) from a kernel tree (or a .tar.xz/.tar.gz of one, e.g. Debian's
/usr/src/linux-source-6.12.tar.xz) and run them unmodified against an implementation through the
fake /dev/iommu (conformance/adapters/c/, LD_PRELOAD). The sources are copied into a temporary
folder; the tree's own uAPI headers are tried first, and when the selftests do not build against
them (selftests newer than the tree's uAPI), headers generated from our schemas are used instead.
The report says which, with the names the compiler missed.

  --linux <path>        the kernel source tree or tarball (required)
  --adapter <command>   the adapter, a shell command speaking the stdio protocol (stdio:<command>
                        also accepted); default: the embedded reference (ioasid serve)
  --filter <glob>       run only matching instances: fixture.variant.test, <binary>/<name> or
                        kselftest/<binary>/<name> (repeatable; must select something)
  --binary <name>       run only this binary (iommufd or iommufd_fail_nth; repeatable)
  --headers <which>     tree or generated: build against these only (default: tree, then generated)
  --report <dir>        where the reports go (default reports/kselftest/)
  --json <file>         write the run as JSON: headers used, per-fixture pass/fail/skip counts of
                        each binary, every instance's result
  --format <list>       json,md,html,junit,ktap (default: all)
  --timeout <s>         time limit of each binary in seconds (default 1800; the harness has its
                        own 30 s per test)
  --quiet               print only the summary
  --help                this text

Each selftest instance is one case of the report, id kselftest/<binary>/<fixture>.<variant>.<test>,
area kselftest/<binary>/<fixture>.

Exit status: 0 nothing failed; 1 an instance failed, timed out or crashed, or the build failed;
2 usage error or an adapter that cannot serve the selftests.
`;

/** Capabilities the fake needs from the adapter to run the selftests at all. */
const NEEDED = ['test:mem-mirror', 'test:selftest-cmd'];

export const command: Command = {
  name: 'kselftest',
  summary: "build and run the kernel's iommufd selftests against an adapter through the fake /dev/iommu",
  usage,
  async run(argv) {
    const parsed = parseFlags('kselftest', usage, {
      args: argv,
      options: {
        linux: { type: 'string' },
        adapter: { type: 'string' },
        filter: { type: 'string', multiple: true },
        binary: { type: 'string', multiple: true },
        headers: { type: 'string' },
        report: { type: 'string' },
        json: { type: 'string' },
        format: { type: 'string' },
        timeout: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    });
    if (!parsed) return EXIT_USAGE;
    const o = parsed.values;
    if (o.help) {
      process.stdout.write(usage);
      return EXIT_OK;
    }
    const bad = (msg: string): number => {
      process.stderr.write(`ioasid kselftest: ${msg}\n`);
      return EXIT_USAGE;
    };
    if (!o.linux) return bad('--linux <kernel tree | source tarball> is required');
    if (o.headers !== undefined && o.headers !== 'tree' && o.headers !== 'generated') return bad(`--headers ${o.headers}: expected tree or generated`);
    for (const b of o.binary ?? []) if (b !== 'iommufd' && b !== 'iommufd_fail_nth') return bad(`--binary ${b}: expected iommufd or iommufd_fail_nth`);
    let formats: string[];
    let timeoutMs: number;
    try {
      formats = parseFormats(o.format ?? 'json,md,html,junit,ktap');
      timeoutMs = nonNegativeInt(o.timeout, '--timeout', 1800) * 1000;
    } catch (e) {
      return bad((e as Error).message);
    }
    const isReference = o.adapter === undefined || o.adapter === 'reference';
    const adapterCommand = isReference ? referenceCommand() : o.adapter!.replace(/^stdio:/, '');
    const say = (s: string): void => {
      if (!o.quiet) process.stdout.write(s);
    };

    const hello = helloOf(adapterCommand);
    if (!hello) return bad(`the adapter did not answer hello: ${adapterCommand}`);
    const lacking = NEEDED.filter((c) => !hello.capabilities.includes(c));
    if (lacking.length > 0) return bad(`the adapter (${hello.implementation.name}) does not offer ${lacking.join(', ')}: the selftests need the fake's memory mirror and IOMMU_TEST_CMD`);

    const startedAt = new Date();
    say(`building the selftests of ${o.linux} …\n`);
    let build;
    try {
      build = buildSelftests(resolve(o.linux), { headers: o.headers as HeaderSource | undefined });
    } catch (e) {
      return bad((e as Error).message);
    }
    let fake: ReturnType<typeof buildFake> | undefined;
    try {
      for (const a of build.attempts) {
        say(`  ${a.headers} headers: ${a.ok ? 'built' : `failed${a.missing.length ? ` (missing: ${a.missing.join(', ')})` : ''}`}\n`);
      }
      const jsonOut: Record<string, unknown> = {
        linux: o.linux,
        headers: build.headers,
        build_attempts: build.attempts,
        test_ops: build.testOps,
        adapter: { command: adapterCommand, implementation: hello.implementation },
      };
      if (!build.headers) {
        process.stderr.write('ioasid kselftest: the selftests built against neither the tree\'s headers nor ours\n');
        for (const a of build.attempts) for (const [bin, errs] of Object.entries(a.errors)) process.stderr.write(`  ${a.headers} ${bin}: ${errs.slice(0, 5).join('\n    ')}\n`);
        if (o.json) writeJson(o.json, { ...jsonOut, fixtures: {}, results: [] });
        return EXIT_FAILED;
      }
      fake = buildFake();
      const testOps = testOpsEnv(build.testOps);
      const runs: BinaryRun[] = [];
      const expected: Record<string, string[]> = {};
      let selectedAny = false;
      for (const [name, binary] of Object.entries(build.binaries)) {
        if (o.binary && !o.binary.includes(name)) continue;
        const all = listInstances(binary);
        const only = o.filter ? all.filter((n) => anyGlobMatches(o.filter!, n) || anyGlobMatches(o.filter!, `${name}/${n}`) || anyGlobMatches(o.filter!, `kselftest/${name}/${n}`)) : undefined;
        if (only && only.length === 0) continue;
        selectedAny = true;
        expected[name] = only ?? all;
        say(`running ${name} (${expected[name].length} instances) …\n`);
        const run = await runBinary({
          binary, name, lib: fake.lib, adapter: adapterCommand, testOps, only, timeoutMs,
          onLine: (l) => {
            if (/^(not ok|ok) \d+ /.test(l)) say(`  ${l}\n`);
          },
        });
        runs.push(run);
      }
      if (!selectedAny) return bad(`--filter ${(o.filter ?? []).join(' ')}${o.binary ? ` --binary ${o.binary.join(' ')}` : ''}: selects no selftest instance`);
      const report = kselftestReport({
        runs, expected, commandLine: ['kselftest', ...argv], adapterSpec: o.adapter ?? 'reference', adapterCommand, isReference,
        linux: o.linux, startedAt, implementation: hello.implementation, capabilities: hello.capabilities, timeoutMs,
        built: builtWith(build.headers, build.attempts),
      });
      const dir = o.report ?? 'reports/kselftest';
      writeReport(report, dir, formats);
      const fixtures = fixtureCounts(runs);
      if (o.json) {
        writeJson(o.json, {
          ...jsonOut,
          fixtures,
          results: report.cases.map((c) => ({ id: c.id, result: c.result, ...(c.message ? { message: c.message } : {}) })),
        });
      }
      process.stdout.write(`headers: ${build.headers}\n`);
      for (const [bin, per] of Object.entries(fixtures)) {
        for (const [f, c] of Object.entries(per)) process.stdout.write(`${bin} ${f}: ${c.pass} pass, ${c.fail} fail, ${c.skip} skip${c.other ? `, ${c.other} other` : ''}\n`);
      }
      const by = report.summary.by_result;
      process.stdout.write(`${report.summary.total} instances: ${by.pass} pass, ${by.fail} fail, ${by.skipped} skip, ${by.timeout} timeout, ${by.crash} crash; reports in ${dir}\n`);
      return by.fail + by.timeout + by.crash + by['unexpected pass'] > 0 ? EXIT_FAILED : EXIT_OK;
    } finally {
      fake?.cleanup();
      build.cleanup();
    }
  },
};

/** One line on the headers the selftests were built with, and why. */
function builtWith(headers: HeaderSource, attempts: Array<{ headers: HeaderSource; ok: boolean; missing: string[] }>): string {
  const tree = attempts.find((a) => a.headers === 'tree' && !a.ok);
  if (headers === 'tree') return "built against the tree's own uAPI headers";
  return `built against headers generated from the ioasid schemas${tree ? ` (the tree's own lack ${tree.missing.join(', ') || 'what the selftests use'})` : ''}`;
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

export default command;
