/**
 * The package as a user gets it: packed (`npm pack`, whose prepack runs the compiled build),
 * installed from the tarball into a fresh project, and used from there — `npx ioasid`
 * (--version, list, a one-case conform through a TypeScript module adapter built on
 * 'ioasid/reference'), and a type-check of module adapters against `import type { Adapter }
 * from 'ioasid'`.
 *
 * The checkout itself is not touched: the package's files are copied into a staging folder (its
 * node_modules linked to the checkout's) and packed there, so the checkout's dist/ is neither
 * built nor removed under the other tests' feet. Nothing is fetched: the install runs --offline
 * from npm's cache, which `npm ci` has filled with exactly these dependencies. Should the cache
 * not hold them, the tarball is unpacked by hand and the checkout's node_modules linked beside
 * it, which still tests what is in the tarball and how it starts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../schemas/lib/package-root.ts';

const work = mkdtempSync(join(tmpdir(), 'ioasid-install-'));
const project = join(work, 'project');
const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', IOASID_FROM_SOURCE: '' };
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** The package's files plus what its build needs, copied without dist/, node_modules or reports. */
function stage(): string {
  const staging = join(work, 'staging');
  mkdirSync(staging);
  const skip = new Set(['node_modules', 'dist', 'reports', '.git']);
  for (const name of readdirSync(PACKAGE_ROOT)) {
    if (skip.has(name) || name.startsWith('.')) continue;
    cpSync(join(PACKAGE_ROOT, name), join(staging, name), { recursive: true });
  }
  symlinkSync(join(PACKAGE_ROOT, 'node_modules'), join(staging, 'node_modules'), 'dir');
  return staging;
}

let tarball = '';

beforeAll(() => {
  const staging = stage();
  const packed = run(NPM, ['pack', '--silent', '--pack-destination', work], staging);
  expect(packed.status, packed.stderr).toBe(0);
  tarball = join(work, packed.stdout.trim().split('\n').pop()!);
  expect(existsSync(tarball)).toBe(true);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'an-implementation', version: '1.0.0', type: 'module', private: true }));
  // The user's project is a git repository of its own: its HEAD must not pass for the suite's commit.
  execFileSync('git', ['init', '-q', project]);
  execFileSync('git', ['-C', project, '-c', 'user.name=u', '-c', 'user.email=u@example.org', 'commit', '-q', '--allow-empty', '-m', 'user project']);
  const installed = run(NPM, ['install', tarball, '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], project);
  if (installed.status !== 0) {
    console.warn(`npm install --offline failed (dependencies not in npm's cache?); unpacking the tarball by hand instead:\n${installed.stderr}`);
    const dest = join(project, 'node_modules', 'ioasid');
    mkdirSync(dest, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1']);
    symlinkSync(join(PACKAGE_ROOT, 'node_modules'), join(dest, 'node_modules'), 'dir');
    mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(join(dest, 'bin', 'ioasid.mjs'), join(project, 'node_modules', '.bin', 'ioasid'));
  }
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the installed package', () => {
  it('holds the compiled build, its declarations and the data, and none of the tests', () => {
    const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/dist/cli/main.js', 'package/dist/index.d.ts', 'package/dist/sources.json', 'package/bin/ioasid.mjs', 'package/schemas/case.schema.json', 'package/conformance/cases', 'package/spec/README.md']) {
      expect(listed.some((l) => l.startsWith(f)), f).toBe(true);
    }
    expect(listed.filter((l) => l.endsWith('.test.ts'))).toEqual([]);
  });

  it("answers npx ioasid --version (no commit: the project's HEAD is not the suite's) and list", () => {
    const version = run('npx', ['--no-install', 'ioasid', '--version'], project);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^ioasid 0\.\d+\.\d+, protocol 1, interpreting \d+\n$/);
    const list = run('npx', ['--no-install', 'ioasid', 'list', '--filter', 'ioas/alloc/flags-nonzero'], project);
    expect(list.status, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((c) => c.id)).toEqual(['ioas/alloc/flags-nonzero']);
  });

  it('runs conform through a TypeScript module adapter that wraps ioasid/reference', () => {
    writeFileSync(join(project, 'wrapped.ts'), [
      "import type { Adapter } from 'ioasid';",
      "import { createReferenceAdapter } from 'ioasid/reference';",
      'export default function createAdapter(): Adapter {',
      '  return createReferenceAdapter();',
      '}',
      '',
    ].join('\n'));
    const r = run('npx', ['--no-install', 'ioasid', 'conform', '--adapter', 'module:./wrapped.ts', '--filter', 'ioas/alloc/flags-nonzero', '--report', 'report', '--quiet'], project);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(existsSync(join(project, 'report', 'report.json'))).toBe(true);
  });

  it("type-checks a module adapter against import type { Adapter } from 'ioasid', and refuses one that lacks a method", () => {
    const adapter = (methods: string[]) => [
      "import type { Adapter, IoctlParams, IoctlResult } from 'ioasid';",
      "import { AdapterError, RPC_METHOD_NOT_FOUND } from 'ioasid';",
      "const unsupported = (): never => { throw new AdapterError(RPC_METHOD_NOT_FOUND, 'not implemented'); };",
      'export default function createAdapter(): Adapter {',
      '  return {',
      ...methods.map((m) => (m === 'ioctl' ? '    ioctl: async (_p: IoctlParams): Promise<IoctlResult> => unsupported(),' : `    ${m}: async () => unsupported(),`)),
      '  };',
      '}',
      '',
    ].join('\n');
    const all = ['hello', 'world', 'open', 'close', 'ioctl', 'test', 'shutdown'];
    writeFileSync(join(project, 'good-adapter.ts'), adapter(all));
    writeFileSync(join(project, 'bad-adapter.ts'), adapter(all.filter((m) => m !== 'ioctl')));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ['good-adapter.ts', 'bad-adapter.ts'],
    }));
    const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], project);
    const errors = r.stdout.split('\n').filter((l) => l.includes('error TS'));
    expect(errors.length, r.stdout).toBe(1);
    expect(errors[0]).toMatch(/^bad-adapter\.ts\(5,3\): error TS2741: Property 'ioctl' is missing/);
  });
});
