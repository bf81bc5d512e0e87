/**
 * The in-process form of the adapter protocol (`conformance/PROTOCOL.md`, version 1):
 * one method per JSON-RPC method, with the same params and results. A stdio transport turns
 * each call into one request line; the reference implements it directly. Message shapes are
 * defined by schemas/protocol.schema.json; their types are the generated ones
 * (schemas/generated/protocol.ts), re-exported here with the Adapter interface they make up.
 *
 * Failure channels: an ioctl or test hook that fails *as the kernel would* resolves with
 * `{errno}`. An adapter that cannot answer (unknown method, internal bug) rejects with an
 * AdapterError, which the runner records as `error`, never as a pass.
 */

import type {
  CloseParams, Empty, HelloParams, HelloResult, IoctlParams, IoctlResult, Json, JsonObject, OpenResult, TestParams, TestResult, WireStruct, WorldParams,
} from '../generated/protocol.ts';

export type { CloseParams, Empty, HelloParams, HelloResult, IoctlParams, IoctlResult, Json, JsonObject, OpenResult, TestParams, TestResult, WireStruct, WorldParams };

export const PROTOCOL_VERSION = 1;

/**
 * The largest message either side of the stdio transport reads: one line of at most this many
 * bytes before its newline (conformance/PROTOCOL.md). A longer line is refused unread, so a
 * runaway peer costs neither side more memory than this.
 */
export const MESSAGE_MAX_BYTES = 64 * 1024 * 1024;
/** The most bytes one hook call moves as hex (MEM_READ, MEM_WRITE, DMA_READ, DMA_WRITE): well inside a message. */
export const HOOK_DATA_MAX_BYTES = 16 * 1024 * 1024;

export interface Adapter {
  hello(params: HelloParams): Promise<HelloResult>;
  /** Discards every context and builds the machine described by the topology. */
  world(params: WorldParams): Promise<Empty>;
  open(params: Empty): Promise<OpenResult>;
  close(params: CloseParams): Promise<Empty>;
  ioctl(params: IoctlParams): Promise<IoctlResult>;
  test(params: TestParams): Promise<TestResult>;
  shutdown(params: Empty): Promise<Empty>;
}

/** JSON-RPC error codes an adapter uses to say why it did not answer. */
export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL = -32000;
export const RPC_UNSUPPORTED_PROTOCOL = -32002;
/**
 * The implementation cannot express this request (a real kernel without the facility: no VFIO
 * cdev for a selftest mock device, no test op for a hook). The case is `unsupported` with the
 * adapter's message, never a fail or a pass. Added compatibly to version 1.
 */
export const RPC_CANNOT_EXPRESS = -32003;

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
