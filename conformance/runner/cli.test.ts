/**
 * The sub-commands this runner provides (list, spec, report, conform, serve), called through
 * their Command objects with output captured: exit statuses, files written, usage errors.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import conform from '../../cli/commands/conform.ts';
import list from '../../cli/commands/list.ts';
import report from '../../cli/commands/report.ts';
import serve from '../../cli/commands/serve.ts';
import spec from '../../cli/commands/spec.ts';
import { main } from '../../cli/main.ts';
import { fixedReport } from './reporters/fixed-report.ts';
import { validateReport } from './schemas.ts';
import { mkCase, tempDir, writeCases } from './testing/fixtures.ts';

let out = '';
let err = '';
beforeEach(() => {
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('ioasid list', () => {
  it('prints the cases as JSON with the capabilities their hooks need', async () => {
    const dir = writeCases([mkCase('ioas/a', [{ op: 'CHECK_REFS', arg: { addr: 0, length: 4096 } }], { requires: ['ioas'], source: 'iommufd_ioas.x' })]);
    expect(await list.run(['--cases', dir])).toBe(0);
    expect(JSON.parse(out)).toEqual([
      { id: 'ioas/a', title: 'ioas/a holds', clauses: ['TEST-1'], requires: ['ioas', 'test:refs'], topology: null, steps: 1, source: 'iommufd_ioas.x', file: expect.stringMatching(/cases\/ioas\/a\.json$/) },
    ]);
  });
  it('selects like conform: positional ids, prefixes and globs, --clause', async () => {
    const dir = writeCases([mkCase('ioas/a', [{ op: 'IOMMU_IOAS_ALLOC' }], { clauses: ['X-1'] }), mkCase('ioas/b', [{ op: 'IOMMU_IOAS_ALLOC' }], { clauses: ['X-2'] }), mkCase('hwpt/c', [{ op: 'IOMMU_IOAS_ALLOC' }], { clauses: ['X-2'] })]);
    expect(await list.run(['--cases', dir, 'ioas/'])).toBe(0);
    expect(JSON.parse(out).map((c: { id: string }) => c.id)).toEqual(['ioas/a', 'ioas/b']);
    out = '';
    expect(await list.run(['--cases', dir, '--clause', 'X-2', '*/c'])).toBe(0);
    expect(JSON.parse(out).map((c: { id: string }) => c.id)).toEqual(['hwpt/c']);
    expect(await list.run(['--cases', join(dir, 'nope')])).toBe(2);
  });
  it('names invalid case files on stderr and exits 1', async () => {
    const dir = writeCases([{ id: 'ioas/bad', title: 'x', clauses: [], steps: [] }]);
    expect(await list.run(['--cases', dir])).toBe(1);
    expect(err).toMatch(/invalid case .*ioas\/bad\.json at \/clauses: must NOT have fewer than 1 items \[case\.schema\.json minItems/);
  });
});

describe('ioasid spec coverage', () => {
  it('exits 1 on an uncovered clause and 0 when every clause has a case', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'spec'));
    writeFileSync(join(dir, 'spec', 'a.md'), '**A-1.** One.\n\n**A-2.** Two.\n');
    const cases = writeCases([mkCase('a/x', [], { clauses: ['A-1'] })], dir);
    expect(await spec.run(['coverage', '--spec', join(dir, 'spec'), '--cases', cases, '--json', join(dir, 'cov.json')])).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, 'cov.json'), 'utf8')).uncovered).toEqual(['A-2']);
    writeFileSync(join(dir, 'spec', 'a.md'), '**A-1.** One.\n');
    expect(await spec.run(['coverage', '--spec', join(dir, 'spec'), '--cases', cases])).toBe(0);
    expect(await spec.run(['clauses'])).toBe(2);
  });
});

describe('ioasid report', () => {
  it('renders, diffs and merges', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.json');
    writeFileSync(a, JSON.stringify(fixedReport));
    expect(await report.run(['render', a, '--report', join(dir, 'out'), '--format', 'md,ktap'])).toBe(0);
    expect(readFileSync(join(dir, 'out', 'report.ktap'), 'utf8')).toMatch(/^KTAP version 1\n1\.\.9\n/);
    expect(existsSync(join(dir, 'out', 'report.html'))).toBe(false);

    const worse = structuredClone(fixedReport);
    worse.cases[4] = { ...worse.cases[4], result: 'fail', message: 'now broken' };
    const b = join(dir, 'b.json');
    writeFileSync(b, JSON.stringify(worse));
    expect(await report.run(['diff', a, b, '--json', join(dir, 'diff.json')])).toBe(1);
    expect(out).toContain('- ioas/alloc/basic: pass → fail — now broken');
    expect(JSON.parse(readFileSync(join(dir, 'diff.json'), 'utf8')).regressions).toHaveLength(1);
    expect(await report.run(['diff', a, a])).toBe(0);
    expect(err).not.toContain('ran no case');
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, JSON.stringify({ ...fixedReport, completed: false, abort_reason: 'broken adapter: hello', cases: [] }));
    await report.run(['diff', a, empty]);
    expect(err).toContain(`ioasid report diff: warning: ${empty} ran no case (broken adapter: hello); the diff compares nothing with it`);

    expect(await report.run(['merge', a, '--json', join(dir, 'merged.json')])).toBe(1); // the fixed report has failures
    expect(validateReport(JSON.parse(readFileSync(join(dir, 'merged.json'), 'utf8')))).toEqual([]);
  });
  it('refuses a file that is not a report, naming the rule', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.json'), '{"format":"other"}');
    expect(await report.run(['render', join(dir, 'x.json')])).toBe(2);
    expect(err).toMatch(/x\.json: not a report \(report\.schema\.json\)/);
    expect(await report.run(['frobnicate'])).toBe(2);
  });
});

describe('ioasid conform usage errors', () => {
  const dir = writeCases([mkCase('ioas/a', [{ op: 'IOMMU_IOAS_ALLOC' }])]);
  it('exits 2 on a filter that selects nothing, a bad shard, an unknown format or flag', async () => {
    expect(await conform.run(['--cases', dir, '--filter', 'nope/*'])).toBe(2);
    expect(err).toMatch(/--filter nope\/\* selects no case/);
    expect(await conform.run(['--cases', dir, '--shard', '3/2'])).toBe(2);
    expect(await conform.run(['--cases', dir, '--format', 'pdf'])).toBe(2);
    expect(await conform.run(['--frobnicate'])).toBe(2);
    expect(await conform.run(['--cases', dir, '--timeout', 'soon'])).toBe(2);
  });
  it('answers --help on every command this runner provides', async () => {
    for (const name of ['conform', 'serve', 'report', 'list', 'spec']) {
      out = '';
      expect(await main([name, '--help'])).toBe(0);
      expect(out).toMatch(new RegExp(`^usage: ioasid ${name}`));
    }
    expect(serve.usage).toContain('JSON-RPC 2.0');
    for (const name of ['repro', 'expectations']) {
      out = '';
      expect(await main([name, '--help'])).toBe(0);
      expect(out).toMatch(new RegExp(`^usage: ioasid ${name}`));
    }
  });
  it('the registry loads every command lazily, and its summaries are the commands\' own', async () => {
    const { commands } = await import('../../cli/commands/index.ts');
    for (const entry of commands) {
      const c = await entry.load();
      expect([c.name, c.summary]).toEqual([entry.name, entry.summary]);
    }
  });
  it('answers --version with the package version, the commit and the rules version', async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(await main(['--version'])).toBe(0);
    expect(out).toMatch(new RegExp(`^ioasid ${pkg.version.replace(/\./g, '\\.')}( \\([0-9a-f]{12}\\))?, protocol 1, interpreting 2\n$`));
  });
});

describe('ioasid conform end to end (toy adapter module, toy catalog)', () => {
  it('runs, writes every format and exits by the results', async () => {
    const { runConform } = await import('../../cli/commands/conform.ts');
    const { toyCatalog } = await import('./testing/toy-catalog.ts');
    const deps = { loadCatalog: async () => toyCatalog };
    const dir = tempDir();
    const cases = writeCases([
      mkCase('ioas/alloc', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]),
      mkCase('ioas/destroy-missing', [{ op: 'IOMMU_DESTROY', arg: { id: 9 }, errno: 'ENOENT' }]),
    ], dir);
    const adapter = 'module:conformance/runner/testing/toy-adapter.ts';
    expect(await runConform(['--adapter', adapter, '--cases', cases, '--report', join(dir, 'r'), '--json', join(dir, 'x', 'r.json')], deps)).toBe(0);
    for (const f of ['report.json', 'report.md', 'report.html', 'report.junit.xml', 'report.ktap']) expect(existsSync(join(dir, 'r', f))).toBe(true);
    const r = JSON.parse(readFileSync(join(dir, 'x', 'r.json'), 'utf8'));
    expect(validateReport(r)).toEqual([]);
    expect(r.implementation).toEqual({ name: 'toy', version: '0.0.1' });
    expect(r.run.adapter).toEqual({ kind: 'module', spec: adapter });
    expect(r.cases.map((c: { result: string }) => c.result)).toEqual(['pass', 'pass']);
    expect(err).toContain('toy 0.0.1: 2 pass, 0 fail');

    const exp = join(dir, 'known.txt');
    writeFileSync(exp, 'ioas/alloc fail  pretend it is broken\n');
    expect(await runConform(['--adapter', adapter, '--cases', cases, '--report', join(dir, 'r2'), '--expectations', exp, '--format', 'json'], deps)).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, 'r2', 'report.json'), 'utf8')).summary.by_result['unexpected pass']).toBe(1);

    const broken = `stdio:${JSON.stringify(process.execPath)} ${JSON.stringify(join(import.meta.dirname, 'testing', 'broken-adapter.mjs'))} rpc-error hello`;
    expect(await runConform(['--adapter', broken, '--cases', cases, '--report', join(dir, 'r3')], deps)).toBe(2);
    expect(err).toMatch(/broken adapter: hello: JSON-RPC error -32601/);
  });
});

describe('shards end to end', () => {
  it('two shards merged give the results of one whole run', async () => {
    const { runConform } = await import('../../cli/commands/conform.ts');
    const { toyCatalog } = await import('./testing/toy-catalog.ts');
    const deps = { loadCatalog: async () => toyCatalog };
    const dir = tempDir();
    const cases = writeCases([
      mkCase('a/one', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]),
      mkCase('a/two', [{ op: 'IOMMU_DESTROY', arg: { id: 9 }, errno: 'ENOENT' }]),
      mkCase('b/three', [{ op: 'IOMMU_DESTROY', arg: { id: 9 }, errno: 'EBUSY' }]),
      mkCase('b/four', [{ op: 'IOMMU_IOAS_ALLOC' }], { requires: ['dirty'] }),
      mkCase('c/five', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: 1 } }]),
    ], dir);
    const adapter = 'module:conformance/runner/testing/toy-adapter.ts';
    const common = ['--adapter', adapter, '--cases', cases, '--format', 'json'];
    expect(await runConform([...common, '--report', join(dir, 'all')], deps)).toBe(1);
    expect(await runConform([...common, '--report', join(dir, 's1'), '--shard', '1/2'], deps)).toBe(0);
    expect(await runConform([...common, '--report', join(dir, 's2'), '--shard', '2/2'], deps)).toBe(1);
    const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
    const s1 = read(join(dir, 's1', 'report.json'));
    const s2 = read(join(dir, 's2', 'report.json'));
    expect(s1.cases.length + s2.cases.length).toBe(5);
    expect(await report.run(['merge', join(dir, 's1', 'report.json'), join(dir, 's2', 'report.json'), '--json', join(dir, 'merged.json')])).toBe(1);
    const merged = read(join(dir, 'merged.json'));
    const all = read(join(dir, 'all', 'report.json'));
    const results = (r: { cases: { id: string; result: string }[] }) => r.cases.map((c) => [c.id, c.result]);
    expect(results(merged)).toEqual(results(all));
    expect(merged.summary).toEqual(all.summary);
    expect(merged.completed).toBe(true);
    // One shard alone merges into an incomplete run.
    expect(await report.run(['merge', join(dir, 's1', 'report.json'), '--json', join(dir, 'half.json')])).toBe(1);
    expect(read(join(dir, 'half.json'))).toMatchObject({ completed: false, abort_reason: 'shard(s) 2/2 missing' });
  });
});
