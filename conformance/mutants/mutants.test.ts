/**
 * Proves the golden cases catch bugs: each mutant of registry.ts is seeded into the reference
 * and the cases of its areas are run; at least one case must *fail* (a compared value or errno
 * differs — not merely a crash of the reference's own self-checks), and every catching case
 * must pass on the unmutated reference, so the failure is the mutant's doing. Mutants listed in
 * KNOWN_GAPS are bugs the suite does not catch yet: the test asserts they still slip through,
 * so it turns red (move the entry out) as soon as a case for the missing clause lands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfileUnit } from '../../reference/iommu/profile-unit.ts';
import { PagingDomain } from '../../reference/iommufd/domain.ts';
import { AccessObject } from '../../reference/iommufd/access.ts';
import { Accounting } from '../../reference/iommufd/accounting.ts';
import { IommufdContext } from '../../reference/iommufd/context.ts';
import { IoPagetable } from '../../reference/iommufd/io-pagetable.ts';
import { PageTable } from '../../reference/formats/page-table.ts';
import { ObjectTable } from '../../reference/iommufd/objects.ts';
import { FaultObject } from '../../reference/iommufd/fault.ts';
import { IoptPages } from '../../reference/iommufd/pages.ts';
import { ProcessMemory } from '../../reference/machine/process-memory.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { DEFAULT_CASES_DIR, loadCases } from '../runner/case-loader.ts';
import { loadCatalog } from '../runner/catalog-source.ts';
import { selectCases } from '../runner/select.ts';
import type { CaseReport, LoadedCase } from '../runner/types.ts';
import type { Mutant } from './mutant.ts';
import { Patches, patchMethod } from './patch.ts';
import { getMutant, listMutants } from './registry.ts';
import { runMutant, withMutant } from './run-mutant.ts';

/** Mutants no case catches by behaviour today, with the clause that lacks a case. */
const KNOWN_GAPS: Record<string, string> = {
};

const PATCHED_CLASSES: Array<{ prototype: object; name: string }> = [
  IoPagetable, IommufdContext, ObjectTable, IoptPages, Accounting, AccessObject, ProcessMemory, ProfileUnit, PagingDomain, FaultObject,
].map((c) => ({ prototype: c.prototype as object, name: c.name }))
  // Format mutants patch the static PageTable.create (format-patch.ts).
  .concat([{ prototype: PageTable as object, name: 'PageTable(static)' }]);

function methodSnapshot(): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const c of PATCHED_CLASSES) {
    for (const k of Object.getOwnPropertyNames(c.prototype)) {
      const d = Object.getOwnPropertyDescriptor(c.prototype, k)!;
      out.set(`${c.name}.${k}`, d.value ?? d.get);
    }
  }
  return out;
}

let catalog: UapiCatalog;
let all: LoadedCase[];
const baseline = new Map<string, CaseReport['result']>();
const table: string[] = [];

beforeAll(async () => {
  catalog = await loadCatalog();
  all = loadCases([DEFAULT_CASES_DIR]).cases;
  const run = await runMutant(null, { catalog, cases: all, bail: false });
  for (const c of run.report.cases) baseline.set(c.id, c.result);
});

afterAll(() => {
  if (table.length > 0) console.log(`mutant → catching cases\n${table.join('\n')}`);
});

describe('patch', () => {
  class Box {
    value(): number {
      return 1;
    }
  }

  it('swaps a prototype method and restores the very same function', () => {
    const before = Box.prototype.value;
    const undo = patchMethod(Box.prototype, 'value', (orig) => function (this: Box) {
      return (orig.call(this) as number) + 41;
    });
    expect(new Box().value()).toBe(42);
    undo();
    expect(Box.prototype.value).toBe(before);
    expect(new Box().value()).toBe(1);
  });

  it('undoes what it patched when installation fails half-way, and refuses a missing method', () => {
    const before = Box.prototype.value;
    expect(() => Patches.install((p) => {
      p.method(Box.prototype, 'value', () => () => 7);
      p.method(Box.prototype, 'noSuchMethod', () => () => 0);
    })).toThrow(/Box\.noSuchMethod is not a method/);
    expect(Box.prototype.value).toBe(before);
  });

  it('runs one mutant at a time and restores it when the run throws', async () => {
    const m = getMutant('ids-not-reused');
    const before = methodSnapshot();
    await expect(withMutant(m, async () => {
      await expect(withMutant(getMutant('unmap-keeps-pins'), async () => 0)).rejects.toThrow(/still installed/);
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(methodSnapshot()).toEqual(before);
  });
});

describe('registry', () => {
  it('has at least 12 mutants with unique names, a model, clauses and areas', () => {
    const ms = listMutants();
    expect(ms.length).toBeGreaterThanOrEqual(12);
    expect(new Set(ms.map((m) => m.name)).size).toBe(ms.length);
    for (const m of ms) {
      expect(m.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(m.models.length).toBeGreaterThan(10);
      expect(m.violates.length).toBeGreaterThan(0);
      for (const c of m.violates) expect(c).toMatch(/^[A-Z]+(-[A-Z]+)*-[0-9]+$/);
      expect(m.install !== undefined || m.wrapAdapter !== undefined).toBe(true);
    }
    expect(() => getMutant('no-such-bug')).toThrow(/known: /);
  });

  it('the baseline run passes the cases the mutants are judged by', () => {
    expect(baseline.size).toBe(all.length);
    expect([...baseline.values()].filter((r) => r === 'pass').length).toBeGreaterThan(all.length * 0.9);
  });
});

describe('every mutant fails at least one golden case', () => {
  it.each(listMutants().map((m) => [m.name, m] as [string, Mutant]))('%s', async (_name, m) => {
    const before = methodSnapshot();
    const cases = selectCases(all, { filter: [...m.areas] }).filter((c) => baseline.get(c.case.id) === 'pass');
    expect(cases.length).toBeGreaterThan(0);
    const run = await runMutant(m, { catalog, cases, bail: false });
    expect(methodSnapshot()).toEqual(before);
    expect(run.report.cases.length).toBe(cases.length);
    const failed = run.caught.filter((c) => c.result === 'fail');
    for (const c of run.caught) expect(baseline.get(c.id)).toBe('pass');
    const gap = KNOWN_GAPS[m.name];
    const others = run.caught.length - failed.length;
    table.push(`${m.name}: ${failed.length > 0 ? failed.slice(0, 3).map((c) => c.id).join(', ') + (failed.length > 3 ? ` (+${failed.length - 3})` : '') : 'NOT CAUGHT'}${others > 0 ? ` [${others} other failing]` : ''}`);
    if (gap !== undefined) {
      expect(failed.map((c) => c.id), `finding: ${gap}. A case now catches it: move ${m.name} out of KNOWN_GAPS`).toEqual([]);
    } else {
      expect(failed.length, `${m.name} (${m.models}) slipped through ${cases.length} cases`).toBeGreaterThan(0);
    }
  });

  it('a mutant leaves no trace: the reference passes its cases again afterwards', async () => {
    const m = getMutant('unmap-partial-succeeds');
    const cases = selectCases(all, { filter: [...m.areas] }).filter((c) => baseline.get(c.case.id) === 'pass');
    expect((await runMutant(m, { catalog, cases, bail: false })).caught.length).toBeGreaterThan(0);
    expect((await runMutant(null, { catalog, cases, bail: false })).caught).toEqual([]);
  });
});
