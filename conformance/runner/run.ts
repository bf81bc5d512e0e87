/**
 * The run loop of `ioasid conform`: a smoke check first (hello, world, open, one IOAS alloc and
 * destroy, close), which tells a broken adapter (it does not speak the protocol: the run stops
 * with one line saying so) from a non-conforming implementation (it speaks it, gives wrong
 * answers: the run goes on); then every selected case in turn, each in fresh contexts, with the
 * expectations file applied; then the report.
 *
 * The run stops early only on --bail (after the first failing result), when the adapter's
 * restart budget is spent, or when the smoke check finds the adapter broken; `completed` says so.
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
import { ProtocolViolation, TransportCrash, TransportTimeout, type TransportFactory } from './transport.ts';
import type { AnyMember, CaseReport, Json, InvalidCase, LoadedCase, Report, RunConfig, SmokeReport } from './types.ts';

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
  bail: boolean;
  config: Pick<RunConfig, 'command_line' | 'cases'> & Partial<Pick<RunConfig, 'filter' | 'shard' | 'expectations' | 'requires' | 'skip_features'>>;
  onCase?: (r: CaseReport, done: number, total: number) => void;
  onSmoke?: (s: SmokeReport) => void;
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
  const detail = missing.length > 0 ? `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing: ${answers.join('; ')}` : wrong ?? 'MMAP, MEM_WRITE, MEM_READ, MUNMAP answered';
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

function isoNow(): string {
  return new Date().toISOString();
}

export async function runSuite(opts: RunOptions): Promise<Report> {
  const startedAt = isoNow();
  const t0 = performance.now();
  const suite = suiteInfo();
  const session = new Session(opts.factory, {
    helloTimeoutMs: opts.helloTimeoutMs,
    restartBudget: opts.restartBudget,
    suite: { version: suite.version, ...(suite.commit ? { commit: suite.commit } : {}) },
  });
  const results: CaseReport[] = [];
  let completed = true;
  let abortReason: string | undefined;
  const { smoke: smokeReport, broken } = await smoke(session, opts.catalog, opts.caseTimeoutMs);
  opts.onSmoke?.(smokeReport);
  if (broken) {
    completed = false;
    abortReason = smokeReport.message;
  } else {
    let done = 0;
    for (const lc of opts.cases) {
      const e = opts.expectations ? expectationFor(opts.expectations, lc.case.id, opts.renames ? oldIdsOf(opts.renames, lc.case.id) : []) : undefined;
      let r: CaseReport;
      if (e?.expect === 'skip') {
        r = {
          id: lc.case.id, title: lc.case.title, area: areaOf(lc.case.id), path: lc.path, clauses: lc.case.clauses,
          requires: lc.effectiveRequires, result: 'skipped', duration_ms: 0,
          message: `skipped by the expectations file (${e.pattern}, line ${e.line})${e.reason ? `: ${e.reason}` : ''}`,
          expectation: { pattern: e.pattern, expect: 'skip', ...(e.reason ? { reason: e.reason } : {}) },
        };
      } else {
        try {
          r = applyExpectation(await runCase({ session, catalog: opts.catalog, caseTimeoutMs: opts.caseTimeoutMs }, lc), e);
        } catch (err) {
          if (err instanceof RestartBudgetExhausted) {
            completed = false;
            abortReason = err.message;
            break;
          }
          if (!isBroken(err)) throw err;
          // The adapter could not be restarted for this case (its hello failed): the case gets
          // the transport's verdict, and the next case tries again within the budget.
          r = applyExpectation({
            id: lc.case.id, title: lc.case.title, area: areaOf(lc.case.id), path: lc.path, clauses: lc.case.clauses,
            requires: lc.effectiveRequires, duration_ms: 0,
            result: err instanceof TransportTimeout ? 'timeout' : err instanceof TransportCrash ? 'crash' : 'error',
            message: `restarting the adapter failed: ${what(err)}`,
          }, e);
        }
      }
      results.push(r);
      done++;
      opts.onCase?.(r, done, opts.cases.length);
      if (opts.bail && FAILING_RESULTS.has(r.result) && done < opts.cases.length) {
        completed = false;
        abortReason = `--bail: ${r.id} ended ${r.result}`;
        break;
      }
    }
  }
  await session.close();
  const hello = session.hello;
  const run: RunConfig = {
    command_line: opts.config.command_line,
    suite,
    adapter: opts.adapter,
    timeouts: { hello_ms: opts.helloTimeoutMs, case_ms: opts.caseTimeoutMs },
    restart_budget: opts.restartBudget,
    restarts: session.restarts,
    cases: opts.config.cases,
    bail: opts.bail,
    started_at: startedAt,
    finished_at: isoNow(),
    duration_ms: Math.round(performance.now() - t0),
    host: { node: process.version, platform: `${process.platform}-${process.arch}` },
  };
  for (const k of ['filter', 'shard', 'expectations', 'requires', 'skip_features'] as const) {
    const v = opts.config[k];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) (run as unknown as Record<string, unknown>)[k] = v;
  }
  const report: Report = {
    format: 'ioasid-report',
    report_version: 1,
    run,
    completed,
    implementation: hello ? { ...hello.implementation } : null,
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
