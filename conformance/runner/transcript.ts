/**
 * Transcripts (`conform --transcript`): every protocol call of a case as it went over the wire,
 * one JSON object a line in `<report>/transcripts/<case id>.jsonl`. A call that was answered is
 * two lines, the JSON-RPC request and its response (ids count from 1 in each file, as if the
 * case had the adapter to itself); a call that got no answer (timeout, crash, garbage) is the
 * request and a `{"id", "transport": kind, "message"}` line, which is no JSON-RPC message, so a
 * replay cannot mistake it for an answer. In process the same lines are written: what a stdio
 * adapter would have been sent.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** One call as the session saw it: the result, or how it failed. */
export interface CallRecord {
  method: string;
  params: object;
  result?: unknown;
  failure?: { code: number; message: string } | { kind: string; message: string };
}

/** The JSON lines of a list of calls. */
export function transcriptLines(calls: readonly CallRecord[]): string[] {
  const lines: string[] = [];
  calls.forEach((c, i) => {
    const id = i + 1;
    lines.push(JSON.stringify({ jsonrpc: '2.0', id, method: c.method, params: c.params }));
    if (c.failure && 'code' in c.failure) lines.push(JSON.stringify({ jsonrpc: '2.0', id, error: { code: c.failure.code, message: c.failure.message } }));
    else if (c.failure) lines.push(JSON.stringify({ id, transport: c.failure.kind, message: c.failure.message }));
    else lines.push(JSON.stringify({ jsonrpc: '2.0', id, result: c.result ?? null }));
  });
  return lines;
}

/** Where a case's transcript goes below a report folder (the id's slashes become folders). */
export function transcriptPath(dir: string, caseId: string): string {
  return join(dir, 'transcripts', `${caseId}.jsonl`);
}

export function writeTranscript(dir: string, caseId: string, calls: readonly CallRecord[]): string {
  const p = transcriptPath(dir, caseId);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, transcriptLines(calls).join('\n') + '\n');
  return p;
}
