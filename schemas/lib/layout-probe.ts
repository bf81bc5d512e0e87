/**
 * The layout probe: a C program generated from what c-header-reader.ts found in a header,
 * compiled against that header with the machine's C compiler (`cc`, or $CC) and run, printing
 * every struct's sizeof and _Alignof, every field's offsetof and sizeof, and the value of every
 * enumerator and object-like #define that is an integer constant expression (ioctl numbers,
 * flags). The compiler, not our reading, decides every number.
 *
 * Which #defines are integer constants is also the compiler's call: a first syntax-only pass
 * asserts each with _Static_assert — of integer type (__builtin_classify_type, GCC and Clang;
 * GCC would fold a string literal in `||`) and constant — and the ones it rejects (strings,
 * types, empty or partial expressions) are left out of the program. Everything runs in a temporary folder, removed after.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { HeaderItems } from './c-header-reader.ts';

export interface ProbedField {
  offsetBytes: number;
  /** Absent for a flexible array member. */
  sizeBytes?: number;
  /** Element count of a fixed array. */
  count?: number;
}

export interface ProbedStruct {
  sizeBytes: number;
  alignBytes: number;
  fields: Map<string, ProbedField>;
}

export interface ProbeResult {
  structs: Map<string, ProbedStruct>;
  /** Enumerators and integer #defines → value (ioctl numbers included). BigInt: some are 64-bit. */
  values: Map<string, bigint>;
  /** #defines the compiler did not accept as integer constants. */
  notConstant: string[];
  compiler: string;
}

export function compilerCommand(): string {
  return process.env.CC && process.env.CC.trim() !== '' ? process.env.CC.trim() : 'cc';
}

/** True when the C compiler runs. */
export function haveCompiler(): boolean {
  return spawnSync(compilerCommand(), ['--version'], { stdio: 'ignore' }).status === 0;
}

const ident = (s: string): boolean => /^[A-Za-z_]\w*$/.test(s);

/** Line numbers (1-based) of the errors the compiler reports in `file`. */
function errorLines(stderr: string, file: string): Set<number> {
  const out = new Set<number>();
  const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const m of stderr.matchAll(new RegExp(`^${esc}:(\\d+):\\d+: error`, 'gm'))) out.add(Number(m[1]));
  return out;
}

function compile(cc: string, args: string[]): { ok: boolean; stderr: string } {
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run the C compiler '${cc}': ${r.error.message}`);
  return { ok: r.status === 0, stderr: r.stderr };
}

/** The header compiled on its own: throws with the compiler's message when it does not. */
function checkHeaderCompiles(cc: string, dir: string, include: string): void {
  const file = join(dir, 'header-alone.c');
  writeFileSync(file, `#include "${include}"\n`);
  const r = compile(cc, ['-std=gnu11', '-fsyntax-only', file]);
  if (!r.ok) throw new Error(`${include} does not compile on its own with ${cc}:\n${r.stderr.split('\n').slice(0, 8).join('\n')}`);
}

export function probeLayout(headerPath: string, items: HeaderItems): ProbeResult {
  const cc = compilerCommand();
  const include = resolve(headerPath);
  const dir = mkdtempSync(join(tmpdir(), 'ioasid-probe-'));
  try {
    checkHeaderCompiles(cc, dir, include);
    const enumerators = items.enums.flatMap((e) => e.enumerators.map((x) => x.name));
    const enumSet = new Set(enumerators);
    const candidates = items.macros.map((m) => m.name).filter((n) => ident(n) && !enumSet.has(n));

    // Pass 1: which macros are integer constant expressions; one assertion per line.
    const head = [`#include "${include}"`, ''];
    const checkFile = join(dir, 'constants.c');
    const lines = [...head, ...candidates.map((n, i) => `_Static_assert(__builtin_classify_type(${n}) == 1 && ((${n}) || 1), "c${i}");`)];
    writeFileSync(checkFile, `${lines.join('\n')}\n`);
    const bad = errorLines(compile(cc, ['-std=gnu11', '-fsyntax-only', '-w', '-fmax-errors=0', checkFile]).stderr, checkFile);
    const constants = candidates.filter((_, i) => !bad.has(head.length + i + 1));
    const notConstant = candidates.filter((_, i) => bad.has(head.length + i + 1));

    // Pass 2: the probe itself.
    const body: string[] = [];
    for (const s of items.structs) {
      const t = `struct ${s.name}`;
      body.push(`\tprintf("S %s %zu %zu\\n", "${s.name}", sizeof(${t}), _Alignof(${t}));`);
      for (const f of s.fields) {
        if (f.bitfield) continue;
        const m = `((${t} *)0)->${f.name}`;
        if (f.flexible) body.push(`\tprintf("F %s %s %zu - -\\n", "${s.name}", "${f.name}", offsetof(${t}, ${f.name}));`);
        else if (f.dimension !== undefined) body.push(`\tprintf("F %s %s %zu %zu %zu\\n", "${s.name}", "${f.name}", offsetof(${t}, ${f.name}), sizeof(${m}), sizeof(${m}) / sizeof(${m}[0]));`);
        else body.push(`\tprintf("F %s %s %zu %zu -\\n", "${s.name}", "${f.name}", offsetof(${t}, ${f.name}), sizeof(${m}));`);
      }
    }
    for (const n of [...enumerators, ...constants]) {
      // Negative values print as their 64-bit two's complement, read back signed below.
      body.push(`\tprintf("V %s %lld\\n", "${n}", (long long)(${n}));`);
    }
    const probe = join(dir, 'probe.c');
    writeFileSync(probe, ['#include <stddef.h>', '#include <stdio.h>', ...head, 'int main(void)', '{', ...body, '\treturn 0;', '}', ''].join('\n'));
    const exe = join(dir, 'probe');
    const r = compile(cc, ['-std=gnu11', '-w', '-o', exe, probe]);
    if (!r.ok) throw new Error(`the layout probe does not compile against ${headerPath}:\n${r.stderr.split('\n').slice(0, 12).join('\n')}`);
    const out = execFileSync(exe, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const structs = new Map<string, ProbedStruct>();
    const values = new Map<string, bigint>();
    for (const line of out.split('\n')) {
      const w = line.split(' ');
      if (w[0] === 'S') structs.set(w[1], { sizeBytes: Number(w[2]), alignBytes: Number(w[3]), fields: new Map() });
      else if (w[0] === 'F') {
        const f: ProbedField = { offsetBytes: Number(w[3]) };
        if (w[4] !== '-') f.sizeBytes = Number(w[4]);
        if (w[5] !== '-' && w[5] !== undefined) f.count = Number(w[5]);
        structs.get(w[1])!.fields.set(w[2], f);
      } else if (w[0] === 'V' && !values.has(w[1])) values.set(w[1], BigInt(w[2]));
    }
    return { structs, values, notConstant, compiler: cc };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
