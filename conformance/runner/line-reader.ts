/**
 * The lines of a stdio stream, each at most `maxBytes` long (the protocol's MESSAGE_MAX_BYTES):
 * what both sides of the stdio transport read with. A longer line is never assembled — its bytes
 * are counted and dropped as they arrive, and it comes out as `{oversizeBytes}` at its newline —
 * so a peer that writes 600 MB without a newline costs the reader at most `maxBytes` of memory
 * and cannot make it throw (node:readline builds the whole string and dies with a RangeError).
 *
 * Invariants: events come in stream order, one per newline (a final line without a newline
 * counts too); a line is decoded as UTF-8 with one trailing CR removed; nothing kept exceeds
 * `maxBytes`.
 */
import type { Readable } from 'node:stream';

export type LineEvent = { line: string } | { oversizeBytes: number };

export async function* readLines(input: Readable, maxBytes: number): AsyncGenerator<LineEvent> {
  let parts: Buffer[] = [];
  let size = 0;
  /** Bytes of the line being dropped, or -1 while the current line fits. */
  let over = -1;
  const finish = (): LineEvent => {
    if (over >= 0) {
      const e = { oversizeBytes: over };
      over = -1;
      return e;
    }
    let line = Buffer.concat(parts, size).toString('utf8');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    parts = [];
    size = 0;
    return { line };
  };
  for await (const raw of input) {
    const chunk: Buffer = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : (raw as Buffer);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      const piece = end - start;
      if (over >= 0) over += piece;
      else if (size + piece > maxBytes) {
        over = size + piece;
        parts = [];
        size = 0;
      } else if (piece > 0) {
        parts.push(chunk.subarray(start, end));
        size += piece;
      }
      if (nl < 0) break;
      yield finish();
      start = nl + 1;
    }
  }
  if (over >= 0 || size > 0) yield finish();
}
