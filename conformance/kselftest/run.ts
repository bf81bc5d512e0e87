/**
 * Runs built iommufd selftests against an adapter through the fake /dev/iommu
 * (conformance/adapters/c/, LD_PRELOAD) and turns the harness's output into a conformance
 * report: one case per TEST_F instance, id `kselftest/<binary>/<fixture>.<variant>.<test>`, area
 * `kselftest/<binary>/<fixture>` (so the report's per-area counts are the per-fixture counts).
 *
 * A SKIP is `skipped` with the harness's reason, XFAIL `expected fail`, a harness timeout
 * `timeout`, a test the binary died under (or a death by an unexpected signal) `crash`; the
 * whole binary is killed with its process group after `timeoutMs`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../runner/repo-root.ts';
import { summarize } from '../runner/summary.ts';
import { suiteInfo } from '../runner/suite-info.ts';
import type { CaseReport, Report } from '../runner/types.ts';
import { parseKselftest, type KselftestOutcome, type KselftestResult } from './tap.ts';

export const FAKE_DIR = join(REPO_ROOT, 'conformance', 'adapters', 'c');

/** The embedded reference as a stdio adapter. */
export function referenceCommand(): string {
  return `node '${join(REPO_ROOT, 'bin', 'ioasid.mjs')}' serve`;
}

/** Builds libioasid-fake.so with the machine's cc into a temp folder. */
export function buildFake(): { lib: string; cleanup(): void } {
  const out = mkdtempSync(join(tmpdir(), 'ioasid-fake-'));
  const r = spawnSync('make', ['-s', '-C', FAKE_DIR, `OUT=${out}`, `${out}/libioasid-fake.so`], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(out, { recursive: true, force: true });
    throw new Error(`building the fake /dev/iommu failed: ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' / ')}`);
  }
  return { lib: join(out, 'libioasid-fake.so'), cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

/** The instances a selftest binary has (`-l`: fixtures, their variants and tests). */
export function listInstances(binary: string): string[] {
  const r = spawnSync(binary, ['-l'], { encoding: 'utf8', env: { ...process.env, LD_PRELOAD: '' } });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const out: string[] = [];
  let fixture: { name: string; variants: string[]; tests: string[] } | null = null;
  const flush = (): void => {
    if (!fixture) return;
    for (const v of fixture.variants.length ? fixture.variants : ['']) for (const t of fixture.tests) out.push(v ? `${fixture.name}.${v}.${t}` : `${fixture.name}.${t}`);
  };
  // Rows are printf("%-20s %-25s %s"): a field wider than its column pushes the next along.
  for (const line of text.split('\n')) {
    if (line.startsWith('# FIXTURE') || line.startsWith('---') || line.trim() === '') continue;
    let pos = 0;
    const field = (width: number): string => {
      const token = /^\S*/.exec(line.slice(pos))![0];
      const len = Math.max(width, token.length);
      const v = line.slice(pos, pos + len).trim();
      pos += len + 1;
      return v;
    };
    const f = field(20);
    const v = field(25);
    const t = line.slice(pos).trim();
    if (f) {
      flush();
      fixture = { name: f, variants: [], tests: [] };
    }
    if (!fixture) continue;
    if (v) fixture.variants.push(v);
    if (t) fixture.tests.push(t);
  }
  flush();
  return out;
}

export interface BinaryRun {
  binary: string;
  results: KselftestResult[];
  durationsMs: Map<string, number>;
  planned: number | null;
  totals: string | null;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stderrTail: string;
}

/** Runs one selftest binary (all of it, or the `only` instances) on the fake. */
export async function runBinary(opts: {
  binary: string; name: string; lib: string; adapter: string; testOps: string; only?: string[]; timeoutMs: number; topology?: string;
  onLine?: (line: string) => void;
}): Promise<BinaryRun> {
  const args = opts.only ? opts.only.flatMap((n) => ['-r', n]) : [];
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: opts.lib, IOASID_ADAPTER: opts.adapter };
  if (opts.testOps) env.IOASID_TEST_OPS = opts.testOps;
  if (opts.topology) env.IOASID_TOPOLOGY = opts.topology;
  delete env.IOASID_FAKE_LOG;
  // stderr into the same pipe as stdout: the harness writes a test's failed checks to stderr and
  // its verdict to stdout, and one pipe keeps them in the order they were written.
  const child = spawn('/bin/sh', ['-c', 'exec "$0" "$@" 2>&1', opts.binary, ...args], { env, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: string[] = [];
  const times: number[] = [];
  let partial = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      if (!l.startsWith('#') && !/^(not )?ok |^TAP version|^1\.\./.test(l)) stderr = `${stderr}${l}\n`.slice(-20_000);
      lines.push(l);
      times.push(Date.now());
      opts.onLine?.(l);
    }
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, opts.timeoutMs);
  const [exitCode, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  if (partial) (lines.push(partial), times.push(Date.now()));
  const parsed = parseKselftest(lines.join('\n'));
  // A test's time: from its RUN line to its result line, as they arrived.
  const durationsMs = new Map<string, number>();
  let runAt = times[0] ?? Date.now();
  for (let i = 0; i < lines.length; i++) {
    if (/^#\s+RUN\s/.test(lines[i])) runAt = times[i];
    const m = /^(?:not ok|ok) \d+ (\S+)/.exec(lines[i]);
    if (m) durationsMs.set(m[1], times[i] - runAt);
  }
  if (timedOut) {
    for (const r of parsed.results) if (r.outcome === 'crash' && r.message.startsWith('the test binary died')) (r.outcome = 'timeout'), (r.message = `the binary was killed after ${opts.timeoutMs} ms`);
  }
  return { binary: opts.name, ...parsed, durationsMs, exitCode, signal, timedOut, stderrTail: stderr.split('\n').slice(-20).join('\n') };
}

const RESULT_OF: Record<KselftestOutcome, CaseReport['result']> = {
  pass: 'pass', fail: 'fail', skip: 'skipped', xfail: 'expected fail', xpass: 'unexpected pass', timeout: 'timeout', crash: 'crash',
};

/** `fixture` of `fixture.variant.test` / `fixture.test`. */
export function fixtureOf(name: string): string {
  return name.split('.')[0];
}

export interface FixtureCounts { pass: number; fail: number; skip: number; other: number }

/** Pass/fail/skip per fixture of each binary (fail: fail, timeout and crash; other: xfail/xpass). */
export function fixtureCounts(runs: BinaryRun[]): Record<string, Record<string, FixtureCounts>> {
  const out: Record<string, Record<string, FixtureCounts>> = {};
  for (const run of runs) {
    const per = (out[run.binary] ??= {});
    for (const r of run.results) {
      const c = (per[fixtureOf(r.name)] ??= { pass: 0, fail: 0, skip: 0, other: 0 });
      if (r.outcome === 'pass') c.pass++;
      else if (r.outcome === 'skip') c.skip++;
      else if (r.outcome === 'fail' || r.outcome === 'timeout' || r.outcome === 'crash') c.fail++;
      else c.other++;
    }
  }
  return out;
}

/** The conformance report of a kselftest run (schemas/report.schema.json). */
export function kselftestReport(opts: {
  runs: BinaryRun[]; expected: Record<string, string[]>; commandLine: string[]; adapterSpec: string; adapterCommand: string; isReference: boolean;
  linux: string; startedAt: Date; implementation: { name: string; version: string }; capabilities: string[]; timeoutMs: number;
  /** What the selftests were built against, for the report to say (smoke.message). */
  built: string;
}): Report {
  const cases: CaseReport[] = [];
  for (const run of opts.runs) {
    const seen = new Set<string>();
    for (const r of run.results) {
      seen.add(r.name);
      cases.push({
        id: `kselftest/${run.binary}/${r.name}`,
        title: `${run.binary}: ${r.name}`,
        area: `kselftest/${run.binary}/${fixtureOf(r.name)}`,
        clauses: [],
        requires: [],
        result: RESULT_OF[r.outcome],
        duration_ms: run.durationsMs.get(r.name) ?? 0,
        ...(r.message ? { message: r.message } : {}),
        ...(r.diagnostics.length ? { diagnostics: r.diagnostics.join('\n') } : {}),
      });
    }
    // The binary stopped before reaching these: it died (or was killed) under an earlier one.
    for (const name of opts.expected[run.binary] ?? []) {
      if (seen.has(name)) continue;
      cases.push({
        id: `kselftest/${run.binary}/${name}`, title: `${run.binary}: ${name}`, area: `kselftest/${run.binary}/${fixtureOf(name)}`,
        clauses: [], requires: [], result: run.timedOut ? 'timeout' : 'crash', duration_ms: 0,
        message: run.timedOut ? 'not reached: the binary was killed at its time limit' : `not reached: the binary ended (${run.signal ?? `exit ${run.exitCode}`}) before this test`,
        ...(run.stderrTail ? { diagnostics: run.stderrTail } : {}),
      });
    }
  }
  const finished = new Date();
  const suite = suiteInfo();
  const total = cases.length;
  return {
    format: 'ioasid-report',
    report_version: 1,
    run: {
      command_line: opts.commandLine,
      suite: { version: suite.version, commit: suite.commit, interpreting: suite.interpreting },
      adapter: opts.isReference ? { kind: 'reference', spec: opts.adapterSpec, command: opts.adapterCommand } : { kind: 'stdio', spec: opts.adapterSpec, command: opts.adapterCommand },
      timeouts: { hello_ms: 0, case_ms: opts.timeoutMs },
      restart_budget: 0,
      restarts: 0,
      cases: [opts.linux],
      bail: false,
      started_at: opts.startedAt.toISOString(),
      finished_at: finished.toISOString(),
      duration_ms: finished.getTime() - opts.startedAt.getTime(),
      host: { node: process.version, platform: `${process.platform}-${process.arch}` },
    },
    completed: opts.runs.every((r) => !r.timedOut && r.results.length >= (opts.expected[r.binary]?.length ?? 0)),
    implementation: opts.implementation,
    protocol: 1,
    capabilities: opts.capabilities,
    smoke: { ok: true, message: `${opts.built}; run through the fake /dev/iommu` },
    summary: summarize(cases, total, 0),
    cases,
    invalid_cases: [],
  };
}

/** The adapter's hello (implementation and capabilities), asked once before the run. */
export function helloOf(command: string, timeoutMs = 60_000): { implementation: { name: string; version: string }; capabilities: string[] } | null {
  const r = spawnSync('/bin/sh', ['-c', command], {
    input: `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hello', params: { protocol: 1 } })}\n`,
    encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, LD_PRELOAD: '' },
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.includes('"result"'));
  if (!line) return null;
  try {
    const res = (JSON.parse(line) as { result: { implementation: { name: string; version: string }; capabilities: string[] } }).result;
    return { implementation: { name: res.implementation.name, version: res.implementation.version }, capabilities: [...res.capabilities].sort() };
  } catch {
    return null;
  }
}
