/**
 * The server side of the stdio transport: reads JSON-RPC 2.0 requests one per line, calls the
 * adapter, writes one response line each, in order. This is what `ioasid serve` runs for the
 * reference, and what a test uses to put any in-process adapter behind a real pipe.
 *
 * Error codes: -32700 a line that is not JSON; -32600 not a request, or a line longer than
 * MESSAGE_MAX_BYTES (answered with id null: it is never parsed); -32601 unknown method; an
 * AdapterError keeps its code; any other exception is -32000 (internal) with its message, and
 * so is a result that would not fit in one message. After answering `shutdown` the server
 * stops reading and resolves.
 */
import type { Readable, Writable } from 'node:stream';
import { AdapterError, MESSAGE_MAX_BYTES, RPC_INTERNAL, RPC_INVALID_REQUEST, RPC_METHOD_NOT_FOUND, RPC_PARSE_ERROR, type Adapter } from '../../schemas/lib/adapter.ts';
import { readLines } from './line-reader.ts';
import { METHODS } from './transport.ts';

export async function serveStdio(adapter: Adapter, input: Readable, output: Writable, opts: { maxMessageBytes?: number } = {}): Promise<void> {
  const maxBytes = opts.maxMessageBytes ?? MESSAGE_MAX_BYTES;
  const write = (text: string) =>
    new Promise<void>((resolve) => {
      if (!output.write(text)) output.once('drain', resolve);
      else resolve();
    });
  const send = async (msg: { jsonrpc: string; id: unknown; [k: string]: unknown }) => {
    let text: string;
    try {
      text = JSON.stringify(msg);
    } catch (e) {
      text = JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: RPC_INTERNAL, message: `the answer cannot be serialised: ${(e as Error).message}` } });
    }
    if (Buffer.byteLength(text) > maxBytes) {
      text = JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: RPC_INTERNAL, message: `the answer of ${Buffer.byteLength(text)} bytes exceeds the ${maxBytes}-byte message limit` } });
    }
    await write(`${text}\n`);
  };
  for await (const ev of readLines(input, maxBytes)) {
    if ('oversizeBytes' in ev) {
      await send({ jsonrpc: '2.0', id: null, error: { code: RPC_INVALID_REQUEST, message: `request line of ${ev.oversizeBytes} bytes exceeds the ${maxBytes}-byte message limit` } });
      continue;
    }
    const line = ev.line;
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
}
