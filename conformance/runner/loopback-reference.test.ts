/**
 * The whole golden suite against the embedded reference, in process and through `ioasid serve`
 * over stdio: the two reports must be identical but for timings (issue #4's loopback proof
 * that the stdio transport loses nothing).
 */
import { describe, expect, it } from 'vitest';
import { createReferenceAdapter } from '../../reference/adapter.ts';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { DEFAULT_CASES_DIR, loadCases } from './case-loader.ts';
import { inProcessFactory } from './in-process.ts';
import { comparable, serveFactory } from './loopback.ts';
import { runSuite } from './run.ts';
import type { TransportFactory } from './transport.ts';

async function run(factory: TransportFactory, kind: 'reference' | 'stdio') {
  const { cases, invalid } = loadCases([DEFAULT_CASES_DIR]);
  return runSuite({
    factory,
    adapter: { kind, spec: kind },
    catalog: getCatalog(),
    cases,
    invalid,
    caseTimeoutMs: 30_000,
    helloTimeoutMs: 30_000,
    restartBudget: 0,
    bail: false,
    config: { command_line: ['conform'], cases: [DEFAULT_CASES_DIR] },
  });
}

describe('loopback on the whole suite', () => {
  it('gives the same report in process and through ioasid serve', async () => {
    // In process the reference also checks its invariants after every call (reference/invariants.ts).
    const direct = await run(inProcessFactory(() => createReferenceAdapter(undefined, { checkInvariants: true })), 'reference');
    const piped = await run(serveFactory('reference'), 'stdio');
    expect(direct.completed).toBe(true);
    expect(direct.cases.length).toBeGreaterThan(600);
    expect(direct.summary.by_result.pass).toBe(direct.cases.length);
    expect(comparable(piped)).toEqual(comparable(direct));
  }, 120_000);
});
