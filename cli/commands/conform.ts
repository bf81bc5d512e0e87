import { pendingCommand } from '../pending.ts';

export default pendingCommand(
  'conform',
  'run the golden cases against an implementation and write reports',
  `usage: ioasid conform [options]

run the golden cases against an implementation and write reports
`,
  4,
);
