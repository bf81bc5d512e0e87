/**
 * Progress while cases run: a cli-progress bar on a terminal, one plain line per case
 * otherwise (CI logs), both on stderr so that stdout stays for data.
 */
import cliProgress from 'cli-progress';
import type { CaseReport, SmokeReport } from './types.ts';

export interface Progress {
  smoke(s: SmokeReport): void;
  start(total: number): void;
  caseDone(r: CaseReport, done: number, total: number): void;
  stop(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'ioasid conform |{bar}| {value}/{total} cases | {failed} failing | {id}', stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    let failed = 0;
    return {
      smoke: (s) => stream.write(`smoke: ${s.message}\n`),
      start: (total) => bar.start(total, 0, { failed: 0, id: '' }),
      caseDone: (r, done) => {
        if (['fail', 'error', 'timeout', 'crash', 'unexpected pass'].includes(r.result)) failed++;
        bar.update(done, { failed, id: r.id });
      },
      stop: () => bar.stop(),
    };
  }
  return {
    smoke: (s) => stream.write(`smoke: ${s.message}\n`),
    start: (total) => stream.write(`running ${total} case(s)\n`),
    caseDone: (r, done, total) => stream.write(`[${done}/${total}] ${r.result} ${r.id}${r.result === 'pass' ? '' : `: ${r.message ?? ''}`}\n`),
    stop: () => {},
  };
}
