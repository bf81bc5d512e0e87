/**
 * The pieces of `ioasid kernel-check` that run without a kernel: the config fragment check,
 * the cpio writer (read back by the system's cpio where there is one, and by our own parse),
 * the test-op probe's parsing, the QEMU command, the comparison with the committed report,
 * release numbers and the cases' min_kernel against the feature table.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig, readFragment, unmetLines } from './config-fragment.ts';
import { writeCpio } from './cpio.ts';
import { opsHeader, parseProbeOutput, probeSource, testOpNames } from './test-ops.ts';
import { adapterSpec, qemuArgs, shellQuote } from './qemu.ts';
import { compareWithBaseline } from './baseline.ts';
import { compareKernelReleases, kernelTooOld, parseKernelRelease } from '../runner/kernel-version.ts';
import { FEATURE_RULES, featuresUsed } from './min-kernel-rules.ts';
import { DEFAULT_CASES_DIR, loadCases } from '../runner/case-loader.ts';

describe('the config fragment', () => {
  it('reads set and unset symbols', () => {
    const c = parseConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\n# a comment\n');
    expect([...c]).toEqual([['CONFIG_A', 'y'], ['CONFIG_B', 'n'], ['CONFIG_C', '"x y"']]);
  });
  it('names every line the resulting .config dropped', () => {
    expect(unmetLines('CONFIG_IOMMUFD=y\nCONFIG_IOMMUFD_TEST=y\nCONFIG_SMP=y\n', 'CONFIG_IOMMUFD=y\n# CONFIG_IOMMUFD_TEST is not set\n'))
      .toEqual(['CONFIG_IOMMUFD_TEST=y (got not set)', 'CONFIG_SMP=y (got not set)']);
    expect(unmetLines('CONFIG_IOMMUFD=y\n', 'CONFIG_IOMMUFD=m\n')).toEqual(['CONFIG_IOMMUFD=y (got m)']);
  });
  it('asks for what the brief and the adapter need', () => {
    const f = parseConfig(readFragment());
    for (const s of ['IOMMUFD', 'IOMMUFD_TEST', 'FAULT_INJECTION', 'FAILSLAB', 'FAULT_INJECTION_DEBUG_FS', 'DEBUG_FS', 'DEVTMPFS', 'BLK_DEV_INITRD', 'VIRTIO_PCI', 'VIRTIO_CONSOLE', 'AMD_IOMMU', 'IOMMU_IOPF', '64BIT', 'SMP', 'ACPI', 'TRANSPARENT_HUGEPAGE', 'MEMFD_CREATE']) {
      expect(f.get(`CONFIG_${s}`), s).toBe('y');
    }
  });
});

/** Our own reading of a newc archive: [name, mode, rdev major, rdev minor, data]. */
function readNewc(bytes: Uint8Array): [string, number, number, number, string][] {
  const dec = new TextDecoder();
  const out: [string, number, number, number, string][] = [];
  let at = 0;
  for (;;) {
    const h = dec.decode(bytes.subarray(at, at + 110));
    expect(h.slice(0, 6)).toBe('070701');
    const field = (i: number) => parseInt(h.slice(6 + 8 * i, 14 + 8 * i), 16);
    const size = field(6);
    const nameBytes = field(11);
    const name = dec.decode(bytes.subarray(at + 110, at + 110 + nameBytes - 1));
    at += 110 + nameBytes;
    at += (4 - (at % 4)) % 4;
    const data = dec.decode(bytes.subarray(at, at + size));
    at += size + ((4 - (size % 4)) % 4);
    if (name === 'TRAILER!!!') return out;
    out.push([name, field(1), field(9), field(10), data]);
  }
}

describe('the cpio writer', () => {
  const archive = writeCpio([
    { kind: 'dir', name: 'dev' },
    { kind: 'char', name: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', name: '/init', data: new TextEncoder().encode('#!/bin/sh\n'), mode: 0o755 },
    { kind: 'file', name: 'odd', data: new TextEncoder().encode('abcde') },
  ]);
  it('writes newc entries, 4-byte aligned, ending with the trailer', () => {
    expect(archive.length % 4).toBe(0);
    expect(readNewc(archive)).toEqual([
      ['dev', 0o040755, 0, 0, ''],
      ['dev/console', 0o020600, 5, 1, ''],
      ['init', 0o100755, 0, 0, '#!/bin/sh\n'],
      ['odd', 0o100644, 0, 0, 'abcde'],
    ]);
  });
  it('is deterministic', () => {
    expect(writeCpio([{ kind: 'dir', name: 'dev' }])).toEqual(writeCpio([{ kind: 'dir', name: 'dev' }]));
  });
  it('refuses an empty name', () => {
    expect(() => writeCpio([{ kind: 'dir', name: '/' }])).toThrow(/bad entry name/);
  });
  it.skipIf(spawnSync('cpio', ['--version']).status !== 0)('is what the system cpio lists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-cpio-'));
    try {
      writeFileSync(join(dir, 'a.cpio'), archive);
      const r = spawnSync('cpio', ['-it', '-F', join(dir, 'a.cpio')], { encoding: 'utf8' });
      expect(r.stdout.trim().split('\n')).toEqual(['dev', 'dev/console', 'init', 'odd']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the test-op probe', () => {
  const header = 'enum {\n\tIOMMU_TEST_OP_ADD_RESERVED = 1,\n\tIOMMU_TEST_OP_MOCK_DOMAIN,\n\tIOMMU_TEST_OP_TRIGGER_IOPF,\n};\nstruct iommu_test_cmd {\n\tunion {\n\t\tstruct { __u32 limit; } memory_limit;\n\t};\n};\n';
  it('reads the op names in order', () => {
    expect(testOpNames(header)).toEqual(['ADD_RESERVED', 'MOCK_DOMAIN', 'TRIGGER_IOPF']);
  });
  it('prints every op and asserts only the members the header has', () => {
    const src = probeSource(testOpNames(header), header);
    expect(src).toContain('IOMMU_TEST_OP_MOCK_DOMAIN');
    expect(src).toContain('memory_limit.limit) == 16');
    expect(src).not.toContain('access_pages.iova');
  });
  it('turns the probe output into the adapter header', () => {
    const ops = parseProbeOutput('request 15264\nbytes 72\nop ADD_RESERVED 1\nop TRIGGER_IOPF 15\n');
    expect(ops).toEqual({ request: 15264, bytes: 72, ops: { ADD_RESERVED: 1, TRIGGER_IOPF: 15 } });
    expect(opsHeader(ops)).toContain('{ "TRIGGER_IOPF", 15 },');
    expect(() => parseProbeOutput('nothing\n')).toThrow(/printed no request/);
  });
});

describe('the QEMU adapter', () => {
  it('is TCG with the virtio-serial port on stdio, never KVM', () => {
    const a = qemuArgs({ kernel: '/k', initrd: '/i', consoleLog: '/c' });
    expect(a.join(' ')).toContain('-accel tcg -smp 2 -m 512M');
    expect(a).toContain('stdio,id=port,signal=off');
    expect(a.join(' ')).not.toMatch(/kvm/);
    expect(adapterSpec({ kernel: '/k', initrd: '/i', consoleLog: "/it's" })).toMatch(/^stdio:exec qemu-system-x86_64 .*'file,id=console,path=\/it'\\''s,append=on'/);
    expect(shellQuote('a b')).toBe("'a b'");
  });
});

describe('the comparison with the committed report', () => {
  const base = [{ id: 'a', result: 'pass' }, { id: 'b', result: 'fail' }, { id: 'c', result: 'unsupported' }];
  it('accepts the same results when every failure is explained', () => {
    expect(compareWithBaseline(base, base, '`b`: the adapter cannot …', false)).toEqual([]);
  });
  it('reports a changed result, a missing case, an unexplained failure, a new failure', () => {
    const now = [{ id: 'a', result: 'fail' }, { id: 'b', result: 'fail' }, { id: 'd', result: 'error' }];
    expect(compareWithBaseline(base, now, 'about `b`, a', false)).toEqual([
      'a: pass in the committed report, fail now',
      'c: unsupported in the committed report, not run now',
      'a: fail, and the report\'s README.md does not explain it',
      'd: error, and not in the committed report',
      'd: error, and the report\'s README.md does not explain it',
    ]);
    expect(compareWithBaseline(base, [{ id: 'a', result: 'pass' }], '`b`', true)).toEqual([]);
  });
});

describe('kernel releases', () => {
  it('compare by major, minor and patch, ignoring what follows', () => {
    expect(parseKernelRelease('6.15.0-rc3+')).toEqual([6, 15, 0]);
    expect(parseKernelRelease('x')).toBeNull();
    expect(compareKernelReleases('6.12.118', '6.13')).toBeLessThan(0);
    expect(compareKernelReleases('6.13', '6.13.0')).toBe(0);
    expect(compareKernelReleases('6.9', '6.13')).toBeLessThan(0);
    expect(compareKernelReleases('7.0', '6.17')).toBeGreaterThan(0);
  });
  it('make a case unsupported only on an older kernel', () => {
    expect(kernelTooOld('6.13', '6.12.118')).toBe('needs Linux 6.13 or later; the implementation runs 6.12.118');
    expect(kernelTooOld('6.13', '6.13.1')).toBeNull();
    expect(kernelTooOld('6.13', undefined)).toBeNull();
    expect(kernelTooOld(undefined, '6.12')).toBeNull();
  });
});

describe('min_kernel of the golden cases', () => {
  const { cases } = loadCases([DEFAULT_CASES_DIR]);
  it('is at least the release of every feature a case uses', () => {
    const wrong: string[] = [];
    for (const lc of cases) {
      for (const f of featuresUsed(lc.case.steps as never)) {
        const have = lc.case.min_kernel;
        if (have === undefined || compareKernelReleases(have, f.release) < 0) wrong.push(`${lc.case.id}: uses ${f.feature}, min_kernel ${have ?? 'absent'}`);
      }
    }
    expect(wrong).toEqual([]);
  });
  it('says why wherever it is set', () => {
    expect(cases.filter((lc) => lc.case.min_kernel !== undefined && !lc.case.min_kernel_why).map((lc) => lc.case.id)).toEqual([]);
  });
  it('has a rule for each feature the table lists that some case uses', () => {
    const used = new Set(cases.flatMap((lc) => featuresUsed(lc.case.steps as never).map((f) => f.feature)));
    expect(FEATURE_RULES.filter((r) => used.has(r.feature)).length).toBeGreaterThan(5);
  });
});


const hasCc = spawnSync('cc', ['--version']).status === 0;

describe.skipIf(!hasCc)('the C adapter built for a kernel, run on this host', () => {
  const ADAPTER = join(dirname(fileURLToPath(import.meta.url)), '..', 'adapters', 'c');
  it('compiles with the generated op table, declares the kernel, and refuses a VFIO bind as cannot-express', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-kadapter-'));
    try {
      const ops = join(dir, 'ops.h');
      writeFileSync(ops, opsHeader({ request: 0x3ba0, bytes: 72, ops: { ADD_RESERVED: 1, MOCK_DOMAIN: 2, MD_CHECK_REFS: 4, CREATE_ACCESS: 5 } }));
      const exe = join(dir, 'adapter');
      const cc = spawnSync('cc', ['-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror', `-DIOASID_KERNEL_OPS="${ops}"`, `-I${ADAPTER}`, '-o', exe,
        ...['adapter.c', 'kernel-hooks.c', 'json.c', 'layout.c'].map((f) => join(ADAPTER, f)), '-ldl'], { encoding: 'utf8' });
      expect(cc.stderr).toBe('');
      expect(cc.status).toBe(0);
      const requests = [
        { jsonrpc: '2.0', id: 1, method: 'hello', params: { protocol: 1 } },
        { jsonrpc: '2.0', id: 2, method: 'ioctl', params: { fd: 3, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { device: 'dev0', argsz: 24, flags: 0 } } },
        { jsonrpc: '2.0', id: 3, method: 'world', params: { topology: { bridges: [], devices: [], process: { drop: ['CAP_IPC_LOCK'] } } } },
      ];
      const r = spawnSync(exe, [], { input: requests.map((q) => JSON.stringify(q)).join('\n') + '\n', encoding: 'utf8', timeout: 10_000 });
      const [hello, bind, world] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(hello.result.kernel).toMatch(/^\d+\.\d+/);
      expect(hello.result.capabilities).toEqual(expect.arrayContaining(['ioas', 'hwpt', 'vfio-compat', 'model:mock']));
      expect(hello.result.capabilities).not.toContain('vfio-device');
      expect(bind.error.code).toBe(-32003);
      expect(bind.error.message).toMatch(/IOMMU_TEST_OP_MOCK_DOMAIN/);
      expect(world.error.code).toBe(-32003);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
