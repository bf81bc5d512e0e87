/**
 * Per-case overhead of the stdio transport against in-process, measured in the same run on
 * the same cases: the embedded reference with the golden cases when both (and the catalog) are
 * available, else the runner's toy adapter on synthetic cases. Per-case time is the sum of the
 * case durations the runner records (adapter start-up excluded), divided by the case count.
 * `quick` runs fewer cases / repetitions.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, DEFAULT_CASES_DIR, loadCases } from '../conformance/runner/case-loader.ts';
import { loadCatalog } from '../conformance/runner/catalog-source.ts';
import { inProcessFactory } from '../conformance/runner/in-process.ts';
import { serveFactory } from '../conformance/runner/loopback.ts';
import { referenceAdapterFactory } from '../conformance/runner/adapter-spec.ts';
import { runSuite } from '../conformance/runner/run.ts';
import { createToyAdapter } from '../conformance/runner/testing/toy-adapter.ts';
import { toyCatalog } from '../conformance/runner/testing/toy-catalog.ts';
import { writeCases } from '../conformance/runner/testing/fixtures.ts';
import type { UapiCatalog } from '../schemas/lib/catalog-types.ts';
import type { Adapter } from '../schemas/lib/adapter.ts';
import type { LoadedCase, Report } from '../conformance/runner/types.ts';
import type { TransportFactory } from '../conformance/runner/transport.ts';

function syntheticCases(count: number): LoadedCase[] {
  const cases = Array.from({ length: count }, (_, i) => ({
    id: `bench/case-${String(i).padStart(4, '0')}`,
    title: 'alloc, list ranges, map, check refs, destroy',
    clauses: ['BENCH-1'],
    steps: [
      { op: 'MMAP', arg: { length: '0x4000' }, out: { addr: '$buf' } },
      { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } },
      { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: '$ioas', allowed_iovas: { capacity: 2 } }, out: { num_iovas: 1 } },
      { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$ioas', flags: ['FIXED_IOVA', 'READABLE'], user_va: '$buf', length: '0x4000', iova: '0x100000' } },
      { op: 'CHECK_REFS', arg: { addr: '$buf', length: '0x4000' }, out: { refs: [1, 1, 1, 1] } },
      { op: 'IOMMU_DESTROY', arg: { id: '$ioas' } },
    ],
  }));
  return loadCases([writeCases(cases)]).cases;
}

async function perCaseMs(factory: TransportFactory, catalog: UapiCatalog, cases: LoadedCase[]): Promise<{ ms: number; report: Report }> {
  const report = await runSuite({
    factory, catalog, cases, invalid: [], adapter: { kind: 'module', spec: 'bench' },
    caseTimeoutMs: 60_000, helloTimeoutMs: 60_000, restartBudget: 0, bail: false,
    config: { command_line: ['bench'], cases: [] },
  });
  const total = report.cases.reduce((s, c) => s + c.duration_ms, 0);
  return { ms: total / Math.max(1, report.cases.length), report };
}

export async function benchStdio(opts: { quick?: boolean } = {}): Promise<Record<string, number>> {
  let catalog: UapiCatalog = toyCatalog;
  let cases: LoadedCase[];
  let inProcess: TransportFactory;
  let stdio: TransportFactory;
  let usesReference = 0;
  try {
    if (!existsSync(join(REPO_ROOT, 'reference', 'adapter.ts')) || !existsSync(DEFAULT_CASES_DIR)) throw new Error('no reference');
    catalog = await loadCatalog();
    const make = await referenceAdapterFactory(catalog);
    cases = loadCases([DEFAULT_CASES_DIR]).cases;
    if (cases.length === 0) throw new Error('no cases');
    if (opts.quick) cases = cases.slice(0, 60);
    inProcess = inProcessFactory(make);
    stdio = serveFactory('reference');
    usesReference = 1;
  } catch {
    catalog = toyCatalog;
    cases = syntheticCases(opts.quick ? 60 : 400);
    inProcess = inProcessFactory((): Adapter => createToyAdapter());
    stdio = serveFactory('module:conformance/runner/testing/toy-adapter.ts');
  }
  // Warm-up of both paths (JIT, module loading), then the measured runs, interleaved.
  await perCaseMs(inProcess, catalog, cases.slice(0, 10));
  await perCaseMs(stdio, catalog, cases.slice(0, 10));
  const reps = opts.quick ? 1 : 2;
  let inMs = 0;
  let ioMs = 0;
  for (let i = 0; i < reps; i++) {
    inMs += (await perCaseMs(inProcess, catalog, cases)).ms;
    ioMs += (await perCaseMs(stdio, catalog, cases)).ms;
  }
  inMs /= reps;
  ioMs /= reps;
  return {
    per_case_ratio_stdio_vs_inprocess: ioMs / inMs,
    inprocess_ms_per_case: inMs,
    stdio_ms_per_case: ioMs,
    stdio_overhead_ms_per_case: ioMs - inMs,
    cases: cases.length,
    uses_reference: usesReference,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchStdio({ quick: process.argv.includes('--quick') }).then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k}: ${Number.isInteger(v) ? v : v.toFixed(4)}\n`);
  });
}
