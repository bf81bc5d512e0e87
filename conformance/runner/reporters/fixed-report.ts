/**
 * A fixed, hand-written report for the reporters' golden tests and the HTML browser test:
 * one case of every result, two areas, a failure with step/expected/actual, diagnostics with
 * characters every format must escape, an invalid case file. Nothing here came from a run.
 */
import type { Report } from '../types.ts';

export const fixedReport: Report = {
  format: 'ioasid-report',
  report_version: 1,
  run: {
    command_line: ['conform', '--adapter', "stdio:python3 adapter.py", '--format', 'json,md'],
    suite: { version: '0.1.0', commit: '0123456789abcdef0123456789abcdef01234567', interpreting: '1' },
    adapter: { kind: 'stdio', spec: 'stdio:python3 adapter.py', command: 'python3 adapter.py' },
    timeouts: { hello_ms: 30000, case_ms: 30000 },
    restart_budget: 10,
    restarts: 1,
    cases: ['conformance/cases'],
    expectations: 'known.txt',
    bail: false,
    started_at: '2026-01-02T03:04:05.000Z',
    finished_at: '2026-01-02T03:04:07.500Z',
    duration_ms: 2500,
    host: { node: 'v20.0.0', platform: 'linux-x64' },
  },
  completed: true,
  implementation: { name: 'pyfake', version: '0.3.1', homepage: 'https://example.org/pyfake', language: 'python' },
  protocol: 1,
  capabilities: ['ioas', 'test:refs', 'test:state'],
  smoke: { ok: true, message: 'adapter OK: hello, world, open, IOAS alloc and destroy, close answered as protocol v1 says' },
  summary: {
    total: 9,
    not_run: 0,
    invalid_cases: 1,
    by_result: { pass: 2, fail: 1, unsupported: 1, error: 1, timeout: 1, crash: 1, 'expected fail': 1, 'unexpected pass': 0, skipped: 1, flaky: 0, invalid: 0 },
    by_area: {
      hwpt: { pass: 0, fail: 0, unsupported: 1, error: 1, timeout: 1, crash: 0, 'expected fail': 0, 'unexpected pass': 0, skipped: 1, flaky: 0, invalid: 0 },
      ioas: { pass: 2, fail: 1, unsupported: 0, error: 0, timeout: 0, crash: 1, 'expected fail': 1, 'unexpected pass': 0, skipped: 0, flaky: 0, invalid: 0 },
    },
  },
  cases: [
    { id: 'hwpt/alloc/nest-parent', title: 'NEST_PARENT needs a device that supports nesting', area: 'hwpt', clauses: ['HWPT-ALLOC-4'], requires: ['hwpt', 'nesting:vtd-s1'], result: 'unsupported', duration_ms: 0, missing: ['hwpt', 'nesting:vtd-s1'], message: 'the implementation lacks hwpt, nesting:vtd-s1' },
    { id: 'hwpt/alloc/no-device', title: 'HWPT_ALLOC of an unknown device fails with ENOENT', area: 'hwpt', clauses: ['HWPT-ALLOC-1'], requires: ['hwpt'], result: 'error', duration_ms: 1.5, message: 'adapter error -32601: unknown method' },
    { id: 'hwpt/alloc/slow', title: 'a slow allocation', area: 'hwpt', clauses: ['HWPT-ALLOC-2'], requires: ['hwpt'], result: 'timeout', duration_ms: 30000, message: 'no answer to ioctl within 30000 ms' },
    { id: 'hwpt/alloc/todo', title: 'skipped by the expectations file', area: 'hwpt', clauses: ['HWPT-ALLOC-3'], requires: [], result: 'skipped', duration_ms: 0, message: 'skipped by the expectations file (hwpt/alloc/todo, line 3)', expectation: { pattern: 'hwpt/alloc/todo', expect: 'skip' } },
    { id: 'ioas/alloc/basic', title: 'IOAS_ALLOC returns a fresh id', area: 'ioas', clauses: ['IOAS-ALLOC-1'], requires: ['ioas'], result: 'pass', duration_ms: 2.25, steps_run: 2 },
    { id: 'ioas/map/crash', title: 'MAP of a huge range', area: 'ioas', clauses: ['IOAS-MAP-9'], requires: ['ioas'], result: 'crash', duration_ms: 12, message: 'adapter killed by SIGSEGV (while waiting for ioctl)', diagnostics: 'Traceback: <module> & "quotes"\nSegfault' },
    {
      id: 'ioas/map/fixed-iova-overlap', title: 'MAP with FIXED_IOVA over an existing area fails with EEXIST and changes nothing', area: 'ioas',
      path: 'conformance/cases/ioas/map/fixed-iova-overlap.json', clauses: ['IOAS-MAP-FIXED-2'], requires: ['ioas', 'test:refs'], result: 'fail', duration_ms: 3.5, steps_run: 3,
      message: 'step 3 (second-map) IOMMU_IOAS_MAP: expected EEXIST, got EINVAL',
      failure: { step: { index: 3, label: 'second-map', op: 'IOMMU_IOAS_MAP' }, expected: { errno: 'EEXIST' }, actual: { errno: 'EINVAL' }, message: 'step 3 (second-map) IOMMU_IOAS_MAP: expected EEXIST, got EINVAL' },
      rerun: "npx ioasid repro ioas/map/fixed-iova-overlap --adapter 'stdio:python3 adapter.py'",
    },
    { id: 'ioas/map/known-bug', title: 'a known bug', area: 'ioas', clauses: ['IOAS-MAP-7'], requires: ['ioas'], result: 'expected fail', outcome: 'fail', duration_ms: 1, message: 'step 1 IOMMU_IOAS_MAP: iova should be 4096: expected 4096, got 8192', expectation: { pattern: 'ioas/map/known-*', expect: 'fail', reason: 'bug 7' } },
    { id: 'ioas/unmap/all', title: 'UNMAP of everything empties the IOAS', area: 'ioas', clauses: ['IOAS-UNMAP-1'], requires: ['ioas'], result: 'pass', duration_ms: 1.75, steps_run: 4 },
  ],
  invalid_cases: [{ path: 'conformance/cases/ioas/bad.json', pointer: '/steps/0/errno', rule: 'case.schema.json pattern (#/$defs/errnoName/pattern)', message: 'must match pattern "^E[A-Z0-9]+$"' }],
};
