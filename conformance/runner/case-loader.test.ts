/**
 * What a case needs from an adapter beyond its own `requires`: the capability of every test
 * hook it uses and of every hook option it sets (a field's x-capability in the protocol schema).
 */
import { describe, expect, it } from 'vitest';
import { effectiveRequires } from './case-loader.ts';
import type { GoldenCase } from './types.ts';
import { mkCase } from './testing/fixtures.ts';

const requiresOf = (steps: GoldenCase['steps']): string[] => effectiveRequires(mkCase('ioas/x', steps, { requires: ['ioas'] }));

describe('effective requirements', () => {
  it('a plain MMAP needs nothing, MMAP huge or private and MEMFD_CREATE huge need their capabilities', () => {
    expect(requiresOf([{ op: 'MMAP', arg: { length: 4096 } }])).toEqual(['ioas']);
    expect(requiresOf([{ op: 'MMAP', arg: { length: 4096, huge: false } }])).toEqual(['ioas']);
    expect(requiresOf([{ op: 'MMAP', arg: { length: 4096, huge: true } }])).toEqual(['ioas', 'test:mmap-huge']);
    expect(requiresOf([{ op: 'MMAP', arg: { length: 4096, fd: 3, private: true } }])).toEqual(['ioas', 'test:mmap-private']);
    expect(requiresOf([{ op: 'MEMFD_CREATE', arg: { length: 4096, huge: true } }])).toEqual(['ioas', 'map-file', 'test:mmap-huge']);
  });
});
