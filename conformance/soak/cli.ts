/**
 * `npm run soak -- --seconds N`: the long soak test (soak.ts) from the command line, with its
 * figures printed and, with --json, written.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { soak } from './soak.ts';

const usage = `usage: npm run soak -- [--seconds N] [--max-growth-mib M] [--json <file>]

One \`ioasid serve\` process runs MAP/UNMAP rounds through an IOAS with a device attached (with
access pins and a second context every few rounds) for N seconds while its RSS is sampled.
Fails when the RSS of the last quarter rises more than M MiB above the window right after the
warm-up (the first 30 %), or when STATE holds anything after every context is closed.

  --seconds N          duration of the rounds (default 300)
  --max-growth-mib M   RSS growth allowed after the warm-up (default 8)
  --json <file>        write the figures (rounds, calls, RSS samples, growth) as JSON
  --help               this text
`;

async function main(): Promise<number> {
  let o;
  try {
    o = parseArgs({ args: process.argv.slice(2), options: { seconds: { type: 'string' }, 'max-growth-mib': { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' } } }).values;
  } catch (e) {
    process.stderr.write(`soak: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(usage);
    return 0;
  }
  const seconds = Number(o.seconds ?? 300);
  const maxGrowthMib = Number(o['max-growth-mib'] ?? 8);
  if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isFinite(maxGrowthMib) || maxGrowthMib < 0) {
    process.stderr.write(`soak: --seconds and --max-growth-mib take positive numbers\n\n${usage}`);
    return 2;
  }
  const f = await soak({ durationMs: seconds * 1000 });
  process.stderr.write(`soak: ${f.rounds} rounds, ${f.calls} calls in ${(f.elapsed_ms / 1000).toFixed(1)} s; RSS after warm-up ${(f.warm_rss_kib / 1024).toFixed(1)} MiB, at the end ${(f.end_rss_kib / 1024).toFixed(1)} MiB (growth ${(f.growth_kib / 1024).toFixed(2)} MiB, allowed ${maxGrowthMib}); left after close: ${f.left_after_close ?? 'nothing'}\n`);
  if (o.json) {
    mkdirSync(dirname(o.json), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify(f, null, 2)}\n`);
  }
  return f.left_after_close === null && f.growth_kib <= maxGrowthMib * 1024 ? 0 : 1;
}

process.exitCode = await main();
