/**
 * Finds and loads case files: every `*.json` below each given folder (or the given files),
 * parsed, checked against case.schema.json and against the runner's own rules — the id is the
 * path below the cases folder, ids are unique, a named topology exists, capability names are
 * known, errno names, ops and arg fields are known (case-lint.ts). A JSON syntax error names
 * its line and column; a file in a cases folder that is not `*.json` is reported (see
 * isIgnoredFile for the ones left alone). A file that breaks a rule is returned as an InvalidCase (path, JSON pointer, rule,
 * message) and never stops the others from loading.
 *
 * Topologies by name are looked up in `topologies/` next to the cases folder, then in
 * conformance/topologies/. A case without a topology runs on an empty machine.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { jsonErrorWhere, lintCase } from './case-lint.ts';
import { REPO_ROOT } from './repo-root.ts';
import { hooks, knownCapabilities, validateCase, validateTopology } from './schemas.ts';
import type { GoldenCase, InvalidCase, LoadedCase, Topology } from './types.ts';

export { REPO_ROOT };
export const DEFAULT_CASES_DIR = join(REPO_ROOT, 'conformance', 'cases');
export const DEFAULT_TOPOLOGIES_DIR = join(REPO_ROOT, 'conformance', 'topologies');
export const EMPTY_TOPOLOGY: Topology = { bridges: [], devices: [] };

export interface LoadResult {
  cases: LoadedCase[];
  invalid: InvalidCase[];
}

/**
 * Files in a cases folder that are not cases and are left alone: documentation (`*.md`), the
 * folder's own tests (`*.test.ts`) and hidden files (`.gitkeep`). Any other file that is not
 * `*.json` is reported: a case saved as `.jsonc` or `.json.bak` must not vanish silently.
 */
export function isIgnoredFile(name: string): boolean {
  return name.startsWith('.') || name.endsWith('.md') || name.endsWith('.test.ts');
}

function listFiles(dir: string, strays: string[]): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p, strays));
    else if (entry.isFile() && entry.name.endsWith('.json')) out.push(p);
    else if (entry.isFile() && !isIgnoredFile(entry.name)) strays.push(p);
  }
  return out;
}

function display(path: string): string {
  const r = relative(process.cwd(), path);
  return r.startsWith('..') ? path : r;
}

/**
 * The capabilities a case needs: its requires plus those of the test hooks it uses, and of the
 * hook options it sets (MMAP `huge`, …). A hook field with x-capability-by-capture that holds a
 * `$capture` decides by the output field that made it (also one inside a decoded struct): FD_READ
 * of a vEVENTQ fd needs `veventq`, of a fault fd `fault`, of a TEST_CMD access fd
 * `test:selftest-cmd` (the hook's own capability otherwise).
 */
export function effectiveRequires(c: GoldenCase): string[] {
  const need = new Set(c.requires ?? []);
  const table = hooks();
  // `$name` → the output field of the step that captured it.
  const capturedFrom = new Map<string, string>();
  // A capture inside a struct the answer decodes (TEST_CMD's `cmd`) counts by its own field name.
  const collect = (out: unknown): void => {
    if (out === null || typeof out !== 'object' || Array.isArray(out)) return;
    for (const [field, v] of Object.entries(out as Record<string, unknown>)) {
      if (typeof v === 'string' && /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(v) && !capturedFrom.has(v)) capturedFrom.set(v, field);
      else collect(v);
    }
  };
  for (const s of c.steps) collect((s as { out?: unknown }).out);
  for (const s of c.steps) {
    const h = table.get(s.op);
    const arg = s.arg as Record<string, unknown> | undefined;
    let hookCap = h?.capability;
    for (const [field, bySource] of Object.entries(h?.captureCapabilities ?? {})) {
      const v = arg?.[field];
      const source = typeof v === 'string' ? capturedFrom.get(v) : undefined;
      if (source !== undefined && bySource[source] !== undefined) hookCap = bySource[source];
    }
    if (hookCap) need.add(hookCap);
    if (s.process !== undefined) need.add('test:process');
    for (const [field, cap] of Object.entries(h?.fieldCapabilities ?? {})) {
      const v = arg?.[field];
      if (v !== undefined && v !== false) need.add(cap);
    }
  }
  return [...need].sort();
}

export function loadTopology(name: string, searchDirs: string[]): { topology?: Topology; problem?: string } {
  for (const dir of searchDirs) {
    const p = join(dir, `${name}.json`);
    if (!existsSync(p)) continue;
    let t: unknown;
    try {
      t = JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      return { problem: `topology ${display(p)} is not JSON: ${(e as Error).message}` };
    }
    const bad = validateTopology(t);
    if (bad.length > 0) return { problem: `topology ${display(p)}: ${bad[0].pointer} ${bad[0].message} [${bad[0].rule}]` };
    return { topology: t as Topology };
  }
  return { problem: `no topology named '${name}' in ${searchDirs.map(display).join(' or ')}` };
}

export function loadCases(paths: string[], catalog: UapiCatalog = getCatalog()): LoadResult {
  const cases: LoadedCase[] = [];
  const invalid: InvalidCase[] = [];
  const seen = new Map<string, string>();
  const known = new Set(knownCapabilities());
  for (const given of paths) {
    const abs = resolve(given);
    if (!existsSync(abs)) {
      invalid.push({ path: given, rule: 'cases-path', message: 'no such file or folder' });
      continue;
    }
    const isDir = statSync(abs).isDirectory();
    const strays: string[] = [];
    const files = isDir ? listFiles(abs, strays) : [abs];
    for (const f of strays) invalid.push({ path: display(f), rule: 'case-file-name', message: 'not a case file: a cases folder holds *.json cases (and *.md, *.test.ts, hidden files, which are left alone)' });
    for (const file of files) {
      const path = display(file);
      let json: unknown;
      const text = readFileSync(file, 'utf8');
      try {
        json = JSON.parse(text);
      } catch (e) {
        const where = jsonErrorWhere(text, (e as Error).message);
        invalid.push({ path, rule: 'json', message: `not JSON${where ? ` (line ${where.line}, column ${where.column})` : ''}: ${(e as Error).message}` });
        continue;
      }
      const bad = validateCase(json);
      if (bad.length > 0) {
        for (const b of bad) invalid.push({ path, pointer: b.pointer, rule: `case.schema.json ${b.rule}`, message: b.message });
        continue;
      }
      const c = json as GoldenCase;
      // The id is the path below the cases folder, whichever folder (or file) was given.
      const posix = file.split(sep).join('/');
      if (!posix.endsWith(`/${c.id}.json`)) {
        invalid.push({ path, pointer: '/id', rule: 'id-is-path', message: `id '${c.id}' differs from the file's path below its cases folder (the file should be <cases>/${c.id}.json)` });
        continue;
      }
      const casesRoot = file.slice(0, file.length - `${c.id}.json`.length - 1);
      const other = seen.get(c.id);
      if (other) {
        invalid.push({ path, pointer: '/id', rule: 'unique-id', message: `id '${c.id}' is also the id of ${other}` });
        continue;
      }
      const unknownCaps = (c.requires ?? []).filter((r) => !known.has(r) && !r.startsWith('x-'));
      if (unknownCaps.length > 0) {
        invalid.push({ path, pointer: '/requires', rule: 'known-capability', message: `unknown capability ${unknownCaps.join(', ')} (protocol.schema.json#/$defs/capability lists them)` });
        continue;
      }
      const lint = lintCase(c, catalog);
      if (lint.length > 0) {
        for (const l of lint) invalid.push({ path, pointer: l.pointer, rule: l.rule, message: l.message });
        continue;
      }
      let topology = EMPTY_TOPOLOGY;
      if (typeof c.topology === 'string') {
        const dirs = [join(dirname(casesRoot), 'topologies'), DEFAULT_TOPOLOGIES_DIR];
        const t = loadTopology(c.topology, [...new Set(dirs)]);
        if (!t.topology) {
          invalid.push({ path, pointer: '/topology', rule: 'known-topology', message: t.problem! });
          continue;
        }
        topology = t.topology;
      } else if (c.topology) {
        topology = c.topology;
      }
      seen.set(c.id, path);
      cases.push({ case: c, path, topology, effectiveRequires: effectiveRequires(c) });
    }
  }
  cases.sort((a, b) => (a.case.id < b.case.id ? -1 : a.case.id > b.case.id ? 1 : 0));
  return { cases, invalid };
}
