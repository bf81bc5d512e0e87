/**
 * Which loaded cases a run takes: positional selectors (a case id, an id prefix such as
 * `hwpt/nested/`, or a glob; each must select something), --clause (cases citing one of the
 * clause ids, globs allowed), --last-failed (the ids given), --filter globs (any may match; a filter that selects nothing
 * is a usage error, so a typo cannot make a green run), --requires (cases that need every named
 * capability), --skip-feature (cases that need none of them), then --shard i/n over the sorted
 * ids (case k, counting from 0, goes to shard k mod n + 1), so that shards partition the suite.
 */
import { anyGlobMatches, globMatches } from './glob.ts';
import { suggest } from './suggest.ts';
import type { LoadedCase } from './types.ts';

export interface Selection {
  /** Positional selectors: ids, prefixes, globs; a case matching any is taken. */
  select?: string[];
  /** Spec clause ids (or globs of them); a case citing any is taken. */
  clauses?: string[];
  /** Exact ids (--last-failed). */
  only?: ReadonlySet<string>;
  filter?: string[];
  requires?: string[];
  skipFeatures?: string[];
  shard?: { index: number; count: number };
}

export class SelectionError extends Error {}

export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new SelectionError(`--shard ${text}: expected i/n with 1 <= i <= n`);
  return { index, count };
}

export function selectCases(cases: LoadedCase[], sel: Selection): LoadedCase[] {
  let out = cases;
  if (sel.select && sel.select.length > 0) {
    const ids = cases.map((c) => c.case.id);
    for (const p of sel.select) {
      if (!ids.some((id) => globMatches(p, id))) throw new SelectionError(`${p} selects no case (of ${cases.length})${suggest(p, ids)}`);
    }
    out = out.filter((c) => anyGlobMatches(sel.select!, c.case.id));
  }
  if (sel.clauses && sel.clauses.length > 0) {
    const cited = new Set(cases.flatMap((c) => c.case.clauses));
    for (const p of sel.clauses) {
      if (![...cited].some((id) => globMatches(p, id))) throw new SelectionError(`--clause ${p}: no case cites it${suggest(p, cited)}`);
    }
    out = out.filter((c) => c.case.clauses.some((id) => anyGlobMatches(sel.clauses!, id)));
  }
  if (sel.only) out = out.filter((c) => sel.only!.has(c.case.id));
  if (sel.filter && sel.filter.length > 0) {
    out = out.filter((c) => anyGlobMatches(sel.filter!, c.case.id));
    if (out.length === 0) throw new SelectionError(`--filter ${sel.filter.join(' ')} selects no case (of ${cases.length})`);
  }
  if (sel.requires && sel.requires.length > 0) out = out.filter((c) => sel.requires!.every((r) => c.effectiveRequires.includes(r)));
  if (sel.skipFeatures && sel.skipFeatures.length > 0) out = out.filter((c) => !sel.skipFeatures!.some((r) => c.effectiveRequires.includes(r)));
  if (sel.shard) {
    const { index, count } = sel.shard;
    out = [...out].sort((a, b) => (a.case.id < b.case.id ? -1 : 1)).filter((_, k) => k % count === index - 1);
  }
  return out;
}
