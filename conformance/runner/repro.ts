/**
 * `ioasid repro`: one case run alone on a fresh adapter, with every step shown as the runner
 * compiled it (flags and enums resolved, `size` filled in, `$captures` substituted, where
 * pointer content was placed) next to every call it caused and what came back. It also keeps
 * the whole conversation (hello and shutdown included) for a standalone replay script.
 */
import { bytesToHex } from '../../schemas/lib/codec.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { describeStep, runCase, type TraceEvent } from './case-run.ts';
import { Session } from './session.ts';
import { suiteInfo } from './suite-info.ts';
import type { CallRecord } from './transcript.ts';
import type { TransportFactory } from './transport.ts';
import type { CaseReport, LoadedCase } from './types.ts';

export interface Repro {
  report: CaseReport;
  /** Every call in order, hello to shutdown. */
  calls: CallRecord[];
  events: TraceEvent[];
  implementation: string;
}

export async function reproduce(factory: TransportFactory, catalog: UapiCatalog, lc: LoadedCase, timeouts: { helloMs: number; caseMs: number }): Promise<Repro> {
  const suite = suiteInfo();
  const session = new Session(factory, { helloTimeoutMs: timeouts.helloMs, restartBudget: 0, suite: { version: suite.version, ...(suite.commit ? { commit: suite.commit } : {}) } });
  const calls: CallRecord[] = [];
  const events: TraceEvent[] = [];
  session.onCall = (c) => calls.push(c);
  try {
    const hello = await session.start();
    const report = await runCase({ session, catalog, caseTimeoutMs: timeouts.caseMs, trace: (e) => events.push(e) }, lc);
    return { report, calls, events, implementation: `${hello.implementation.name} ${hello.implementation.version}` };
  } finally {
    await session.close();
  }
}

function short(v: unknown, max = 400): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function target(method: string, params: object): string {
  const p = params as { cmd?: string; op?: string; fd?: number };
  if (method === 'ioctl') return `ioctl ${p.cmd}`;
  if (method === 'test') return `test ${p.op}`;
  return method;
}

/** The human rendering: per step, what it compiled to, each call it caused, what came back. */
export function renderRepro(lc: LoadedCase, r: Repro, adapterSpec: string): string {
  const out: string[] = [];
  out.push(`case ${lc.case.id}: ${lc.case.title}`, `  file ${lc.path}`, `  adapter ${adapterSpec} (${r.implementation})`, '');
  for (const e of r.events) {
    if (e.kind === 'step') {
      const expects = e.step.errno !== undefined ? `expects ${[e.step.errno].flat().join(' or ')}` : 'expects success';
      out.push(`${describeStep(e.ref)} — ${expects}${e.step.out ? `, out ${short(e.step.out, 200)}` : ''}`);
      const c = e.compiled;
      if (c.kind !== 'close') out.push(`  compiled ${c.kind} ${c.op} ${short(c.arg)}${c.argp !== undefined ? ` argp ${short(c.argp)}` : ''}${c.pid !== undefined ? ` pid ${c.pid}` : ''} (context ${c.ctx})`);
      for (const p of c.pointers) out.push(`  pointer ${p.field}: ${p.bytes.length} byte(s) ${bytesToHex(p.bytes).slice(0, 96)}${p.bytes.length > 48 ? '…' : ''}${p.decode ? ', read back after the call' : ''}`);
    } else if (e.kind === 'call') {
      const purpose = e.doing === "the step's call" ? '' : ` (${e.doing})`;
      out.push(`  → ${target(e.method, e.params)}${purpose} ${short(e.params)}`);
      out.push(e.failure !== undefined ? `  ✗ ${e.failure}` : `  ← ${short(e.result)}`);
      if (e.method === 'test' && (e.params as { op?: string }).op === 'MMAP' && e.doing.startsWith('placing')) {
        const addr = (e.result as { out?: { addr?: unknown } } | undefined)?.out?.addr;
        out.push(`  placed at ${typeof addr === 'number' ? `0x${addr.toString(16)}` : short(addr)}`);
      }
    } else {
      out.push(`  captured ${Object.entries(e.captures).map(([k, v]) => `$${k} = ${short(v)}`).join(', ')}`);
    }
  }
  const c = r.report;
  out.push('', `result: ${c.result}${c.message ? ` — ${c.message}` : ''}`);
  if (c.failure && 'expected' in c.failure) out.push(`  expected ${short(c.failure.expected)}`, `  actual   ${short(c.failure.actual)}`);
  if (c.diagnostics) out.push('adapter stderr:', c.diagnostics.trimEnd());
  return out.join('\n') + '\n';
}
