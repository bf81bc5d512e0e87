/**
 * Which loaded cases a run takes: --filter globs (any may match; a filter that selects nothing
 * is a usage error, so a typo cannot make a green run), --requires (cases that need every named
 * capability), --skip-feature (cases that need none of them), then --shard i/n over the sorted
 * ids (case k, counting from 0, goes to shard k mod n + 1), so that shards partition the suite.
 */
import { anyGlobMatches } from './glob.ts';
import type { LoadedCase } from './types.ts';

export interface Selection {
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
