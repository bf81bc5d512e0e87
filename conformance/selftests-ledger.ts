/**
 * The selftest coverage ledger (conformance/selftests.json, schema schemas/selftests.schema.json):
 * which instances of the kernel's iommufd selftests the golden cases port. It owns three rules:
 *
 * - the instance list is exactly the harness's expansion of the declared fixtures — every TEST_F
 *   once per FIXTURE_VARIANT_ADD of its fixture, `fixture.variant.test`, or `fixture.test` for a
 *   fixture without variants — in that order, each id once;
 * - `ported` means at least one case cites the id in `source`, `not-ported` means none does;
 *   `pending` (another helper is porting it) may or may not have cases yet;
 * - every `source` a case gives is an instance of the ledger.
 *
 * Checking never throws on a bad ledger or corpus: it returns one line per problem.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIssues, validateBySchemaId } from '../schemas/lib/validate.ts';
import type { Instance, SelftestLedger } from '../schemas/generated/selftests.ts';
import { REPO_ROOT } from './runner/case-loader.ts';

export const DEFAULT_LEDGER_PATH = join(REPO_ROOT, 'conformance', 'selftests.json');

type Fixture = SelftestLedger['fixtures'][number];
type Status = Instance['status'];

/** A case as far as the ledger cares: its id and the selftest it names, if any. */
export interface CaseSource {
  id: string;
  source?: string;
}

export interface FixtureCounts {
  fixture: string;
  ported: number;
  pending: number;
  notPorted: number;
  total: number;
}

export interface LedgerSummary {
  fixtures: FixtureCounts[];
  totals: Omit<FixtureCounts, 'fixture'>;
  /** Pending instances with who ports them. */
  pending: { id: string; by: string }[];
  /** Not-ported instances with their reason. */
  notPorted: { id: string; reason: string }[];
  /** Problems of the ledger against the cases; empty when it is consistent. */
  problems: string[];
}

/** Reads and schema-checks a ledger file; throws with every schema issue when it is invalid. */
export function loadLedger(path: string = DEFAULT_LEDGER_PATH): SelftestLedger {
  const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  const issues = validateBySchemaId('selftests.schema.json', value);
  if (issues) throw new Error(`${path} is not a valid selftest ledger:\n${formatIssues('  ', issues).join('\n')}`);
  return value as SelftestLedger;
}

/** The id prefix every instance of this fixture starts with. */
function fixtureStem(f: Fixture): string {
  return f.id_prefix ? `${f.id_prefix}.${f.name}` : f.name;
}

/** The harness's instances of one fixture, in its order: tests outer, variants inner. */
export function fixtureInstances(f: Fixture): string[] {
  const stem = fixtureStem(f);
  return f.tests.flatMap((t) => (f.variants.length === 0 ? [`${stem}.${t}`] : f.variants.map((v) => `${stem}.${v}.${t}`)));
}

/** Every problem of the ledger, against itself and against the cases' `source` fields. */
export function checkLedger(ledger: SelftestLedger, cases: readonly CaseSource[]): string[] {
  const problems: string[] = [];
  const files = new Set(ledger.sources.map((s) => s.file));
  for (const f of ledger.fixtures) if (!files.has(f.file)) problems.push(`fixture ${f.name}: file ${f.file} is not among the sources`);

  const expected = ledger.fixtures.flatMap(fixtureInstances);
  const listed = ledger.instances.map((i) => i.id);
  const seen = new Set<string>();
  for (const id of listed) {
    if (seen.has(id)) problems.push(`${id}: listed twice`);
    seen.add(id);
  }
  const expectedSet = new Set(expected);
  for (const id of expected) if (!seen.has(id)) problems.push(`${id}: instance of the selftests missing from the ledger`);
  for (const id of seen) if (!expectedSet.has(id)) problems.push(`${id}: not an instance of the declared fixtures`);
  if (problems.length === 0 && listed.join('\n') !== expected.join('\n')) {
    problems.push('instances are not in the harness order (fixtures in order, then tests, then variants)');
  }

  const citedBy = new Map<string, string[]>();
  for (const c of cases) {
    if (c.source === undefined) continue;
    const list = citedBy.get(c.source) ?? [];
    list.push(c.id);
    citedBy.set(c.source, list);
  }
  for (const [source, ids] of citedBy) {
    if (!seen.has(source)) problems.push(`${ids.join(', ')}: source ${source} is not in the ledger`);
  }
  for (const i of ledger.instances) {
    const by = citedBy.get(i.id) ?? [];
    if (i.status === 'ported' && by.length === 0) problems.push(`${i.id}: marked ported but no case cites it`);
    if (i.status === 'not-ported' && by.length > 0) problems.push(`${i.id}: marked not-ported but cited by ${by.join(', ')}`);
  }
  return problems;
}

/** Counts per fixture and overall, the pending and not-ported lists, and the problems. */
export function summarizeLedger(ledger: SelftestLedger, cases: readonly CaseSource[]): LedgerSummary {
  const fixtureOf = new Map<string, string>();
  for (const f of ledger.fixtures) for (const id of fixtureInstances(f)) fixtureOf.set(id, fixtureStem(f));
  const counts = new Map<string, FixtureCounts>();
  for (const f of ledger.fixtures) {
    const stem = fixtureStem(f);
    counts.set(stem, { fixture: stem, ported: 0, pending: 0, notPorted: 0, total: 0 });
  }
  const totals = { ported: 0, pending: 0, notPorted: 0, total: 0 };
  const bump = (c: Omit<FixtureCounts, 'fixture'>, s: Status): void => {
    c.total++;
    if (s === 'ported') c.ported++;
    else if (s === 'pending') c.pending++;
    else c.notPorted++;
  };
  const pending: LedgerSummary['pending'] = [];
  const notPorted: LedgerSummary['notPorted'] = [];
  for (const i of ledger.instances) {
    const c = counts.get(fixtureOf.get(i.id) ?? '');
    if (c) bump(c, i.status);
    bump(totals, i.status);
    if (i.status === 'pending') pending.push({ id: i.id, by: i.by });
    if (i.status === 'not-ported') notPorted.push({ id: i.id, reason: i.reason });
  }
  return { fixtures: [...counts.values()], totals, pending, notPorted, problems: checkLedger(ledger, cases) };
}

/** The summary as text: a table of counts per fixture, then the not-ported instances with reasons. */
export function renderLedger(s: LedgerSummary): string {
  const rows = [...s.fixtures.map((f) => [f.fixture, f.ported, f.pending, f.notPorted, f.total] as const), ['total', s.totals.ported, s.totals.pending, s.totals.notPorted, s.totals.total] as const];
  const width = Math.max(...rows.map((r) => r[0].length));
  const out = [`${'fixture'.padEnd(width)}  ported  pending  not-ported  total`];
  for (const [name, p, q, n, t] of rows) {
    out.push(`${name.padEnd(width)}  ${String(p).padStart(6)}  ${String(q).padStart(7)}  ${String(n).padStart(10)}  ${String(t).padStart(5)}`);
  }
  out.push('', `not ported (${s.notPorted.length}):`);
  for (const n of s.notPorted) out.push(`  ${n.id}: ${n.reason}`);
  if (s.problems.length > 0) {
    out.push('', `ledger problems (${s.problems.length}):`);
    for (const p of s.problems) out.push(`  ${p}`);
  }
  return `${out.join('\n')}\n`;
}
