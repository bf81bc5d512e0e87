import { pendingCommand } from '../pending.ts';

export default pendingCommand(
  'report',
  'render, diff and merge conformance reports',
  `usage: ioasid report [options]

render, diff and merge conformance reports
`,
  4,
);
