/**
 * `ioasid schema check-header <iommufd.h> [vfio.h]`: real kernel headers checked against the
 * schemas by the C compiler (schemas/lib/header-check.ts): conflicts, what one side lacks, and
 * with --import draft schema entries for what the schemas lack. Exit 0 when every header agrees
 * with the schemas, 1 when any differs, 2 when it cannot run (no compiler, unreadable header).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { checkHeader, draftImports, headerCheckJson, renderHeaderCheck, type HeaderCheck, type HeaderKind } from '../../schemas/lib/header-check.ts';
import { formatIssues, validateBySchemaId } from '../../schemas/lib/validate.ts';
import { compilerCommand, haveCompiler } from '../../schemas/lib/layout-probe.ts';

const usage = `usage: ioasid schema check-header <header.h>… [--as iommufd|vfio] [--import] [--json <file>] [--report <dir>]

check-header:
Compiles a layout probe (sizeof, _Alignof, offsetof, ioctl numbers, enum and flag values) against
each kernel uAPI header with the machine's C compiler (cc, or $CC) and reports every difference
from the schemas: struct sizes, field offsets and types, ioctl numbers, values — and what the
header has that the schemas lack. Each header is iommufd.h or vfio.h (recognised by its content).

  <header.h>       include/uapi/linux/iommufd.h and/or vfio.h (e.g. /usr/include/linux/vfio.h)
  --as <kind>      treat every header as iommufd or vfio instead of recognising it
  --import         print draft schema entries (JSON) for what the schemas lack, instead of
                   the Markdown report (which --report still writes)
  --json <file>    write the differences as JSON (schemas/header-check.schema.json)
  --report <dir>   write header-check.md there
  --help           this text

Exit status: 0 every header agrees; 1 a header differs; 2 no compiler or a header that cannot be
read or compiled.
`;

function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('schema', usage, {
    args: argv,
    allowPositionals: true,
    options: { as: { type: 'string' }, import: { type: 'boolean' }, json: { type: 'string' }, report: { type: 'string' } },
  });
  if (parsed === null) return EXIT_USAGE;
  const [sub, ...headers] = parsed.positionals;
  const o = parsed.values;
  if (sub !== 'check-header' || headers.length === 0) {
    process.stderr.write(`ioasid schema: expected check-header <header.h>…\n\n${usage}`);
    return EXIT_USAGE;
  }
  if (o.as !== undefined && o.as !== 'iommufd' && o.as !== 'vfio') {
    process.stderr.write(`ioasid schema check-header: --as ${o.as}: expected iommufd or vfio\n`);
    return EXIT_USAGE;
  }
  const missing = headers.find((h) => !existsSync(h));
  if (missing !== undefined) {
    process.stderr.write(`ioasid schema check-header: argument '${missing}': no such file\n`);
    return EXIT_USAGE;
  }
  if (!haveCompiler()) {
    process.stderr.write(`ioasid schema check-header: no C compiler: '${compilerCommand()}' does not run (set CC)\n`);
    return EXIT_USAGE;
  }
  const cat = getCatalog();
  const checks: HeaderCheck[] = [];
  for (const h of headers) {
    try {
      checks.push(await checkHeader(h, cat, o.as as HeaderKind | undefined));
    } catch (e) {
      process.stderr.write(`ioasid schema check-header: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
  }
  const markdown = checks.map(renderHeaderCheck).join('\n');
  if (o.report) {
    writeFile(join(o.report, 'header-check.md'), markdown);
    process.stderr.write(`wrote ${join(o.report, 'header-check.md')}\n`);
  }
  if (o.import) process.stdout.write(`${JSON.stringify(checks.map((c) => draftImports(c, cat)), null, 2)}\n`);
  else if (!o.report) process.stdout.write(markdown);
  if (o.json) {
    const doc = headerCheckJson(checks);
    const bad = validateBySchemaId('header-check.schema.json', doc);
    if (bad) {
      process.stderr.write(`ioasid schema check-header: the result breaks header-check.schema.json: ${formatIssues('', bad).join('; ')}\n`);
      return EXIT_USAGE;
    }
    writeFile(o.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
  return checks.some((c) => c.differences.length > 0) ? EXIT_FAILED : EXIT_OK;
}

const schema: Command = { name: 'schema', summary: 'check real kernel uAPI headers against the schemas (C compiler probe)', usage, run };
export default schema;
