/**
 * The registry of sub-commands: adding one is a file in this folder and a line here. Each
 * command's module is imported only when that command runs (or its --help is asked), so that
 * `ioasid --help` or `ioasid serve` does not load the runner, the reporters and the reference
 * of every other command. The summary here is the command list's line; a test checks it is the
 * command's own.
 */
import type { Command } from '../command.ts';

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const commands: CommandEntry[] = [
  { name: 'conform', summary: 'run the golden cases against an implementation and write reports', load: async () => (await import('./conform.ts')).default },
  { name: 'repro', summary: 'run one case alone, printing each compiled step next to its answer', load: async () => (await import('./repro.ts')).default },
  { name: 'serve', summary: 'serve the reference implementation as a stdio adapter (JSON-RPC 2.0)', load: async () => (await import('./serve.ts')).default },
  { name: 'report', summary: 'render, diff, merge conformance reports; several side by side', load: async () => (await import('./report.ts')).default },
  { name: 'expectations', summary: 'update an expectations file from a report', load: async () => (await import('./expectations.ts')).default },
  { name: 'list', summary: 'list the golden cases as JSON without running them', load: async () => (await import('./list.ts')).default },
  { name: 'spec', summary: 'spec clauses and their case coverage; the kernel selftest ledger; diff two spec versions', load: async () => (await import('./spec.ts')).default },
  { name: 'schema', summary: 'check real kernel uAPI headers against the schemas (C compiler probe)', load: async () => (await import('./schema.ts')).default },
  { name: 'review', summary: "review a change: spec diff plus the suite's report diff between two revisions", load: async () => (await import('./review.ts')).default },
  { name: 'gen', summary: 'generate TypeScript types and a C header from the schemas', load: async () => (await import('./gen.ts')).default },
  { name: 'bench', summary: 'run the benchmarks and print ratios against in-run baselines', load: async () => (await import('./bench.ts')).default },
  { name: 'fuzz', summary: 'differential fuzzing: random ioctl sequences on the reference and another implementation', load: async () => (await import('./fuzz.ts')).default },
  { name: 'kernel-check', summary: 'build a test kernel, boot it in QEMU and run the golden cases against real /dev/iommu', load: async () => (await import('./kernel-check.ts')).default },
  { name: 'kselftest', summary: "build and run the kernel's iommufd selftests against an adapter through the fake /dev/iommu", load: async () => (await import('./kselftest.ts')).default },
  { name: 'swnest', summary: "software nesting: the VMM library's differential check (swnest check)", load: async () => (await import('./swnest.ts')).default },
];
