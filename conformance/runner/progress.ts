/**
 * Progress while cases run, on stderr so that stdout stays for data. On a terminal: a
 * cli-progress bar. Elsewhere (CI logs, a pipe): the smoke line, the number of cases, and one
 * line per case that failed. --verbose: one line per case, everywhere. --quiet: nothing but a
 * smoke check that failed (the final summary is the command's).
 */
import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';
import { FAILING_RESULTS } from './results.ts';
import type { CaseReport, SmokeReport } from './types.ts';

export interface Progress {
  smoke(s: SmokeReport): void;
  start(total: number): void;
  caseDone(r: CaseReport, done: number, total: number): void;
  stop(): void;
}

export interface ProgressOptions {
  quiet?: boolean;
  verbose?: boolean;
}

function line(r: CaseReport, done: number, total: number): string {
  return `[${done}/${total}] ${r.result} ${r.id}${r.result === 'pass' ? '' : `: ${r.message ?? ''}`}\n`;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, opts: ProgressOptions = {}): Progress {
  if (opts.quiet) {
    return {
      smoke: (s) => {
        if (!s.ok) stream.write(`smoke: ${s.message}\n`);
      },
      start: () => {},
      caseDone: () => {},
      stop: () => {},
    };
  }
  if (stream.isTTY && !opts.verbose) {
    // Required here, not imported: only a run on a terminal draws the bar.
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
    const bar = new cliProgress.SingleBar(
      { format: 'ioasid conform |{bar}| {value}/{total} cases | {failed} failing | {id}', stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    let failed = 0;
    return {
      smoke: (s) => stream.write(`smoke: ${s.message}\n`),
      start: (total) => bar.start(total, 0, { failed: 0, id: '' }),
      caseDone: (r, done) => {
        if (FAILING_RESULTS.has(r.result)) failed++;
        bar.update(done, { failed, id: r.id });
      },
      stop: () => bar.stop(),
    };
  }
  return {
    smoke: (s) => stream.write(`smoke: ${s.message}\n`),
    start: (total) => stream.write(`running ${total} case(s)\n`),
    caseDone: (r, done, total) => {
      if (opts.verbose || FAILING_RESULTS.has(r.result)) stream.write(line(r, done, total));
    },
    stop: () => {},
  };
}
