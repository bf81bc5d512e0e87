/**
 * Runs golden cases against the reference with one mutant seeded: installs it, runs the suite
 * in process, and takes it out again whatever happens (the restore is in a `finally`). The
 * adapter is built from reference/adapter.ts directly, so the patched classes are the very ones
 * the adapter uses. `null` runs the unmutated reference (the baseline a catch is judged by).
 *
 * Only one mutant may be installed at a time in a process: runs are serialised here.
 */
import type { Adapter } from '../../schemas/lib/adapter.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { createReferenceAdapter } from '../../reference/adapter.ts';
import { inProcessFactory } from '../runner/in-process.ts';
import { FAILING_RESULTS } from '../runner/results.ts';
import { runSuite } from '../runner/run.ts';
import type { CaseReport, LoadedCase, Report } from '../runner/types.ts';
import type { Mutant } from './mutant.ts';

export interface MutantRunOptions {
  catalog: UapiCatalog;
  cases: LoadedCase[];
  /** Stop at the first failing case (default true: one catch is the proof). */
  bail?: boolean;
  caseTimeoutMs?: number;
}

export interface MutantRun {
  mutant: string | null;
  report: Report;
  /** The cases that failed (fail, error, timeout, crash, unexpected pass). */
  caught: CaseReport[];
}

let installed: string | null = null;

/** An adapter factory for the reference, with the mutant's answer-level wrapper if it has one. */
export function mutantAdapterFactory(mutant: Mutant | null, catalog: UapiCatalog): () => Adapter {
  return () => {
    const inner = createReferenceAdapter(catalog);
    return mutant?.wrapAdapter ? mutant.wrapAdapter(inner, catalog) : inner;
  };
}

/** Runs `fn` with the mutant's engine patches in place; restores them afterwards. */
export async function withMutant<T>(mutant: Mutant | null, fn: () => Promise<T>): Promise<T> {
  if (installed !== null) throw new Error(`mutant '${installed}' is still installed`);
  installed = mutant?.name ?? '(reference)';
  const restore = mutant?.install?.();
  try {
    return await fn();
  } finally {
    try {
      restore?.();
    } finally {
      installed = null;
    }
  }
}

export async function runMutant(mutant: Mutant | null, opts: MutantRunOptions): Promise<MutantRun> {
  const report = await withMutant(mutant, () => runSuite({
    factory: inProcessFactory(mutantAdapterFactory(mutant, opts.catalog)),
    adapter: { kind: 'module', spec: mutant ? `mutant:${mutant.name}` : 'reference' },
    catalog: opts.catalog,
    cases: opts.cases,
    invalid: [],
    caseTimeoutMs: opts.caseTimeoutMs ?? 10_000,
    helloTimeoutMs: 10_000,
    restartBudget: 1000,
    bail: opts.bail ?? true,
    config: { command_line: ['conform', '--mutant', mutant?.name ?? '(none)'], cases: [] },
  }));
  return { mutant: mutant?.name ?? null, report, caught: report.cases.filter((c) => FAILING_RESULTS.has(c.result)) };
}
