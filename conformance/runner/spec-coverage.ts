/**
 * Clause coverage: every clause of spec/*.md (a paragraph opening with its bold id and a
 * period, `**IOAS-MAP-3.** …`) and the cases that cite it. Coverage fails when a clause has no
 * case or a case cites a clause that does not exist.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { LoadedCase } from './types.ts';

export interface Clause {
  id: string;
  file: string;
  line: number;
  text: string;
}

export interface Coverage {
  clauses: { id: string; file: string; line: number; cases: string[] }[];
  uncovered: string[];
  unknown: { case: string; clause: string }[];
  duplicates: { id: string; places: string[] }[];
}

const CLAUSE = /^\*\*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\.\*\*\s*(.*)$/;

export function parseClauses(markdown: string, file: string): Clause[] {
  const out: Clause[] = [];
  const lines = markdown.split(/\r?\n/);
  let inFence = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const startsParagraph = i === 0 || lines[i - 1].trim() === '';
    const m = CLAUSE.exec(line);
    if (m && startsParagraph) out.push({ id: m[1], file, line: i + 1, text: m[2] });
  }
  return out;
}

export function loadClauses(specDir: string): Clause[] {
  if (!existsSync(specDir)) return [];
  const out: Clause[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.md')) out.push(...parseClauses(readFileSync(p, 'utf8'), relative(process.cwd(), p) || p));
    }
  };
  walk(specDir);
  return out;
}

export function coverage(clauses: Clause[], cases: LoadedCase[]): Coverage {
  const byId = new Map<string, { id: string; file: string; line: number; cases: string[] }>();
  const places = new Map<string, string[]>();
  for (const c of clauses) {
    places.set(c.id, [...(places.get(c.id) ?? []), `${c.file}:${c.line}`]);
    if (!byId.has(c.id)) byId.set(c.id, { id: c.id, file: c.file, line: c.line, cases: [] });
  }
  const unknown: Coverage['unknown'] = [];
  for (const lc of cases) {
    for (const id of lc.case.clauses) {
      const entry = byId.get(id);
      if (entry) entry.cases.push(lc.case.id);
      else unknown.push({ case: lc.case.id, clause: id });
    }
  }
  const list = [...byId.values()];
  return {
    clauses: list,
    uncovered: list.filter((c) => c.cases.length === 0).map((c) => c.id),
    unknown,
    duplicates: [...places].filter(([, p]) => p.length > 1).map(([id, p]) => ({ id, places: p })),
  };
}

export function coverageFailed(c: Coverage): boolean {
  return c.uncovered.length > 0 || c.unknown.length > 0 || c.duplicates.length > 0;
}

export function renderCoverage(c: Coverage): string {
  const out = [`# Spec clause coverage`, '', `${c.clauses.length} clause(s), ${c.clauses.length - c.uncovered.length} covered, ${c.uncovered.length} without a case, ${c.unknown.length} citation(s) of unknown clauses, ${c.duplicates.length} duplicate id(s)`, ''];
  out.push('| clause | where | cases |', '|---|---|---|');
  for (const cl of c.clauses) out.push(`| ${cl.id} | ${cl.file}:${cl.line} | ${cl.cases.length ? cl.cases.join(', ') : '**none**'} |`);
  if (c.unknown.length > 0) {
    out.push('', '## Cases citing unknown clauses', '');
    for (const u of c.unknown) out.push(`- ${u.case} cites ${u.clause}`);
  }
  if (c.duplicates.length > 0) {
    out.push('', '## Clause ids defined more than once', '');
    for (const d of c.duplicates) out.push(`- ${d.id}: ${d.places.join(', ')}`);
  }
  return out.join('\n') + '\n';
}
