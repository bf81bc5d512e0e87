/**
 * A session with one adapter across a run: starts it through its transport factory, says
 * hello, puts a time limit on every call, validates every answer against protocol.schema.json,
 * and restarts the adapter after a timeout or a crash within a bounded budget. After a restart
 * only hello is replayed; the next case sends `world` again (worldKey is cleared).
 *
 * `unresponsiveStarts` counts the adapter instances in a row that timed out on hello or on the
 * first call after it: restarting does not help such an adapter, and the run stops after
 * a few (run.ts) instead of spending a case timeout on every remaining case.
 */
import { AdapterError, PROTOCOL_VERSION, type HelloResult } from '../../schemas/lib/adapter.ts';
import { validateProtocol } from './schemas.ts';
import type { CallRecord } from './transcript.ts';
import {
  ProtocolViolation,
  TransportCrash,
  TransportTimeout,
  type LateAnswer,
  type Method,
  type Transport,
  type TransportFactory,
} from './transport.ts';

export class RestartBudgetExhausted extends Error {
  constructor(budget: number) {
    super(`the adapter was restarted ${budget} times; giving up`);
    this.name = 'RestartBudgetExhausted';
  }
}

export interface SessionOptions {
  helloTimeoutMs: number;
  restartBudget: number;
  suite?: { version: string; commit?: string };
}

export class Session {
  private transport: Transport | null = null;
  hello: HelloResult | null = null;
  capabilities = new Set<string>();
  restarts = 0;
  /** The topology last sent with `world` (JSON), or null when the next case must send one. */
  worldKey: string | null = null;
  private diagnostics = '';
  private late: LateAnswer[] = [];
  private label = '';
  /** Calls answered by the current instance since its hello. */
  private answeredSinceStart = 0;
  /** Instances in a row whose first call after hello timed out. */
  unresponsiveStarts = 0;
  /** Sees every call and how it ended (transcripts, repro); never changes an answer. */
  onCall: ((record: CallRecord) => void) | null = null;

  constructor(
    private readonly factory: TransportFactory,
    private readonly opts: SessionOptions,
  ) {}

  get alive(): boolean {
    return this.transport !== null;
  }

  /** Starts the adapter and says hello; throws what the call threw. */
  async start(): Promise<HelloResult> {
    this.transport = await this.factory();
    this.transport.setLabel?.(this.label);
    this.worldKey = null;
    this.answeredSinceStart = -1;
    const params: { protocol: number; suite?: { version: string; commit?: string } } = { protocol: PROTOCOL_VERSION };
    if (this.opts.suite) params.suite = this.opts.suite;
    const hello = (await this.call('hello', params, this.opts.helloTimeoutMs)) as HelloResult;
    this.hello = hello;
    this.capabilities = new Set(hello.capabilities);
    return hello;
  }

  /** Restarts a dead adapter (counting against the budget); a live one is left alone. */
  async ensure(): Promise<void> {
    if (this.transport) return;
    if (this.restarts >= this.opts.restartBudget) throw new RestartBudgetExhausted(this.opts.restartBudget);
    this.restarts++;
    await this.start();
  }

  /** One protocol call with a time limit; the answer is schema-checked (hook outputs too). */
  async call(method: Method, params: object, timeoutMs: number, hookOp?: string): Promise<unknown> {
    const t = this.transport;
    if (!t) throw new TransportCrash('the adapter is not running');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TransportTimeout(method, timeoutMs)), Math.max(1, timeoutMs));
    });
    let result: unknown;
    try {
      const f = t[method] as (p: object) => Promise<unknown>;
      result = await Promise.race([f.call(t, params), timeout]);
      // hello itself is call -1 → 0: only an answer after it shows the instance is alive.
      if (this.answeredSinceStart++ >= 0) this.unresponsiveStarts = 0;
      this.onCall?.({ method, params, result });
    } catch (e) {
      this.onCall?.({ method, params, failure: e instanceof AdapterError ? { code: e.code, message: e.message } : { kind: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e) } });
      if (e instanceof TransportTimeout && this.answeredSinceStart <= 0) this.unresponsiveStarts++;
      else if (e instanceof AdapterError) this.unresponsiveStarts = 0;
      if (e instanceof TransportTimeout || e instanceof TransportCrash || !(e instanceof AdapterError)) {
        await this.drop();
      }
      if (e instanceof AdapterError || e instanceof TransportTimeout || e instanceof TransportCrash) throw e;
      throw new TransportCrash(`${method}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      clearTimeout(timer);
    }
    const def = `${method}Result`;
    const bad = validateProtocol(def, result);
    if (bad.length > 0) {
      throw new ProtocolViolation(`${method} answered ${JSON.stringify(result)?.slice(0, 300)}: ${bad[0].pointer} ${bad[0].message} (protocol.schema.json#/$defs/${def})`);
    }
    if (method === 'test' && hookOp && 'out' in (result as object)) {
      const outBad = validateProtocol(`hookOut_${hookOp}`, (result as { out: unknown }).out);
      if (outBad.length > 0) {
        throw new ProtocolViolation(`${hookOp} answered out ${JSON.stringify((result as { out: unknown }).out).slice(0, 300)}: ${outBad[0].pointer} ${outBad[0].message} (protocol.schema.json#/$defs/hookOut_${hookOp})`);
      }
    }
    if (method === 'hello' && (result as HelloResult).protocol !== PROTOCOL_VERSION) {
      throw new ProtocolViolation(`hello answered protocol ${(result as HelloResult).protocol}, this runner speaks ${PROTOCOL_VERSION}`);
    }
    return result;
  }

  /** Names the case whose calls follow (late answers are traced back to it). */
  setLabel(label: string): void {
    this.label = label;
    this.transport?.setLabel?.(label);
  }

  /** Second answers to requests already answered, since the last call, dropped instances included. */
  takeLateAnswers(): LateAnswer[] {
    const l = [...this.late, ...(this.transport?.takeLateAnswers?.() ?? [])];
    this.late = [];
    return l;
  }

  /** Diagnostics (adapter stderr) since the last call, including those of dropped instances. */
  takeDiagnostics(): string {
    const s = this.diagnostics + (this.transport?.takeDiagnostics() ?? '');
    this.diagnostics = '';
    return s;
  }

  private async drop(): Promise<void> {
    const t = this.transport;
    this.transport = null;
    this.worldKey = null;
    if (t) {
      // Give a dying child a moment to flush stderr: its last words explain the crash.
      await new Promise((r) => setTimeout(r, 20));
      this.diagnostics += t.takeDiagnostics();
      this.late.push(...(t.takeLateAnswers?.() ?? []));
      await t.dispose();
    }
  }

  /** Asks the adapter to shut down, then disposes it whatever it answered. */
  async close(timeoutMs = 2000): Promise<void> {
    if (!this.transport) return;
    try {
      await this.call('shutdown', {}, timeoutMs);
    } catch {
      /* an adapter that cannot shut down is killed below */
    }
    await this.drop();
  }
}
