import { pendingCommand } from '../pending.ts';

export default pendingCommand(
  'bench',
  'run the benchmarks and print ratios against in-run baselines',
  `usage: ioasid bench [options]

run the benchmarks and print ratios against in-run baselines
`,
  3,
);
