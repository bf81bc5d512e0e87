/**
 * `ioasid fuzz`: the differential fuzzer (conformance/fuzz/) from the command line — random
 * ioctl sequences on the reference (with its invariant checker) and on another implementation
 * at once, each difference shrunk to a minimal sequence and written as a candidate case file.
 * fast-check is a development dependency: the command runs in a checkout (npm ci), and says so
 * where it is missing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, nonNegativeInt, parseFlags, type Command } from '../command.ts';
import { parseAdapterSpec } from '../../conformance/runner/adapter-spec.ts';
import { REPO_ROOT } from '../../conformance/runner/case-loader.ts';
import { loadCatalog } from '../../conformance/runner/catalog-source.ts';
import type { Transport } from '../../conformance/runner/transport.ts';
import { createReferenceAdapter } from '../../reference/adapter.ts';

const PYTHON_ADAPTER = `stdio:python3 '${join(REPO_ROOT, 'conformance', 'adapters', 'python', 'ioas_adapter.py')}'`;

const usage = `usage: ioasid fuzz [--seconds N] [--seed N] [--out <dir>] [--json <file>] [--adapter <spec>]

Differential fuzzing: random sequences of IOAS_ALLOC, MAP, UNMAP, COPY, DESTROY, HWPT_ALLOC,
device bind/attach/detach and access pin/unpin/rw steps, valid and invalid, on the mock
topology (conformance/topologies/mock-two.json), run on the reference (with --check-invariants)
and on another implementation at once. After every step the errno, the compared output fields
and STATE (object IDs, pinned frames, accounting counters) must agree; after the context is
closed neither side may hold anything. A difference, a crash or a broken invariant is shrunk
to a minimal sequence and written as a case file whose expected values are the reference's
answers: check them against Linux before the case joins the suite.

  --seconds N        time budget, shrinking included (default 60)
  --seed N           first seed (default 1); after a finding the run goes on with the next
  --max-length N     longest sequence drawn (default 30)
  --out <dir>        write each minimal sequence as <dir>/fuzz/seed-<seed>.json
  --json <file>      write the figures (sequences, steps, findings, time) as JSON
  --adapter <spec>   the other implementation: stdio:<command> or module:<path>
                     (default: the Python adapter, conformance/adapters/python/ioas_adapter.py)
  --help             this text

Exit status: 0 no difference, 1 differences found, 2 usage error.
`;

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('fuzz', usage, {
    args: argv,
    options: {
      seconds: { type: 'string' },
      seed: { type: 'string' },
      'max-length': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'string' },
      adapter: { type: 'string' },
    },
  });
  if (parsed === null) return EXIT_USAGE;
  const o = parsed.values;
  let seconds: number, seed: number, maxLength: number;
  try {
    seconds = nonNegativeInt(o.seconds, '--seconds', 60);
    seed = nonNegativeInt(o.seed, '--seed', 1);
    maxLength = nonNegativeInt(o['max-length'], '--max-length', 30);
    if (maxLength < 1) throw new Error('--max-length 0: expected at least 1');
  } catch (e) {
    process.stderr.write(`ioasid fuzz: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  let fuzzMod: typeof import('../../conformance/fuzz/fuzz.ts');
  try {
    fuzzMod = await import('../../conformance/fuzz/fuzz.ts');
  } catch (e) {
    process.stderr.write(`ioasid fuzz: needs the development dependency fast-check (npm ci in a checkout): ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  const catalog = await loadCatalog();
  const spec = o.adapter ?? PYTHON_ADAPTER;
  let other: Transport;
  try {
    const adapter = await parseAdapterSpec(spec, catalog);
    if (adapter.config.kind === 'reference') throw new Error('--adapter: the other side must not be the reference itself');
    other = await adapter.factory();
    await other.hello({ protocol: 1 } as never);
  } catch (e) {
    process.stderr.write(`ioasid fuzz: --adapter ${spec}: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  try {
    const ref = createReferenceAdapter(catalog, { checkInvariants: true });
    await ref.hello({ protocol: 1 } as never);
    const name = o.adapter === undefined ? 'python' : 'adapter';
    const figures = await fuzzMod.fuzz({
      sides: [{ name: 'reference', adapter: ref }, { name, adapter: other }],
      catalog, seed, budgetMs: seconds * 1000, maxLength, outDir: o.out,
    });
    process.stderr.write(`fuzz: seed ${seed}, ${figures.sequences} sequence(s), ${figures.steps} step(s) on each side, ${figures.findings.length} difference(s) in ${(figures.elapsed_ms / 1000).toFixed(1)} s\n`);
    for (const f of figures.findings) process.stderr.write(`  seed ${f.seed}: ${f.kind}: ${f.message}${f.file ? `\n    minimal sequence (${f.steps} step(s)): ${f.file}` : ''}\n`);
    if (o.json) {
      mkdirSync(dirname(o.json), { recursive: true });
      writeFileSync(o.json, `${JSON.stringify({ ...figures, findings: figures.findings.map(({ case: _c, ...rest }) => rest) }, null, 2)}\n`);
    }
    return figures.findings.length > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    await other.dispose();
  }
}

const fuzzCommand: Command = { name: 'fuzz', summary: 'differential fuzzing: random ioctl sequences on the reference and another implementation', usage, run };
export default fuzzCommand;
