/**
 * The selftest ledger against the case corpus, in both directions (see selftests-ledger.ts), and
 * the checker itself on small ledgers that break each rule once, so that a green run means the
 * rules were applied, not skipped.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import spec from '../cli/commands/spec.ts';
import { DEFAULT_CASES_DIR, loadCases } from './runner/case-loader.ts';
import { checkLedger, fixtureInstances, loadLedger, renderLedger, summarizeLedger, type CaseSource } from './selftests-ledger.ts';
import type { SelftestLedger } from '../schemas/generated/selftests.ts';

const ledger = loadLedger();
const corpus: CaseSource[] = loadCases([DEFAULT_CASES_DIR]).cases.map((c) => ({ id: c.case.id, source: c.case.source }));

describe('conformance/selftests.json', () => {
  it('is consistent with the golden cases (ported ⇔ cited, every source listed, the exact instance list)', () => {
    expect(checkLedger(ledger, corpus)).toEqual([]);
  });

  it('declares the fixtures of both selftest files', () => {
    const stems = ledger.fixtures.map((f) => (f.id_prefix ? `${f.id_prefix}.${f.name}` : f.name));
    expect(stems).toEqual([
      'iommufd',
      'change_process',
      'iommufd_ioas',
      'iommufd_mock_domain',
      'iommufd_dirty_tracking',
      'vfio_compat_mock_domain',
      'iommufd_viommu',
      'iommufd_device_pasid',
      'iommufd_fail_nth.basic_fail_nth',
    ]);
  });
});

/** A two-fixture ledger: one without variants, one with two. */
function tiny(): SelftestLedger {
  return {
    sources: [{ file: 'a.c', repo: 'o/r', commit: '0'.repeat(40) }],
    fixtures: [
      { name: 'plain', file: 'a.c', variants: [], tests: ['t1'] },
      { name: 'fx', file: 'a.c', variants: ['v1', 'v2'], tests: ['t1', 't2'] },
    ],
    instances: [
      { id: 'plain.t1', status: 'ported' },
      { id: 'fx.v1.t1', status: 'ported' },
      { id: 'fx.v2.t1', status: 'pending', by: 'someone' },
      { id: 'fx.v1.t2', status: 'not-ported', reason: 'because' },
      { id: 'fx.v2.t2', status: 'not-ported', reason: 'because' },
    ],
  };
}
const tinyCases: CaseSource[] = [
  { id: 'a/one', source: 'plain.t1' },
  { id: 'a/two', source: 'fx.v1.t1' },
  { id: 'a/three' },
];

describe('checkLedger', () => {
  it('expands variants as the harness does: fixture.test without variants, fixture.variant.test with', () => {
    const [plain, fx] = tiny().fixtures;
    expect(fixtureInstances(plain!)).toEqual(['plain.t1']);
    expect(fixtureInstances(fx!)).toEqual(['fx.v1.t1', 'fx.v2.t1', 'fx.v1.t2', 'fx.v2.t2']);
    expect(fixtureInstances({ name: 'basic_fail_nth', file: 'a.c', id_prefix: 'iommufd_fail_nth', variants: [], tests: ['map_domain'] })).toEqual([
      'iommufd_fail_nth.basic_fail_nth.map_domain',
    ]);
  });

  it('accepts a consistent ledger, with or without cases for a pending instance', () => {
    expect(checkLedger(tiny(), tinyCases)).toEqual([]);
    expect(checkLedger(tiny(), [...tinyCases, { id: 'a/four', source: 'fx.v2.t1' }])).toEqual([]);
  });

  it('reports a ported instance that no case cites', () => {
    expect(checkLedger(tiny(), tinyCases.slice(1))).toEqual(['plain.t1: marked ported but no case cites it']);
  });

  it('reports a not-ported instance that a case cites', () => {
    expect(checkLedger(tiny(), [...tinyCases, { id: 'a/x', source: 'fx.v1.t2' }])).toEqual(['fx.v1.t2: marked not-ported but cited by a/x']);
  });

  it('reports a case source that is not an instance', () => {
    expect(checkLedger(tiny(), [...tinyCases, { id: 'a/x', source: 'fx.t1' }])).toEqual(['a/x: source fx.t1 is not in the ledger']);
  });

  it('reports missing, extra, repeated and reordered instances', () => {
    const missing = tiny();
    missing.instances.pop();
    expect(checkLedger(missing, tinyCases)).toEqual(['fx.v2.t2: instance of the selftests missing from the ledger']);

    const extra = tiny();
    extra.instances.push({ id: 'fx.v3.t1', status: 'not-ported', reason: 'x' });
    expect(checkLedger(extra, tinyCases)).toEqual(['fx.v3.t1: not an instance of the declared fixtures']);

    const twice = tiny();
    twice.instances.push({ id: 'plain.t1', status: 'ported' });
    expect(checkLedger(twice, tinyCases)).toEqual(['plain.t1: listed twice']);

    const reordered = tiny();
    reordered.instances.reverse();
    expect(checkLedger(reordered, tinyCases)).toEqual(['instances are not in the harness order (fixtures in order, then tests, then variants)']);
  });

  it('reports a fixture whose file is not a source', () => {
    const l = tiny();
    l.fixtures[0]!.file = 'b.c';
    expect(checkLedger(l, tinyCases)).toEqual(['fixture plain: file b.c is not among the sources']);
  });
});

describe('summarizeLedger / renderLedger', () => {
  it('counts per fixture and lists the not-ported instances with reasons', () => {
    const s = summarizeLedger(tiny(), tinyCases);
    expect(s.fixtures).toEqual([
      { fixture: 'plain', ported: 1, pending: 0, notPorted: 0, total: 1 },
      { fixture: 'fx', ported: 1, pending: 1, notPorted: 2, total: 4 },
    ]);
    expect(s.totals).toEqual({ ported: 2, pending: 1, notPorted: 2, total: 5 });
    expect(s.pending).toEqual([{ id: 'fx.v2.t1', by: 'someone' }]);
    const text = renderLedger(s);
    expect(text).toContain('fx.v1.t2: because');
    expect(text).toMatch(/^total\s+2\s+1\s+2\s+5$/m);
    expect(text).not.toContain('ledger problems');
    expect(renderLedger(summarizeLedger(tiny(), []))).toContain('ledger problems (2):');
  });
});

describe('ioasid spec selftests', () => {
  it('prints the counts and exits 0 on the repository, 1 on a ledger the cases contradict, 2 on a bad flag', async () => {
    let out = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'ledger-'));
      expect(await spec.run(['selftests', '--json', join(dir, 's.json')])).toBe(0);
      expect(out).toMatch(/^iommufd_dirty_tracking\s+\d+/m);
      const written = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8')) as { totals: { total: number }; problems: string[] };
      expect(written.totals.total).toBe(ledger.instances.length);
      expect(written.problems).toEqual([]);

      const broken = loadLedger();
      const first = broken.instances.findIndex((i) => i.status === 'ported');
      broken.instances[first] = { id: broken.instances[first]!.id, status: 'not-ported', reason: 'test' };
      writeFileSync(join(dir, 'broken.json'), JSON.stringify(broken));
      expect(await spec.run(['selftests', '--ledger', join(dir, 'broken.json')])).toBe(1);
      expect(out).toContain('marked not-ported but cited by');
      expect(await spec.run(['selftests', '--report', dir])).toBe(2);
    } finally {
      write.mockRestore();
      quiet.mockRestore();
    }
  });
});
