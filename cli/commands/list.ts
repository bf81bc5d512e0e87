import { pendingCommand } from '../pending.ts';

export default pendingCommand(
  'list',
  'list the golden cases as JSON without running them',
  `usage: ioasid list [options]

list the golden cases as JSON without running them
`,
  4,
);
