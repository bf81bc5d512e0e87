#!/usr/bin/env node
// Entry point of the `ioasid` command. It runs the compiled build (dist/, `npm run build`) when
// that is there and current, and otherwise the TypeScript sources through tsx, so that a fresh
// checkout runs as it is, with no build step. "Current": an installed package (no .git beside
// it) always uses its build; a checkout uses it only while none of the sources it was made from
// (dist/sources.json, written last by bin/build.mjs) is newer than it or gone, so that an edit
// is never hidden by a stale build. IOASID_FROM_SOURCE=1 forces the sources.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiledMain = join(root, 'dist', 'cli', 'main.js');
const manifest = join(root, 'dist', 'sources.json');

function compiledIsCurrent() {
  if (process.env.IOASID_FROM_SOURCE === '1' || !existsSync(manifest) || !existsSync(compiledMain)) return false;
  if (!existsSync(join(root, '.git'))) return true;
  const builtMs = statSync(manifest).mtimeMs;
  try {
    return JSON.parse(readFileSync(manifest, 'utf8')).every((source) => statSync(join(root, source)).mtimeMs <= builtMs);
  } catch {
    return false;
  }
}

// A reader that stops early (`ioasid list | head`) ends the command quietly, as for any Unix tool.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

let main;
if (compiledIsCurrent()) {
  ({ main } = await import(pathToFileURL(compiledMain).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
