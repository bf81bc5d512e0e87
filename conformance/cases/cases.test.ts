/**
 * Lint of the golden case corpus and its clause coverage (contract: `conformance/CASE-FORMAT.md`).
 * Every case file must parse, validate against schemas/case.schema.json, carry id = its path
 * below conformance/cases/ without ".json", name an existing topology, and cite only clauses
 * that exist in spec/; every clause in spec/ must be cited by at least one case, so that the
 * normative text and the corpus cannot drift apart silently.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';

const casesDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(casesDir, '..', '..');
const specDir = join(repoRoot, 'spec');
const topologiesDir = join(repoRoot, 'conformance', 'topologies');
const caseSchemaPath = join(repoRoot, 'schemas', 'case.schema.json');

/** A clause is a paragraph opening with its bold id and a period: `**IOAS-MAP-3.** …`. */
const CLAUSE_HEAD = /^\*\*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d+)\.\*\*/gm;

function listFiles(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path, suffix));
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out.sort();
}

function specClauses(): Map<string, string> {
  const where = new Map<string, string>();
  for (const file of listFiles(specDir, '.md')) {
    // Fenced code blocks hold examples (spec/README.md shows the syntax), not clauses.
    const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
    for (const m of text.matchAll(CLAUSE_HEAD)) {
      const id = m[1] as string;
      if (where.has(id)) throw new Error(`clause ${id} defined twice: ${where.get(id)} and ${file}`);
      where.set(id, relative(repoRoot, file));
    }
  }
  return where;
}

interface CaseFile {
  path: string;
  id: string;
  json: { id?: unknown; clauses?: unknown; topology?: unknown; steps?: unknown };
}

function loadCases(): CaseFile[] {
  return listFiles(casesDir, '.json').map((path) => {
    const id = relative(casesDir, path).split(sep).join('/').replace(/\.json$/, '');
    return { path, id, json: JSON.parse(readFileSync(path, 'utf8')) as CaseFile['json'] };
  });
}

const clauses = specClauses();
const cases = loadCases();
const topologies = new Set(listFiles(topologiesDir, '.json').map((p) => relative(topologiesDir, p).replace(/\.json$/, '')));

describe('golden case corpus', () => {
  it('has cases and clauses at all', () => {
    expect(cases.length).toBeGreaterThan(0);
    expect(clauses.size).toBeGreaterThan(0);
  });

  it('gives every case its path as id', () => {
    const wrong = cases.filter((c) => c.json.id !== c.id).map((c) => `${c.path}: id ${String(c.json.id)} != ${c.id}`);
    expect(wrong).toEqual([]);
  });

  it('cites at least one clause per case, and only clauses that exist in spec/', () => {
    const problems: string[] = [];
    for (const c of cases) {
      const cited = c.json.clauses;
      if (!Array.isArray(cited) || cited.length === 0) problems.push(`${c.id}: no clauses`);
      else for (const k of cited) if (!clauses.has(String(k))) problems.push(`${c.id}: unknown clause ${String(k)}`);
    }
    expect(problems).toEqual([]);
  });

  it('cites every clause of spec/ from at least one case', () => {
    const cited = new Set(cases.flatMap((c) => (Array.isArray(c.json.clauses) ? c.json.clauses.map(String) : [])));
    const uncited = [...clauses.keys()].filter((k) => !cited.has(k)).map((k) => `${k} (${clauses.get(k)})`);
    expect(uncited).toEqual([]);
  });

  it('names topologies that exist in conformance/topologies/', () => {
    const missing = cases
      .filter((c) => typeof c.json.topology === 'string' && !topologies.has(c.json.topology))
      .map((c) => `${c.id}: topology ${String(c.json.topology)}`);
    expect(missing).toEqual([]);
  });

  it('never has a case without steps', () => {
    const empty = cases.filter((c) => !Array.isArray(c.json.steps) || c.json.steps.length === 0).map((c) => c.id);
    expect(empty).toEqual([]);
  });

  it.skipIf(!existsSync(caseSchemaPath))('validates every case against schemas/case.schema.json', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(caseSchemaPath, 'utf8')) as object);
    const failures: string[] = [];
    for (const c of cases) {
      if (!validate(c.json)) {
        const first = (validate.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
        failures.push(`${c.id}: ${first.join('; ')}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
