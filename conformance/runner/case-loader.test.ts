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
  it('FD_CLOSE of a TEST_CMD access fd, captured inside out.cmd, needs test:selftest-cmd, not fault', () => {
    const create = { op: 'TEST_CMD', arg: { op: 'CREATE_ACCESS', cmd: { id: 1 } }, out: { cmd: { create_access: { out_access_fd: '$afd' } } } };
    expect(requiresOf([create, { op: 'FD_CLOSE', arg: { fd_id: '$afd' } }])).toEqual(['ioas', 'test:selftest-cmd']);
  });
  it('FD_READ / FD_WRITE / FD_CLOSE need veventq on a vEVENTQ fd, fault on a fault fd, fault on an fd given as a number', () => {
    const veventq = { op: 'IOMMU_VEVENTQ_ALLOC', arg: { viommu_id: 1, type: 1, veventq_depth: 2 }, out: { out_veventq_fd: '$qfd' } };
    const fault = { op: 'IOMMU_FAULT_QUEUE_ALLOC', arg: { flags: 0 }, out: { out_fault_fd: '$ffd' } };
    expect(requiresOf([veventq, { op: 'FD_READ', arg: { fd_id: '$qfd', length: 64 } }, { op: 'FD_CLOSE', arg: { fd_id: '$qfd' } }])).toEqual(['ioas', 'veventq']);
    expect(requiresOf([fault, { op: 'FD_WRITE', arg: { fd_id: '$ffd', data: '0100000000000000' } }])).toEqual(['fault', 'ioas']);
    expect(requiresOf([{ op: 'FD_READ', arg: { fd_id: 7, length: 40 } }])).toEqual(['fault', 'ioas']);
    expect(requiresOf([veventq, fault, { op: 'FD_READ', arg: { fd_id: '$qfd', length: 64 } }, { op: 'FD_READ', arg: { fd_id: '$ffd', length: 40 } }])).toEqual(['fault', 'ioas', 'veventq']);
  });
});
