/**
 * The message size limit of the stdio transport (issue #15, defect 2): neither side assembles
 * a line longer than MESSAGE_MAX_BYTES. The server answers such a request with -32600 and goes
 * on; the runner counts such an answer as the adapter's crash, restarts it, and finishes its
 * report — it never dies itself.
 */
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MESSAGE_MAX_BYTES, RPC_INVALID_REQUEST } from '../../schemas/lib/adapter.ts';
import { readLines, type LineEvent } from './line-reader.ts';
import { serveStdio } from './stdio-server.ts';
import { startStdio, stdioFactory } from './stdio.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';
import { createToyAdapter } from './testing/toy-adapter.ts';

const MIB = 1024 * 1024;

/** A stream of `lineBytes` 'a's then a newline, then `rest`, made lazily 1 MiB at a time. */
function longLine(lineBytes: number, rest: string): Readable {
  const chunk = Buffer.alloc(MIB, 0x61);
  let left = lineBytes;
  let tail = false;
  return new Readable({
    read() {
      if (left > 0) {
        const n = Math.min(left, MIB);
        left -= n;
        this.push(n === MIB ? chunk : chunk.subarray(0, n));
      } else if (!tail) {
        tail = true;
        this.push(`\n${rest}`);
      } else this.push(null);
    },
  });
}

async function all(input: Readable, max: number): Promise<LineEvent[]> {
  const out: LineEvent[] = [];
  for await (const e of readLines(input, max)) out.push(e);
  return out;
}

describe('line reader', () => {
  it('splits across chunks, drops one CR, keeps a last line without newline, flags what is too long', async () => {
    const input = Readable.from([Buffer.from('ab'), Buffer.from('c\r\nxyzxyz'), Buffer.from('xyz\n\nlast')]);
    expect(await all(input, 6)).toEqual([{ line: 'abc' }, { oversizeBytes: 9 }, { line: '' }, { line: 'last' }]);
  });

  it('a line of exactly the limit is a line; one byte more is not', async () => {
    expect(await all(Readable.from([Buffer.from('aaaa\naaaaa\n')]), 4)).toEqual([{ line: 'aaaa' }, { oversizeBytes: 5 }]);
  });
});

describe('stdio server', () => {
  it('answers a 600 MB request line with -32600 (id null) without reading it whole, then serves the next request', async () => {
    const output = new PassThrough();
    const answers: unknown[] = [];
    output.on('data', (b: Buffer) => b.toString().split('\n').filter(Boolean).forEach((l) => answers.push(JSON.parse(l))));
    await serveStdio(createToyAdapter(), longLine(600_000_000, '{"jsonrpc":"2.0","id":7,"method":"shutdown","params":{}}\n'), output);
    expect(answers).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: RPC_INVALID_REQUEST, message: `request line of 600000000 bytes exceeds the ${MESSAGE_MAX_BYTES}-byte message limit` } },
      { jsonrpc: '2.0', id: 7, result: {} },
    ]);
  });

  it('refuses to send an answer longer than the limit: an internal error instead', async () => {
    const output = new PassThrough();
    const answers: { error?: { code: number; message: string } }[] = [];
    output.on('data', (b: Buffer) => b.toString().split('\n').filter(Boolean).forEach((l) => answers.push(JSON.parse(l))));
    const input = Readable.from(['{"jsonrpc":"2.0","id":1,"method":"open","params":{}}\n']);
    await serveStdio(createToyAdapter(), input, output, { maxMessageBytes: 20 });
    expect(answers[0].error?.code).toBe(-32000);
    expect(answers[0].error?.message).toMatch(/exceeds the 20-byte message limit/);
  });
});

const BROKEN = join(import.meta.dirname, 'testing', 'broken-adapter.mjs');
const cmd = (mode: string, trigger: string) => `${JSON.stringify(process.execPath)} ${JSON.stringify(BROKEN)} ${mode} ${trigger}`;

describe('stdio client', () => {
  it('an adapter line over the limit is the adapter crashing: the case is crash, the run goes on and reports', async () => {
    const trio = [
      mkCase('a/before', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]),
      mkCase('b/flood', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }, { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$i', user_va: 0x100000, length: 4096, iova: 0x100000, flags: ['FIXED_IOVA'] } }]),
      mkCase('c/after', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]),
    ];
    const report = await runCases(trio, stdioFactory(cmd('flood', 'IOMMU_IOAS_MAP'), { maxMessageBytes: MIB }), {}, true);
    expect(report.completed).toBe(true);
    expect(byId(report, 'a/before').result).toBe('pass');
    expect(byId(report, 'b/flood').result).toBe('crash');
    expect(byId(report, 'b/flood').message).toMatch(/a line of 2097152 bytes, more than the 1048576-byte message limit/);
    expect(byId(report, 'c/after').result).toBe('pass');
  });

  it('does not send a request longer than the limit: the call fails with -32600 and the adapter lives on', async () => {
    const t = startStdio(cmd('ok', 'none'), { maxMessageBytes: 200 });
    try {
      await expect(t.hello({ protocol: 1 })).resolves.toMatchObject({ protocol: 1 });
      await expect(t.test({ op: 'MEM_WRITE', arg: { addr: 0x100000, data: '00'.repeat(200) } })).rejects.toMatchObject({ code: RPC_INVALID_REQUEST });
      await expect(t.open({})).resolves.toMatchObject({ fd: 3 });
    } finally {
      await t.dispose();
    }
  });
});
