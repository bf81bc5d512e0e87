/**
 * Runs one command sequence on two implementations in lockstep and reports the first place they
 * disagree: a different errno, a different value of a compared output field, a different STATE
 * (the parts the protocol defines: each context's objects by ID and kind, pinned frames, the
 * named accounting counters), a JSON-RPC error, crash or timeout on one side, an invariant the
 * reference's checker found broken, or a leak after the context is closed.
 *
 * Each side keeps its own captures (its own buffer addresses, its own IDs): the same case step
 * is compiled once per side. The sides must stay in agreement for the run to go on, so the
 * names a success adds are the same on both.
 */
import { AdapterError, type Adapter } from '../../schemas/lib/adapter.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { compileStep } from '../runner/compiler.ts';
import type { CaseStep, JsonObject } from '../runner/types.ts';
import { Names, render, TOPOLOGY, type Command } from './sequence.ts';

export interface Side {
  name: string;
  adapter: Adapter;
}

/** What one side answered to a step: an errno and out fields, or a protocol-level failure. */
export interface Answer {
  errno?: string;
  out?: JsonObject;
  failure?: string;
}

export interface Finding {
  /** The step index (in the executed steps) where the sides parted, or the leak check. */
  at: number;
  kind: 'errno' | 'output' | 'state' | 'failure' | 'invariant' | 'leak';
  message: string;
  /** The steps run up to and including the one that differed. */
  steps: CaseStep[];
  /** What each side answered at every step (index-aligned with steps). */
  answers: [Answer[], Answer[]];
  /** The out fields compared at every step. */
  compared: string[][];
}

const STEP_TIMEOUT_NOTE = 'no answer';

/**
 * The part of STATE the protocol defines, in a canonical order: object IDs (an object's `kind`
 * is each implementation's own word: the reference says `type: "IOAS"`, the Python adapter
 * `kind: "ioas"`), pinned frames and the named accounting counters.
 */
export function stateProjection(s: JsonObject): string {
  const contexts = ((s.contexts ?? []) as { fd: number; objects: { id: number }[] }[])
    .map((c) => ({ fd: c.fd, objects: c.objects.map((o) => o.id).sort((a, b) => a - b) }))
    .sort((a, b) => a.fd - b.fd);
  const pins = (s.pins ?? {}) as { pinned_frames?: number };
  const acc = (s.accounting ?? {}) as Record<string, number>;
  const named = ['user_locked_pages', 'mm_locked_pages', 'mm_pinned_pages'].map((k) => [k, acc[k] ?? 0]);
  return JSON.stringify({ contexts, pinned_frames: pins.pinned_frames ?? 0, accounting: Object.fromEntries(named) });
}

class SideRun {
  readonly captures = new Map<string, unknown>();
  fd = -1;
  constructor(readonly side: Side, private readonly catalog: UapiCatalog) {}

  private async guard<T>(f: () => Promise<T>): Promise<T | { failure: string }> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof AdapterError) return { failure: `JSON-RPC error ${e.code}: ${e.message}` };
      return { failure: e instanceof Error ? e.message : String(e) };
    }
  }

  async start(): Promise<string | null> {
    const r = await this.guard(async () => {
      await this.side.adapter.world({ topology: TOPOLOGY } as never);
      return (await this.side.adapter.open({})).fd;
    });
    if (typeof r === 'object') return r.failure;
    this.fd = r;
    return null;
  }

  async step(step: CaseStep): Promise<Answer> {
    const compiled = compileStep(this.catalog, step, this.captures);
    const r = await this.guard(async () => {
      if (compiled.kind === 'test') {
        const params: { op: string; arg: JsonObject; fd?: number } = { op: compiled.op, arg: compiled.arg as JsonObject };
        if (compiled.scope === 'context') params.fd = this.fd;
        return (await this.side.adapter.test(params as never)) as { errno?: string; out?: JsonObject };
      }
      const arg = { ...compiled.arg } as JsonObject;
      const info = this.catalog.ioctls.get(compiled.op);
      if (info?.struct && 'iommufd' in arg) arg.iommufd = this.fd;
      const a = (await this.side.adapter.ioctl({ fd: this.fd, cmd: compiled.op, arg } as never)) as { errno?: string; arg?: JsonObject };
      return { errno: a.errno, out: a.arg };
    });
    if ('failure' in r) return { failure: r.failure ?? STEP_TIMEOUT_NOTE };
    return r.errno !== undefined ? { errno: r.errno, out: r.out } : { out: r.out ?? {} };
  }

  async state(): Promise<JsonObject | { failure: string }> {
    const r = await this.guard(async () => (await this.side.adapter.test({ op: 'STATE', arg: {} } as never)) as { errno?: string; out?: JsonObject });
    if ('failure' in r) return { failure: r.failure };
    if (r.errno !== undefined) return { failure: `STATE failed with ${r.errno}` };
    return r.out ?? {};
  }

  async closeAndCheck(): Promise<string | null> {
    const r = await this.guard(async () => this.side.adapter.close({ fd: this.fd }));
    if (typeof r === 'object' && r !== null && 'failure' in r) return `close: ${r.failure}`;
    const s = await this.state();
    if ('failure' in s) return `STATE: ${s.failure}`;
    const left: string[] = [];
    if (((s.contexts ?? []) as unknown[]).length > 0) left.push('a context');
    const pinned = ((s.pins ?? {}) as { pinned_frames?: number }).pinned_frames ?? 0;
    if (pinned) left.push(`${pinned} pinned frame(s)`);
    for (const [k, v] of Object.entries((s.accounting ?? {}) as Record<string, number>)) if (k !== 'memlock_limit_pages' && k.endsWith('_pages') && v) left.push(`${k} ${v}`);
    return left.length > 0 ? `after close: ${left.join(', ')} remained` : null;
  }
}

const isInvariant = (failure: string): boolean => /invariant broken/.test(failure);
const show = (a: Answer): string => (a.failure ? `failure (${a.failure.slice(0, 200)})` : a.errno ? a.errno : `ok ${JSON.stringify(a.out ?? {}).slice(0, 200)}`);

/** Runs `commands` on both sides; null when they agree throughout (and neither leaks). */
export async function runDifferential(commands: Command[], sides: [Side, Side], catalog: UapiCatalog, onStep?: (op: string, a: Answer) => void): Promise<{ finding: Finding | null; steps: number }> {
  const runs = [new SideRun(sides[0], catalog), new SideRun(sides[1], catalog)] as const;
  const names = new Names();
  const steps: CaseStep[] = [];
  const answers: [Answer[], Answer[]] = [[], []];
  const compared: string[][] = [];
  const found = (kind: Finding['kind'], message: string): { finding: Finding; steps: number } => ({
    finding: { at: steps.length - 1, kind, message, steps: [...steps], answers: [[...answers[0]], [...answers[1]]], compared: [...compared] },
    steps: steps.length,
  });
  for (const r of runs) {
    const f = await r.start();
    if (f !== null) return found(isInvariant(f) ? 'invariant' : 'failure', `${r.side.name}: world/open: ${f}`);
  }
  for (const c of commands) {
    const { step, compare, creates, removes } = render(c, names);
    const name = creates ? names.fresh(step.op === 'MMAP' ? 'm' : creates.field === 'pages_id' ? 'p' : 'o') : null;
    steps.push(name && creates ? { ...step, out: { [creates.field]: name } } : step);
    compared.push(compare);
    const a = await runs[0].step(step);
    const b = await runs[1].step(step);
    answers[0].push(a);
    answers[1].push(b);
    onStep?.(step.op, a);
    const where = `step ${steps.length - 1} ${step.op}`;
    if (a.failure || b.failure) {
      const inv = (a.failure && isInvariant(a.failure)) || (b.failure && isInvariant(b.failure));
      return found(inv ? 'invariant' : 'failure', `${where}: ${sides[0].name} ${show(a)}, ${sides[1].name} ${show(b)}`);
    }
    if (a.errno !== b.errno) return found('errno', `${where}: ${sides[0].name} ${show(a)}, ${sides[1].name} ${show(b)}`);
    if (a.errno === undefined) {
      for (const f of compare) {
        const x = JSON.stringify(a.out?.[f]);
        const y = JSON.stringify(b.out?.[f]);
        if (x !== y) return found('output', `${where}: field ${f}: ${sides[0].name} ${x}, ${sides[1].name} ${y}`);
      }
      if (name && creates) {
        for (let i = 0; i < 2; i++) runs[i].captures.set(name.slice(1), (i === 0 ? a : b).out?.[creates.field]);
        creates.add(names, name);
      }
      removes?.(names);
    }
    const sa = await runs[0].state();
    const sb = await runs[1].state();
    if ('failure' in sa || 'failure' in sb) return found('failure', `${where}: STATE: ${JSON.stringify(sa).slice(0, 200)} / ${JSON.stringify(sb).slice(0, 200)}`);
    const pa = stateProjection(sa);
    const pb = stateProjection(sb);
    if (pa !== pb) return found('state', `${where}: STATE differs: ${sides[0].name} ${pa}, ${sides[1].name} ${pb}`);
  }
  for (const r of runs) {
    const leak = await r.closeAndCheck();
    if (leak !== null) return { ...found('leak', `${r.side.name}: ${leak}`), steps: steps.length };
  }
  return { finding: null, steps: steps.length };
}
