/**
 * `ioasid bench`: runs the benchmark suites and prints their figures. Every suite reports
 * ratios against a baseline it measures in the same run (plus absolute rates for context), so
 * the figures compare across machines; no unit test ever times anything. Adding a suite is a
 * module in bench/ and a line in `suites`.
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import type { Command } from '../command.ts';
import { EXIT_OK, EXIT_USAGE } from '../command.ts';

type Figures = Record<string, number>;
interface Suite {
  name: string;
  what: string;
  run(opts: { quick: boolean; cost?: string; print: (s: string) => void }): Promise<Figures>;
}

const suites: Suite[] = [
  {
    name: 'formats',
    what: 'PTEs mapped/unmapped through each page-table format vs a flat typed array',
    run: async (o) => (await import('../../bench/formats.ts')).benchFormats(o),
  },
  {
    name: 'ioas',
    what: 'IOAS MAP of 64 GiB in 2 MiB runs and UNMAP of all of it vs a Map.set/delete baseline',
    run: async (o) => (await import('../../bench/ioas.ts')).benchIoas(o),
  },
  {
    name: 'swnest',
    what: 'guest map/unmap workloads through emulation, software nesting and native nesting: counts per guest operation and ratios',
    run: async (o) => (await import('../../bench/swnest.ts')).benchSwnest({ quick: o.quick, costs: (await import('../../reference/vmm/cost-model.ts')).parseCostModel(o.cost), print: o.print }),
  },
  {
    name: 'iotlb',
    what: 'IOTLB hit lookups vs a Map cache, the uncached walk and a C open-addressing loop (cc); a NIC/storage DMA stream',
    run: async (o) => (await import('../../bench/iotlb.ts')).benchIotlb(o),
  },
  {
    name: 'stdio',
    what: 'per-case overhead of the stdio transport vs in-process, same cases, same run',
    run: async (o) => (await import('../../bench/stdio.ts')).benchStdio(o),
  },
];

const usage = `usage: ioasid bench [--only <suite>[,<suite>…]] [--quick] [--json <file>] [--cost <spec>]

Runs the benchmarks and prints every figure. Figures named *_ratio_* are ratios against a
baseline measured in the same run (lower is better); others are absolute rates.

options:
  --only <list>   run only these suites (${suites.map((s) => s.name).join(', ')})
  --quick         small sizes, for a smoke run
  --json <file>   also write the figures as a flat JSON object {"<suite>.<figure>": number}
  --cost <spec>   swnest: µs per counted operation for the estimated time, as
                  ioctl=1,pin=0.25,pte=0.005,inval=1,trap=2,exit=2,readKib=0.05 (any subset)
                  or a JSON file of the same keys (reference/vmm/SWNEST.md)
  --help          this text

suites:
${suites.map((s) => `  ${s.name.padEnd(8)} ${s.what}`).join('\n')}
`;

const bench: Command = {
  name: 'bench',
  summary: 'run the benchmarks and print ratios against in-run baselines',
  usage,
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        options: { only: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'string' }, cost: { type: 'string' } },
        strict: true,
      }));
    } catch (err) {
      process.stderr.write(`ioasid bench: ${(err as Error).message}\n`);
      return EXIT_USAGE;
    }
    const wanted = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : suites.map((s) => s.name);
    const unknown = wanted.filter((w) => !suites.some((s) => s.name === w));
    if (unknown.length > 0) {
      process.stderr.write(`ioasid bench: --only: unknown suite '${unknown.join(', ')}' (known: ${suites.map((s) => s.name).join(', ')})\n`);
      return EXIT_USAGE;
    }
    if (values.cost !== undefined) {
      // Checked before any suite runs, so a typo costs nothing.
      try {
        (await import('../../reference/vmm/cost-model.ts')).parseCostModel(values.cost);
      } catch (e) {
        process.stderr.write(`ioasid bench: ${(e as Error).message}\n`);
        return EXIT_USAGE;
      }
    }
    const all: Figures = {};
    for (const suite of suites.filter((s) => wanted.includes(s.name))) {
      process.stdout.write(`# ${suite.name}: ${suite.what}\n`);
      let figures: Figures;
      try {
        figures = await suite.run({ quick: values.quick === true, cost: values.cost, print: (s) => process.stdout.write(s) });
      } catch (e) {
        if ((e as Error).name !== 'CostModelError' && !(e as Error).message.startsWith('--cost')) throw e;
        process.stderr.write(`ioasid bench: ${(e as Error).message}\n`);
        return EXIT_USAGE;
      }
      for (const [key, value] of Object.entries(figures)) {
        // Suites may or may not prefix their keys with their own name; the JSON is uniform.
        const full = key.startsWith(`${suite.name}.`) ? key : `${suite.name}.${key}`;
        all[full] = value;
        process.stdout.write(`${full.padEnd(48)} ${formatFigure(value)}\n`);
      }
    }
    if (values.json) {
      writeFileSync(values.json, `${JSON.stringify(all, null, 2)}\n`);
      process.stdout.write(`figures written to ${values.json}\n`);
    }
    return EXIT_OK;
  },
};

function formatFigure(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(4);
}

export default bench;
