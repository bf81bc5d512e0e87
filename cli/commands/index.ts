/** The registry of sub-commands: adding one is a file in this folder and a line here. */
import type { Command } from '../command.ts';
import conform from './conform.ts';
import serve from './serve.ts';
import report from './report.ts';
import list from './list.ts';
import spec from './spec.ts';
import gen from './gen.ts';
import bench from './bench.ts';
import repro from './repro.ts';
import schema from './schema.ts';
import review from './review.ts';
import swnest from './swnest.ts';

export const commands: Command[] = [conform, repro, serve, report, list, spec, schema, review, gen, bench, swnest];
