/** Helpers for the runner's tests: cases written to a temporary folder, runs against the toy adapter. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Adapter } from '../../../schemas/lib/adapter.ts';
import { loadCases } from '../case-loader.ts';
import { inProcessFactory } from '../in-process.ts';
import { runSuite, type RunOptions } from '../run.ts';
import type { TransportFactory } from '../transport.ts';
import type { GoldenCase, Report } from '../types.ts';
import { toyCatalog } from './toy-catalog.ts';

export function tempDir(prefix = 'ioasid-runner-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes cases as <dir>/cases/<id>.json (raw objects: invalid ones too) and returns the cases folder. */
export function writeCases(cases: (GoldenCase | Record<string, unknown>)[], dir = tempDir()): string {
  const root = join(dir, 'cases');
  for (const c of cases) {
    const p = join(root, `${String(c.id)}.json`);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, JSON.stringify(c, null, 2));
  }
  mkdirSync(root, { recursive: true });
  return root;
}

export async function runCases(
  cases: GoldenCase[],
  adapter: (() => Adapter) | TransportFactory,
  extra: Partial<RunOptions> = {},
  isFactory = false,
): Promise<Report> {
  const dir = writeCases(cases);
  const { cases: loaded, invalid } = loadCases([dir]);
  return runSuite({
    factory: isFactory ? (adapter as TransportFactory) : inProcessFactory(adapter as () => Adapter),
    adapter: { kind: 'module', spec: 'test' },
    catalog: toyCatalog,
    cases: loaded,
    invalid,
    caseTimeoutMs: 5000,
    helloTimeoutMs: 5000,
    restartBudget: 5,
    bail: false,
    config: { command_line: ['conform', 'test'], cases: [dir] },
    ...extra,
  });
}

export function byId(report: Report, id: string): Report['cases'][number] {
  const c = report.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id} in the report`);
  return c;
}

/** A minimal valid case around steps. */
export function mkCase(id: string, steps: GoldenCase['steps'], more: Partial<GoldenCase> = {}): GoldenCase {
  return { id, title: `${id} holds`, clauses: ['TEST-1'], steps, ...more };
}
