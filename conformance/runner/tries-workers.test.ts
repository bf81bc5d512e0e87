/**
 * --repeat, --retries (flaky), --workers and --transcript at the run-loop level, against the
 * toy adapter; and the re-run command every failing case carries.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inProcessFactory } from './in-process.ts';
import { stdioFactory } from './stdio.ts';
import { runFailed } from './run.ts';
import { byId, mkCase, runCases, tempDir } from './testing/fixtures.ts';
import { createToyAdapter, type ToyOptions } from './testing/toy-adapter.ts';
import { validateReport } from './schemas.ts';

const toy = (o: ToyOptions = {}) => () => createToyAdapter(o);
const destroyMissing = mkCase('a/destroy-missing', [{ op: 'IOMMU_DESTROY', arg: { id: 9 }, errno: 'ENOENT' }]);
const alloc = mkCase('a/alloc', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]);

// The smoke check's IOMMU_DESTROY is the adapter's destroy call 1; the case's tries are 2, 3, …
describe('--repeat and --retries', () => {
  it('a case that passes on some tries only is flaky, with every try listed, and does not fail the run', async () => {
    const r = await runCases([destroyMissing], toy({ wrongDestroyOnCalls: [3] }), { repeat: 3 });
    const c = byId(r, 'a/destroy-missing');
    expect(c.result).toBe('flaky');
    expect(c.attempts).toEqual(['pass', 'fail', 'pass']);
    expect(c.message).toMatch(/^passed 2 of 3 tries \(pass, fail, pass\); first fail: step 0 IOMMU_DESTROY: expected ENOENT, got EINVAL/);
    expect(c.failure?.actual).toEqual({ errno: 'EINVAL' });
    expect(r.summary.by_result.flaky).toBe(1);
    expect(runFailed(r)).toBe(false);
    expect(validateReport(r)).toEqual([]);
  });
  it('retries stop at the first pass; a case that never passes stays fail', async () => {
    const once = await runCases([destroyMissing], toy({ wrongDestroyOnCalls: [2] }), { retries: 3 });
    expect(byId(once, 'a/destroy-missing')).toMatchObject({ result: 'flaky', attempts: ['fail', 'pass'] });
    const never = await runCases([destroyMissing], toy({ wrongDestroyOnCalls: [2, 3, 4] }), { retries: 2 });
    expect(byId(never, 'a/destroy-missing')).toMatchObject({ result: 'fail', attempts: ['fail', 'fail', 'fail'] });
    expect(runFailed(never)).toBe(true);
    const steady = await runCases([destroyMissing], toy(), { repeat: 2 });
    expect(byId(steady, 'a/destroy-missing')).toMatchObject({ result: 'pass', attempts: ['pass', 'pass'] });
    expect(byId(steady, 'a/destroy-missing').message).toBeUndefined();
  });
});

describe('--workers', () => {
  it('runs the cases on several adapter instances and reports them in id order, as one worker does', async () => {
    let made = 0;
    const factory = inProcessFactory(() => {
      made++;
      return createToyAdapter();
    });
    const cases = Array.from({ length: 7 }, (_, i) => (i % 2 ? mkCase(`w/c${i}`, destroyMissing.steps) : mkCase(`w/c${i}`, alloc.steps)));
    const one = await runCases(cases, toy());
    const three = await runCases(cases, factory, { workers: 3 }, true);
    expect(made).toBe(3);
    expect(three.cases.map((c) => [c.id, c.result])).toEqual(one.cases.map((c) => [c.id, c.result]));
    expect(three.summary).toEqual(one.summary);
  });
});

describe('--workers over stdio', () => {
  it('runs stdio adapter processes side by side with the results of one', async () => {
    const BROKEN = join(import.meta.dirname, 'testing', 'broken-adapter.mjs');
    let started = 0;
    const plain = stdioFactory(`${JSON.stringify(process.execPath)} ${JSON.stringify(BROKEN)} ok`);
    const factory = async () => {
      started++;
      return plain();
    };
    const cases = Array.from({ length: 6 }, (_, i) => mkCase(`s/c${i}`, alloc.steps));
    const r = await runCases(cases, factory, { workers: 2 }, true);
    expect(started).toBe(2);
    expect(r.cases.map((c) => [c.id, c.result])).toEqual(cases.map((c) => [c.id, 'pass']));
    expect(r.run.restarts).toBe(0);
  });
});

describe('--transcript and the re-run command', () => {
  it('writes each case\'s requests and responses as JSON lines, and a failing case carries its re-run command', async () => {
    const dir = tempDir();
    const r = await runCases([alloc, destroyMissing], toy({ wrongDestroyOnCalls: [2] }), {
      transcriptDir: dir,
      rerun: (id) => `npx ioasid repro ${id} --adapter x`,
    });
    expect(byId(r, 'a/alloc').rerun).toBeUndefined();
    expect(byId(r, 'a/destroy-missing').rerun).toBe('npx ioasid repro a/destroy-missing --adapter x');
    const file = join(dir, 'transcripts', 'a', 'destroy-missing.jsonl');
    expect(existsSync(file)).toBe(true);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // open, ioctl, close (the world is the previous case's): a request and its response each.
    expect(lines.map((l) => l.method ?? (l.result !== undefined ? 'result' : 'other'))).toEqual(['open', 'result', 'ioctl', 'result', 'close', 'result']);
    expect(lines[2]).toMatchObject({ jsonrpc: '2.0', id: 2, method: 'ioctl', params: { cmd: 'IOMMU_DESTROY', arg: { id: 9 } } });
    expect(lines[3]).toEqual({ jsonrpc: '2.0', id: 2, result: { errno: 'EINVAL' } });
    expect(existsSync(join(dir, 'transcripts', 'a', 'alloc.jsonl'))).toBe(true);
  });
});
