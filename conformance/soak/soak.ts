/**
 * The soak test: one `ioasid serve` process driven over stdio for a long time — MAP/UNMAP of a
 * buffer through an IOAS with a device attached (so pages are pinned, IOPTEs written and page
 * table pages allocated and freed on every round), with IOAS_ALLOC/DESTROY, a second context
 * opened and closed and an access pinning and unpinning every few rounds — while its resident
 * set (VmRSS from /proc) is sampled. After a warm-up the RSS must stay flat: how far the last
 * quarter of the run rises above the window right after the warm-up is bounded. After the last round every
 * context is closed and STATE must hold nothing (no object, pin or charge).
 *
 * The server is spawned directly (no shell), so the pid sampled is the server's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../runner/case-loader.ts';
import { readLines } from '../runner/line-reader.ts';

export interface SoakOptions {
  /** Extra arguments of `ioasid serve` (for example `--adapter module:<path>`). */
  serveArgs?: string[];
  /** How long the rounds run, in ms. */
  durationMs: number;
  /** Part of the duration counted as warm-up (default 0.3). */
  warmupFraction?: number;
  /** RSS samples taken over the run (default 40). */
  samples?: number;
}

export interface SoakFigures {
  rounds: number;
  calls: number;
  elapsed_ms: number;
  /** [ms since start, VmRSS in KiB] */
  rss_kib: [number, number][];
  /** The largest RSS seen from the end of the warm-up to half time, and in the last quarter. */
  warm_rss_kib: number;
  end_rss_kib: number;
  growth_kib: number;
  /** What STATE still held after every context was closed (null: nothing). */
  left_after_close: string | null;
}

const PAGE = 0x1000;
const BUFFER_PAGES = 64;
const IOVA = 0x1000000;

/** VmRSS of a process in KiB, from /proc (Linux); null when it cannot be read. */
export function rssKib(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** A minimal JSON-RPC client over the child's stdio, one request at a time. */
class Client {
  private nextId = 1;
  private readonly lines: AsyncGenerator<{ line: string } | { oversizeBytes: number }>;
  calls = 0;
  constructor(readonly child: ChildProcess) {
    this.lines = readLines(child.stdout!, 64 << 20);
  }

  async call(method: string, params: object): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    this.calls++;
    this.child.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    const next = await this.lines.next();
    if (next.done || !('line' in next.value)) throw new Error(`soak: no answer to ${method} (server gone?)`);
    const msg = JSON.parse(next.value.line) as { id: number; result?: Record<string, unknown>; error?: { message: string } };
    if (msg.error) throw new Error(`soak: ${method}: JSON-RPC error ${msg.error.message}`);
    return msg.result ?? {};
  }

  async ioctl(fd: number, cmd: string, arg: object, want: 'ok' | 'any' = 'ok'): Promise<Record<string, unknown>> {
    const r = await this.call('ioctl', { fd, cmd, arg });
    if (want === 'ok' && r.errno !== undefined) throw new Error(`soak: ${cmd} failed with ${String(r.errno)}`);
    return (r.arg ?? {}) as Record<string, unknown>;
  }

  async hook(op: string, arg: object, fd?: number): Promise<Record<string, unknown>> {
    const r = await this.call('test', fd === undefined ? { op, arg } : { op, arg, fd });
    if (r.errno !== undefined) throw new Error(`soak: ${op} failed with ${String(r.errno)}`);
    return (r.out ?? {}) as Record<string, unknown>;
  }
}

/** What a STATE dump still holds after every context was closed, or null. */
function leftover(s: Record<string, unknown>): string | null {
  const left: string[] = [];
  if (((s.contexts ?? []) as unknown[]).length > 0) left.push('a context');
  const pinned = ((s.pins ?? {}) as { pinned_frames?: number }).pinned_frames ?? 0;
  if (pinned) left.push(`${pinned} pinned frame(s)`);
  for (const [k, v] of Object.entries((s.accounting ?? {}) as Record<string, number>)) if (k !== 'memlock_limit_pages' && k.endsWith('_pages') && v) left.push(`${k} ${v}`);
  return left.length > 0 ? left.join(', ') : null;
}

export async function soak(opts: SoakOptions): Promise<SoakFigures> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ioasid.mjs'), 'serve', ...(opts.serveArgs ?? [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const c = new Client(child);
  let started = Date.now();
  const samples: [number, number][] = [];
  const every = opts.durationMs / (opts.samples ?? 40);
  let nextSample = 0;
  let rounds = 0;
  try {
    await c.call('hello', { protocol: 1 });
    await c.call('world', { topology: { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] } });
    const { fd } = (await c.call('open', {})) as { fd: number };
    const buf = Number((await c.hook('MMAP', { length: BUFFER_PAGES * PAGE }, fd)).addr);
    const ioas = Number((await c.ioctl(fd, 'IOMMU_IOAS_ALLOC', {})).out_ioas_id);
    await c.ioctl(fd, 'VFIO_DEVICE_BIND_IOMMUFD', { device: 'dev0' });
    await c.ioctl(fd, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { device: 'dev0', pt_id: ioas });
    // The clock starts with the rounds: loading the server is not part of the run.
    started = Date.now();
    while (Date.now() - started < opts.durationMs) {
      const pages = 1 + (rounds % BUFFER_PAGES);
      await c.ioctl(fd, 'IOMMU_IOAS_MAP', { ioas_id: ioas, flags: 7, user_va: buf, length: pages * PAGE, iova: IOVA });
      if (rounds % 8 === 0) {
        const acc = Number((await c.hook('CREATE_ACCESS', { ioas_id: ioas, flags: 1 }, fd)).access_id);
        const pin = Number((await c.hook('ACCESS_PIN', { access_id: acc, iova: IOVA, length: PAGE }, fd)).pages_id);
        await c.hook('ACCESS_UNPIN', { access_id: acc, pages_id: pin }, fd);
        await c.hook('DESTROY_ACCESS', { access_id: acc }, fd);
      }
      await c.ioctl(fd, 'IOMMU_IOAS_UNMAP', { ioas_id: ioas, iova: IOVA, length: pages * PAGE });
      if (rounds % 16 === 0) {
        const other = (await c.call('open', {})) as { fd: number };
        const id = Number((await c.ioctl(other.fd, 'IOMMU_IOAS_ALLOC', {})).out_ioas_id);
        await c.ioctl(other.fd, 'IOMMU_IOAS_MAP', { ioas_id: id, flags: 7, user_va: buf, length: PAGE, iova: IOVA });
        await c.ioctl(other.fd, 'IOMMU_DESTROY', { id });
        await c.call('close', { fd: other.fd });
      }
      rounds++;
      const t = Date.now() - started;
      if (t >= nextSample) {
        const rss = rssKib(child.pid!);
        if (rss !== null) samples.push([t, rss]);
        nextSample = t + every;
      }
    }
    await c.call('close', { fd });
    const left = leftover(await c.hook('STATE', {}));
    // The baseline is the window right after the warm-up (the heap has reached its working
    // size and the collector its rhythm); growth is how far the last quarter rises above it.
    const warmEnd = opts.durationMs * (opts.warmupFraction ?? 0.3);
    const warm = samples.filter(([t]) => t >= warmEnd && t < opts.durationMs * 0.5).map(([, r]) => r);
    const end = samples.filter(([t]) => t >= opts.durationMs * 0.75).map(([, r]) => r);
    const warmMax = warm.length > 0 ? Math.max(...warm) : 0;
    const endMax = end.length > 0 ? Math.max(...end) : 0;
    return { rounds, calls: c.calls, elapsed_ms: Date.now() - started, rss_kib: samples, warm_rss_kib: warmMax, end_rss_kib: endMax, growth_kib: endMax - warmMax, left_after_close: left };
  } finally {
    child.stdin!.end();
    child.kill('SIGKILL');
  }
}
