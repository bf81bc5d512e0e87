/**
 * The stdio transport: spawns the adapter command (through the shell, in its own process
 * group, so that a kill reaches whatever the command started) and speaks JSON-RPC 2.0 to it,
 * one JSON object per line each way, one request in flight at a time. Anything on stdout that
 * is not a JSON-RPC response to the request in flight is garbage and counts as a crash — except
 * a second answer to a request already answered, which is set aside (takeLateAnswers) for the
 * run to report against the case that sent the request — and so is a line longer than MESSAGE_MAX_BYTES (never assembled: line-reader.ts); stderr is free for
 * logs and kept (bounded) as diagnostics. A request the runner would make longer than that
 * limit is not sent: the call fails with JSON-RPC error -32600, as the other side would answer. A small standard-library program in any
 * language can speak this: read a line, json-decode it, write one json line back, flush.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { AdapterError, MESSAGE_MAX_BYTES, RPC_INVALID_REQUEST } from '../../schemas/lib/adapter.ts';
import { readLines } from './line-reader.ts';
import { validateProtocol } from './schemas.ts';
import { TransportCrash, type LateAnswer, type Method, type Transport, type TransportFactory } from './transport.ts';
import type { RpcResponse } from '../../schemas/generated/protocol.ts';
import type { AnyMember } from './types.ts';

const DIAGNOSTICS_MAX_CHARS = 16_384;

/** How many answered requests are remembered, to tell a late duplicate from garbage. */
const ANSWERED_MEMORY = 4096;

interface Pending {
  id: number;
  method: string;
  label: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** Why the child ended; a shell reports a command killed by signal N as status 128 + N. */
export function exitReason(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `adapter killed by ${signal}`;
  if (code !== null && code > 128) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return `adapter killed by ${name} (exit status ${code})`;
  }
  return `adapter exited with status ${code}`;
}

export interface StdioOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The longest line either way (tests lower it); MESSAGE_MAX_BYTES by default. */
  maxMessageBytes?: number;
}

export function stdioFactory(command: string, opts: StdioOptions = {}): TransportFactory {
  return async () => startStdio(command, opts);
}

export function startStdio(command: string, opts: StdioOptions = {}): Transport {
  const maxMessageBytes = opts.maxMessageBytes ?? MESSAGE_MAX_BYTES;
  const child: ChildProcess = spawn(command, {
    shell: true,
    detached: true,
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let nextId = 1;
  let pending: Pending | null = null;
  let label = '';
  /** Requests answered lately: id → who sent it, in answer order (a Map keeps insertion order). */
  const answered = new Map<number, { method: string; label: string }>();
  let late: LateAnswer[] = [];
  let dead: string | null = null;
  let stderr = '';

  const die = (why: string) => {
    if (dead === null) dead = why;
    if (pending) {
      const p = pending;
      pending = null;
      p.reject(new TransportCrash(`${why} (while waiting for ${p.method})`));
    }
    kill();
  };
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };

  child.on('error', (e) => die(`could not run '${command}': ${e.message}`));
  child.on('close', (code, signal) => die(exitReason(code, signal)));
  child.stdin!.on('error', (e) => die(`writing to the adapter failed: ${e.message}`));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > DIAGNOSTICS_MAX_CHARS) stderr = '…' + stderr.slice(stderr.length - DIAGNOSTICS_MAX_CHARS);
  });
  const onLine = (line: string) => {
    if (dead !== null) return;
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      die(`garbage on stdout: ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }
    const bad = validateProtocol('response', msg);
    if (bad.length > 0) {
      die(`stdout line is not a JSON-RPC 2.0 response (${bad[0].pointer} ${bad[0].message}): ${line.slice(0, 200)}`);
      return;
    }
    const m = msg as AnyMember<RpcResponse>;
    const earlier = typeof m.id === 'number' && (!pending || m.id !== pending.id) ? answered.get(m.id) : undefined;
    if (earlier !== undefined) {
      // A second answer to a request already answered: not this request's answer, and not the
      // fault of the case in flight. Discarded; the run reports it against the case that sent it.
      late.push({ label: earlier.label, id: m.id as number, method: earlier.method });
      return;
    }
    if (!pending || (m.id !== pending.id && !(m.error && m.id === null))) {
      die(`answer with id ${m.id} while ${pending ? `request ${pending.id} is` : 'no request is'} in flight`);
      return;
    }
    const p = pending;
    pending = null;
    answered.set(p.id, { method: p.method, label: p.label });
    if (answered.size > ANSWERED_MEMORY) answered.delete(answered.keys().next().value as number);
    if (m.error) p.reject(new AdapterError(m.error.code, m.error.message, m.error.data as never));
    else p.resolve(m.result);
  };
  void (async () => {
    try {
      for await (const ev of readLines(child.stdout!, maxMessageBytes)) {
        if (dead !== null) break;
        if ('oversizeBytes' in ev) die(`the adapter wrote a line of ${ev.oversizeBytes} bytes, more than the ${maxMessageBytes}-byte message limit`);
        else onLine(ev.line);
      }
    } catch (e) {
      die(`reading the adapter's stdout failed: ${(e as Error).message}`);
    }
  })();

  const call = (method: Method, params: unknown): Promise<never> =>
    new Promise((resolve, reject) => {
      if (dead !== null) return reject(new TransportCrash(dead));
      if (pending) return reject(new Error(`stdio transport: ${method} while ${pending.method} is in flight`));
      const id = nextId++;
      const text = JSON.stringify({ jsonrpc: '2.0', id, method, params });
      if (Buffer.byteLength(text) > maxMessageBytes) {
        return reject(new AdapterError(RPC_INVALID_REQUEST, `the ${method} request of ${Buffer.byteLength(text)} bytes exceeds the ${maxMessageBytes}-byte message limit; not sent`));
      }
      pending = { id, method, label, resolve: resolve as (v: unknown) => void, reject };
      child.stdin!.write(text + '\n');
    });

  return {
    kind: 'stdio',
    hello: (p) => call('hello', p),
    world: (p) => call('world', p),
    open: (p) => call('open', p),
    close: (p) => call('close', p),
    ioctl: (p) => call('ioctl', p),
    test: (p) => call('test', p),
    shutdown: (p) => call('shutdown', p),
    async dispose() {
      if (dead === null) dead = 'adapter disposed';
      pending = null;
      kill();
      child.stdout!.destroy();
      child.stdin!.destroy();
    },
    takeDiagnostics() {
      const s = stderr;
      stderr = '';
      return s;
    },
    setLabel(l: string) {
      label = l;
    },
    takeLateAnswers() {
      const l = late;
      late = [];
      return l;
    },
  };
}
