import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runConform } from './conform.ts';

describe('ioasid conform --mutant', () => {
  it('runs the reference with a seeded bug and fails, while the plain reference passes the same cases', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'ioasid-mutant-'));
      const args = ['--filter', 'general/ids/*', '--format', 'json', '--report'];
      expect(await runConform([...args, join(dir, 'plain')])).toBe(0);
      expect(await runConform([...args, join(dir, 'mutant'), '--mutant', 'ids-not-reused'])).toBe(1);
      expect(await runConform(['--mutant', 'no-such-bug'])).toBe(2);
      expect(await runConform(['--mutant', 'ids-not-reused', '--adapter', 'stdio:true'])).toBe(2);
    } finally {
      stderr.mockRestore();
    }
  });
});
