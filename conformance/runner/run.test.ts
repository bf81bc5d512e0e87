import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Adapter } from '../../schemas/lib/adapter.ts';
import { loadCases } from './case-loader.ts';
import { applyExpectation, parseExpectations } from './expectations.ts';
import { runFailed } from './run.ts';
import { SelectionError, parseShard, selectCases } from './select.ts';
import { byId, mkCase, runCases, writeCases } from './testing/fixtures.ts';
import { createToyAdapter, type ToyOptions } from './testing/toy-adapter.ts';
import type { CaseReport, Topology } from './types.ts';

const toy = (o: ToyOptions = {}) => () => createToyAdapter(o);
const alloc = { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } };
const mapAt = (iova: string, errno?: string) => ({
  op: 'IOMMU_IOAS_MAP',
  arg: { ioas_id: '$ioas', flags: ['FIXED_IOVA', 'READABLE'], user_va: '$buf', length: '0x2000', iova },
  ...(errno ? { errno } : {}),
});
const overlap = mkCase('ioas/map/overlap', [
  { op: 'MMAP', arg: { length: '0x4000' }, out: { addr: '$buf' } },
  alloc,
  mapAt('0x100000'),
  { ...mapAt('0x101000', 'EEXIST'), label: 'second-map' },
]);

describe('run loop verdicts', () => {
  it('passes a conforming case and fails a wrong errno with step, expected and actual', async () => {
    const good = await runCases([overlap], toy());
    expect(byId(good, 'ioas/map/overlap').result).toBe('pass');
    expect(runFailed(good)).toBe(false);
    const bad = await runCases([overlap], toy({ wrongOverlapErrno: true }));
    const c = byId(bad, 'ioas/map/overlap');
    expect(c.result).toBe('fail');
    expect(c.failure).toEqual({
      step: { index: 3, label: 'second-map', op: 'IOMMU_IOAS_MAP' },
      expected: { errno: 'EEXIST' },
      actual: { errno: 'EINVAL' },
      message: 'step 3 (second-map) IOMMU_IOAS_MAP: expected EEXIST, got EINVAL',
    });
    expect(runFailed(bad)).toBe(true);
  });

  it('accepts any errno of a list, and fails success where an errno was expected', async () => {
    const r = await runCases([
      mkCase('a/either', [alloc, { op: 'IOMMU_DESTROY', arg: { id: 99 }, errno: ['EINVAL', 'ENOENT'] }]),
      mkCase('a/unexpected-success', [alloc, { op: 'IOMMU_DESTROY', arg: { id: '$ioas' }, errno: 'ENOENT' }]),
    ], toy());
    expect(byId(r, 'a/either').result).toBe('pass');
    expect(byId(r, 'a/unexpected-success').failure).toMatchObject({ expected: { errno: 'ENOENT' }, actual: { ret: 0 } });
  });

  it('makes a case with a missing capability unsupported, counting the hooks its steps use', async () => {
    const r = await runCases([
      mkCase('a/needs-dma', [alloc], { requires: ['ioas', 'test:dma'] }),
      mkCase('a/uses-refs', [{ op: 'CHECK_REFS', arg: { addr: 0, length: 4096 }, out: { refs: [0] } }]),
    ], toy({ capabilities: ['ioas', 'test:mem'] }));
    expect(byId(r, 'a/needs-dma')).toMatchObject({ result: 'unsupported', missing: ['test:dma'] });
    expect(byId(r, 'a/uses-refs')).toMatchObject({ result: 'unsupported', missing: ['test:refs'], requires: ['test:refs'] });
    expect(runFailed(r)).toBe(false);
  });

  it('never passes a case without steps or without any comparison', async () => {
    const r = await runCases([
      mkCase('a/empty', []),
      mkCase('a/no-assertion', [{ op: 'MMAP', arg: { length: 4096 }, out: { addr: '$b' } }]),
    ], toy());
    expect(byId(r, 'a/empty')).toMatchObject({ result: 'invalid', message: 'case error: the case has no steps' });
    expect(byId(r, 'a/no-assertion')).toMatchObject({ result: 'invalid', message: expect.stringMatching(/no step compared anything/) });
  });

  it('fails a case that leaks pins past close, where STATE is offered', async () => {
    const steps = [{ op: 'MMAP', arg: { length: '0x4000' }, out: { addr: '$buf' } }, alloc, mapAt('0x100000')];
    const clean = await runCases([mkCase('a/map', steps)], toy());
    expect(byId(clean, 'a/map').result).toBe('pass');
    const leaky = await runCases([mkCase('a/map', steps)], toy({ leakOnClose: true }));
    expect(byId(leaky, 'a/map')).toMatchObject({
      result: 'fail',
      failure: { step: { op: 'STATE', label: 'leak-check' }, message: 'leak: after every context was closed, 2 pinned frame(s), user_locked_pages 2 remained' },
    });
    const noState = await runCases([mkCase('a/map', steps)], toy({ leakOnClose: true, capabilities: ['ioas', 'test:mem'] }));
    expect(byId(noState, 'a/map').result).toBe('pass');
  });

  it('expands fail_nth into the injection sweep, checking each failure is clean', async () => {
    const sweep = mkCase('a/sweep', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' }, fail_nth: true }, { op: 'IOMMU_DESTROY', arg: { id: '$ioas' } }]);
    const clean = await runCases([sweep], toy());
    // Two allocation points fail (n = 1, 2); the third attempt does not reach n and is the real call.
    expect(byId(clean, 'a/sweep')).toMatchObject({ result: 'pass', fail_nth: { steps: 1, attempts: 3 } });
    const dirty = await runCases([sweep], toy({ dirtyFailNth: true }));
    expect(byId(dirty, 'a/sweep')).toMatchObject({
      result: 'fail',
      failure: { step: { index: 0, fail_nth: 2 }, message: 'step 0 IOMMU_IOAS_ALLOC [fail_nth=2]: state changed after the injected failure failed the call' },
    });
    // An adapter that offers test:fail-nth but never injects tested no error path: not a pass.
    const inert = await runCases([sweep], toy({ ignoreFailNth: true }));
    expect(byId(inert, 'a/sweep')).toMatchObject({ result: 'fail', fail_nth: { steps: 1, attempts: 1 }, message: expect.stringMatching(/no attempt reached an injection point/) });
    const without = await runCases([sweep], toy({ dirtyFailNth: true, capabilities: ['ioas', 'test:mem', 'test:state'] }));
    expect(byId(without, 'a/sweep')).toMatchObject({ result: 'pass' });
    expect(byId(without, 'a/sweep').fail_nth).toBeUndefined();
  });

  it('sends world only when the topology changes or the last case did not pass', async () => {
    const calls: string[] = [];
    const counting = (): Adapter => {
      const a = createToyAdapter();
      return { ...a, world: async (p) => { calls.push(JSON.stringify(p.topology.bridges)); return a.world(p); } };
    };
    const t1: Topology = { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [] };
    await runCases([
      mkCase('a/1', [alloc], { topology: t1 }),
      mkCase('a/2', [alloc], { topology: t1 }),
      mkCase('a/3', [alloc]),
      mkCase('a/4', [{ op: 'IOMMU_DESTROY', arg: { id: 77 } }]),
      mkCase('a/5', [alloc]),
    ], counting);
    // smoke (empty) → a/1 (t1) → a/2 same → a/3 empty → a/4 same, fails → a/5 rebuilt.
    expect(calls).toEqual(['[]', JSON.stringify(t1.bridges), '[]', '[]']);
  });

  it('opens a context on first use, CLOSE included, and a second context by its number', async () => {
    const calls: string[] = [];
    const tracing = (): Adapter => {
      const a = createToyAdapter();
      return {
        ...a,
        open: async (p) => { const r = await a.open(p); calls.push(`open ${r.fd}`); return r; },
        close: async (p) => { calls.push(`close ${p.fd}`); return a.close(p); },
      };
    };
    const r = await runCases([mkCase('a/ctx', [
      { op: 'CLOSE' },
      { op: 'IOMMU_IOAS_ALLOC', fd: 2, out: { out_ioas_id: 1 } },
      { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: 1 } },
    ])], tracing);
    expect(byId(r, 'a/ctx').result).toBe('pass');
    // After the smoke check (open 3, close 3): ctx 1 opened and closed by CLOSE, ctx 2, ctx 1 again; the rest closed at the end.
    expect(calls.slice(2)).toEqual(['open 4', 'close 4', 'open 5', 'open 6', 'close 5', 'close 6']);
  });

  it('stops after the first failure with --bail', async () => {
    const r = await runCases([mkCase('a/1', [{ op: 'IOMMU_DESTROY', arg: { id: 5 } }]), mkCase('a/2', [alloc])], toy(), { bail: true });
    expect(r.completed).toBe(false);
    expect(r.abort_reason).toMatch(/--bail: a\/1 ended fail/);
    expect(r.cases).toHaveLength(1);
    expect(r.summary.not_run).toBe(1);
  });
});

describe('invalid case files', () => {
  it('are reported with path, pointer and rule, and the others still load', () => {
    const dir = writeCases([
      mkCase('a/good', [alloc]),
      { id: 'a/bad-errno', title: 't', clauses: ['TEST-1'], steps: [{ op: 'IOMMU_DESTROY', errno: 'einval' }] },
      { id: 'a/wrong-id-here', title: 't', clauses: ['TEST-1'], steps: [] },
      { id: 'a/unknown-cap', title: 't', clauses: ['TEST-1'], requires: ['teleport'], steps: [] },
      { id: 'a/no-topology', title: 't', clauses: ['TEST-1'], topology: 'nowhere', steps: [] },
    ]);
    writeFileSync(join(dir, 'a', 'wrong-id-here.json'), JSON.stringify({ id: 'a/other', title: 't', clauses: ['TEST-1'], steps: [] }));
    writeFileSync(join(dir, 'a', 'broken.json'), '{ not json');
    const { cases, invalid } = loadCases([dir]);
    expect(cases.map((c) => c.case.id)).toEqual(['a/good']);
    const byPath = Object.fromEntries(invalid.map((i) => [i.path.split('/').pop(), i]));
    expect(byPath['bad-errno.json']).toMatchObject({ pointer: '/steps/0/errno', rule: expect.stringMatching(/^case\.schema\.json /) });
    expect(byPath['wrong-id-here.json']).toMatchObject({ rule: 'id-is-path' });
    expect(byPath['unknown-cap.json']).toMatchObject({ rule: 'known-capability', message: expect.stringMatching(/teleport/) });
    expect(byPath['no-topology.json']).toMatchObject({ rule: 'known-topology' });
    expect(byPath['broken.json']).toMatchObject({ rule: 'json' });
  });

  it('make the run fail but do not stop it', async () => {
    const dir = writeCases([mkCase('a/good', [alloc]), { id: 'a/bad', title: 't', clauses: ['lower-1'], steps: [] }]);
    const { cases, invalid } = loadCases([dir]);
    expect(cases).toHaveLength(1);
    const r = await runCases([mkCase('a/good', [alloc])], toy(), { invalid });
    expect(r.cases[0].result).toBe('pass');
    expect(r.invalid_cases).toHaveLength(1);
    expect(runFailed(r)).toBe(true);
  });
});

describe('expectations', () => {
  const text = `# known problems of the toy
ioas/map/*      fail   overlap errno, bug 12
a/flaky         skip
`;
  const list = parseExpectations(text);
  const base: CaseReport = { id: 'ioas/map/overlap', title: 't', area: 'ioas', clauses: [], requires: [], result: 'fail', duration_ms: 1 };

  it('parses lines and rejects malformed ones with file and line', () => {
    expect(list).toEqual([
      { pattern: 'ioas/map/*', expect: 'fail', reason: 'overlap errno, bug 12', line: 2 },
      { pattern: 'a/flaky', expect: 'skip', line: 3 },
    ]);
    expect(() => parseExpectations('x/y maybe', 'exp.txt')).toThrow(/^exp\.txt:1: /);
  });
  it('turns a listed failure into expected fail and a listed pass into unexpected pass', () => {
    expect(applyExpectation(base, list[0])).toMatchObject({ result: 'expected fail', outcome: 'fail', expectation: { pattern: 'ioas/map/*' } });
    expect(applyExpectation({ ...base, result: 'crash' }, list[0])).toMatchObject({ result: 'expected fail', outcome: 'crash' });
    // An adapter answering outside the protocol, or an unusable case, is never an expected failure.
    expect(applyExpectation({ ...base, result: 'error' }, list[0]).result).toBe('error');
    expect(applyExpectation({ ...base, result: 'invalid' }, list[0]).result).toBe('invalid');
    expect(applyExpectation({ ...base, result: 'pass' }, list[0])).toMatchObject({ result: 'unexpected pass', outcome: 'pass' });
    expect(applyExpectation({ ...base, result: 'unsupported' }, list[0]).result).toBe('unsupported');
  });
  it('applies during a run: skip is not run, and an unexpected pass fails the run', async () => {
    const r = await runCases([overlap, mkCase('a/flaky', [alloc])], toy(), { expectations: list });
    expect(byId(r, 'a/flaky')).toMatchObject({ result: 'skipped', duration_ms: 0 });
    expect(byId(r, 'ioas/map/overlap').result).toBe('unexpected pass');
    expect(runFailed(r)).toBe(true);
    const r2 = await runCases([overlap], toy({ wrongOverlapErrno: true }), { expectations: list });
    expect(byId(r2, 'ioas/map/overlap').result).toBe('expected fail');
    expect(runFailed(r2)).toBe(false);
  });
  it('follows renames: a line naming the old id matches the new one', async () => {
    const r = await runCases([overlap], toy({ wrongOverlapErrno: true }), {
      expectations: parseExpectations('ioas/old-overlap fail'),
      renames: new Map([['ioas/old-overlap', 'ioas/map/overlap']]),
    });
    expect(byId(r, 'ioas/map/overlap').result).toBe('expected fail');
  });
});

describe('selection', () => {
  const dir = writeCases([
    mkCase('ioas/map/a', [alloc], { requires: ['ioas'] }),
    mkCase('ioas/map/b', [alloc], { requires: ['ioas', 'dirty'] }),
    mkCase('ioas/unmap/c', [alloc]),
    mkCase('hwpt/d', [alloc], { requires: ['hwpt'] }),
    mkCase('hwpt/e', [{ op: 'CHECK_REFS', arg: { addr: 0, length: 1 } }]),
  ]);
  const { cases } = loadCases([dir]);
  const ids = (sel: Parameters<typeof selectCases>[1]) => selectCases(cases, sel).map((c) => c.case.id);

  it('filters by glob and by folder prefix; a filter selecting nothing is an error', () => {
    expect(ids({ filter: ['ioas/*/a', 'hwpt'] })).toEqual(['hwpt/d', 'hwpt/e', 'ioas/map/a']);
    expect(ids({ filter: ['**/c'] })).toEqual(['ioas/unmap/c']);
    expect(ids({ filter: ['ioas/m?p/b'] })).toEqual(['ioas/map/b']);
    expect(() => ids({ filter: ['nope/*'] })).toThrow(SelectionError);
  });
  it('selects by required features, implicit hook capabilities included', () => {
    expect(ids({ requires: ['ioas'] })).toEqual(['ioas/map/a', 'ioas/map/b']);
    expect(ids({ skipFeatures: ['dirty', 'test:refs'] })).toEqual(['hwpt/d', 'ioas/map/a', 'ioas/unmap/c']);
  });
  it('splits into disjoint shards that cover everything', () => {
    const all = ids({});
    const shards = [1, 2, 3].map((i) => ids({ shard: { index: i, count: 3 } }));
    expect(shards.flat().sort()).toEqual(all);
    expect(new Set(shards.flat()).size).toBe(all.length);
    expect(shards.map((s) => s.length)).toEqual([2, 2, 1]);
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(() => parseShard('4/3')).toThrow(SelectionError);
    expect(() => parseShard('0/3')).toThrow(SelectionError);
  });
});
