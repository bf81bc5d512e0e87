import { pendingCommand } from '../pending.ts';

export default pendingCommand(
  'spec',
  'show the specification clauses and their case coverage',
  `usage: ioasid spec [options]

show the specification clauses and their case coverage
`,
  4,
);
