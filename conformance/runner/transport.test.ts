/**
 * Every transport failure mode, with real child processes for stdio (testing/broken-adapter.mjs,
 * a plain-Node protocol speaker) and misbehaving objects in process. Each mode must give its
 * result (error / timeout / crash), the adapter must be restarted, and the run must go on.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdapterError } from '../../schemas/lib/adapter.ts';
import { inProcessFactory } from './in-process.ts';
import { Session } from './session.ts';
import { stdioFactory } from './stdio.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';
import { createToyAdapter } from './testing/toy-adapter.ts';
import { ProtocolViolation, TransportCrash, TransportTimeout } from './transport.ts';

const BROKEN = join(import.meta.dirname, 'testing', 'broken-adapter.mjs');
const broken = (mode: string, trigger = 'IOMMU_IOAS_MAP') => stdioFactory(`${JSON.stringify(process.execPath)} ${JSON.stringify(BROKEN)} ${mode} ${trigger}`);

/** Three cases: the middle one sends the trigger (IOAS_MAP); the others must still pass. */
const trio = [
  mkCase('a/before', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]),
  mkCase('b/trigger', [
    { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } },
    { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$i', user_va: 0x100000, length: 4096, iova: 0x100000, flags: ['FIXED_IOVA'] } },
  ]),
  mkCase('c/after', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]),
];

describe('stdio transport failure modes', () => {
  const modes: [string, string, RegExp, number][] = [
    ['garbage', 'crash', /garbage on stdout/, 1],
    ['hang', 'timeout', /no answer to ioctl/, 1],
    ['crash', 'crash', /killed by SIGSEGV/, 1],
    ['exit0', 'crash', /exited with status 0/, 1],
    ['wrong-schema', 'error', /^protocol violation at step 1 IOMMU_IOAS_MAP, the step's call: ioctl IOMMU_IOAS_MAP: ioctl answered .*ioctlResult/, 0],
    ['rpc-error', 'error', /^adapter error at step 1 IOMMU_IOAS_MAP, the step's call: ioctl IOMMU_IOAS_MAP: JSON-RPC error -32601: no IOMMU_IOAS_MAP here$/, 0],
    ['wrong-id', 'crash', /answer with id 10\d\d/, 1],
  ];
  for (const [mode, result, message, restarts] of modes) {
    it(`${mode} → ${result}, then the run goes on`, async () => {
      const report = await runCases(trio, broken(mode), { caseTimeoutMs: mode === 'hang' ? 400 : 5000 }, true);
      expect(report.smoke.ok).toBe(true);
      expect(report.completed).toBe(true);
      expect(byId(report, 'a/before').result).toBe('pass');
      const hit = byId(report, 'b/trigger');
      expect(hit.result).toBe(result);
      expect(hit.message).toMatch(message);
      expect(byId(report, 'c/after').result).toBe('pass');
      expect(report.run.restarts).toBe(restarts);
    });
  }

  it('captures stderr as the case diagnostics', async () => {
    const report = await runCases(trio, broken('stderr-then-crash'), {}, true);
    const hit = byId(report, 'b/trigger');
    expect(hit.result).toBe('crash');
    expect(hit.diagnostics).toContain('out of cheese');
  });

  it('a broken adapter is told apart in one line by the smoke check, and the run stops', async () => {
    const report = await runCases(trio, broken('rpc-error', 'open'), {}, true);
    expect(report.smoke.ok).toBe(false);
    expect(report.smoke.message).toMatch(/^broken adapter: open: JSON-RPC error -32601/);
    expect(report.completed).toBe(false);
    expect(report.cases).toHaveLength(0);
    expect(report.summary.not_run).toBe(3);
  });

  it('an adapter without the user-memory hooks is refused by the smoke check, which names them', async () => {
    // The first adapter a newcomer writes often answers every `test` with "unknown method".
    const report = await runCases(trio, broken('rpc-error', 'test'), {}, true);
    expect(report.smoke.ok).toBe(false);
    expect(report.completed).toBe(false);
    expect(report.cases).toHaveLength(0);
    expect(report.smoke.message).toMatch(/^broken adapter: the user-memory hooks are mandatory .* MMAP, MEM_WRITE, MEM_READ, MUNMAP are missing: each answered JSON-RPC error -32601: no test here — implement/);
    expect(report.smoke.steps?.find((s) => s.what === 'user-memory hooks')).toMatchObject({ ok: false });
  });

  it('an adapter error inside a case names the step, the method, the hook and what the runner was doing', async () => {
    const placing = mkCase('d/ranges', [
      { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } },
      { op: 'IOMMU_IOAS_ALLOW_IOVAS', label: 'allow', arg: { ioas_id: '$i', allowed_iovas: [{ start: 0, last: 4095 }] } },
    ]);
    const fails = (op: string) => inProcessFactory(() => {
      const a = createToyAdapter();
      let worlds = 0; // the smoke check sends the first world, the case the second
      return { ...a, async world(p) { worlds++; return a.world(p); }, async test(p) { const armed = worlds > 1; if (armed && p.op === op) throw new AdapterError(-32601, `unknown hook ${op}`); return a.test(p); } };
    });
    const r = await runCases([placing], fails('MEM_WRITE'), {}, true);
    const c = byId(r, 'd/ranges');
    expect(c.result).toBe('error');
    expect(c.message).toBe("adapter error at step 1 (allow) IOMMU_IOAS_ALLOW_IOVAS, placing allowed_iovas's content: test MEM_WRITE: JSON-RPC error -32601: unknown hook MEM_WRITE");
    expect(c.failure?.step).toEqual({ index: 1, label: 'allow', op: 'IOMMU_IOAS_ALLOW_IOVAS' });
  });

  it('a hello that never comes is a timeout of the smoke check', async () => {
    const report = await runCases(trio, broken('slow-hello'), { helloTimeoutMs: 300 }, true);
    expect(report.smoke.message).toMatch(/^broken adapter: hello: no answer to hello within 300 ms/);
    expect(report.implementation).toBeNull();
  });

  it('a command that cannot start is a broken adapter', async () => {
    const report = await runCases(trio, stdioFactory('/nonexistent/adapter-binary'), {}, true);
    expect(report.smoke.ok).toBe(false);
    expect(report.smoke.message).toMatch(/^broken adapter: hello: /);
  });

  it('stops when the restart budget is spent', async () => {
    const many = Array.from({ length: 5 }, (_, i) => mkCase(`b/crash${i}`, trio[1].steps));
    const report = await runCases(many, broken('crash'), { restartBudget: 2 }, true);
    expect(report.completed).toBe(false);
    expect(report.abort_reason).toMatch(/restarted 2 times/);
    expect(report.cases.map((c) => c.result)).toEqual(['crash', 'crash', 'crash']);
    expect(report.run.restarts).toBe(2);
  });
});

describe('in-process transport failure modes', () => {
  it('an exception is a crash and a fresh instance is made; a hang is a timeout', async () => {
    let made = 0;
    const report = await runCases(trio, () => {
      made++;
      return createToyAdapter({ throwOn: 'IOMMU_IOAS_MAP' });
    });
    expect(byId(report, 'b/trigger')).toMatchObject({ result: 'crash', message: expect.stringMatching(/threw TypeError: toy adapter bug/) });
    expect(byId(report, 'c/after').result).toBe('pass');
    expect(made).toBe(2);
    const hang = await runCases(trio, () => createToyAdapter({ hangOn: 'IOMMU_IOAS_MAP' }), { caseTimeoutMs: 200 });
    expect(byId(hang, 'b/trigger').result).toBe('timeout');
    expect(byId(hang, 'c/after').result).toBe('pass');
  });

  it('validates answers: a wrong shape is a ProtocolViolation, an AdapterError stays one', async () => {
    const toy = createToyAdapter();
    const s = new Session(inProcessFactory(() => ({
      ...toy,
      open: async () => ({ fd: -1 }),
      close: async () => {
        throw new AdapterError(-32000, 'internal');
      },
    })), { helloTimeoutMs: 1000, restartBudget: 0 });
    await s.start();
    await expect(s.call('open', {}, 1000)).rejects.toBeInstanceOf(ProtocolViolation);
    await expect(s.call('close', { fd: 1 }, 1000)).rejects.toBeInstanceOf(AdapterError);
    expect(s.alive).toBe(true);
    await expect(s.call('test', { op: 'MMAP', arg: { length: 1 } }, 1000, 'MMAP')).resolves.toMatchObject({ ret: 0 });
    // A hook answer whose out breaks its schema is a violation too.
    const bad = new Session(inProcessFactory(() => ({ ...toy, test: async () => ({ ret: 0, out: { addr: 'nowhere' } }) })), { helloTimeoutMs: 1000, restartBudget: 0 });
    await bad.start();
    await expect(bad.call('test', { op: 'MMAP', arg: { length: 1 } }, 1000, 'MMAP')).rejects.toThrow(/hookOut_MMAP/);
  });

  it('classifies timeouts and crashes as transport errors and drops the instance', async () => {
    const toy = createToyAdapter();
    const s = new Session(inProcessFactory(() => ({ ...toy, open: () => new Promise<never>(() => {}) })), { helloTimeoutMs: 1000, restartBudget: 1 });
    await s.start();
    await expect(s.call('open', {}, 50)).rejects.toBeInstanceOf(TransportTimeout);
    expect(s.alive).toBe(false);
    await s.ensure();
    expect(s.restarts).toBe(1);
    await expect(s.ensure()).resolves.toBeUndefined();
    const c = new Session(inProcessFactory(() => ({ ...toy, open: async () => { throw new RangeError('boom'); } })), { helloTimeoutMs: 1000, restartBudget: 0 });
    await c.start();
    await expect(c.call('open', {}, 1000)).rejects.toBeInstanceOf(TransportCrash);
  });
});
