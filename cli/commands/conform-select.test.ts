/**
 * `ioasid conform` as a newcomer uses it: positional selectors, --clause, --last-failed, a
 * --cases typo, report folders per adapter, --quiet; and `ioasid repro` with its replay script.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runConform } from './conform.ts';
import repro from './repro.ts';
import { defaultReportDir, rerunCommand } from '../../conformance/runner/report-dir.ts';
import { mkCase, tempDir, writeCases } from '../../conformance/runner/testing/fixtures.ts';
import { toyCatalog } from '../../conformance/runner/testing/toy-catalog.ts';
import { validateReport } from '../../conformance/runner/schemas.ts';

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

const deps = { loadCatalog: async () => toyCatalog };
const adapter = 'module:conformance/runner/testing/toy-adapter.ts';
const alloc = [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }];
const destroy = (errno: string) => [{ op: 'IOMMU_DESTROY', arg: { id: 9 }, errno }];
function suite() {
  const dir = tempDir();
  const cases = writeCases([
    mkCase('hwpt/nested/a', alloc, { clauses: ['HWPT-NEST-1'] }),
    mkCase('hwpt/nested/b', destroy('ENOENT'), { clauses: ['HWPT-NEST-2'] }),
    mkCase('hwpt/paging/c', destroy('EBUSY'), { clauses: ['HWPT-PAGING-1'] }),
    mkCase('ioas/map/d', alloc, { clauses: ['IOAS-MAP-1', 'HWPT-NEST-2'] }),
  ], dir);
  return { dir, cases, read: (p: string) => JSON.parse(readFileSync(join(dir, p, 'report.json'), 'utf8')) };
}
const ids = (r: { cases: { id: string }[] }) => r.cases.map((c) => c.id);

describe('conform selects like the tools users know', () => {
  it('positional ids, id prefixes (with or without /) and globs; one that selects nothing is a usage error', async () => {
    const s = suite();
    const run = (out: string, ...sel: string[]) => runConform(['--adapter', adapter, '--cases', s.cases, '--report', join(s.dir, out), '--format', 'json', '--quiet', ...sel], deps);
    expect(await run('p1', 'hwpt/nested/')).toBe(0);
    expect(ids(s.read('p1'))).toEqual(['hwpt/nested/a', 'hwpt/nested/b']);
    expect(s.read('p1').run.select).toEqual(['hwpt/nested/']);
    expect(await run('p2', 'ioas/map/d', 'hwpt/*/b')).toBe(0);
    expect(ids(s.read('p2'))).toEqual(['hwpt/nested/b', 'ioas/map/d']);
    expect(await run('p3', 'hwpt/nested/x')).toBe(2);
    expect(err).toMatch(/hwpt\/nested\/x selects no case \(of 4\) \(did you mean hwpt\/nested\/a or hwpt\/nested\/b\?\)/);
    expect(existsSync(join(s.dir, 'p3'))).toBe(false);
  });

  it('--clause takes the cases citing a clause; an uncited clause is a usage error', async () => {
    const s = suite();
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', join(s.dir, 'c'), '--format', 'json', '--clause', 'HWPT-NEST-2'], deps)).toBe(0);
    expect(ids(s.read('c'))).toEqual(['hwpt/nested/b', 'ioas/map/d']);
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', join(s.dir, 'c2'), '--clause', 'HWPT-NEST-9'], deps)).toBe(2);
    expect(err).toMatch(/--clause HWPT-NEST-9: no case cites it \(did you mean HWPT-NEST-1 or HWPT-NEST-2\?\)/);
  });

  it('--last-failed re-runs what failed in the folder\'s last run and folds it back into that report', async () => {
    const s = suite();
    const r = join(s.dir, 'r');
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', r, '--format', 'json,md'], deps)).toBe(1);
    const first = s.read('r');
    expect(first.cases.filter((c: { result: string }) => c.result === 'fail').map((c: { id: string }) => c.id)).toEqual(['hwpt/paging/c']);
    expect(first.cases.find((c: { id: string }) => c.id === 'hwpt/paging/c').rerun).toBe(`npx ioasid repro hwpt/paging/c --adapter ${adapter} --cases ${s.cases}`);
    expect(readFileSync(join(r, 'report.md'), 'utf8')).toContain(`- Re-run: \`npx ioasid repro hwpt/paging/c --adapter ${adapter} --cases ${s.cases}\``);
    // Fix the case; --last-failed runs it alone, and the folder's report still holds all four.
    writeFileSync(join(s.cases, 'hwpt', 'paging', 'c.json'), JSON.stringify(mkCase('hwpt/paging/c', destroy('ENOENT'), { clauses: ['HWPT-PAGING-1'] })));
    err = '';
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', r, '--format', 'json', '--last-failed'], deps)).toBe(0);
    expect(err).toMatch(/--last-failed: 1 case\(s\) that failed in /);
    const second = s.read('r');
    expect(validateReport(second)).toEqual([]);
    expect(second.cases.map((c: { result: string }) => c.result)).toEqual(['pass', 'pass', 'pass', 'pass']);
    expect(second.summary.by_result.pass).toBe(4);
    expect(second.run.last_failed).toBe(join(r, 'report.json'));
    // Nothing failed now: nothing to run, and the good report is left as it is.
    const before = readFileSync(join(r, 'report.json'), 'utf8');
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', r, '--last-failed'], deps)).toBe(0);
    expect(err).toMatch(/nothing failed in .*; nothing to run, nothing written/);
    expect(readFileSync(join(r, 'report.json'), 'utf8')).toBe(before);
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', join(s.dir, 'none'), '--last-failed'], deps)).toBe(2);
    expect(err).toMatch(/--last-failed: no report\.json in /);
  });
});

describe('conform never loses a good report', () => {
  it('a --cases path that does not exist is a usage error that writes nothing', async () => {
    const s = suite();
    const r = join(s.dir, 'r');
    expect(await runConform(['--adapter', adapter, '--cases', join(s.dir, 'casse'), '--report', r], deps)).toBe(2);
    expect(err).toMatch(/--cases .*casse: no such file or folder/);
    expect(existsSync(r)).toBe(false);
  });
  it('a run that ran no case keeps the folder\'s report with results as report.previous.json', async () => {
    const s = suite();
    const r = join(s.dir, 'r');
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', r, '--format', 'json', '--quiet'], deps)).toBe(1);
    const good = readFileSync(join(r, 'report.json'), 'utf8');
    const BROKEN = join(import.meta.dirname, '..', '..', 'conformance', 'runner', 'testing', 'broken-adapter.mjs');
    expect(await runConform(['--adapter', `stdio:${JSON.stringify(process.execPath)} ${JSON.stringify(BROKEN)} rpc-error hello`, '--cases', s.cases, '--report', r, '--format', 'json'], deps)).toBe(2);
    expect(readFileSync(join(r, 'report.previous.json'), 'utf8')).toBe(good);
    expect(JSON.parse(readFileSync(join(r, 'report.json'), 'utf8')).cases).toEqual([]);
    expect(err).toContain(`the folder's previous report, which has results, is kept as ${join(r, 'report.previous.json')}`);
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', r, '--last-failed'], deps)).toBe(2);
    expect(err).toMatch(/--last-failed: the last run in .* ran no case \(broken adapter: hello: /);
  });
  it('the default report folder is derived from the --adapter value: different adapters, different folders', () => {
    expect(defaultReportDir('reference')).toBe(join('reports', 'reference'));
    expect(defaultReportDir('reference', 'skip-pin')).toBe(join('reports', 'reference-mutant-skip-pin'));
    const py = defaultReportDir("stdio:python3 conformance/adapters/python/ioas_adapter.py");
    expect(py).toMatch(/^reports\/ioas_adapter-[0-9a-f]{8}$/);
    expect(defaultReportDir('stdio:python3 other/ioas_adapter.py')).not.toBe(py);
    expect(defaultReportDir('module:./my-adapter.ts')).toMatch(/^reports\/my-adapter-[0-9a-f]{8}$/);
    expect(defaultReportDir('stdio:./fake --verbose')).toMatch(/^reports\/fake-[0-9a-f]{8}$/);
    expect(rerunCommand('a/b', { adapter: "stdio:python3 it's.py" })).toBe(`npx ioasid repro a/b --adapter 'stdio:python3 it'\\''s.py'`);
  });
  it('prints one line per case only with --verbose; by default only the cases that failed', async () => {
    const s = suite();
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', join(s.dir, 'd'), '--format', 'json'], deps)).toBe(1);
    expect(err).toContain('running 4 case(s)');
    expect(err).not.toMatch(/\] pass /);
    expect(err).toMatch(/\[\d\/4\] fail hwpt\/paging\/c: /);
    err = '';
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', join(s.dir, 'v'), '--format', 'json', '--verbose'], deps)).toBe(1);
    expect(err.match(/^\[\d\/4\] /gm)).toHaveLength(4);
  });
  it('--quiet prints only the summary', async () => {
    const s = suite();
    expect(await runConform(['--adapter', adapter, '--cases', s.cases, '--report', join(s.dir, 'q'), '--format', 'json', '--quiet'], deps)).toBe(1);
    expect(err.trim().split('\n')).toEqual([expect.stringMatching(/^toy 0\.0\.1: 3 pass, 1 fail/), expect.stringMatching(/^reports: /)]);
  });
});

describe('conform while waiting', () => {
  it('says what it waits for when the adapter\'s hello is slow', async () => {
    const BROKEN = join(import.meta.dirname, '..', '..', 'conformance', 'runner', 'testing', 'broken-adapter.mjs');
    const s = suite();
    const spec = `stdio:${JSON.stringify(process.execPath)} ${JSON.stringify(BROKEN)} slow-hello`;
    expect(await runConform(['--adapter', spec, '--cases', s.cases, '--report', join(s.dir, 'slow'), '--hello-timeout', '1500', '--format', 'json'], deps)).toBe(2);
    expect(err).toContain(`waiting for ${spec}'s hello (up to 1500 ms)…`);
    expect(err).toMatch(/broken adapter: hello: no answer to hello within 1500 ms/);
  });
});

describe('npm ci', () => {
  it('every dependency with an install script is decided in package.json allowScripts (no warning on npm ci)', () => {
    const root = join(import.meta.dirname, '..', '..');
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([k]) => k.replace(/^.*node_modules\//, ''));
    expect(withScripts.length).toBeGreaterThan(0);
    expect(withScripts.filter((name) => !(name in (pkg.allowScripts ?? {})))).toEqual([]);
  });
});

describe('ioasid repro', () => {
  const BROKEN = join(import.meta.dirname, '..', '..', 'conformance', 'runner', 'testing', 'broken-adapter.mjs');
  const stdio = (mode: string, trigger = 'IOMMU_IOAS_MAP') => `${JSON.stringify(process.execPath)} ${JSON.stringify(BROKEN)} ${mode} ${trigger}`;
  it('prints each compiled step next to its calls and answers, and writes a replay script that runs without ioasid', async () => {
    const dir = tempDir();
    const cases = writeCases([mkCase('ioas/x', [...alloc, { op: 'IOMMU_DESTROY', label: 'gone', arg: { id: 9 }, errno: 'ENOENT' }])], dir);
    const script = join(dir, 'replay.py');
    expect(await repro.run(['ioas/x', '--adapter', `stdio:${stdio('ok')}`, '--cases', cases, '--script', script])).toBe(1);
    expect(out).toContain('step 0 IOMMU_IOAS_ALLOC — expects success, out {"out_ioas_id":"$i"}');
    expect(out).toContain('  compiled ioctl IOMMU_IOAS_ALLOC {"size":12,"flags":0,"out_ioas_id":0} (context 1)');
    expect(out).toMatch(/ {2}captured \$i = 1\n/);
    expect(out).toContain('step 1 (gone) IOMMU_DESTROY — expects ENOENT');
    expect(out).toMatch(/→ ioctl IOMMU_DESTROY \{"fd":\d+,"cmd":"IOMMU_DESTROY","arg":\{"id":9,"size":8\}\}\n {2}← \{"ret":0,/);
    expect(out).toContain('result: fail — step 1 (gone) IOMMU_DESTROY: expected ENOENT, got success');
    // The script replays the whole conversation against the same adapter: every answer matches.
    const same = spawnSync('python3', [script], { encoding: 'utf8' });
    expect(same.stdout).toMatch(/^>> \{"jsonrpc": "2.0", "id": 1, "method": "hello"/);
    expect(same.stdout).toMatch(/\d+ request\(s\), 0 answer\(s\) differ from the recorded run\n$/);
    expect(same.status).toBe(0);
    // Against an adapter that answers DESTROY with a JSON-RPC error, the difference is marked.
    const other = spawnSync('python3', [script, stdio('rpc-error', 'IOMMU_DESTROY')], { encoding: 'utf8' });
    expect(other.stdout).toMatch(/<< \{"jsonrpc":"2.0","id":\d+,"error":\{"code":-32601,"message":"no IOMMU_DESTROY here"\}\}\n!! the recorded run got \{"result": \{"ret": 0/);
    expect(other.status).toBe(1);
    expect(readdirSync(dir)).toContain('replay.py');
    expect(execFileSync('python3', ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', script]).toString()).toBe('');
  });
  it('names an unknown case id with the closest ones', async () => {
    const dir = tempDir();
    const cases = writeCases([mkCase('ioas/alloc-basic', alloc)], dir);
    expect(await repro.run(['ioas/alloc-basik', '--cases', cases])).toBe(2);
    expect(err).toMatch(/no case 'ioas\/alloc-basik' in .* \(did you mean ioas\/alloc-basic\?\)/);
  });
});
