/**
 * `ioasid spec diff <old> <new>`: the review of a specification change. Each side is a git
 * revision of this repository (exported into a temporary folder, the work tree untouched) or a
 * folder holding schemas/ and spec/. Markdown on stdout or in --report; --json writes the
 * spec-diff.schema.json document, validated before it is written. Exit 0 whatever the verdict
 * (a review reports, it does not gate); 2 when it cannot run, naming the bad argument.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT_OK, EXIT_USAGE, parseFlags } from '../command.ts';
import { REPO_ROOT } from '../../conformance/runner/case-loader.ts';
import { diffSnapshots, renderSpecDiff, type SpecDiff } from '../../conformance/runner/spec-diff.ts';
import { openSide, readSnapshot, type SideDir, type SpecSnapshot } from '../../conformance/runner/spec-snapshot.ts';
import { formatIssues, validateBySchemaId } from '../../schemas/lib/validate.ts';

export const specDiffUsage = `usage: ioasid spec diff <old> <new> [--json <file>] [--report <dir>] [--repo <dir>]

Compares two versions of the specification and classifies every uAPI change as a reviewer
would (spec/REVIEWING.md): breaking, compatible, or source-only. Lists the spec clauses added,
removed and changed, and the golden cases that cite them.

  <old> <new>      each a git revision of the repository (HEAD~3, a branch, a commit) or a
                   folder holding schemas/ and spec/ (and optionally conformance/cases/)
  --json <file>    write the result as JSON (schemas/spec-diff.schema.json)
  --report <dir>   write spec-diff.md (and spec-diff.json) there instead of printing
  --repo <dir>     the repository revisions are read from (default: this checkout)
  --help           this text

Exit status: 0 the diff was made (whatever the verdict); 2 a bad argument or an unreadable side.
`;

export interface SpecDiffRun {
  diff: SpecDiff;
  markdown: string;
}

/** Both sides opened, read, compared and cleaned up; throws `argument '<x>': …` for a bad side. */
export function specDiffOf(oldArg: string, newArg: string, repo: string = REPO_ROOT, headingLevel = 1): SpecDiffRun {
  const opened: SideDir[] = [];
  try {
    const a = openSide(oldArg, repo);
    opened.push(a);
    const b = openSide(newArg, repo);
    opened.push(b);
    const snaps: [SpecSnapshot, SpecSnapshot] = [readSnapshot(a), readSnapshot(b)];
    const diff = diffSnapshots(snaps[0], snaps[1], { oldCommit: a.commit, newCommit: b.commit });
    const bad = validateBySchemaId('spec-diff.schema.json', diff);
    if (bad) throw new Error(`the diff breaks spec-diff.schema.json: ${formatIssues('', bad).join('; ')}`);
    return { diff, markdown: renderSpecDiff(diff, { old: snaps[0], new: snaps[1] }, { headingLevel }) };
  } finally {
    for (const s of opened) s.cleanup();
  }
}

function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

export async function runSpecDiff(argv: string[]): Promise<number> {
  const parsed = parseFlags('spec diff', specDiffUsage, {
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'string' }, report: { type: 'string' }, repo: { type: 'string' } },
  });
  if (parsed === null) return EXIT_USAGE;
  const sides = parsed.positionals;
  if (sides.length !== 2) {
    process.stderr.write(`ioasid spec diff: expected two sides <old> <new>, got ${sides.length}${sides.length > 2 ? ` (extra: '${sides[2]}')` : ''}\n\n${specDiffUsage}`);
    return EXIT_USAGE;
  }
  const o = parsed.values;
  let run: SpecDiffRun;
  try {
    run = specDiffOf(sides[0], sides[1], o.repo ?? REPO_ROOT);
  } catch (e) {
    process.stderr.write(`ioasid spec diff: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  const json = `${JSON.stringify(run.diff, null, 2)}\n`;
  if (o.report) {
    writeFile(join(o.report, 'spec-diff.md'), run.markdown);
    writeFile(join(o.report, 'spec-diff.json'), json);
    process.stderr.write(`wrote ${join(o.report, 'spec-diff.md')}, ${join(o.report, 'spec-diff.json')}\n`);
  } else process.stdout.write(run.markdown);
  if (o.json) writeFile(o.json, json);
  return EXIT_OK;
}
