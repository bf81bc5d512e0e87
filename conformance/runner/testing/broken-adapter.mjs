#!/usr/bin/env node
// A deliberately broken stdio adapter for the runner's transport tests, written against the
// protocol only (plain Node, no project code), like a third-party adapter would be.
//   node broken-adapter.mjs <mode> [trigger]
// It answers hello/world/open/close and ioctls properly (a tiny fake: IOAS_ALLOC hands out ids,
// everything else succeeds), except for the trigger (an ioctl cmd, or a method name; default
// IOMMU_IOAS_MAP), where it misbehaves by <mode>:
//   ok | garbage | hang | crash | exit0 | wrong-schema | rpc-error | wrong-id | stderr-then-crash | slow-hello
//   | flood (a line of FLOOD_BYTES, default 2 MiB, written 64 KiB at a time)
//   | duplicate (answers the trigger, then answers it again just before answering the second
//     request after it, which is then in flight)
//   | hang-after-smoke (once the file HANG_FLAG exists, answers only hello; it creates the file
//     when it answers the first close, the end of the runner's smoke check)
import { createInterface } from 'node:readline';
import { existsSync, writeFileSync } from 'node:fs';

const [mode = 'ok', trigger = 'IOMMU_IOAS_MAP'] = process.argv.slice(2);
let nextFd = 3;
let nextId = 1;
const written = new Map();
/** duplicate: an answer to send again, and how many requests from now. */
let repeat = null;
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');

function normal(req) {
  const p = req.params ?? {};
  switch (req.method) {
    case 'hello': return { protocol: 1, implementation: { name: 'broken', version: '1.0' }, capabilities: ['ioas', 'test:mem'] };
    case 'world': case 'close': case 'shutdown': return {};
    case 'open': return { fd: nextFd++ };
    case 'ioctl':
      if (p.cmd === 'IOMMU_IOAS_ALLOC') return { ret: 0, arg: { ...p.arg, out_ioas_id: nextId++ } };
      return { ret: 0, arg: p.arg };
    case 'test':
      if (p.op === 'MMAP') return { ret: 0, out: { addr: 0x100000 } };
      // Memory good enough for the smoke check: what was written at an address reads back.
      if (p.op === 'MEM_WRITE') { written.set(String(p.arg.addr), p.arg.data); return { ret: 0, out: {} }; }
      if (p.op === 'MEM_READ') return { ret: 0, out: { data: (written.get(String(p.arg.addr)) ?? '').padEnd(2 * Number(p.arg.length), '0').slice(0, 2 * Number(p.arg.length)) } };
      return { ret: 0, out: {} };
  }
  return null;
}

async function main() {
  if (mode === 'slow-hello') await new Promise((r) => setTimeout(r, 5000));
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const req = JSON.parse(line);
    if (repeat !== null && --repeat.after === 0) {
      send(repeat.answer);
      repeat = null;
    }
    if (mode === 'hang-after-smoke') {
      if (existsSync(process.env.HANG_FLAG) && req.method !== 'hello') continue;
      if (req.method === 'close') writeFileSync(process.env.HANG_FLAG, 'smoke done\n');
    }
    const hit = req.method === trigger || (req.method === 'ioctl' && req.params?.cmd === trigger);
    if (hit && mode !== 'ok') {
      switch (mode) {
        case 'garbage': process.stdout.write('Segmentation fault? no: just text\n'); continue;
        case 'hang': continue;
        case 'crash': process.stderr.write('about to crash\n'); process.kill(process.pid, 'SIGSEGV'); continue;
        case 'exit0': process.exit(0);
        case 'wrong-schema': send({ jsonrpc: '2.0', id: req.id, result: { ret: 'zero' } }); continue;
        case 'rpc-error': send({ jsonrpc: '2.0', id: req.id, error: { code: -32601, message: `no ${trigger} here` } }); continue;
        case 'wrong-id': send({ jsonrpc: '2.0', id: req.id + 1000, result: { ret: 0, arg: {} } }); continue;
        case 'flood': {
          const chunk = Buffer.alloc(65536, 0x61);
          for (let left = Number(process.env.FLOOD_BYTES ?? 2 * 1024 * 1024); left > 0; left -= chunk.length) {
            if (!process.stdout.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise((r) => process.stdout.once('drain', r));
          }
          process.stdout.write('\n');
          continue;
        }
        case 'duplicate': {
          const answer = { jsonrpc: '2.0', id: req.id, result: normal(req) };
          send(answer);
          repeat = { answer, after: 2 };
          continue;
        }
        case 'stderr-then-crash': process.stderr.write('adapter: fatal: out of cheese\n'); setTimeout(() => process.exit(3), 10); continue;
      }
    }
    send({ jsonrpc: '2.0', id: req.id, result: normal(req) });
    if (req.method === 'shutdown') process.exit(0);
  }
}
main();
