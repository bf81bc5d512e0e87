import { pendingCommand } from '../pending.ts';

export default pendingCommand(
  'serve',
  'serve the reference implementation as a stdio adapter (JSON-RPC 2.0)',
  `usage: ioasid serve [options]

serve the reference implementation as a stdio adapter (JSON-RPC 2.0)
`,
  4,
);
