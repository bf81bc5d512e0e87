/**
 * The differential fuzzer's driver: fast-check draws command sequences (sequence.ts), each runs
 * on two implementations at once (differential.ts), and a difference is shrunk by fast-check to
 * a minimal sequence, which is written out as a case file (CASE-FORMAT.md) whose expected values
 * are the first side's answers (the reference's). Such a file is a candidate, not a golden
 * case: its note says what each side answered, and the expected values must be checked against
 * Linux before it joins the suite.
 *
 * The run goes on after a finding with the next seed until the time budget is spent; findings
 * with the same signature (kind, step op, answers) are written once. Figures: sequences and
 * steps tried (shrinking runs included), findings, time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import type { CaseStep, Json, JsonObject } from '../runner/types.ts';
import { runDifferential, type Answer, type Finding, type Side } from './differential.ts';
import { sequenceArb, TOPOLOGY_NAME, type Command } from './sequence.ts';

export interface FuzzOptions {
  sides: [Side, Side];
  catalog: UapiCatalog;
  seed: number;
  /** Time budget in ms (shrinking included). */
  budgetMs: number;
  /** Longest sequence drawn. */
  maxLength?: number;
  /** Where minimal sequences are written as case files (none: not written). */
  outDir?: string;
  /** Stop after this many distinct findings (default: go on until the budget is spent). */
  maxFindings?: number;
}

export interface FuzzFinding {
  seed: number;
  kind: Finding['kind'];
  message: string;
  steps: number;
  /** The case file written, if any. */
  file?: string;
  case: JsonObject;
}

export interface FuzzFigures {
  seed: number;
  sides: [string, string];
  /** Sequences run, shrinking attempts included. */
  sequences: number;
  /** Steps (ioctls and hooks) run on each side. */
  steps: number;
  findings: FuzzFinding[];
  elapsed_ms: number;
}

/** The clause a candidate case cites, by the op of the step where the sides parted. */
const CLAUSE_OF_OP: Record<string, string> = {
  IOMMU_IOAS_ALLOC: 'IOAS-ALLOC-1',
  IOMMU_IOAS_MAP: 'IOAS-MAP-1',
  IOMMU_IOAS_UNMAP: 'IOAS-UNMAP-1',
  IOMMU_IOAS_COPY: 'IOAS-COPY-1',
  IOMMU_DESTROY: 'GEN-DESTROY-1',
  IOMMU_HWPT_ALLOC: 'HWPT-ALLOC-1',
  VFIO_DEVICE_BIND_IOMMUFD: 'DEV-BIND-1',
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: 'DEV-ATTACH-1',
  VFIO_DEVICE_DETACH_IOMMUFD_PT: 'DEV-DETACH-1',
  CREATE_ACCESS: 'ACCESS-PIN-1',
  ACCESS_PIN: 'ACCESS-PIN-1',
  ACCESS_UNPIN: 'ACCESS-PIN-1',
  ACCESS_RW: 'ACCESS-RW-1',
  DMA_READ: 'DEV-DMA-1',
  ADD_RESERVED: 'IOAS-RESV-1',
  DEVICE_UNBIND: 'DEV-DETACH-1',
  IOMMU_OPTION: 'OPT-HUGE-1',
};

/** The capabilities a sequence's ops need (conformance/PROTOCOL.md). */
function requiresOf(steps: CaseStep[]): string[] {
  const need = new Set(['ioas', 'test:state']);
  for (const s of steps) {
    if (s.op.startsWith('VFIO_DEVICE_')) need.add('vfio-device');
    if (s.op === 'IOMMU_HWPT_ALLOC') need.add('hwpt');
    if (['CREATE_ACCESS', 'ACCESS_PIN', 'ACCESS_UNPIN', 'ACCESS_RW'].includes(s.op)) need.add('access');
    if (s.op === 'CHECK_REFS') need.add('test:refs');
    if (s.op === 'ACCOUNTING') need.add('test:accounting');
    if (s.op === 'DMA_READ') need.add('test:dma');
    if (s.op === 'ADD_RESERVED') need.add('test:reserved');
    if (s.op === 'DEVICE_UNBIND') need.add('vfio-device');
    if (s.op === 'IOMMU_OPTION') need.add('options');
  }
  return [...need].sort();
}

const describeAnswer = (a: Answer | undefined): string => (a === undefined ? 'nothing' : a.failure ? `a failure (${a.failure.slice(0, 160)})` : a.errno ?? 'success');

/** The candidate case of a finding: the steps with the first side's answers as expectations. */
export function findingCase(f: Finding, sides: [string, string], id: string): JsonObject {
  const steps: Json[] = f.steps.map((s, i) => {
    const a = f.answers[0][i];
    const step: JsonObject = JSON.parse(JSON.stringify(s)) as JsonObject;
    if (a?.errno !== undefined) {
      step.errno = a.errno;
      delete step.out;
    } else if (a?.out) {
      const out = (step.out ?? {}) as JsonObject;
      for (const field of f.compared[i] ?? []) if (a.out[field] !== undefined && !(field in out)) out[field] = a.out[field] as Json;
      if (Object.keys(out).length > 0) step.out = out;
    }
    return step;
  });
  const last = f.steps[f.at];
  const [x, y] = sides;
  const note = `Differential fuzz finding (${f.kind}): ${f.message}. At step ${f.at} ${x} answered ${describeAnswer(f.answers[0][f.at])} and ${y} ${describeAnswer(f.answers[1][f.at])}. ` +
    `Expected values are ${x}'s answers: check them against Linux before this case joins the suite.`;
  return {
    id,
    title: `Fuzz: ${last?.op ?? 'close'} after ${f.at} step(s) — ${f.kind} between ${x} and ${y}`,
    clauses: [f.kind === 'leak' ? 'GEN-CLOSE-1' : CLAUSE_OF_OP[last?.op ?? ''] ?? 'GEN-DESTROY-1'],
    requires: requiresOf(f.steps),
    topology: TOPOLOGY_NAME,
    note,
    steps,
  };
}

const signature = (f: Finding): string => `${f.kind} ${f.message.replace(/\b(0x[0-9a-f]+|\d+)\b/g, 'N')}`.slice(0, 300);

export async function fuzz(opts: FuzzOptions): Promise<FuzzFigures> {
  const started = Date.now();
  const figures: FuzzFigures = { seed: opts.seed, sides: [opts.sides[0].name, opts.sides[1].name], sequences: 0, steps: 0, findings: [], elapsed_ms: 0 };
  const seen = new Set<string>();
  let seed = opts.seed;
  let busy: Promise<void> = Promise.resolve();
  while (Date.now() - started < opts.budgetMs && figures.findings.length < (opts.maxFindings ?? Infinity)) {
    let last: { commands: Command[]; finding: Finding } | null = null;
    const property = fc.asyncProperty(sequenceArb(opts.maxLength ?? 30), async (commands) => {
      // One sequence at a time on the two adapters: when the time limit interrupts fast-check
      // it stops waiting for a run that is still going, and the next must not overlap it.
      const run = busy.then(() => runDifferential(commands, opts.sides, opts.catalog));
      busy = run.then(() => undefined, () => undefined);
      const r = await run;
      figures.sequences++;
      figures.steps += r.steps;
      if (r.finding === null) return true;
      // fast-check shrinks towards the last failing input it saw: that one is the minimal one.
      last = { commands, finding: r.finding };
      return false;
    });
    const left = opts.budgetMs - (Date.now() - started);
    const details = await fc.check(property, { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: Math.max(1, left), markInterruptAsFailure: false, endOnFailure: false });
    const found = last as { commands: Command[]; finding: Finding } | null;
    if (!details.failed || found === null) break;
    // Re-run the counterexample fast-check settled on: `last` is its final (shrunk) failure.
    const minimal = (details.counterexample?.[0] as Command[] | undefined) ?? found.commands;
    await busy;
    const again = (await runDifferential(minimal, opts.sides, opts.catalog)).finding ?? found.finding;
    const sig = signature(again);
    if (!seen.has(sig)) {
      seen.add(sig);
      const id = `fuzz/seed-${seed}`;
      const c = findingCase(again, figures.sides, id);
      const entry: FuzzFinding = { seed, kind: again.kind, message: again.message, steps: again.steps.length, case: c };
      if (opts.outDir) {
        const dir = join(opts.outDir, 'fuzz');
        mkdirSync(dir, { recursive: true });
        entry.file = join(dir, `seed-${seed}.json`);
        writeFileSync(entry.file, `${JSON.stringify(c, null, 2)}\n`);
      }
      figures.findings.push(entry);
    }
    seed++;
  }
  await busy;
  figures.elapsed_ms = Date.now() - started;
  return figures;
}
