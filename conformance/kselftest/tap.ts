/**
 * The kselftest harness's output (KTAP: `TAP version 13`, `1..N`, `ok N name`, `not ok N name`,
 * `# SKIP`/`# XFAIL` directives, `# ` diagnostic lines; the program's stderr merged in order)
 * read into one result per TEST_F
 * instance (`fixture.variant.test`). A test the harness started (`#  RUN name ...`) but never
 * reported means the binary died under it: a crash. The harness's own words decide a timeout
 * (`Test terminated by timeout`) and a death by signal (`terminated unexpectedly by signal`).
 *
 * Invariant: results come in the order the harness ran the tests; each carries the diagnostic
 * lines printed between its RUN line and its result.
 */

export type KselftestOutcome = 'pass' | 'fail' | 'skip' | 'xfail' | 'xpass' | 'timeout' | 'crash';

export interface KselftestResult {
  /** `fixture.variant.test`, or `fixture.test` for a fixture without variants. */
  name: string;
  outcome: KselftestOutcome;
  /** The SKIP/XFAIL reason, the first failing check, or why it crashed. */
  message: string;
  /** The `# ` lines the test printed, without the prefix. */
  diagnostics: string[];
}

export interface KselftestRun {
  /** The plan (`1..N`), when the harness printed one. */
  planned: number | null;
  results: KselftestResult[];
  /** The harness's totals line, when it got that far. */
  totals: string | null;
}

const RESULT = /^(not ok|ok) (\d+) (\S+)(?: # (SKIP|XFAIL|XPASS|TODO)\b ?(.*))?$/;
const RUN = /^#\s+RUN\s+(\S+) \.\.\.$/;

/** The first line that says what went wrong: a failed check (`file.c:123:test:Expected …`). */
function firstFailure(lines: string[]): string {
  return lines.find((l) => /:\d+:[^:]+:/.test(l)) ?? lines.find((l) => /terminated|failed|Failed/.test(l)) ?? lines.at(-1) ?? '';
}

export function parseKselftest(stdout: string): KselftestRun {
  let planned: number | null = null;
  let totals: string | null = null;
  const results: KselftestResult[] = [];
  let running: string | null = null;
  let diag: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const plan = /^1\.\.(\d+)$/.exec(line);
    if (plan) {
      planned = Number(plan[1]);
      continue;
    }
    const run = RUN.exec(line);
    if (run) {
      running = run[1];
      diag = [];
      continue;
    }
    const r = RESULT.exec(line);
    if (r) {
      const [, status, , name, directive, reason] = r;
      let outcome: KselftestOutcome | undefined;
      let message = '';
      if (directive === 'SKIP') (outcome = 'skip'), (message = reason ?? '');
      else if (directive === 'XFAIL') (outcome = 'xfail'), (message = reason ?? '');
      else if (directive === 'XPASS') outcome = 'xpass';
      else if (status === 'ok') outcome = 'pass';
      // The harness echoes the OK/FAIL verdict as a diagnostic; it says nothing more.
      const own = diag.filter((l) => !/^\s*(OK|FAIL|SKIP|XFAIL|XPASS)\s+\S+$/.test(l));
      if (outcome === undefined) {
        if (own.some((l) => /Test terminated by timeout/.test(l))) (outcome = 'timeout'), (message = 'terminated by the harness timeout');
        else if (own.some((l) => /terminated unexpectedly by signal/.test(l))) (outcome = 'crash'), (message = firstFailure(own));
        else (outcome = 'fail'), (message = firstFailure(own));
      }
      results.push({ name, outcome, message, diagnostics: own });
      running = null;
      diag = [];
      continue;
    }
    const totalsLine = /^# Totals: (.*)$/.exec(line);
    if (totalsLine) {
      totals = totalsLine[1];
      continue;
    }
    // `# ` lines of the harness, and anything else the program or the fake wrote (stderr).
    if (line.trim() !== '' && !line.startsWith('TAP version')) diag.push(line.replace(/^# ?/, ''));
  }
  if (running !== null) results.push({ name: running, outcome: 'crash', message: 'the test binary died during this test', diagnostics: diag });
  return { planned, results, totals };
}
