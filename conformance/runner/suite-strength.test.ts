/**
 * The strength of the suite itself (issue #15, defect 6): every golden case is run against the
 * null adapter (testing/null-adapter.ts), which answers every call with a schema-valid success
 * and does nothing. A case it passes checks nothing an implementation must do — unless its note
 * says, in a sentence starting "Null adapter:", why doing nothing is the right answer there
 * (cases that check the absence of an effect). A note that says so of a case the null adapter
 * fails is stale, and fails too.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CASES_DIR, loadCases } from './case-loader.ts';
import { loadCatalog } from './catalog-source.ts';
import { inProcessFactory } from './in-process.ts';
import { runSuite } from './run.ts';
import { createNullAdapter } from './testing/null-adapter.ts';

const NULL_NOTE = /(^|\. )Null adapter: /;

describe('suite strength', () => {
  it('an adapter that does nothing passes no case, except those whose note says why it may', async () => {
    const catalog = await loadCatalog();
    const { cases, invalid } = loadCases([DEFAULT_CASES_DIR]);
    expect(invalid).toEqual([]);
    const report = await runSuite({
      factory: inProcessFactory(() => createNullAdapter()), catalog, cases, invalid, adapter: { kind: 'module', spec: 'null-adapter' },
      caseTimeoutMs: 60_000, helloTimeoutMs: 60_000, restartBudget: 0, bail: false, config: { command_line: ['conform'], cases: [DEFAULT_CASES_DIR] },
    });
    // The smoke check sees MEM_READ give back nothing it wrote: non-conforming, yet it speaks
    // the protocol, so the run goes on and every case is scored.
    expect(report.smoke.message).toMatch(/^non-conforming implementation: /);
    expect(report.completed).toBe(true);
    const noteOf = new Map(cases.map((lc) => [lc.case.id, lc.case.note ?? '']));
    const unexplained = report.cases.filter((c) => c.result === 'pass' && !NULL_NOTE.test(noteOf.get(c.id)!)).map((c) => c.id);
    const stale = report.cases.filter((c) => c.result !== 'pass' && NULL_NOTE.test(noteOf.get(c.id)!)).map((c) => `${c.id}: ${c.result}`);
    expect(unexplained).toEqual([]);
    expect(stale).toEqual([]);
    // Nothing is unsupported: the null adapter declares what the reference declares.
    expect(report.summary.by_result.unsupported).toBe(0);
  }, 120_000);
});
