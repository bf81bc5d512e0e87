// `ioasid swnest check`: exit 0 when every probe agrees and the JSON holds the op list; usage
// errors name the flag and exit 2.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import swnest from './swnest.ts';

describe('ioasid swnest check', () => {
  it('runs, writes the reproducer JSON, and replays it', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = join(mkdtempSync(join(tmpdir(), 'swnest-')), 'r.json');
    try {
      expect(await swnest.run(['check', '--guest', 'vtd-fs', '--host', 'arm-smmuv3', '--seed', '2', '--ops', '30', '--json', file])).toBe(0);
      const r = JSON.parse(readFileSync(file, 'utf8'));
      expect(r).toMatchObject({ guest: 'vtd-fs', host: 'arm-smmuv3', strategy: 'swnest', opsRun: 30, difference: null });
      expect(r.ops).toHaveLength(30);
      expect(await swnest.run(['check', '--replay', file])).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toMatch(/30 operations, \d+ agreements, no difference/);
    } finally {
      out.mockRestore();
    }
  }, 60_000);

  it.each([
    [['check', '--guest', 'ppc-tce', '--host', 'intel-vtd'], /--guest: one of arm-lpae-s1, vtd-fs/],
    [['check', '--guest', 'vtd-fs'], /--host/],
    [['check', '--guest', 'vtd-fs', '--host', 'intel-vtd', '--ops', 'many'], /--ops/],
    [['check', '--guest', 'vtd-fs', '--host', 'intel-vtd', '--strategy', 'magic'], /--strategy/],
    [['inspect'], /unknown sub-command 'inspect'/],
  ])('%j is a usage error', async (argv, why) => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await swnest.run(argv)).toBe(2);
      expect(err.mock.calls.map((c) => String(c[0])).join('')).toMatch(why);
    } finally {
      err.mockRestore();
    }
  });
});
