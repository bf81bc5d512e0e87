/**
 * The in-process form of the adapter protocol (`conformance/PROTOCOL.md`, version 1):
 * one method per JSON-RPC method, with the same params and results. A stdio transport turns
 * each call into one request line; the reference implements it directly. Message shapes are
 * defined by schemas/protocol.schema.json; until its generated types replace the loose ones
 * below, these are the names the rest of the code uses.
 *
 * Failure channels: an ioctl or test hook that fails *as the kernel would* resolves with
 * `{errno}`. An adapter that cannot answer (unknown method, internal bug) rejects with an
 * AdapterError, which the runner records as `error`, never as a pass.
 */

export const PROTOCOL_VERSION = 1;

/** Any JSON value. Index signatures admit `undefined`, as in the generated schema types
 * (schemas/lib/gen-types.ts, strictIndexSignatures), so that values pass between the two. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };
export type JsonObject = { [key: string]: Json | undefined };

export interface HelloResult {
  protocol: number;
  implementation: { name: string; version: string; homepage?: string };
  capabilities: string[];
}

/** `fail_nth_reached`: only on the call after FAIL_NTH {n > 0} — whether point n was reached. */
export type IoctlResult =
  | { ret: number; arg: JsonObject; fail_nth_reached?: boolean }
  | { errno: string; arg?: JsonObject; fail_nth_reached?: boolean };

export type TestResult =
  | { ret: number; out: JsonObject; fail_nth_reached?: boolean }
  | { errno: string; fail_nth_reached?: boolean };

export interface Adapter {
  hello(params: { protocol: number }): Promise<HelloResult>;
  /** Discards every context and builds the machine described by the topology. */
  world(params: { topology: JsonObject }): Promise<Record<string, never>>;
  open(params: Record<string, never>): Promise<{ fd: number }>;
  close(params: { fd: number }): Promise<Record<string, never>>;
  ioctl(params: { fd: number; cmd: string; arg: JsonObject }): Promise<IoctlResult>;
  test(params: { fd?: number; op: string; arg: JsonObject }): Promise<TestResult>;
  shutdown(params: Record<string, never>): Promise<Record<string, never>>;
}

/** JSON-RPC error codes an adapter uses to say why it did not answer. */
export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL = -32000;
export const RPC_UNSUPPORTED_PROTOCOL = -32002;

/** The adapter itself failed: maps to a JSON-RPC error response. */
export class AdapterError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Json,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}
