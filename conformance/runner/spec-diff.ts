/**
 * `ioasid spec diff`: what changed between two versions of the specification, for a review
 * comment — the uAPI changes classified by schemas/lib/uapi-compat.ts, the spec clauses added,
 * removed and changed (paragraph text, whitespace ignored), and the golden cases that cite those
 * clauses (the cases a reviewer must look at, and that may have to change with the text).
 *
 * The result is the document spec-diff.schema.json describes; it is validated there before it
 * leaves the command. The verdict comes from the uAPI changes alone: a clause's text may change
 * behaviour, but no rule can judge prose, so clause changes are listed for the reviewer.
 */
import type { SpecDiff } from '../../schemas/generated/spec-diff.ts';
import { compareCatalogs, verdictOf, type ChangeKind } from '../../schemas/lib/uapi-compat.ts';
import type { CaseCitation, ClauseText, SpecSnapshot } from './spec-snapshot.ts';

export type { SpecDiff };

function citing(cases: readonly CaseCitation[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const c of cases) for (const id of c.clauses) by.set(id, [...(by.get(id) ?? []), c.id]);
  return by;
}

const squash = (s: string): string => s.replace(/\s+/g, ' ').trim();

export function diffSnapshots(oldS: SpecSnapshot, newS: SpecSnapshot, sides: { oldCommit?: string; newCommit?: string } = {}): SpecDiff {
  const changes = compareCatalogs(oldS.catalog, newS.catalog).map((c) => {
    // The old side broke a layout rule on this very item: the change corrects our schema.
    const name = c.path.replace(/^(struct|errno) /, '').split('.')[0];
    const broken = oldS.problems.some((p) => p.includes(`: ${name}:`) || p.includes(`: ${name}.`));
    return broken ? { ...c, detail: `${c.detail} — the old schema broke a layout rule here (see problems): a correction of the schema rather than of the uAPI` } : c;
  });
  const oldCiting = citing(oldS.cases);
  const newCiting = citing(newS.cases);
  const entry = (c: ClauseText, by: Map<string, string[]>) => ({ id: c.id, file: c.file, cases: [...(by.get(c.id) ?? [])].sort() });
  const added = [...newS.clauses.values()].filter((c) => !oldS.clauses.has(c.id)).map((c) => entry(c, newCiting));
  const removed = [...oldS.clauses.values()].filter((c) => !newS.clauses.has(c.id)).map((c) => entry(c, oldCiting));
  const changed = [...newS.clauses.values()]
    .filter((c) => oldS.clauses.has(c.id) && squash(oldS.clauses.get(c.id)!.paragraph) !== squash(c.paragraph))
    .map((c) => entry(c, newCiting));
  const impacted = new Set([...added, ...removed, ...changed].flatMap((c) => c.cases));
  return {
    format: 'ioasid-spec-diff',
    old: { label: oldS.label, ...(sides.oldCommit ? { commit: sides.oldCommit } : {}) },
    new: { label: newS.label, ...(sides.newCommit ? { commit: sides.newCommit } : {}) },
    verdict: verdictOf(changes),
    changes,
    clauses: { added, removed, changed },
    impacted_cases: [...impacted].sort(),
    problems: [...oldS.problems.map((p) => `old: ${p}`), ...newS.problems.map((p) => `new: ${p}`)],
  };
}

const KIND_TITLE: Record<ChangeKind, string> = {
  breaking: 'Breaking (binaries built against the old uAPI stop working)',
  source: 'Source-only (binaries unaffected; code, cases and adapters naming these must change)',
  compatible: 'Compatible',
};

/** At most `limit` items, then how many more. */
function capped(items: string[], limit: number): string {
  return items.length <= limit ? items.join(', ') : `${items.slice(0, limit).join(', ')} … (+${items.length - limit} more)`;
}

/**
 * Markdown for a review comment. `oldClauses` / `newClauses` (optional) let a changed clause
 * show its old and new paragraphs.
 */
export function renderSpecDiff(d: SpecDiff, texts?: { old: SpecSnapshot; new: SpecSnapshot }, opts: { headingLevel?: number; caseLimit?: number } = {}): string {
  const h = '#'.repeat(opts.headingLevel ?? 1);
  const limit = opts.caseLimit ?? 25;
  const count = (k: ChangeKind) => d.changes.filter((c) => c.kind === k).length;
  const out = [
    `${h} Spec diff: ${d.old.label} → ${d.new.label}`,
    '',
    `**Verdict: ${d.verdict}** — ${count('breaking')} breaking, ${count('source')} source-only, ${count('compatible')} compatible uAPI change(s); clauses: ${d.clauses.added.length} added, ${d.clauses.removed.length} removed, ${d.clauses.changed.length} changed; ${d.impacted_cases.length} impacted case(s).`,
  ];
  for (const k of ['breaking', 'source', 'compatible'] as const) {
    const list = d.changes.filter((c) => c.kind === k);
    if (list.length === 0) continue;
    out.push('', `${h}# ${KIND_TITLE[k]}`, '', '| rule | item | detail |', '|---|---|---|');
    for (const c of list) out.push(`| ${c.what} | \`${c.path}\` | ${c.detail.replace(/\|/g, '\\|')} |`);
  }
  const clauseSection = (title: string, list: SpecDiff['clauses']['added'], show?: (id: string) => string[]) => {
    if (list.length === 0) return;
    out.push('', `${h}# ${title}`, '');
    for (const c of list) {
      out.push(`- **${c.id}** (${c.file}) — ${c.cases.length ? `cited by ${capped(c.cases, limit)}` : 'cited by no case'}`);
      if (show) out.push(...show(c.id));
    }
  };
  clauseSection('Clauses added', d.clauses.added);
  clauseSection('Clauses removed', d.clauses.removed);
  clauseSection('Clauses changed', d.clauses.changed, texts ? (id) => {
    const before = texts.old.clauses.get(id)?.paragraph ?? '';
    const after = texts.new.clauses.get(id)?.paragraph ?? '';
    return ['', '  ```diff', ...before.split('\n').map((l) => `  - ${l}`), ...after.split('\n').map((l) => `  + ${l}`), '  ```'];
  } : undefined);
  if (d.impacted_cases.length > 0) {
    out.push('', `${h}# Impacted cases (${d.impacted_cases.length})`, '', capped(d.impacted_cases, limit * 4));
  }
  if (d.problems.length > 0) {
    out.push('', `${h}# Read with problems`, '', ...d.problems.slice(0, 20).map((p) => `- ${p}`));
    if (d.problems.length > 20) out.push(`- … (+${d.problems.length - 20} more)`);
  }
  return out.join('\n') + '\n';
}
