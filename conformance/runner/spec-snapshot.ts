/**
 * One side of a specification review: the uAPI catalog, the spec clauses with their whole
 * paragraphs and the golden cases' citations, read from a folder that holds `schemas/` and
 * `spec/` (and optionally `conformance/cases/`) or from a git revision of this repository.
 *
 * A revision is exported with `git archive` into a temporary folder: the work tree, the index
 * and HEAD are never touched. Reading is lenient — a past revision may predate a rule the
 * catalog loader enforces today, or a case field — and every rule it broke is kept in
 * `problems`, so that a review still compares what it could read.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { parseClauses } from './spec-coverage.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { loadCatalogFrom } from '../../schemas/lib/catalog.ts';

/** A clause with its whole paragraph (the id line and the lines up to the next blank line). */
export interface ClauseText {
  id: string;
  /** The spec file, relative to the side's root (`spec/ioas.md`). */
  file: string;
  line: number;
  paragraph: string;
}

export interface CaseCitation {
  id: string;
  clauses: string[];
  /** The ioctls and test hooks its steps call. */
  ops: string[];
}

export interface SpecSnapshot {
  /** What the user named: the revision (with its short commit) or the folder. */
  label: string;
  catalog: UapiCatalog;
  clauses: Map<string, ClauseText>;
  cases: CaseCitation[];
  /** Rules the side's files broke (read leniently), `file: what: rule`. */
  problems: string[];
}

/** A side resolved to a folder; `cleanup` removes what was exported for it. */
export interface SideDir {
  label: string;
  root: string;
  /** The commit when the side is a revision. */
  commit?: string;
  cleanup: () => void;
}

/** Paths a revision is exported with, those it has. */
const EXPORTED = ['schemas', 'spec', 'conformance/cases'];

function git(repo: string, args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
}

/** The commit `rev` names in `repo`, or undefined when it names none. */
export function resolveCommit(repo: string, rev: string): string | undefined {
  if (rev.startsWith('-')) return undefined;
  try {
    return git(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function isSpecFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'schemas')) && existsSync(join(path, 'spec'));
}

/**
 * A folder holding `schemas/` and `spec/` is read in place; anything else must be a revision of
 * `repo`, exported into a temporary folder. Throws `argument '<arg>': …` when it is neither.
 */
export function openSide(arg: string, repo: string): SideDir {
  if (isSpecFolder(arg)) return { label: arg, root: resolve(arg), cleanup: () => {} };
  const commit = resolveCommit(repo, arg);
  if (commit === undefined) {
    const why = existsSync(arg) ? 'a folder without schemas/ and spec/' : `neither a folder nor a revision of ${repo}`;
    throw new Error(`argument '${arg}': ${why}`);
  }
  const root = mkdtempSync(join(tmpdir(), 'ioasid-side-'));
  try {
    const present = EXPORTED.filter((p) => git(repo, ['ls-tree', '--name-only', commit, p]).trim() !== '');
    if (present.length > 0) {
      const tar = execFileSync('git', ['-C', repo, 'archive', '--format=tar', commit, '--', ...present], { maxBuffer: 1 << 30 });
      execFileSync('tar', ['-x', '-C', root], { input: tar });
    }
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`argument '${arg}': cannot export ${commit.slice(0, 12)}: ${(e as Error).message}`);
  }
  return { label: `${arg} (${commit.slice(0, 12)})`, root, commit, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Clauses with their whole paragraph, from a spec folder; `base` makes file names relative. */
export function readClauses(specDir: string, base: string): Map<string, ClauseText> {
  const out = new Map<string, ClauseText>();
  if (!existsSync(specDir)) return out;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.md')) {
        const text = readFileSync(p, 'utf8');
        const lines = text.split(/\r?\n/);
        const file = relative(base, p).split(sep).join('/');
        for (const c of parseClauses(text, file)) {
          let end = c.line;
          while (end < lines.length && lines[end].trim() !== '') end++;
          // A duplicated id keeps its first paragraph, as spec coverage does.
          if (!out.has(c.id)) out.set(c.id, { id: c.id, file, line: c.line, paragraph: lines.slice(c.line - 1, end).join('\n') });
        }
      }
    }
  };
  walk(specDir);
  return out;
}

/** Every case's id, cited clauses and called ops, read without the case schema (a past revision's cases may predate it). */
export function readCitations(casesDir: string, problems: string[]): CaseCitation[] {
  const out: CaseCitation[] = [];
  if (!existsSync(casesDir)) return out;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) {
        try {
          const c = JSON.parse(readFileSync(p, 'utf8')) as { id?: unknown; clauses?: unknown; steps?: unknown };
          const id = typeof c.id === 'string' ? c.id : relative(casesDir, p).split(sep).join('/').replace(/\.json$/, '');
          const clauses = Array.isArray(c.clauses) ? c.clauses.filter((x): x is string => typeof x === 'string') : [];
          const steps = Array.isArray(c.steps) ? c.steps : [];
          const ops = [...new Set(steps.map((s) => (s as { op?: unknown }).op).filter((o): o is string => typeof o === 'string'))].sort();
          out.push({ id, clauses, ops });
        } catch (err) {
          problems.push(`${relative(casesDir, p)}: not JSON: ${(err as Error).message}`);
        }
      }
    }
  };
  walk(casesDir);
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function readSnapshot(side: SideDir): SpecSnapshot {
  const problems: string[] = [];
  const catalog = loadCatalogFrom(join(side.root, 'schemas'), problems);
  return {
    label: side.label,
    catalog,
    clauses: readClauses(join(side.root, 'spec'), side.root),
    cases: readCitations(join(side.root, 'conformance', 'cases'), problems),
    problems,
  };
}

/** True when `path` is the same folder as `other` (symlinks resolved). */
export function sameFolder(path: string, other: string): boolean {
  try {
    return realpathSync(path) === realpathSync(other);
  } catch {
    return false;
  }
}
