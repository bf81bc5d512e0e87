#!/usr/bin/env node
// Entry point of the `ioasid` command: loads the TypeScript CLI through tsx so that the
// checkout runs as it is, with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
