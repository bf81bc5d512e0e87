/**
 * The one interface of a transport: the protocol's methods (the Adapter interface) plus what
 * the run loop needs to manage the other side — dispose it (kill a child, drop an instance)
 * and take the diagnostics it wrote since the last look. Adding a transport is one file that
 * implements this and a line in adapter-spec.ts.
 *
 * How a transport fails, and what the case becomes:
 * - AdapterError (schemas/lib/adapter.ts): the adapter answered with a JSON-RPC error → `error`;
 * - ProtocolViolation: an answer the protocol schema does not allow → `error`;
 * - TransportTimeout: no answer in time → `timeout`, the adapter is restarted;
 * - TransportCrash: exit, crash, garbage on stdout, an exception thrown in process → `crash`,
 *   the adapter is restarted.
 */
import type { Adapter } from '../../schemas/lib/adapter.ts';

export interface Transport extends Adapter {
  readonly kind: 'in-process' | 'stdio';
  /** Ends the other side for good (SIGKILL for a child); safe to call twice. */
  dispose(): Promise<void>;
  /** What the adapter wrote on stderr since the last call (empty in process). */
  takeDiagnostics(): string;
  /** Names the case whose requests follow, so that a late answer can be traced back to it. */
  setLabel?(label: string): void;
  /** Second answers to requests already answered, seen since the last call (stdio only). */
  takeLateAnswers?(): LateAnswer[];
}

/** An answer to a request that had already been answered: discarded, and reported against its case. */
export interface LateAnswer {
  /** The label (case id) in force when the request was sent. */
  label: string;
  id: number;
  method: string;
}

export type TransportFactory = () => Promise<Transport>;

export class TransportTimeout extends Error {
  constructor(readonly method: string, readonly timeoutMs: number) {
    super(`no answer to ${method} within ${timeoutMs} ms`);
    this.name = 'TransportTimeout';
  }
}

export class TransportCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportCrash';
  }
}

export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

export const METHODS = ['hello', 'world', 'open', 'close', 'ioctl', 'test', 'shutdown'] as const;
export type Method = (typeof METHODS)[number];
