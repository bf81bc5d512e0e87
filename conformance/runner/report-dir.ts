/**
 * Where a run's reports go when --report is not given, and the command that re-runs one case.
 * The folder is derived from the --adapter value before anything runs, so that runs of
 * different adapters never write into each other's folder (two adapters that call themselves
 * the same in hello included), and so that --last-failed finds the previous run of the same
 * adapter: `reports/reference/` for the embedded reference, `reports/reference-mutant-<name>/`
 * for a mutant, otherwise `reports/<name of the adapter's program or module>-<8 hex digits of a
 * hash of the whole --adapter value>/`.
 */
import { createHash } from 'node:crypto';
import { basename, extname, join } from 'node:path';

export function slugify(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'implementation';
}

/** The program a stdio command runs (its last word that looks like a file), or the module's name. */
function adapterName(spec: string): string {
  if (spec.startsWith('module:')) return basename(spec.slice('module:'.length), extname(spec));
  const words = spec.slice(spec.indexOf(':') + 1).trim().split(/\s+/).map((w) => w.replace(/^['"]|['"]$/g, ''));
  const file = [...words].reverse().find((w) => /[./]/.test(w) && !w.startsWith('-'));
  return basename(file ?? words[0] ?? 'adapter', extname(file ?? '')) || 'adapter';
}

export function defaultReportDir(spec: string, mutant?: string): string {
  if (mutant) return join('reports', `reference-mutant-${mutant}`);
  if (spec === 'reference') return join('reports', 'reference');
  const hash = createHash('sha256').update(spec).digest('hex').slice(0, 8);
  return join('reports', `${slugify(adapterName(spec))}-${hash}`);
}

/** A word for a POSIX shell: as it is when it is safe, else in single quotes. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command that re-runs one case and prints each step next to its answer. */
export function rerunCommand(caseId: string, opts: { adapter: string; cases?: string[]; mutant?: string }): string {
  if (opts.mutant) return ['npx', 'ioasid', 'conform', '--mutant', opts.mutant, ...(opts.cases ?? []).flatMap((c) => ['--cases', c]), caseId].map(shellWord).join(' ');
  const words = ['npx', 'ioasid', 'repro', caseId, '--adapter', opts.adapter, ...(opts.cases ?? []).flatMap((c) => ['--cases', c])];
  return words.map(shellWord).join(' ');
}
