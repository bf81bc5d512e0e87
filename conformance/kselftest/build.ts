/**
 * Builds the kernel's iommufd selftests (tools/testing/selftests/iommu: `iommufd`,
 * `iommufd_fail_nth`) of a user's kernel tree, or of a kernel source tarball, for a run against
 * the fake /dev/iommu. Nothing of the tree is written into this repository: the selftest
 * sources, the kselftest harness and the tree's uAPI headers are copied at run time into a
 * temporary shadow tree that keeps the selftest's relative include of
 * `../../../../drivers/iommu/iommufd/iommufd_test.h`.
 *
 * The build first uses the tree's own headers (include/uapi/linux/iommufd.h and vfio.h, and
 * its iommufd_test.h). When that fails — a tree whose selftests were backported ahead of its
 * uAPI — the compiler's missing names are recorded and the build is retried against headers
 * generated from our schemas (schemas/lib/gen-linux-headers.ts) in place of iommufd.h and
 * iommufd_test.h. A cc probe then reads the IOMMU_TEST_OP_* numbering of the iommufd_test.h
 * actually compiled against, for the fake (IOASID_TEST_OPS).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { generateLinuxHeaders } from '../../schemas/lib/gen-linux-headers.ts';

/** The selftest binaries, in the order they run. */
export const SELFTEST_BINARIES = ['iommufd', 'iommufd_fail_nth'] as const;

const SELFTESTS = 'tools/testing/selftests';
const TEST_HEADER = 'drivers/iommu/iommufd/iommufd_test.h';
const UAPI = ['include/uapi/linux/iommufd.h', 'include/uapi/linux/vfio.h'];
/** What the build needs of a tree (folders end in /). */
const NEEDED = [`${SELFTESTS}/iommu/`, `${SELFTESTS}/kselftest_harness.h`, `${SELFTESTS}/kselftest.h`, `${SELFTESTS}/kselftest_harness/`, TEST_HEADER, ...UAPI];
/** The selftest Makefile's CFLAGS (KHDR_INCLUDES is our include folder). */
const CFLAGS = ['-Wall', '-O2', '-Wno-unused-function'];

export type HeaderSource = 'tree' | 'generated';

export interface BuildAttempt {
  headers: HeaderSource;
  ok: boolean;
  /** The compiler's errors (first lines), per binary that failed. */
  errors: Record<string, string[]>;
  /** Names the compiler found missing (undeclared identifiers, struct members). */
  missing: string[];
}

export interface SelftestBuild {
  /** The shadow tree (a temp folder; remove with cleanup()). */
  dir: string;
  /** The binaries built, by name. */
  binaries: Record<string, string>;
  /** The headers the binaries were built with, and every attempt in order. */
  headers: HeaderSource | null;
  attempts: BuildAttempt[];
  /** IOMMU_TEST_OP_* numbers of the header compiled against, as IOASID_TEST_OPS wants them. */
  testOps: Record<number, string>;
  cleanup(): void;
}

/** Unpacks what the build needs from a kernel source tarball into `into`; the tree's top folder. */
function unpackTarball(tarball: string, into: string): string {
  const patterns = NEEDED.map((p) => (p.endsWith('/') ? `*/${p}*` : `*/${p}`));
  // A pattern that matches nothing (kselftest_harness/ before 6.16) makes tar exit 2; the
  // files that are there are unpacked all the same, and their absence is checked below.
  spawnSync('tar', ['-xf', tarball, '-C', into, '--wildcards', ...patterns], { stdio: ['ignore', 'ignore', 'pipe'] });
  const tops = readdirSync(into).filter((d) => statSync(join(into, d)).isDirectory());
  if (tops.length !== 1) throw new Error(`${tarball}: expected one top folder holding ${SELFTESTS}/iommu, found ${tops.length}`);
  return join(into, tops[0]);
}

/** Copies the needed files of `tree` into the shadow tree `dir`. */
function copyTree(tree: string, dir: string): void {
  for (const rel of NEEDED) {
    const from = join(tree, rel);
    if (!existsSync(from)) continue;
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    cpSync(from, join(dir, rel), { recursive: true });
  }
  for (const rel of [`${SELFTESTS}/iommu/iommufd.c`, `${SELFTESTS}/kselftest_harness.h`, TEST_HEADER]) {
    if (!existsSync(join(dir, rel))) throw new Error(`${tree}: no ${rel} (is it a Linux source tree with the iommufd selftests?)`);
  }
}

/**
 * A uAPI header as `make headers` installs it: the kernel-only annotations (__user, __force,
 * __iomem, __attribute_const__) taken out, the way scripts/headers_install.sh does.
 */
export function asInstalled(text: string): string {
  return text.replace(/([\s(])(__user|__force|__iomem)\s/g, '$1').replace(/__attribute_const__(\s|$)/gm, '$1');
}

/** The names a compiler's errors say are missing. */
export function missingNames(stderr: string): string[] {
  const names = new Set<string>();
  for (const m of stderr.matchAll(/[‘'`](\w+)[’'] undeclared/g)) names.add(m[1]);
  for (const m of stderr.matchAll(/has no member named [‘'`](\w+)[’']/g)) names.add(`.${m[1]}`);
  for (const m of stderr.matchAll(/unknown type name [‘'`](\w+)[’']/g)) names.add(m[1]);
  for (const m of stderr.matchAll(/storage size of [‘'`](\w+)[’'] isn.t known/g)) names.add(m[1]);
  return [...names].sort();
}

function cc(): string {
  return process.env.CC && process.env.CC.trim() !== '' ? process.env.CC : 'cc';
}

function compile(dir: string, include: string, out: string, binaries: Record<string, string>): BuildAttempt['errors'] {
  const errors: BuildAttempt['errors'] = {};
  const src = join(dir, SELFTESTS, 'iommu');
  for (const bin of SELFTEST_BINARIES) {
    if (!existsSync(join(src, `${bin}.c`))) continue;
    const r = spawnSync(cc(), [...CFLAGS, '-I', include, '-o', join(out, bin), `${bin}.c`], { cwd: src, encoding: 'utf8' });
    if (r.status === 0) binaries[bin] = join(out, bin);
    else errors[bin] = (r.stderr || String(r.error ?? 'cc failed')).split('\n').filter((l) => /error/.test(l)).slice(0, 40);
    if (r.status !== 0 && errors[bin].length === 0) errors[bin] = [(r.stderr || '').trim().split('\n').slice(-1)[0] ?? 'cc failed'];
  }
  return errors;
}

/**
 * The IOMMU_TEST_OP_* numbers the header in `include`/`testHeader` defines: a small C program
 * prints each name the catalog knows; names the header lacks are dropped after each compile.
 */
export function probeTestOps(include: string, testHeader: string, workDir: string): Record<number, string> {
  const e = getCatalog().enums.get('iommu_test_op');
  if (!e) return {};
  let names = Object.keys(e.values);
  for (let attempt = 0; attempt < 4 && names.length > 0; attempt++) {
    const src = join(workDir, 'probe-test-ops.c');
    const lines = ['#include <stdio.h>', `#include "${testHeader}"`, 'int main(void) {'];
    for (const n of names) lines.push(`\tprintf("%d=${n.replace(/^IOMMU_TEST_OP_/, '')}\\n", (int)${n});`);
    lines.push('\treturn 0;', '}', '');
    writeFileSync(src, lines.join('\n'));
    const exe = join(workDir, 'probe-test-ops');
    const r = spawnSync(cc(), ['-I', include, '-o', exe, src], { encoding: 'utf8' });
    if (r.status !== 0) {
      const missing = new Set(missingNames(r.stderr ?? ''));
      const left = names.filter((n) => !missing.has(n));
      if (left.length === names.length) return {};
      names = left;
      continue;
    }
    const out = spawnSync(exe, [], { encoding: 'utf8' }).stdout ?? '';
    const ops: Record<number, string> = {};
    for (const m of out.matchAll(/^(\d+)=(\w+)$/gm)) ops[Number(m[1])] = m[2];
    return ops;
  }
  return {};
}

/** IOASID_TEST_OPS for the fake: "1=ADD_RESERVED,2=MOCK_DOMAIN,…". */
export function testOpsEnv(ops: Record<number, string>): string {
  return Object.entries(ops).map(([n, name]) => `${n}=${name}`).join(',');
}

/**
 * Copies the selftests of `linux` (a kernel tree, or a .tar[.xz|.gz] of one) into a temp shadow
 * tree and builds them: the tree's headers first, ours when those fail (unless `headers` forces
 * one).
 */
export function buildSelftests(linux: string, opts: { headers?: HeaderSource } = {}): SelftestBuild {
  if (!existsSync(linux)) throw new Error(`--linux ${linux}: no such file or folder`);
  const dir = mkdtempSync(join(tmpdir(), 'ioasid-kselftest-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    let tree = linux;
    if (statSync(linux).isFile()) {
      mkdirSync(join(dir, 'unpacked'));
      tree = unpackTarball(linux, join(dir, 'unpacked'));
    }
    const shadow = join(dir, 'shadow');
    copyTree(tree, shadow);
    const out = join(dir, 'bin');
    mkdirSync(out);
    // The tree's headers where `make headers` would put them, and ours next to them.
    const treeInclude = join(dir, 'include-tree');
    const genInclude = join(dir, 'include-generated');
    mkdirSync(join(treeInclude, 'linux'), { recursive: true });
    mkdirSync(join(genInclude, 'linux'), { recursive: true });
    for (const rel of UAPI) {
      if (existsSync(join(shadow, rel))) writeFileSync(join(treeInclude, 'linux', rel.split('/').pop()!), asInstalled(readFileSync(join(shadow, rel), 'utf8')));
    }
    const vfio = join(treeInclude, 'linux', 'vfio.h');
    if (existsSync(vfio)) cpSync(vfio, join(genInclude, 'linux', 'vfio.h'));
    const gen = generateLinuxHeaders();
    writeFileSync(join(genInclude, 'linux', 'iommufd.h'), gen.iommufd);
    const testHeader = join(shadow, TEST_HEADER);
    const treeTestHeader = join(dir, 'iommufd_test.tree.h');
    cpSync(testHeader, treeTestHeader);

    const attempts: BuildAttempt[] = [];
    const order: HeaderSource[] = opts.headers ? [opts.headers] : ['tree', 'generated'];
    let binaries: Record<string, string> = {};
    let used: HeaderSource | null = null;
    for (const headers of order) {
      if (headers === 'tree') cpSync(treeTestHeader, testHeader);
      else writeFileSync(testHeader, gen.iommufdTest);
      binaries = {};
      const errors = compile(shadow, headers === 'tree' ? treeInclude : genInclude, out, binaries);
      const stderr = Object.values(errors).flat().join('\n');
      const ok = Object.keys(errors).length === 0 && Object.keys(binaries).length > 0;
      attempts.push({ headers, ok, errors, missing: missingNames(stderr) });
      if (ok) {
        used = headers;
        break;
      }
    }
    const testOps = used ? probeTestOps(used === 'tree' ? treeInclude : genInclude, testHeader, dir) : {};
    return { dir, binaries: used ? binaries : {}, headers: used, attempts, testOps, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}
