/**
 * The stdio path end to end: `ioasid serve` (a real child process running bin/ioasid.mjs)
 * serving the toy adapter gives the same report as the toy in process, and the stdio server
 * answers malformed input with the JSON-RPC errors the protocol names.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { comparable, serveFactory } from './loopback.ts';
import { serveStdio } from './stdio-server.ts';
import { mkCase, runCases } from './testing/fixtures.ts';
import { createToyAdapter } from './testing/toy-adapter.ts';

const TOY = 'module:conformance/runner/testing/toy-adapter.ts';

const cases = [
  mkCase('ioas/ranges', [
    { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } },
    { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: '$ioas', allowed_iovas: { capacity: 2 } }, out: { num_iovas: 1, allowed_iovas: [{ start: 0, last: '0xffffffffffffffff' }] } },
  ]),
  mkCase('ioas/sweep', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' }, fail_nth: true }]),
  mkCase('ioas/fails', [{ op: 'IOMMU_DESTROY', arg: { id: 42 }, errno: 'EBUSY' }]),
  mkCase('ioas/unsupported', [{ op: 'IOMMU_IOAS_ALLOC' }], { requires: ['dirty'] }),
];

describe('loopback: in process and over stdio', () => {
  it('gives the same report through `ioasid serve` as in process', async () => {
    const direct = await runCases(cases, () => createToyAdapter());
    const piped = await runCases(cases, serveFactory(TOY), {}, true);
    expect(direct.cases.map((c) => c.result)).toEqual(['fail', 'pass', 'pass', 'unsupported']);
    // Each run wrote its cases to its own temporary folder: the file paths differ, nothing else may.
    const withoutPaths = (r: typeof direct) => ({ ...r, cases: r.cases.map(({ path: _p, ...c }) => c) });
    expect(comparable(withoutPaths(piped))).toEqual(comparable(withoutPaths(direct)));
  });
});

describe('stdio server', () => {
  it('answers garbage, non-requests and unknown methods with JSON-RPC errors, then shuts down', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const lines: unknown[] = [];
    output.on('data', (b: Buffer) => b.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))));
    const done = serveStdio(createToyAdapter(), input, output);
    input.write('{nope\n');
    input.write('{"jsonrpc":"2.0","id":1}\n');
    input.write('{"jsonrpc":"2.0","id":2,"method":"frobnicate","params":{}}\n');
    input.write('{"jsonrpc":"2.0","id":3,"method":"test","params":{"op":"NOPE","arg":{}}}\n');
    input.write('{"jsonrpc":"2.0","id":4,"method":"open","params":{}}\n');
    input.write('{"jsonrpc":"2.0","id":5,"method":"shutdown","params":{}}\n');
    input.write('{"jsonrpc":"2.0","id":6,"method":"open","params":{}}\n');
    await done;
    expect(lines).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringMatching(/^parse error/) } },
      { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'not a JSON-RPC 2.0 request' } },
      { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'unknown method frobnicate' } },
      { jsonrpc: '2.0', id: 3, error: { code: -32601, message: 'toy adapter: no hook NOPE' } },
      { jsonrpc: '2.0', id: 4, result: { fd: 3 } },
      { jsonrpc: '2.0', id: 5, result: {} },
    ]);
  });
});

describe('loopback: the reference on golden cases', () => {
  it('gives the same results in process and through `ioasid serve` (every 6th golden case)', async () => {
    const { DEFAULT_CASES_DIR, loadCases } = await import('./case-loader.ts');
    const { loadCatalog } = await import('./catalog-source.ts');
    const { referenceAdapterFactory } = await import('./adapter-spec.ts');
    const { inProcessFactory } = await import('./in-process.ts');
    const { runSuite } = await import('./run.ts');
    const catalog = await loadCatalog();
    const cases = loadCases([DEFAULT_CASES_DIR]).cases.filter((_, i) => i % 6 === 0);
    expect(cases.length).toBeGreaterThan(50);
    const run = async (factory: Parameters<typeof runSuite>[0]['factory']) => runSuite({
      factory, catalog, cases, invalid: [], adapter: { kind: 'reference', spec: 'reference' },
      caseTimeoutMs: 30_000, helloTimeoutMs: 30_000, restartBudget: 0, bail: false,
      config: { command_line: ['conform'], cases: [DEFAULT_CASES_DIR] },
    });
    const direct = await run(inProcessFactory(await referenceAdapterFactory(catalog)));
    const piped = await run(serveFactory('reference'));
    expect(direct.smoke.ok).toBe(true);
    expect(comparable(piped)).toEqual(comparable(direct));
  });
});
