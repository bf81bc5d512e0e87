/**
 * `ioasid repro <case-id>`: runs one case alone and prints each step as compiled next to every
 * call it caused and what came back; `--script` also writes a standalone Python replay of the
 * conversation. Exit 0 when the case passed, 1 when it did not, 2 on a usage error.
 */
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, checkCasePaths, nonNegativeInt, parseFlags, type Command } from '../command.ts';
import { parseAdapterSpec } from '../../conformance/runner/adapter-spec.ts';
import { DEFAULT_CASES_DIR, loadCases } from '../../conformance/runner/case-loader.ts';
import { loadCatalog } from '../../conformance/runner/catalog-source.ts';
import { renderRepro, reproduce } from '../../conformance/runner/repro.ts';
import { reproScript } from '../../conformance/runner/repro-script.ts';
import { shellWord } from '../../conformance/runner/report-dir.ts';
import { suggest } from '../../conformance/runner/suggest.ts';


const usage = `usage: ioasid repro <case-id> [--adapter <spec>] [--cases <path>]… [--script <file>]

Run one case alone against an adapter and print every step as the runner compiled it (flags
and enums resolved, size filled in, $captures substituted, pointer content and where it was
placed) next to every call it caused and what came back.

  --adapter <spec>        reference (default) | stdio:'<command>' | module:<path>
  --cases <path>          a case folder or file; repeatable (default conformance/cases)
  --script <file>         also write a standalone Python 3 script (standard library only) that
                          replays the recorded requests against a stdio adapter and marks every
                          answer that differs; run it as: python3 <file> ['<adapter command>']
  --timeout <ms>          time limit for the case (default 30000)
  --hello-timeout <ms>    time limit for the adapter's hello (default 30000)
  --help                  this text

Exit status: 0 the case passed; 1 it did not; 2 usage or adapter error.
`;

/** The stdio command a replay script runs by default: the adapter itself, or the reference served. */
function replayCommand(spec: string): string {
  if (spec.startsWith('stdio:')) return spec.slice('stdio:'.length).trim();
  if (spec.startsWith('module:')) return `npx ioasid serve --adapter ${shellWord(spec)}`;
  return 'npx ioasid serve';
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('repro', usage, {
    args: argv,
    allowPositionals: true,
    options: {
      adapter: { type: 'string', default: 'reference' },
      cases: { type: 'string', multiple: true },
      script: { type: 'string' },
      timeout: { type: 'string' },
      'hello-timeout': { type: 'string' },
    },
  });
  if (parsed === null) return EXIT_USAGE;
  const o = parsed.values;
  try {
    if (parsed.positionals.length !== 1) throw new Error(`expected one case id, got ${parsed.positionals.length}`);
    const id = parsed.positionals[0];
    const casePaths = o.cases && o.cases.length > 0 ? o.cases : [DEFAULT_CASES_DIR];
    checkCasePaths(casePaths);
    const { cases } = loadCases(casePaths);
    const lc = cases.find((c) => c.case.id === id);
    if (!lc) throw new Error(`no case '${id}' in ${casePaths.join(', ')}${suggest(id, cases.map((c) => c.case.id))}`);
    const catalog = await loadCatalog();
    const adapter = await parseAdapterSpec(o.adapter!, catalog);
    const r = await reproduce(adapter.factory, catalog, lc, {
      helloMs: nonNegativeInt(o['hello-timeout'], '--hello-timeout', 30_000),
      caseMs: nonNegativeInt(o.timeout, '--timeout', 30_000),
    });
    process.stdout.write(renderRepro(lc, r, o.adapter!));
    if (o.script) {
      mkdirSync(dirname(o.script), { recursive: true });
      writeFileSync(o.script, reproScript({ caseId: id, calls: r.calls, command: replayCommand(o.adapter!), generatedBy: ['ioasid', 'repro', ...argv].map(shellWord).join(' ') }));
      chmodSync(o.script, 0o755);
      process.stderr.write(`wrote ${o.script} (${r.calls.length} requests): python3 ${shellWord(o.script)}\n`);
    }
    return r.report.result === 'pass' ? EXIT_OK : EXIT_FAILED;
  } catch (e) {
    process.stderr.write(`ioasid repro: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

const repro: Command = { name: 'repro', summary: 'run one case alone, printing each compiled step next to its answer', usage, run };
export default repro;
