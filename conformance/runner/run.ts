/**
 * The run loop of `ioasid conform`: a smoke check first (hello, world, open, one IOAS alloc and
 * destroy, close), which tells a broken adapter (it does not speak the protocol: the run stops
 * with one line saying so) from a non-conforming implementation (it speaks it, gives wrong
 * answers: the run goes on); then every selected case in turn, each in fresh contexts, with the
 * expectations file applied; then the report.
 *
 * The run stops early only on --bail (after the first failing result), when the adapter's
 * restart budget is spent, when the smoke check finds the adapter broken, when the run's
 * deadline has passed, or when UNRESPONSIVE_STARTS_MAX adapter instances in a row timed out
 * before answering anything after hello (restarting does not help: the rest would each cost a
 * case timeout); `completed` says so, and the cases not run count as `not_run`. Each case's time
 * limit is cut to what is left of the deadline.
 *
 * A second answer to a request already answered (stdio) is traced back to the case that sent
 * the request: that case becomes `error` if it had passed, and its diagnostics say so.
 */
import { performance } from 'node:perf_hooks';
import { AdapterError, type IoctlResult } from '../../schemas/lib/adapter.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { compileStep } from './compiler.ts';
import { runCase } from './case-run.ts';
import { applyExpectation, expectationFor, type Expectation } from './expectations.ts';
import { FAILING_RESULTS, areaOf } from './results.ts';
import { oldIdsOf, type Renames } from './renames.ts';
import { RestartBudgetExhausted, Session } from './session.ts';
import { summarize } from './summary.ts';
import { suiteInfo } from './suite-info.ts';
import { ProtocolViolation, TransportCrash, TransportTimeout, type LateAnswer, type TransportFactory } from './transport.ts';
import { writeTranscript, type CallRecord } from './transcript.ts';
import type { AnyMember, CaseReport, Json, InvalidCase, LoadedCase, Report, RunConfig, SmokeReport } from './types.ts';

/** Adapter instances in a row that may time out before answering anything, before the run stops. */
export const UNRESPONSIVE_STARTS_MAX = 3;

export interface RunOptions {
  factory: TransportFactory;
  adapter: RunConfig['adapter'];
  catalog: UapiCatalog;
  /** The selected cases, in run order. */
  cases: LoadedCase[];
  invalid: InvalidCase[];
  expectations?: Expectation[];
  renames?: Renames;
  caseTimeoutMs: number;
  helloTimeoutMs: number;
  restartBudget: number;
  /** The whole run's time budget in ms; absent or 0: none. */
  deadlineMs?: number;
  bail: boolean;
  config: Pick<RunConfig, 'command_line' | 'cases'> & Partial<Pick<RunConfig, 'filter' | 'shard' | 'expectations' | 'requires' | 'skip_features' | 'select' | 'clauses' | 'last_failed' | 'repeat' | 'retries' | 'workers' | 'transcripts' | 'fail_nth_all'>>;
  /** --repeat: tries of every case (default 1); --retries: more tries of a case that did not pass. */
  repeat?: number;
  retries?: number;
  /** --workers: adapter instances running cases at the same time (default 1). */
  workers?: number;
  /** --fail-nth: sweep every ioctl and kernel-call hook step (fail-nth-mode.ts). */
  failNthAll?: boolean;
  /** --transcript: the report folder below which each case's calls are written. */
  transcriptDir?: string;
  /** The command that re-runs one case, recorded on every case that did not pass. */
  rerun?: (caseId: string) => string;
  onCase?: (r: CaseReport, done: number, total: number) => void;
  onSmoke?: (s: SmokeReport) => void;
  /** A line for the person waiting (a worker that could not start). */
  onNote?: (line: string) => void;
}

function isBroken(e: unknown): e is Error {
  return e instanceof AdapterError || e instanceof ProtocolViolation || e instanceof TransportTimeout || e instanceof TransportCrash;
}

function what(e: Error): string {
  if (e instanceof AdapterError) return `JSON-RPC error ${e.code}: ${e.message}`;
  return e.message;
}

/** The hooks every adapter offers (protocol.schema.json gives them no capability). */
export const MEMORY_HOOKS = ['MMAP', 'MEM_WRITE', 'MEM_READ', 'MUNMAP'] as const;

/**
 * Calls each user-memory hook once. A hook answered with a JSON-RPC error is missing; one that
 * answers an errno exists (MEM_WRITE of an unmapped address may well say EFAULT when MMAP is
 * the missing one). Data read back that differs from what was written is a wrong answer, not
 * a missing hook. Timeouts, crashes and schema violations propagate: the adapter is broken.
 */
export async function probeMemoryHooks(session: Session, timeoutMs: number): Promise<{ missing: string[]; wrong: string | null; detail: string }> {
  const missing: string[] = [];
  const answers: string[] = [];
  const hook = async (op: (typeof MEMORY_HOOKS)[number], arg: Record<string, Json>): Promise<{ errno?: string; out?: Record<string, Json> } | null> => {
    try {
      return (await session.call('test', { op, arg }, timeoutMs, op)) as { errno?: string; out?: Record<string, Json> };
    } catch (e) {
      if (!(e instanceof AdapterError)) throw e;
      missing.push(op);
      answers.push(`test ${op} answered JSON-RPC error ${e.code}: ${e.message}`);
      return null;
    }
  };
  const LENGTH = 4096;
  const mapped = await hook('MMAP', { length: LENGTH });
  const addr: Json = mapped?.out?.addr ?? '0x10000';
  let wrong: string | null = mapped?.errno ? `test MMAP {length: ${LENGTH}} answered ${mapped.errno}` : null;
  const wrote = await hook('MEM_WRITE', { addr, data: 'a55a' });
  const read = await hook('MEM_READ', { addr, length: 2 });
  if (!wrong && mapped && !mapped.errno && wrote && !wrote.errno && read && !read.errno && String(read.out?.data).toLowerCase() !== 'a55a') {
    wrong = `test MEM_READ gave ${JSON.stringify(read.out?.data)} after MEM_WRITE of a55a at ${JSON.stringify(addr)}`;
  }
  await hook('MUNMAP', { addr, length: LENGTH });
  // One answer said once when every missing hook gave it (the usual "unknown method test").
  const same = answers.length > 1 && answers.every((a) => a.replace(/^test \S+ /, '') === answers[0].replace(/^test \S+ /, ''));
  const detail = missing.length === 0
    ? wrong ?? 'MMAP, MEM_WRITE, MEM_READ, MUNMAP answered'
    : same
      ? `${missing.join(', ')} are missing: each ${answers[0].replace(/^test \S+ /, '')}`
      : `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing: ${answers.join('; ')}`;
  return { missing, wrong, detail };
}

/** The smoke check. Returns the report and whether the run can go on. */
export async function smoke(session: Session, catalog: UapiCatalog, timeoutMs: number): Promise<{ smoke: SmokeReport; broken: boolean }> {
  const steps: NonNullable<SmokeReport['steps']> = [];
  let current = 'hello';
  try {
    const hello = await session.start();
    steps.push({ what: 'hello', ok: true, detail: `${hello.implementation.name} ${hello.implementation.version}, ${hello.capabilities.length} capabilities` });
    current = 'world';
    await session.call('world', { topology: { bridges: [], devices: [] } }, timeoutMs);
    session.worldKey = null;
    steps.push({ what: 'world', ok: true });
    current = 'open';
    const { fd } = (await session.call('open', {}, timeoutMs)) as { fd: number };
    steps.push({ what: 'open', ok: true, detail: `fd ${fd}` });
    let nonConforming: string | null = null;
    if (catalog.ioctls.has('IOMMU_IOAS_ALLOC') && catalog.ioctls.has('IOMMU_DESTROY')) {
      current = 'IOMMU_IOAS_ALLOC';
      const alloc = compileStep(catalog, { op: 'IOMMU_IOAS_ALLOC' }, new Map());
      const a = (await session.call('ioctl', { fd, cmd: alloc.op, arg: alloc.arg }, timeoutMs)) as AnyMember<IoctlResult>;
      if (a.errno !== undefined || typeof a.arg?.out_ioas_id !== 'number') {
        nonConforming = `IOMMU_IOAS_ALLOC answered ${a.errno ?? `without out_ioas_id`}`;
        steps.push({ what: current, ok: false, detail: nonConforming });
      } else {
        steps.push({ what: current, ok: true, detail: `ioas ${a.arg.out_ioas_id}` });
        current = 'IOMMU_DESTROY';
        const d = compileStep(catalog, { op: 'IOMMU_DESTROY', arg: { id: a.arg.out_ioas_id } }, new Map());
        const r = (await session.call('ioctl', { fd, cmd: d.op, arg: d.arg }, timeoutMs)) as AnyMember<IoctlResult>;
        if (r.errno !== undefined) {
          nonConforming = `IOMMU_DESTROY of a fresh IOAS answered ${r.errno}`;
          steps.push({ what: current, ok: false, detail: nonConforming });
        } else steps.push({ what: current, ok: true });
      }
    }
    current = 'user-memory hooks';
    const memory = await probeMemoryHooks(session, timeoutMs);
    steps.push({ what: current, ok: memory.missing.length === 0 && memory.wrong === null, detail: memory.detail });
    current = 'close';
    await session.call('close', { fd }, timeoutMs);
    steps.push({ what: 'close', ok: true });
    if (memory.missing.length > 0) {
      const message = `broken adapter: the user-memory hooks are mandatory (conformance/PROTOCOL.md, "User memory"), and ${memory.detail} — ` +
        `implement ${MEMORY_HOOKS.join(', ')} (the runner places every pointer's content with them) before reading any result`;
      return { broken: true, smoke: { ok: false, steps, message } };
    }
    if (memory.wrong) nonConforming = nonConforming ? `${nonConforming}; ${memory.wrong}` : memory.wrong;
    if (nonConforming) {
      return { broken: false, smoke: { ok: false, steps, message: `non-conforming implementation: ${nonConforming} (the adapter speaks the protocol; read the case results)` } };
    }
    return { broken: false, smoke: { ok: true, steps, message: 'adapter OK: hello, world, open, IOAS alloc and destroy, the user-memory hooks, close answered as protocol v1 says' } };
  } catch (e) {
    if (!isBroken(e)) throw e;
    steps.push({ what: current, ok: false, detail: what(e) });
    const diag = session.takeDiagnostics().trim().split('\n').slice(-3).join(' | ');
    return { broken: true, smoke: { ok: false, steps, message: `broken adapter: ${current}: ${what(e)}${diag ? ` [stderr: ${diag.slice(0, 300)}]` : ''} — fix the adapter before reading any result` } };
  }
}

/** A second answer to request `late.id` of case `r`: the adapter broke the protocol in that case. */
function attributeLateAnswer(r: CaseReport | undefined, late: LateAnswer): void {
  if (r === undefined) return;
  const note = `protocol violation: request ${late.id} (${late.method}) of this case was answered twice; the second answer came later and was discarded`;
  r.diagnostics = r.diagnostics ? `${r.diagnostics}\n${note}` : note;
  if (r.result === 'pass') {
    r.result = 'error';
    r.message = note;
  }
}

function isoNow(): string {
  return new Date().toISOString();
}

/** One try of a case on a session: the expectation's skip, the run, or the restart's verdict. */
async function tryCase(session: Session, opts: RunOptions, lc: LoadedCase, calls: CallRecord[] | null): Promise<CaseReport> {
  session.onCall = calls ? (c) => calls.push(c) : null;
  try {
    return await runCase({ session, catalog: opts.catalog, caseTimeoutMs: opts.caseTimeoutMs, failNthAll: opts.failNthAll }, lc);
  } catch (err) {
    if (err instanceof RestartBudgetExhausted || !isBroken(err)) throw err;
    // The adapter could not be restarted for this case (its hello failed): the case gets
    // the transport's verdict, and the next case tries again within the budget.
    return {
      id: lc.case.id, title: lc.case.title, area: areaOf(lc.case.id), path: lc.path, clauses: lc.case.clauses,
      requires: lc.effectiveRequires, duration_ms: 0,
      result: err instanceof TransportTimeout ? 'timeout' : err instanceof TransportCrash ? 'crash' : 'error',
      message: `restarting the adapter failed: ${what(err)}`,
    };
  } finally {
    session.onCall = null;
  }
}

/** Results that a retry or a repeat can change; the others ran nothing worth trying again. */
const TRIABLE = new Set(['pass', 'fail', 'error', 'timeout', 'crash']);

/**
 * A case under --repeat and --retries: every try's report, folded into one. All tries alike →
 * that result (the first try's report); some passed and some did not → `flaky`, with the
 * first failing try's step, expected and actual.
 */
export function foldAttempts(tries: CaseReport[]): CaseReport {
  if (tries.length === 1) return tries[0];
  const results = tries.map((t) => t.result);
  const firstBad = tries.find((t) => t.result !== 'pass');
  const base = firstBad ?? tries[0];
  const folded: CaseReport = { ...base, attempts: results, duration_ms: Math.round(tries.reduce((n, t) => n + t.duration_ms, 0) * 1000) / 1000 };
  const passes = results.filter((r) => r === 'pass').length;
  if (passes > 0 && passes < results.length) {
    folded.result = 'flaky';
    folded.message = `passed ${passes} of ${results.length} tries (${results.join(', ')}); first ${firstBad!.result}: ${firstBad!.message ?? ''}`;
  } else if (passes === results.length) {
    delete folded.message;
  }
  return folded;
}

async function runWithTries(session: Session, opts: RunOptions, lc: LoadedCase, calls: CallRecord[] | null): Promise<CaseReport> {
  const tries = [await tryCase(session, opts, lc, calls)];
  if (!TRIABLE.has(tries[0].result)) return tries[0];
  for (let i = 1; i < (opts.repeat ?? 1); i++) tries.push(await tryCase(session, opts, lc, calls));
  for (let i = 0; i < (opts.retries ?? 0) && tries[tries.length - 1].result !== 'pass'; i++) tries.push(await tryCase(session, opts, lc, calls));
  return foldAttempts(tries);
}

function skippedReport(lc: LoadedCase, e: Expectation): CaseReport {
  return {
    id: lc.case.id, title: lc.case.title, area: areaOf(lc.case.id), path: lc.path, clauses: lc.case.clauses,
    requires: lc.effectiveRequires, result: 'skipped', duration_ms: 0,
    message: `skipped by the expectations file (${e.pattern}, line ${e.line})${e.reason ? `: ${e.reason}` : ''}`,
    expectation: { pattern: e.pattern, expect: 'skip', ...(e.reason ? { reason: e.reason } : {}) },
  };
}

export async function runSuite(opts: RunOptions): Promise<Report> {
  const startedAt = isoNow();
  const t0 = performance.now();
  const suite = suiteInfo();
  const sessionOptions = {
    helloTimeoutMs: opts.helloTimeoutMs,
    restartBudget: opts.restartBudget,
    suite: { version: suite.version, ...(suite.commit ? { commit: suite.commit } : {}) },
  };
  const session = new Session(opts.factory, sessionOptions);
  const sessions = [session];
  const slots: (CaseReport | undefined)[] = new Array(opts.cases.length);
  const byId = new Map<string, CaseReport>();
  const takeLate = (s: Session) => {
    for (const late of s.takeLateAnswers()) attributeLateAnswer(byId.get(late.label), late);
  };
  let completed = true;
  let abortReason: string | undefined;
  const { smoke: smokeReport, broken } = await smoke(session, opts.catalog, opts.caseTimeoutMs);
  opts.onSmoke?.(smokeReport);
  if (broken) {
    completed = false;
    abortReason = smokeReport.message;
  } else {
    let next = 0;
    let done = 0;
    let stop = false;
    const halt = (reason: string) => {
      if (completed) abortReason = reason;
      completed = false;
      stop = true;
    };
    const worker = async (s: Session): Promise<void> => {
      while (!stop && next < opts.cases.length) {
        const leftMs = opts.deadlineMs ? opts.deadlineMs - (performance.now() - t0) : Infinity;
        if (leftMs <= 0) {
          halt(`the run's deadline of ${Math.round(opts.deadlineMs! / 1000)} s passed; ${opts.cases.length - done} case(s) not run`);
          return;
        }
        if (s.unresponsiveStarts >= UNRESPONSIVE_STARTS_MAX) {
          halt(`${s.unresponsiveStarts} adapter instances in a row timed out before answering anything after hello; restarting does not help, ${opts.cases.length - done} case(s) not run`);
          return;
        }
        const k = next++;
        const lc = opts.cases[k];
        s.setLabel(lc.case.id);
        const e = opts.expectations ? expectationFor(opts.expectations, lc.case.id, opts.renames ? oldIdsOf(opts.renames, lc.case.id) : []) : undefined;
        let r: CaseReport;
        if (e?.expect === 'skip') r = skippedReport(lc, e);
        else {
          const calls: CallRecord[] | null = opts.transcriptDir ? [] : null;
          try {
            r = applyExpectation(await runWithTries(s, { ...opts, caseTimeoutMs: Math.max(1, Math.min(opts.caseTimeoutMs, leftMs)) }, lc, calls), e);
          } catch (err) {
            if (err instanceof RestartBudgetExhausted) {
              halt(err.message);
              return;
            }
            throw err;
          }
          if (calls) writeTranscript(opts.transcriptDir!, lc.case.id, calls);
        }
        if (opts.rerun && (FAILING_RESULTS.has(r.result) || r.result === 'flaky')) r.rerun = opts.rerun(lc.case.id);
        slots[k] = r;
        byId.set(r.id, r);
        takeLate(s);
        done++;
        opts.onCase?.(r, done, opts.cases.length);
        if (opts.bail && FAILING_RESULTS.has(r.result) && done < opts.cases.length && !stop) halt(`--bail: ${r.id} ended ${r.result}`);
      }
    };
    // --workers: more adapter instances, each started and said hello to before it takes a case.
    const extra = Math.max(0, Math.min((opts.workers ?? 1) - 1, opts.cases.length - 1));
    for (let i = 0; i < extra; i++) sessions.push(new Session(opts.factory, sessionOptions));
    await Promise.all(sessions.map(async (s, i) => {
      if (i > 0) {
        try {
          await s.start();
        } catch (err) {
          if (!isBroken(err)) throw err;
          opts.onNote?.(`worker ${i + 1} could not start (${what(err)}); the others go on`);
          return;
        }
      }
      await worker(s);
    }));
  }
  const results = slots.filter((r): r is CaseReport => r !== undefined);
  await Promise.all(sessions.map((s) => s.close()));
  for (const s of sessions) takeLate(s);
  const hello = session.hello;
  const run: RunConfig = {
    command_line: opts.config.command_line,
    suite,
    adapter: opts.adapter,
    timeouts: { hello_ms: opts.helloTimeoutMs, case_ms: opts.caseTimeoutMs },
    restart_budget: opts.restartBudget,
    restarts: sessions.reduce((n, x) => n + x.restarts, 0),
    cases: opts.config.cases,
    bail: opts.bail,
    started_at: startedAt,
    finished_at: isoNow(),
    duration_ms: Math.round(performance.now() - t0),
    host: { node: process.version, platform: `${process.platform}-${process.arch}` },
  };
  for (const k of ['filter', 'shard', 'expectations', 'requires', 'skip_features', 'select', 'clauses', 'last_failed', 'repeat', 'retries', 'workers', 'transcripts'] as const) {
    const v = opts.config[k];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) (run as unknown as Record<string, unknown>)[k] = v;
  }
  const report: Report = {
    format: 'ioasid-report',
    report_version: 1,
    run,
    completed,
    implementation: hello ? { ...hello.implementation, ...(hello.kernel !== undefined ? { kernel: hello.kernel } : {}) } : null,
    protocol: hello ? hello.protocol : null,
    capabilities: hello ? [...hello.capabilities].sort() : [],
    smoke: smokeReport,
    summary: summarize(results, opts.cases.length, opts.invalid.length),
    cases: results,
    invalid_cases: opts.invalid,
  };
  if (abortReason) report.abort_reason = abortReason;
  return report;
}

/** Exit status of a finished run: 0 only when nothing failed and every case ran. */
export function runFailed(report: Report): boolean {
  return !report.completed || report.invalid_cases.length > 0 || report.cases.some((c) => FAILING_RESULTS.has(c.result));
}
