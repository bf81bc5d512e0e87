/**
 * `ioasid expectations update`: rewrites an expectations file from a report. Lines of a case
 * that now passes (`unexpected pass`) go; every case that failed without a line (fail, timeout,
 * crash) gets `<id> fail <its message>`; comments, skips and the other lines stay as they are,
 * in their place. An `error` or `invalid` case is never added: an expectations line cannot
 * hide an adapter answering outside the protocol or a broken case (they are listed instead).
 */
import { globMatches } from './glob.ts';
import type { Report } from './types.ts';
import { parseExpectations } from './expectations.ts';

export interface ExpectationsUpdate {
  text: string;
  added: string[];
  removed: string[];
  notListable: { id: string; result: string }[];
}

function oneLine(s: string, max = 120): string {
  const t = s.replace(/\s+/g, ' ').replace(/#/g, '%23').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export function updateExpectations(existing: string, report: Report, file = '<expectations>'): ExpectationsUpdate {
  const entries = parseExpectations(existing, file);
  const passedNow = new Set(report.cases.filter((c) => c.result === 'unexpected pass').map((c) => c.id));
  const dropLines = new Set(entries.filter((e) => e.expect === 'fail' && [...passedNow].some((id) => globMatches(e.pattern, id)) && !report.cases.some((c) => c.result === 'expected fail' && globMatches(e.pattern, c.id))).map((e) => e.line));
  const lines = existing === '' ? [] : existing.replace(/\n$/, '').split('\n');
  const removed: string[] = [];
  const kept = lines.filter((l, i) => {
    if (!dropLines.has(i + 1)) return true;
    removed.push(l.trim());
    return false;
  });
  const added: string[] = [];
  for (const c of report.cases) {
    if (c.result === 'fail' || c.result === 'timeout' || c.result === 'crash') {
      const line = `${c.id} fail ${oneLine(`${c.result}: ${c.message ?? c.failure?.message ?? ''}`)}`;
      added.push(line);
    }
  }
  const notListable = report.cases.filter((c) => c.result === 'error' || c.result === 'invalid').map((c) => ({ id: c.id, result: c.result as string }));
  const text = [...kept, ...added].join('\n') + ([...kept, ...added].length > 0 ? '\n' : '');
  return { text, added, removed, notListable };
}
