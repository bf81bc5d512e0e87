/** The registry of sub-commands: adding one is a file in this folder and a line here. */
import type { Command } from '../command.ts';
import conform from './conform.ts';
import serve from './serve.ts';
import report from './report.ts';
import list from './list.ts';
import spec from './spec.ts';
import gen from './gen.ts';
import bench from './bench.ts';
import swnest from './swnest.ts';

export const commands: Command[] = [conform, serve, report, list, spec, gen, bench, swnest];
