/**
 * `ioasid gen`: derived artefacts of the schemas. `types` writes schemas/generated/*.ts
 * (json-schema-to-typescript, every schema below schemas/), `c-header` writes the uAPI structs as
 * a C header for C adapters. `--check` compares instead of writing (exit 1 on a difference), so
 * CI can tell when someone edited a schema without regenerating.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, wantsHelp, type Command } from '../command.ts';
import { SCHEMAS_DIR } from '../../schemas/lib/catalog.ts';
import { generateTypes } from '../../schemas/lib/gen-types.ts';
import { generateCHeader } from '../../schemas/lib/gen-c-header.ts';

export const GENERATED_DIR = join(SCHEMAS_DIR, 'generated');
export const C_HEADER_PATH = join(GENERATED_DIR, 'ioasid_uapi.h');

const usage = `usage: ioasid gen types [--check]
       ioasid gen c-header [--out <file>] [--check]

  types      regenerate schemas/generated/*.ts from every schema below schemas/ (uapi/, defs/,
             case, protocol, report); same as npm run gen
  c-header   write the uAPI structs as a C header (names prefixed ioasid_/IOASID_, layout of
             the kernel's LP64 uAPI); default schemas/generated/ioasid_uapi.h
  --out <file>  where to write the header
  --check       write nothing; exit 1 and name the files that differ from what would be written
  --help        this text
`;

/** Files of schemas/generated/ that `gen types` owns (every .ts there). */
function existingTypeFiles(): string[] {
  return existsSync(GENERATED_DIR) ? readdirSync(GENERATED_DIR).filter((f) => f.endsWith('.ts')).sort() : [];
}

/** Differences between what `gen types` would write and what is on disk ([] = in sync). */
export async function typesOutOfDate(): Promise<string[]> {
  const want = await generateTypes();
  const diffs: string[] = [];
  for (const [name, text] of want) {
    const p = join(GENERATED_DIR, name);
    if (!existsSync(p)) diffs.push(`schemas/generated/${name}: missing`);
    else if (readFileSync(p, 'utf8') !== text) diffs.push(`schemas/generated/${name}: differs`);
  }
  for (const f of existingTypeFiles()) if (!want.has(f)) diffs.push(`schemas/generated/${f}: stale (no schema produces it)`);
  return diffs;
}

async function genTypes(check: boolean): Promise<number> {
  if (check) {
    const diffs = await typesOutOfDate();
    for (const d of diffs) process.stderr.write(`${d}\n`);
    if (diffs.length > 0) process.stderr.write('generated types are out of date: run npm run gen\n');
    return diffs.length > 0 ? EXIT_FAILED : EXIT_OK;
  }
  const want = await generateTypes();
  mkdirSync(GENERATED_DIR, { recursive: true });
  for (const f of existingTypeFiles()) if (!want.has(f)) unlinkSync(join(GENERATED_DIR, f));
  for (const [name, text] of want) writeFileSync(join(GENERATED_DIR, name), text);
  process.stdout.write(`wrote ${want.size} files to ${relative(process.cwd(), GENERATED_DIR) || '.'}\n`);
  return EXIT_OK;
}

function genCHeader(out: string, check: boolean): number {
  const text = generateCHeader();
  if (check) {
    const same = existsSync(out) && readFileSync(out, 'utf8') === text;
    if (!same) process.stderr.write(`${out}: differs from the schemas: run ioasid gen c-header\n`);
    return same ? EXIT_OK : EXIT_FAILED;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}\n`);
  return EXIT_OK;
}

const gen: Command = {
  name: 'gen',
  summary: 'generate TypeScript types and a C header from the schemas',
  usage,
  async run(argv) {
    if (wantsHelp(argv)) {
      process.stdout.write(usage);
      return EXIT_OK;
    }
    const parsed = parseFlags('gen', usage, { args: argv, allowPositionals: true, options: { out: { type: 'string' }, check: { type: 'boolean' } } });
    if (parsed === null) return EXIT_USAGE;
    const [sub, ...rest] = parsed.positionals;
    if (rest.length > 0) {
      process.stderr.write(`ioasid gen: unexpected argument ${rest[0]}\n${usage}`);
      return EXIT_USAGE;
    }
    const check = parsed.values.check === true;
    try {
      if (sub === 'types') {
        if (parsed.values.out !== undefined) throw new UsageError('--out applies to c-header only');
        return await genTypes(check);
      }
      if (sub === 'c-header') return genCHeader(parsed.values.out ?? C_HEADER_PATH, check);
      throw new UsageError(sub === undefined ? 'which artefact? (types or c-header)' : `unknown artefact ${sub}`);
    } catch (e) {
      if (e instanceof UsageError) {
        process.stderr.write(`ioasid gen: ${e.message}\n${usage}`);
        return EXIT_USAGE;
      }
      process.stderr.write(`ioasid gen: ${(e as Error).message}\n`);
      return EXIT_FAILED;
    }
  },
};

class UsageError extends Error {}

export default gen;
