/**
 * `ioasid serve`: the reference implementation as a stdio adapter — JSON-RPC 2.0, one message
 * per line on stdin/stdout — usable by any program as a fake /dev/iommu, and by `ioasid conform
 * --adapter stdio:'ioasid serve'` to check the stdio path against the in-process one.
 */
import { EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { moduleAdapterFactory, referenceAdapterFactory } from '../../conformance/runner/adapter-spec.ts';
import { loadCatalog } from '../../conformance/runner/catalog-source.ts';
import { serveStdio } from '../../conformance/runner/stdio-server.ts';

const usage = `usage: ioasid serve [--adapter reference|module:<path>]

Serve the reference implementation (or an in-process adapter module) as a stdio adapter:
JSON-RPC 2.0 requests one per line on stdin, one response line each on stdout, logs on
stderr. Methods: hello, world, open, close, ioctl, test, shutdown (schemas/protocol.schema.json).
A request line longer than 64 MiB (MESSAGE_MAX_BYTES) is answered with JSON-RPC error -32600
and id null, unread. Exits 0 after answering shutdown or at the end of stdin.

  --adapter <spec>   reference (default) | module:<path> (default export: a function returning an Adapter)
  --help             this text
`;

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('serve', usage, { args: argv, options: { adapter: { type: 'string', default: 'reference' } } });
  if (parsed === null) return EXIT_USAGE;
  const adapterSpec = parsed.values.adapter;
  try {
    let make;
    if (adapterSpec === 'reference') make = await referenceAdapterFactory(await loadCatalog());
    else if (adapterSpec.startsWith('module:')) make = await moduleAdapterFactory(adapterSpec.slice('module:'.length));
    else throw new Error(`--adapter ${adapterSpec}: expected reference or module:<path>`);
    await serveStdio(await make(), process.stdin, process.stdout);
    return EXIT_OK;
  } catch (e) {
    process.stderr.write(`ioasid serve: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

const serve: Command = { name: 'serve', summary: 'serve the reference implementation as a stdio adapter (JSON-RPC 2.0)', usage, run };
export default serve;
