/**
 * The Python IOAS adapter (ioas_adapter.py) against the whole golden suite, through the stdio
 * transport exactly as `ioasid conform --adapter stdio:'python3 …'` drives it: an independent,
 * standard-library implementation must pass every case whose requirements it declares, and
 * every other case must come out `unsupported` — which shows that the protocol and the cases
 * carry no TypeScript assumption. Also a few raw protocol exchanges (parse errors, unknown
 * methods, the u64 wire rule) checked line by line. Skipped only when python3 is absent.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MESSAGE_MAX_BYTES } from '../../../schemas/lib/adapter.ts';
import { DEFAULT_CASES_DIR, REPO_ROOT, loadCases } from '../../runner/case-loader.ts';
import { loadCatalog } from '../../runner/catalog-source.ts';
import { runSuite } from '../../runner/run.ts';
import { stdioFactory } from '../../runner/stdio.ts';

const ADAPTER = join(REPO_ROOT, 'conformance', 'adapters', 'python', 'ioas_adapter.py');
const COMMAND = `python3 '${ADAPTER}'`;
const hasPython = spawnSync('python3', ['--version']).status === 0;

/** What the adapter says it implements; everything else must be unsupported. */
const DECLARED = [
  'ioas', 'access', 'hwpt', 'map-file', 'change-process', 'options', 'vfio-device',
  'test:accounting', 'test:dma', 'test:mem', 'test:process', 'test:refs', 'test:reserved',
  'test:state', 'test:temp-memory-limit', 'test:access-rw-slow-path', 'test:mmap-private',
  'test:mmap-huge', 'x-raw-ioctl', 'vfio-compat', 'nesting:selftest',
];

/** At least this many cases pass (754 of 935 when last raised; a drop means a regression or lost cases). */
const MIN_PASSES = 750;

/** Sends request lines to a fresh adapter and returns its parsed answer lines. */
function exchange(lines: string[]): { answers: Record<string, unknown>[]; status: number | null } {
  const r = spawnSync('python3', [ADAPTER], { input: lines.join('\n') + '\n', encoding: 'utf8' });
  const answers = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { answers, status: r.status };
}

const rpc = (id: number, method: string, params: object) => JSON.stringify({ jsonrpc: '2.0', id, method, params });

describe.skipIf(!hasPython)('python IOAS adapter (stdio)', () => {
  it('passes every golden case whose requirements it declares; the rest are exactly the unsupported ones', async () => {
    const catalog = await loadCatalog();
    const { cases, invalid } = loadCases([DEFAULT_CASES_DIR]);
    expect(invalid).toEqual([]);
    const report = await runSuite({
      factory: stdioFactory(COMMAND),
      adapter: { kind: 'stdio', spec: `stdio:${COMMAND}`, command: COMMAND },
      catalog,
      cases,
      invalid,
      caseTimeoutMs: 30_000,
      helloTimeoutMs: 30_000,
      restartBudget: 3,
      bail: false,
      config: { command_line: ['conform', '--adapter', `stdio:${COMMAND}`], cases: [DEFAULT_CASES_DIR] },
    });
    expect(report.smoke.ok).toBe(true);
    expect(report.completed).toBe(true);
    expect(report.capabilities).toEqual([...DECLARED].sort());
    expect(report.run.restarts).toBe(0);
    expect(report.cases).toHaveLength(cases.length);

    const declared = new Set(DECLARED);
    const wrong: string[] = [];
    for (const lc of cases) {
      const r = report.cases.find((c) => c.id === lc.case.id)!;
      const missing = lc.effectiveRequires.filter((c) => !declared.has(c));
      if (missing.length > 0) {
        if (r.result !== 'unsupported' || JSON.stringify(r.missing) !== JSON.stringify(missing)) {
          wrong.push(`${r.id}: needs ${missing.join(', ')} but came out ${r.result}`);
        }
      } else if (r.result !== 'pass') {
        wrong.push(`${r.id}: ${r.result}: ${r.message}`);
      }
    }
    expect(wrong).toEqual([]);
    const s = report.summary.by_result;
    expect(s.fail + s.error + s.crash + s.timeout).toBe(0);
    expect(s.pass).toBeGreaterThanOrEqual(MIN_PASSES);
    expect(s.unsupported).toBe(cases.filter((lc) => lc.effectiveRequires.some((c) => !declared.has(c))).length);
    // The adapters README shows this run's summary line: its numbers must be this run's.
    const readme = readFileSync(join(REPO_ROOT, 'conformance', 'adapters', 'README.md'), 'utf8');
    const shown = /^ioasid-python-ioas [^:]+: (\d+) pass, (\d+) fail, (\d+) error, (\d+) timeout, (\d+) crash, (\d+) unsupported, \.\.\.$/m.exec(readme);
    const actual = `${s.pass} pass, ${s.fail} fail, ${s.error} error, ${s.timeout} timeout, ${s.crash} crash, ${s.unsupported} unsupported`;
    expect(shown ? `${shown[1]} pass, ${shown[2]} fail, ${shown[3]} error, ${shown[4]} timeout, ${shown[5]} crash, ${shown[6]} unsupported` : 'no summary line in conformance/adapters/README.md', 'update the summary line in conformance/adapters/README.md').toBe(actual);
  });

  it('answers JSON-RPC errors for what it cannot do, and errnos for what the kernel refuses', () => {
    const { answers, status } = exchange([
      rpc(1, 'hello', { protocol: 1 }),
      'this is not json',
      rpc(2, 'frobnicate', {}),
      rpc(3, 'test', { op: 'PGTABLE_DUMP', arg: { hwpt_id: 1 } }),
      rpc(4, 'open', {}),
      rpc(5, 'ioctl', { fd: 3, cmd: 'IOMMU_VIOMMU_ALLOC', arg: { size: 40 } }),
      rpc(6, 'ioctl', { fd: 3, cmd: 'IOMMU_DESTROY', arg: { size: 8, id: 0 } }),
      rpc(7, 'shutdown', {}),
    ]);
    expect(status).toBe(0);
    expect(answers[0]).toMatchObject({ id: 1, result: { protocol: 1, capabilities: DECLARED } });
    expect(answers[1]).toMatchObject({ id: null, error: { code: -32700 } });
    expect(answers[2]).toMatchObject({ id: 2, error: { code: -32601 } });
    expect(answers[3]).toMatchObject({ id: 3, error: { code: -32601 } });
    expect(answers[4]).toEqual({ jsonrpc: '2.0', id: 4, result: { fd: 3 } });
    expect(answers[5]).toEqual({ jsonrpc: '2.0', id: 5, result: { errno: 'ENOTTY' } });
    expect(answers[6]).toEqual({ jsonrpc: '2.0', id: 6, result: { errno: 'ENOENT' } });
    expect(answers[7]).toEqual({ jsonrpc: '2.0', id: 7, result: {} });
  });

  it('refuses a request line over the 64 MiB message limit with -32600 and reads on', () => {
    const { answers, status } = exchange(['x'.repeat(MESSAGE_MAX_BYTES + 1), rpc(1, 'open', {}), rpc(2, 'shutdown', {})]);
    expect(status).toBe(0);
    expect(answers[0]).toMatchObject({ id: null, error: { code: -32600, message: `request line of ${MESSAGE_MAX_BYTES + 1} bytes exceeds the ${MESSAGE_MAX_BYTES}-byte message limit` } });
    expect(answers[1]).toEqual({ jsonrpc: '2.0', id: 1, result: { fd: 3 } });
  });

  it('dispatches RAW_IOCTL request numbers as main.c does', () => {
    const raw = (id: number, arg: object) => rpc(id, 'test', { fd: 3, op: 'RAW_IOCTL', arg });
    const { answers } = exchange([
      rpc(1, 'open', {}),
      raw(2, { request: '0x3b81', bytes: '0c0000000000000000000000' }),
      raw(3, { request: '0x3b7f', bytes: '0800000000000000' }),
      raw(4, { request: '0x40083b80', bytes: '0800000001000000' }),
      raw(5, { request: '0x3b80', argp: 0 }),
      raw(6, { request: '0x3b80', bytes: '0900000001000000ff' }),
      raw(7, { request: '0x3b80', bytes: '0800000001000000' }),
    ]);
    expect(answers[1]).toMatchObject({ result: { ret: 0, out: { out_ioas_id: 1 } } });
    expect(answers[2]).toMatchObject({ result: { errno: 'ENOTTY' } }); // nr below IOMMUFD_CMD_BASE
    expect(answers[3]).toMatchObject({ result: { errno: 'ENOTTY' } }); // _IOW bits on a valid nr
    expect(answers[4]).toMatchObject({ result: { errno: 'EFAULT' } }); // NULL: size cannot be read
    expect(answers[5]).toMatchObject({ result: { errno: 'E2BIG' } }); // a non-zero byte past the struct
    expect(answers[6]).toMatchObject({ result: { ret: 0 } }); // IOMMU_DESTROY of IOAS 1
  });

  it('dumps a nested HWPT with its parent, which stays busy until the child is destroyed', () => {
    const io = (id: number, cmd: string, arg: object) => rpc(id, 'ioctl', { fd: 3, cmd, arg });
    const hwptAlloc = { size: 48, dev_id: 2, data_type: 0, data_len: 0, data_uptr: 0 };
    const { answers } = exchange([
      rpc(1, 'world', { topology: { bridges: [{ name: 'b0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'b0' }] } }),
      rpc(2, 'open', {}),
      io(3, 'IOMMU_IOAS_ALLOC', { size: 12 }),
      io(4, 'VFIO_DEVICE_BIND_IOMMUFD', { argsz: 16, device: 'dev0' }),
      io(5, 'IOMMU_HWPT_ALLOC', { ...hwptAlloc, flags: 1, pt_id: 1 }),
      rpc(6, 'test', { op: 'MMAP', arg: { length: 4096 } }),
      rpc(7, 'test', { op: 'MEM_WRITE', arg: { addr: 0x7f0000000000, data: 'efbead0b00000000' } }),
      io(8, 'IOMMU_HWPT_ALLOC', { ...hwptAlloc, flags: 0, pt_id: 3, data_type: 0xdead, data_len: 8, data_uptr: 0x7f0000000000 }),
      rpc(9, 'test', { fd: 3, op: 'STATE', arg: {} }),
      io(10, 'IOMMU_DESTROY', { size: 8, id: 3 }),
      io(11, 'IOMMU_DESTROY', { size: 8, id: 4 }),
      io(12, 'IOMMU_DESTROY', { size: 8, id: 3 }),
    ]);
    expect(answers[4]).toMatchObject({ result: { ret: 0, arg: { out_hwpt_id: 3 } } });
    expect(answers[5]).toMatchObject({ result: { ret: 0, out: { addr: 0x7f0000000000 } } });
    expect(answers[7]).toMatchObject({ result: { ret: 0, arg: { out_hwpt_id: 4 } } });
    const objects = (answers[8] as { result: { out: { contexts: { objects: object[] }[] } } }).result.out.contexts[0]!.objects;
    expect(objects).toContainEqual({ id: 4, kind: 'hwpt_nested', parent_id: 3, devices: [] });
    expect(answers[9]).toMatchObject({ result: { errno: 'EBUSY' } }); // the child holds its parent
    expect(answers[10]).toMatchObject({ result: { ret: 0 } });
    expect(answers[11]).toMatchObject({ result: { ret: 0 } });
  });

  it('answers the VFIO container extensions and types as vfio_compat.c does', () => {
    const io = (id: number, cmd: string, arg: object) => rpc(id, 'ioctl', { fd: 3, cmd, arg });
    const { answers } = exchange([
      rpc(1, 'open', {}),
      io(2, 'VFIO_CHECK_EXTENSION', { type: 9 }),
      io(3, 'VFIO_CHECK_EXTENSION', { type: 10 }),
      io(4, 'VFIO_CHECK_EXTENSION', { type: 4 }),
      io(5, 'VFIO_SET_IOMMU', { type: 2 }),
      rpc(6, 'test', { fd: 3, op: 'RAW_IOCTL', arg: { request: '0x3b64', bytes: '00000000' } }),
      io(7, 'IOMMU_IOAS_ALLOC', { size: 12 }),
      io(8, 'IOMMU_VFIO_IOAS', { size: 12, ioas_id: 1, op: 1 }),
      io(9, 'VFIO_CHECK_EXTENSION', { type: 4 }),
      io(10, 'IOMMU_DESTROY', { size: 8, id: 1 }),
      io(11, 'VFIO_SET_IOMMU', { type: 3 }),
    ]);
    expect(answers[1]).toMatchObject({ result: { ret: 1 } }); // VFIO_UNMAP_ALL
    expect(answers[2]).toMatchObject({ result: { ret: 0 } }); // VFIO_UPDATE_VADDR is refused
    expect(answers[3]).toMatchObject({ result: { errno: 'ENODEV' } }); // DMA_CC_IOMMU needs the compat IOAS
    expect(answers[4]).toMatchObject({ result: { errno: 'EINVAL' } }); // SPAPR: the type before the IOAS
    expect(answers[5]).toMatchObject({ error: { code: -32602 } }); // VFIO_GET_API_VERSION must come by name
    expect(answers[8]).toMatchObject({ result: { ret: 1 } }); // no domain that fails to enforce coherency
    expect(answers[9]).toMatchObject({ result: { ret: 0 } });
    expect(answers[10]).toMatchObject({ result: { errno: 'ENODEV' } }); // destroying it clears the compat IOAS
  });

  it('writes u64 values above 2^53-1 as hex strings and takes either form on input', () => {
    const { answers } = exchange([
      rpc(1, 'hello', { protocol: 1 }),
      rpc(2, 'world', { topology: { bridges: [], devices: [] } }),
      rpc(3, 'open', {}),
      rpc(4, 'test', { op: 'MMAP', arg: { length: 4096 } }),
      rpc(5, 'ioctl', { fd: 3, cmd: 'IOMMU_IOAS_ALLOC', arg: { size: 12, flags: 0, out_ioas_id: 0 } }),
      rpc(6, 'test', { fd: 3, op: 'ADD_RESERVED', arg: { ioas_id: 1, start: '0x0', length: '0xffffffffffffe000' } }),
      rpc(7, 'ioctl', { fd: 3, cmd: 'IOMMU_IOAS_MAP', arg: { size: 40, flags: 6, ioas_id: 1, __reserved: 0, user_va: '2147483648', length: 4096, iova: 0 } }),
    ]);
    const addr = (answers[3] as { result: { out: { addr: unknown } } }).result.out.addr;
    expect(typeof addr === 'number' && Number.isSafeInteger(addr) && addr % 4096 === 0).toBe(true);
    // iopt_alloc_iova searches up to ULONG_MAX - PAGE_SIZE: the one free page below the top page.
    expect(answers[6]).toMatchObject({ id: 7, result: { ret: 0, arg: { iova: '0xffffffffffffe000' } } });
  });
});
