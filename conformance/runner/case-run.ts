/**
 * Runs one loaded case against a session and returns its result: capabilities first (a missing
 * one makes the case `unsupported` before anything is sent), then `world` when the topology
 * differs from the last one sent, then the steps in fresh contexts, then every context closed
 * and — where the adapter offers STATE — a leak check: no context, object, pin or charge may
 * outlive the case. A `fail_nth` step becomes the injection sweep when the adapter offers
 * `test:fail-nth`, each attempt checked for a clean failure and (with STATE) unchanged state;
 * a case whose sweeps never injected a failure fails (it would prove nothing about error paths).
 * With `failNthAll` (conform --fail-nth) every ioctl step and every kernel-call hook step is
 * swept as well (fail-nth-mode.ts); those steps may have no injection point at all.
 *
 * Invariants: a case passes only if at least one comparison was made and every step met its
 * expectation; a failure records the step, the expected and the actual value.
 */
import { performance } from 'node:perf_hooks';
import { AdapterError, RPC_CANNOT_EXPRESS } from '../../schemas/lib/adapter.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { compileStep, outputField, type CompiledStep } from './compiler.ts';
import { sweptInFailNthMode } from './fail-nth-mode.ts';
import { CaseError } from './expression.ts';
import { matchFields, type MatchContext, type Mismatch } from './matcher.ts';
import { areaOf, type CaseResultName } from './results.ts';
import { kernelTooOld } from './kernel-version.ts';
import { RestartBudgetExhausted, type Session } from './session.ts';
import { bytesToHex, decodeStruct, decodeStructArray, hexToBytes } from '../../schemas/lib/codec.ts';
import { structInfo } from '../../schemas/lib/catalog.ts';
import { hooks } from './schemas.ts';
import { ProtocolViolation, TransportCrash, TransportTimeout } from './transport.ts';
import type { IoctlResult, StateDump, TestParams, TestResult } from '../../schemas/generated/protocol.ts';
import type { AnyMember, CaseReport, CaseStep, Failure, Json, JsonObject, LoadedCase, StepRef } from './types.ts';

const PAGE_BYTES = 4096;
/** Hooks whose answers count everything since the world was built (IOTLB_STATS). */
const FRESH_WORLD_OPS: ReadonlySet<string> = new Set(['IOTLB_STATS']);
export const FAIL_NTH_MAX = 1000;
/**
 * What a call can answer when fail_nth fails one of its injection points on Linux (6.12 read):
 * ENOMEM from a failed allocation (failslab, fail_page_alloc), and iommufd's own
 * iommufd_should_fail() sites with their own errnos — ENOENT in iommufd_get_object (main.c,
 * the first point of nearly every ioctl), EINVAL in pages_to_xarray, iopt_pages_rw_page and
 * iopt_table_enforce_dev_resv_regions (and from a bind after a device probe whose allocation
 * failed), EFAULT in pfn_reader_user_pin. The kernel's iommufd_fail_nth.c accepts any failure;
 * we accept these, and the step's own errno.
 */
export const INJECTED_FAILURE_ERRNOS: readonly string[] = ['ENOMEM', 'ENOENT', 'EINVAL', 'EFAULT'];
const DIAGNOSTICS_MAX = 4000;

export interface CaseEnv {
  session: Session;
  catalog: UapiCatalog;
  caseTimeoutMs: number;
  /** Sees each step as compiled and each call the case makes (ioasid repro). */
  trace?: (event: TraceEvent) => void;
  /** conform --fail-nth: sweep every ioctl and kernel-call hook step, not only those marked fail_nth. */
  failNthAll?: boolean;
}

/** What `ioasid repro` prints: a step as compiled, a call with its purpose, the captures a step made. */
export type TraceEvent =
  | { kind: 'step'; ref: StepRef; step: CaseStep; compiled: CompiledStep }
  | { kind: 'call'; ref: StepRef | null; doing: string; method: string; params: object; result?: unknown; failure?: string }
  | { kind: 'captured'; ref: StepRef; captures: Record<string, unknown> };

/**
 * A protocol-level failure (JSON-RPC error, schema violation, timeout, crash) of one call, with
 * where it happened: the step, the method and the ioctl or hook it carried, and what the
 * runner was doing (a step's own call, placing pointer content, closing contexts). The case's
 * result comes from the cause; the message says where.
 */
export class CallFailed extends Error {
  constructor(readonly reason: AdapterError | ProtocolViolation | TransportTimeout | TransportCrash, readonly where: string, readonly step: StepRef | null) {
    super(`${where}: ${reason.message}`);
    this.name = 'CallFailed';
  }
}

class StepFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

type IoctlAnswer = AnyMember<IoctlResult>;
/**
 * A hook's out is open in the schema (its fields are hookOut_<OP>'s to check, and a deep check
 * of every STATE dump would cost more than it finds), but it is JSON: parsed from the wire, or
 * built by an in-process adapter that the same checks hold to.
 */
type TestAnswer = Omit<AnyMember<TestResult>, 'out'> & { out?: JsonObject };
/** One call of a step: what came back, and how to judge it as the step's real outcome. */
type Attempt = { answer: { errno?: string; fail_nth_reached?: boolean }; judge: (ref: StepRef) => void };

/**
 * What an ioctl's `out` is compared with: the struct that came back, the pointer content read
 * back after the call, and the ioctl's return value as `ret` (VFIO_CHECK_EXTENSION answers 1),
 * which no uAPI struct field is named.
 */
/**
 * A hook answer with its x-case-struct bytes also decoded into the struct's field (TEST_CMD's
 * `data` as `cmd`), so that `out` can name struct fields. Bytes shorter than the struct read as
 * zero past their end.
 */
function withCaseStruct(op: string, out: JsonObject | undefined): JsonObject | undefined {
  const cs = hooks().get(op)?.caseStruct;
  const hex = out?.[cs?.bytes ?? ''];
  if (cs === undefined || out === undefined || typeof hex !== 'string') return out;
  const bytes = hexToBytes(hex);
  const size = structInfo(cs.struct).sizeBytes;
  const padded = bytes.length >= size ? bytes : Uint8Array.from([...bytes, ...new Uint8Array(size - bytes.length)]);
  return { ...out, [cs.field]: decodeStruct(cs.struct, padded) as Json };
}

function actualOf(answer: IoctlAnswer, decoded: JsonObject): JsonObject {
  const actual: JsonObject = { ...(answer.arg ?? {}), ...decoded };
  if (answer.ret !== undefined && !('ret' in actual)) actual.ret = answer.ret;
  return actual;
}

function stepRef(step: CaseStep, index: number, failNth?: number): StepRef {
  const r: StepRef = { index, op: step.op };
  if (step.label) r.label = step.label;
  if (failNth !== undefined) r.fail_nth = failNth;
  return r;
}

export function describeStep(r: StepRef): string {
  return `step ${r.index}${r.label ? ` (${r.label})` : ''} ${r.op}${r.fail_nth ? ` [fail_nth=${r.fail_nth}]` : ''}`;
}

class CaseExecution {
  private readonly contexts = new Map<number, number>();
  private readonly match: MatchContext;
  private deadline: number;
  stepsRun = 0;
  failNthAttempts = 0;
  failNthSteps = 0;
  /** Sweep attempts in which the injected failure happened (point n reached, the call failed). */
  failNthInjected = 0;
  /** The same, counting only the steps the case marks fail_nth (the no-injection rule is theirs). */
  failNthMarkedSteps = 0;
  failNthMarkedInjected = 0;
  touchedProcess = false;

  constructor(
    private readonly env: CaseEnv,
    private readonly lc: LoadedCase,
  ) {
    this.match = { catalog: env.catalog, captures: new Map(), comparisons: 0 };
    this.deadline = performance.now() + env.caseTimeoutMs;
  }

  get comparisons(): number {
    return this.match.comparisons;
  }

  private remaining(what: string): number {
    const ms = this.deadline - performance.now();
    if (ms <= 0) throw new TransportTimeout(what, this.env.caseTimeoutMs);
    return ms;
  }

  /** The step being run (null before the first and after the last), and what the runner does for it. */
  private at: { ref: StepRef | null; doing: string } = { ref: null, doing: 'setting up the world' };

  private async call(method: 'world' | 'open' | 'close' | 'ioctl' | 'test', params: object, hookOp?: string): Promise<unknown> {
    const trace = this.env.trace;
    try {
      const result = await this.env.session.call(method, params, this.remaining(method), hookOp);
      trace?.({ kind: 'call', ref: this.at.ref, doing: this.at.doing, method, params, result });
      return result;
    } catch (e) {
      trace?.({ kind: 'call', ref: this.at.ref, doing: this.at.doing, method, params, failure: e instanceof AdapterError ? `JSON-RPC error ${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e) });
      if (e instanceof AdapterError || e instanceof ProtocolViolation || e instanceof TransportTimeout || e instanceof TransportCrash) {
        const p = params as { cmd?: string; op?: string; fd?: number };
        const target = method === 'ioctl' ? `ioctl ${p.cmd}` : method === 'test' ? `test ${p.op}` : method === 'close' ? `close fd ${p.fd}` : method;
        const where = `${this.at.ref ? describeStep(this.at.ref) : 'outside any step'}, ${this.at.doing}: ${target}`;
        throw new CallFailed(e, where, this.at.ref);
      }
      throw e;
    }
  }

  private async fdOf(ctx: number): Promise<number> {
    let fd = this.contexts.get(ctx);
    if (fd === undefined) {
      fd = ((await this.call('open', {})) as { fd: number }).fd;
      this.contexts.set(ctx, fd);
    }
    return fd;
  }

  /** A runner-internal hook call that must succeed (buffer placement, state dumps). */
  private async hook(op: string, arg: JsonObject, ref: StepRef, pid?: number, doing?: string): Promise<JsonObject> {
    const saved = this.at;
    this.at = { ref, doing: doing ?? `the runner's ${op}` };
    let r: TestAnswer;
    try {
      r = (await this.call('test', pid === undefined ? { op, arg } : { op, arg, pid }, op)) as TestAnswer;
    } finally {
      this.at = saved;
    }
    if (r.errno !== undefined) {
      throw new StepFailed({ step: ref, message: `${describeStep(ref)}: the runner's ${op} ${JSON.stringify(arg).slice(0, 120)} failed with ${r.errno}` });
    }
    return r.out ?? {};
  }

  async world(): Promise<void> {
    const key = JSON.stringify(this.lc.topology);
    // A case that reads a unit's cumulative counters must not count what earlier cases on the
    // same topology did: its expectations are absolute numbers from a fresh unit.
    const readsCounters = this.lc.case.steps.some((s) => FRESH_WORLD_OPS.has(s.op));
    if (this.env.session.worldKey === key && !readsCounters) return;
    this.env.session.worldKey = null;
    await this.call('world', { topology: this.lc.topology });
    this.env.session.worldKey = key;
  }

  beginSteps(): void {
    this.at = { ref: null, doing: 'opening a context' };
  }

  async runSteps(): Promise<void> {
    const steps = this.lc.case.steps;
    for (let i = 0; i < steps.length; i++) {
      const before = this.env.trace ? new Set(this.match.captures.keys()) : null;
      await this.runStep(steps[i], i);
      this.stepsRun++;
      if (before) {
        const made = [...this.match.captures].filter(([k]) => !before.has(k));
        if (made.length > 0) this.env.trace!({ kind: 'captured', ref: stepRef(steps[i], i), captures: Object.fromEntries(made) });
      }
    }
  }

  private async runStep(step: CaseStep, index: number): Promise<void> {
    const ref = stepRef(step, index);
    this.at = { ref, doing: "the step's call" };
    let compiled: CompiledStep;
    try {
      compiled = compileStep(this.env.catalog, step, this.match.captures);
    } catch (e) {
      if (e instanceof CaseError) throw new CaseError(`${describeStep(ref)}: ${e.message}`);
      throw e;
    }
    this.env.trace?.({ kind: 'step', ref, step, compiled });
    if (compiled.kind === 'close') {
      // A context opens on first use, CLOSE included: closing a fresh context is a valid case.
      const fd = await this.fdOf(compiled.ctx);
      this.contexts.delete(compiled.ctx);
      await this.call('close', { fd });
      return;
    }
    if (compiled.kind === 'test') {
      // A forked process outlives the case: the next case must start from a fresh world.
      if (step.op === 'SET_MEMLOCK_LIMIT' || step.op === 'FAIL_NTH' || step.op === 'PROCESS_FORK') this.touchedProcess = true;
      // The compiler accepts only ops with a hookArg_<OP> in the schema (hooks()), which testParams.op lists.
      const params: TestParams = { op: compiled.op as TestParams['op'], arg: compiled.arg };
      if (compiled.pid !== undefined) params.pid = compiled.pid;
      if (compiled.scope === 'context') params.fd = await this.fdOf(compiled.ctx);
      const once = async (r: StepRef, beforeCall?: () => Promise<void>): Promise<Attempt> => {
        if (beforeCall) await beforeCall();
        const answer = (await this.call('test', params, compiled.op)) as TestAnswer;
        return { answer, judge: (at) => this.judge(step, at, answer.errno, withCaseStruct(compiled.op, answer.out), false, new Set()) };
      };
      if (this.swept(step)) {
        await this.sweep(step, index, once);
        return;
      }
      (await once(ref)).judge(ref);
      return;
    }
    const fd = await this.fdOf(compiled.ctx);
    const info = this.env.catalog.ioctls.get(compiled.op);
    if (info?.struct && 'iommufd' in compiled.arg && !(step.arg && 'iommufd' in step.arg)) compiled.arg.iommufd = fd;
    const once = async (r: StepRef, beforeCall?: () => Promise<void>): Promise<Attempt> => {
      const { answer, decoded } = await this.ioctlOnce(compiled, fd, r, beforeCall);
      return {
        answer,
        judge: (at) => this.judge(step, at, answer.errno, actualOf(answer, decoded), true, new Set(Object.keys(decoded)), answer.arg !== undefined),
      };
    };
    if (this.swept(step)) {
      await this.sweep(step, index, once);
      return;
    }
    (await once(ref)).judge(ref);
  }

  private swept(step: CaseStep): boolean {
    if (!this.env.session.capabilities.has('test:fail-nth')) return false;
    return step.fail_nth === true || (this.env.failNthAll === true && sweptInFailNthMode(this.env.catalog, step));
  }

  /** Places inline pointer content, issues the ioctl, reads the content back, unmaps it. */
  private async ioctlOnce(
    compiled: CompiledStep,
    fd: number,
    ref: StepRef,
    beforeCall?: () => Promise<void>,
  ): Promise<{ answer: IoctlAnswer; decoded: JsonObject }> {
    const arg: JsonObject = { ...compiled.arg };
    const placed: { addr: Json | undefined; length: number }[] = [];
    for (const p of compiled.pointers) {
      const length = Math.max(PAGE_BYTES, Math.ceil(p.bytes.length / PAGE_BYTES) * PAGE_BYTES);
      const { addr } = await this.hook('MMAP', { length }, ref, compiled.pid, `placing ${p.field}'s content`);
      placed.push({ addr, length });
      if (p.bytes.some((b) => b !== 0)) await this.hook('MEM_WRITE', { addr, data: bytesToHex(p.bytes) }, ref, compiled.pid, `placing ${p.field}'s content`);
      arg[p.field] = addr;
    }
    if (beforeCall) await beforeCall();
    const params: { fd: number; cmd: string; arg: JsonObject; argp?: Json; pid?: number } = { fd, cmd: compiled.op, arg };
    if (compiled.argp !== undefined) params.argp = compiled.argp;
    if (compiled.pid !== undefined) params.pid = compiled.pid;
    const answer = (await this.call('ioctl', params)) as IoctlAnswer;
    const decoded: JsonObject = {};
    for (let i = 0; i < compiled.pointers.length; i++) {
      const p = compiled.pointers[i];
      if (p.decode) {
        const n = 'struct' in p.decode ? p.decode.struct.sizeBytes * p.decode.count : p.decode.bytes;
        const { data } = await this.hook('MEM_READ', { addr: placed[i].addr, length: n }, ref, compiled.pid, `reading ${p.field} back`);
        const bytes = hexToBytes(String(data));
        decoded[p.field] = 'struct' in p.decode ? (decodeStructArray(p.decode.struct.name, bytes, p.decode.count) as Json) : bytesToHex(bytes);
      }
      await this.hook('MUNMAP', placed[i], ref, compiled.pid, `unmapping ${p.field}'s buffer`);
    }
    return { answer, decoded };
  }

  /**
   * The fail_nth sweep of one step (an ioctl, or a hook that models a kernel call): attempt n
   * arms FAIL_NTH {n} just before the call; every attempt that reached point n must fail with
   * an errno an injection point gives (INJECTED_FAILURE_ERRNOS) or the step's, and leave STATE
   * as it was; the first attempt that did not
   * reach n is the real call and is judged as the step.
   */
  private async sweep(step: CaseStep, index: number, once: (ref: StepRef, beforeCall: () => Promise<void>) => Promise<Attempt>): Promise<void> {
    const withState = this.env.session.capabilities.has('test:state');
    this.failNthSteps++;
    if (step.fail_nth) this.failNthMarkedSteps++;
    this.touchedProcess = true;
    const before = withState ? await this.hook('STATE', {}, stepRef(step, index)) : null;
    const stepErrnos: string[] = step.errno === undefined ? [] : Array.isArray(step.errno) ? step.errno : [step.errno];
    const allowed = new Set([...INJECTED_FAILURE_ERRNOS, ...stepErrnos]);
    for (let n = 1; n <= FAIL_NTH_MAX; n++) {
      const ref = stepRef(step, index, n);
      this.failNthAttempts++;
      const { answer, judge } = await once(ref, async () => {
        await this.hook('FAIL_NTH', { n }, ref);
      });
      // An answer without fail_nth_reached (an adapter that cannot tell) counts as reached when
      // it fails with an injection point's errno that the step does not expect anyway.
      const reached = answer.fail_nth_reached ?? (answer.errno !== undefined && INJECTED_FAILURE_ERRNOS.includes(answer.errno) && !stepErrnos.includes(answer.errno));
      if (!reached || answer.errno === undefined) {
        await this.hook('FAIL_NTH', { n: 0 }, ref);
        judge(stepRef(step, index));
        return;
      }
      await this.hook('FAIL_NTH', { n: 0 }, ref);
      this.failNthInjected++;
      if (step.fail_nth) this.failNthMarkedInjected++;
      if (!allowed.has(answer.errno)) {
        throw new StepFailed({ step: ref, expected: { errno: [...allowed].join('|') }, actual: { errno: answer.errno }, message: `${describeStep(ref)}: an injected failure gave ${answer.errno}, expected ${[...allowed].join(' or ')}` });
      }
      this.match.comparisons++;
      if (before) {
        const after = await this.hook('STATE', {}, ref);
        if (JSON.stringify(after) !== JSON.stringify(before)) {
          throw new StepFailed({ step: ref, expected: before, actual: after, message: `${describeStep(ref)}: state changed after the injected failure failed the call` });
        }
      }
    }
    throw new CaseError(`${describeStep(stepRef(step, index))}: the fail_nth sweep did not end within ${FAIL_NTH_MAX} attempts`);
  }

  private judge(
    step: CaseStep,
    ref: StepRef,
    errno: string | undefined,
    actual: JsonObject | undefined,
    isIoctl: boolean,
    decodedFields: Set<string>,
    argCameBack = true,
  ): void {
    const expected = step.errno === undefined ? null : Array.isArray(step.errno) ? step.errno : [step.errno];
    if (errno !== undefined) {
      if (!expected) {
        throw new StepFailed({ step: ref, expected: { ret: 0 }, actual: { errno }, message: `${describeStep(ref)}: expected success, got ${errno}` });
      }
      if (!expected.includes(errno)) {
        throw new StepFailed({ step: ref, expected: { errno: expected.join('|') }, actual: { errno }, message: `${describeStep(ref)}: expected ${expected.join(' or ')}, got ${errno}` });
      }
      this.match.comparisons++;
      if (isIoctl && step.copied_back !== undefined) {
        this.match.comparisons++;
        if (step.copied_back !== argCameBack) {
          const message = step.copied_back ? 'the kernel copies the struct back on this failure, but no arg came back' : 'the kernel copies nothing back on this failure, but arg came back';
          throw new StepFailed({ step: ref, expected: { copied_back: step.copied_back }, actual: { copied_back: argCameBack }, message: `${describeStep(ref)}: failed with ${errno} as expected, but ${message}` });
        }
      }
      if (step.out && Object.keys(step.out).length > 0 && !argCameBack) {
        throw new StepFailed({ step: ref, expected: step.out, actual: null, message: `${describeStep(ref)}: failed with ${errno} as expected, but no arg came back to compare out with` });
      }
    } else {
      if (expected) {
        throw new StepFailed({ step: ref, expected: { errno: expected.join('|') }, actual: { ret: 0 }, message: `${describeStep(ref)}: expected ${expected.join(' or ')}, got success` });
      }
      if (isIoctl) this.match.comparisons++;
    }
    if (!step.out) return;
    const op = step.op;
    const catalog = this.env.catalog;
    const m: Mismatch | null = matchFields(this.match, step.out, actual ?? {}, '', undefined, (name) => {
      const field = isIoctl ? outputField(catalog, op, name) : undefined;
      const pointee = field?.pointee?.struct ? catalog.structs.get(field.pointee.struct) : undefined;
      return decodedFields.has(name) ? { field, struct: pointee, prefix: true } : { field };
    });
    if (m) {
      throw new StepFailed({ step: ref, field: m.field, expected: m.expected, actual: m.actual, message: `${describeStep(ref)}: ${m.message}: expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)}` });
    }
  }

  /** Closes every context the case left open, then checks for leaks where STATE allows. */
  async finish(checkLeaks: boolean): Promise<void> {
    this.at = { ref: null, doing: 'closing the contexts the case left open' };
    for (const [ctx, fd] of [...this.contexts]) {
      this.contexts.delete(ctx);
      await this.call('close', { fd });
    }
    if (!checkLeaks || !this.env.session.capabilities.has('test:state')) return;
    const ref: StepRef = { index: this.lc.case.steps.length, op: 'STATE', label: 'leak-check' };
    const s = (await this.hook('STATE', {}, ref, undefined, 'the leak check')) as StateDump; // the session checked it against hookOut_STATE
    const left: string[] = [];
    for (const c of s.contexts ?? []) left.push(`context fd ${c.fd} with ${c.objects.length} object(s)`);
    if (s.pins?.pinned_frames) left.push(`${s.pins.pinned_frames} pinned frame(s)`);
    for (const [k, v] of Object.entries(s.accounting ?? {})) {
      if (k !== 'memlock_limit_pages' && k.endsWith('_pages') && v) left.push(`${k} ${v}`);
    }
    if (left.length > 0) {
      throw new StepFailed({ step: ref, expected: { contexts: [], pins: { pinned_frames: 0 }, accounting: 'every *_pages counter 0' }, actual: s as Json, message: `leak: after every context was closed, ${left.join(', ')} remained` });
    }
  }
}

function classify(e: unknown): { result: CaseResultName; message: string; failure?: Failure } {
  if (e instanceof CallFailed && e.reason instanceof AdapterError && e.reason.code === RPC_CANNOT_EXPRESS) {
    return { result: 'unsupported', message: `the implementation cannot express ${e.where}: ${e.reason.message}` };
  }
  if (e instanceof CallFailed) {
    const inner = classify(e.reason);
    const kind = e.reason instanceof AdapterError ? 'adapter error' : e.reason instanceof ProtocolViolation ? 'protocol violation' : inner.result;
    const message = `${kind} at ${e.where}: ${describeCause(e.reason)}`;
    return { result: inner.result, message, ...(e.step ? { failure: { step: e.step, message } } : {}) };
  }
  if (e instanceof StepFailed) return { result: 'fail', message: e.failure.message, failure: e.failure };
  if (e instanceof CaseError) return { result: 'invalid', message: `case error: ${e.message}` };
  if (e instanceof AdapterError) return { result: 'error', message: `adapter error ${e.code}: ${e.message}` };
  if (e instanceof ProtocolViolation) return { result: 'error', message: `protocol violation: ${e.message}` };
  if (e instanceof TransportTimeout) return { result: 'timeout', message: e.message };
  if (e instanceof TransportCrash) return { result: 'crash', message: e.message };
  return { result: 'error', message: `runner error: ${e instanceof Error ? e.stack ?? e.message : String(e)}` };
}

function describeCause(e: Error): string {
  if (e instanceof AdapterError) return `JSON-RPC error ${e.code}: ${e.message}`;
  return e.message;
}

export function missingCapabilities(lc: LoadedCase, capabilities: ReadonlySet<string>): string[] {
  return lc.effectiveRequires.filter((c) => !capabilities.has(c));
}

export async function runCase(env: CaseEnv, lc: LoadedCase): Promise<CaseReport> {
  const started = performance.now();
  const c = lc.case;
  const report: CaseReport = {
    id: c.id,
    title: c.title,
    area: areaOf(c.id),
    path: lc.path,
    clauses: c.clauses,
    requires: lc.effectiveRequires,
    result: 'pass',
    duration_ms: 0,
  };
  const done = (): CaseReport => {
    report.duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
    const diag = env.session.takeDiagnostics();
    if (diag) report.diagnostics = diag.length > DIAGNOSTICS_MAX ? `${diag.slice(0, DIAGNOSTICS_MAX)}…` : diag;
    return report;
  };
  await env.session.ensure();
  const missing = missingCapabilities(lc, env.session.capabilities);
  if (missing.length > 0) {
    report.result = 'unsupported';
    report.missing = missing;
    report.message = `the implementation lacks ${missing.join(', ')}`;
    return done();
  }
  const tooOld = kernelTooOld(c.min_kernel, env.session.hello?.kernel);
  if (tooOld) {
    report.result = 'unsupported';
    report.message = tooOld + (c.min_kernel_why ? ` (${c.min_kernel_why})` : '');
    return done();
  }
  if (c.steps.length === 0) {
    report.result = 'invalid';
    report.message = 'case error: the case has no steps';
    return done();
  }
  const x = new CaseExecution(env, lc);
  let outcome: ReturnType<typeof classify> | null = null;
  try {
    await x.world();
    x.beginSteps();
    await x.runSteps();
  } catch (e) {
    if (e instanceof RestartBudgetExhausted) throw e;
    outcome = classify(e);
  }
  // Close what the case opened even after a failure, so that the next case starts clean; the
  // leak check only runs when nothing failed before it, so it never hides the first failure.
  if (env.session.alive) {
    try {
      await x.finish(outcome === null);
    } catch (e) {
      if (e instanceof RestartBudgetExhausted) throw e;
      if (outcome === null) outcome = classify(e);
    }
  }
  report.steps_run = x.stepsRun;
  if (x.failNthSteps > 0) report.fail_nth = { steps: x.failNthSteps, attempts: x.failNthAttempts, injected: x.failNthInjected };
  // A sweep proves something only where a failure was injected: a case whose sweeps never
  // reached point 1 anywhere (an adapter that offers test:fail-nth but injects nothing) has
  // checked no error path at all. One step may have no allocation point; a whole case may not.
  if (outcome === null && x.failNthMarkedSteps > 0 && x.failNthMarkedInjected === 0) {
    outcome = {
      result: 'fail',
      message: `fail_nth: ${x.failNthMarkedSteps} swept step(s), and no attempt reached an injection point (FAIL_NTH {n: 1} injected nothing): the implementation offers test:fail-nth but no failure was ever injected`,
    };
  }
  if (outcome === null && x.comparisons === 0) {
    outcome = { result: 'invalid', message: 'case error: no step compared anything (no errno, no out value, no ioctl expected to succeed)' };
  }
  if (outcome) {
    report.result = outcome.result;
    report.message = outcome.message;
    if (outcome.failure) report.failure = outcome.failure;
  }
  // A case that did not pass, or that changed process-wide settings, may have left the
  // simulated process in a state the next case must not inherit: rebuild the world.
  if (report.result !== 'pass' || x.touchedProcess) env.session.worldKey = null;
  return done();
}
