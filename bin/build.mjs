#!/usr/bin/env node
// `npm run build`: compiles the TypeScript into plain ESM JavaScript and declaration files in
// dist/ (tsconfig.build.json), from scratch so that no output of a deleted source survives.
// Last, dist/sources.json lists the sources the build was made from; bin/ioasid.mjs compares
// their times with that file's to tell whether the build is current, without walking the tree.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}

function compiled(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return compiled(p);
    return e.name.endsWith('.js') ? [relative(dist, p).split('\\').join('/').replace(/\.js$/, '.ts')] : [];
  });
}
writeFileSync(join(dist, 'sources.json'), `${JSON.stringify(compiled(dist).sort(), null, 1)}\n`);
