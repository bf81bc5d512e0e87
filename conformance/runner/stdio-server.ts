/**
 * The server side of the stdio transport: reads JSON-RPC 2.0 requests one per line, calls the
 * adapter, writes one response line each, in order. This is what `ioasid serve` runs for the
 * reference, and what a test uses to put any in-process adapter behind a real pipe.
 *
 * Error codes: -32700 a line that is not JSON; -32600 not a request; -32601 unknown method;
 * an AdapterError keeps its code; any other exception is -32000 (internal) with its message.
 * After answering `shutdown` the server stops reading and resolves.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { AdapterError, RPC_INTERNAL, RPC_INVALID_REQUEST, RPC_METHOD_NOT_FOUND, RPC_PARSE_ERROR, type Adapter } from '../../schemas/lib/adapter.ts';
import { METHODS } from './transport.ts';

export async function serveStdio(adapter: Adapter, input: Readable, output: Writable): Promise<void> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  const send = (msg: object) =>
    new Promise<void>((resolve) => {
      if (!output.write(`${JSON.stringify(msg)}\n`)) output.once('drain', resolve);
      else resolve();
    });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let req: { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    try {
      req = JSON.parse(line);
    } catch (e) {
      await send({ jsonrpc: '2.0', id: null, error: { code: RPC_PARSE_ERROR, message: `parse error: ${(e as Error).message}` } });
      continue;
    }
    const id = typeof req?.id === 'number' || typeof req?.id === 'string' ? req.id : null;
    if (!req || typeof req !== 'object' || req.jsonrpc !== '2.0' || typeof req.method !== 'string') {
      await send({ jsonrpc: '2.0', id, error: { code: RPC_INVALID_REQUEST, message: 'not a JSON-RPC 2.0 request' } });
      continue;
    }
    const method = req.method as (typeof METHODS)[number];
    if (!METHODS.includes(method)) {
      await send({ jsonrpc: '2.0', id, error: { code: RPC_METHOD_NOT_FOUND, message: `unknown method ${req.method}` } });
      continue;
    }
    try {
      const f = adapter[method] as (p: unknown) => Promise<unknown>;
      const result = await f.call(adapter, req.params ?? {});
      await send({ jsonrpc: '2.0', id, result });
    } catch (e) {
      if (e instanceof AdapterError) {
        await send({ jsonrpc: '2.0', id, error: { code: e.code, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) } });
      } else {
        await send({ jsonrpc: '2.0', id, error: { code: RPC_INTERNAL, message: e instanceof Error ? e.message : String(e) } });
      }
    }
    if (method === 'shutdown') break;
  }
  lines.close();
}
