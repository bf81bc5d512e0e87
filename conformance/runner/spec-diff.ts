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
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { definedEntries } from '../../schemas/lib/defined-entries.ts';
import { compareCatalogs, verdictOf, type ChangeKind, type UapiChange } from '../../schemas/lib/uapi-compat.ts';
import type { CaseCitation, ClauseText, SpecSnapshot } from './spec-snapshot.ts';

export type { SpecDiff };

function citing(cases: readonly CaseCitation[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const c of cases) for (const id of c.clauses) by.set(id, [...(by.get(id) ?? []), c.id]);
  return by;
}

const squash = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** The ioctls a change touches in a catalog: itself, the ioctls whose argument is the struct, or whose fields carry the set. */
function ioctlsTouched(c: UapiChange, cat: UapiCatalog): string[] {
  if (c.item === 'ioctl') return cat.ioctls.has(c.path) ? [c.path] : [];
  const name = c.path.replace(/^struct /, '').split('.')[0];
  const out: string[] = [];
  for (const i of cat.ioctls.values()) {
    if (i.struct === undefined) continue;
    if ((c.item === 'struct' || c.item === 'field') && i.struct === name) out.push(i.name);
    if ((c.item === 'enum' || c.item === 'value') && cat.structs.get(i.struct)?.fields.some((f) => f.flags === name || f.enum === name)) out.push(i.name);
  }
  return out;
}

/** Cases calling each ioctl that a breaking or source-only change touches. */
function casesByIoctl(changes: readonly UapiChange[], oldS: SpecSnapshot, newS: SpecSnapshot): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of changes) {
    if (c.kind === 'compatible') continue;
    for (const [cat, cases] of [[newS.catalog, newS.cases], [oldS.catalog, oldS.cases]] as const) {
      const touched = ioctlsTouched(c, cat);
      for (const ioctl of touched) {
        if (out[ioctl] !== undefined) continue;
        out[ioctl] = cases.filter((k) => k.ops.includes(ioctl)).map((k) => k.id).sort();
      }
      if (touched.length > 0) break;
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

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
    ioctl_cases: casesByIoctl(changes, oldS, newS),
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
  const limit = opts.caseLimit ?? 8;
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
  const withdrawn = (id: string) => /^\*\*[^*]+\*\*\s*Withdrawn\b/.test(texts?.new.clauses.get(id)?.paragraph ?? '');
  const clauseSection = (title: string, list: SpecDiff['clauses']['added'], show?: (id: string) => string[]) => {
    if (list.length === 0) return;
    out.push('', `${h}# ${title}`, '');
    for (const c of list) {
      out.push(`- **${c.id}**${withdrawn(c.id) ? ' (withdrawn)' : ''} (${c.file}) — ${c.cases.length ? `cited by ${capped(c.cases, limit)}` : 'cited by no case'}`);
      if (show) out.push(...show(c.id));
    }
  };
  clauseSection('Clauses added', d.clauses.added);
  // spec/README.md: identifiers are stable forever; a withdrawn behaviour keeps its id.
  clauseSection('Clauses removed (identifiers are stable forever: withdraw instead, spec/README.md)', d.clauses.removed);
  clauseSection('Clauses changed', d.clauses.changed, texts ? (id) => {
    const before = texts.old.clauses.get(id)?.paragraph ?? '';
    const after = texts.new.clauses.get(id)?.paragraph ?? '';
    return ['', '  ```diff', ...before.split('\n').map((l) => `  - ${l}`), ...after.split('\n').map((l) => `  + ${l}`), '  ```'];
  } : undefined);
  const ioctlCases = definedEntries(d.ioctl_cases);
  if (ioctlCases.length > 0) {
    out.push('', `${h}# Cases calling an ioctl with a breaking or source-only change`, '');
    for (const [ioctl, ids] of ioctlCases) out.push(`- \`${ioctl}\`: ${ids.length ? `${ids.length} case(s): ${capped(ids, limit)}` : 'no case calls it'}`);
  }
  if (d.impacted_cases.length > 0) {
    out.push('', `${h}# Impacted cases (${d.impacted_cases.length})`, '', capped(d.impacted_cases, limit * 8));
  }
  if (d.problems.length > 0) {
    out.push('', `${h}# Read with problems`, '', ...d.problems.slice(0, 20).map((p) => `- ${p}`));
    if (d.problems.length > 20) out.push(`- … (+${d.problems.length - 20} more)`);
  }
  return out.join('\n') + '\n';
}
