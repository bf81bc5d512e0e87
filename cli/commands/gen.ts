import { pendingCommand } from '../pending.ts';

export default pendingCommand(
  'gen',
  'generate TypeScript types and a C header from the schemas',
  `usage: ioasid gen [options]

generate TypeScript types and a C header from the schemas
`,
  2,
);
