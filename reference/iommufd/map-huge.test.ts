// MAP of 2^53 bytes and more: Linux takes any length below ULONG_MAX whose user_va + length does
// not overflow (iopt_alloc_user_pages: EOVERFLOW; iopt_alloc_pages: EINVAL for 0 or more than
// SIZE_MAX − PAGE_SIZE) and pins nothing without a domain, so the area exists, reads back with
// its exact bounds and UNMAP reports its exact length; with a domain the pin faults (EFAULT).
import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IommufdContext } from './context.ts';
import { U64_MAX } from './io-pagetable.ts';
import { attachHugeMockDomain, big, errnoOf } from './test-helpers.ts';

const R = 1 << 2;
const W = 1 << 1;
const FIXED = 1 << 0;
const topology = { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] };
let m: Machine;
let ctx: IommufdContext;
let ioas: number;
let buf: number;

const map = (o: Record<string, number | bigint>) =>
  ctx.ioasMap(big({ flags: R | W | FIXED, ioas_id: ioas, __reserved: 0, user_va: buf, iova: 1n << 32n, ...o }));
const unmap = (iova: bigint, length: bigint) => ctx.ioasUnmap({ ioas_id: BigInt(ioas), iova, length }).length;

beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
  ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
  buf = m.memory.mmap(1 << 20);
});

describe('MAP of 2^53 bytes and more', () => {
  it('succeeds without a domain, keeps the exact bounds and unmaps the exact length', () => {
    for (const length of [1n << 53n, (1n << 53n) + 1n, (1n << 60n) + 0x1234567n]) {
      map({ length });
      const [area] = ctx.table.ioas(ioas).iopt.areas;
      expect(area.last).toBe((1n << 32n) + length - 1n);
      expect(area.pages.npages).toBe(Number((length + 4095n) / 4096n));
      expect(m.memory.pinnedFrames).toBe(0);
      expect(unmap(1n << 32n, length)).toBe(length);
      expect(ctx.table.ioas(ioas).iopt.areaCount).toBe(0);
    }
  });

  it('takes an automatic IOVA and an unmap-all reports every byte', () => {
    const length = (1n << 62n) - 4096n;
    const iova = BigInt(ctx.ioasMap(big({ flags: R | W, ioas_id: ioas, __reserved: 0, user_va: buf, length, iova: 0 })).iova);
    expect(iova % (2n << 20n)).toBe(0n);
    expect(ctx.ioasUnmap({ ioas_id: BigInt(ioas), iova: 0n, length: U64_MAX }).length).toBe(length);
  });

  it('leaves the earlier checks in place: user_va + length overflow, length past SIZE_MAX − PAGE_SIZE', () => {
    expect(errnoOf(() => map({ user_va: 1n << 63n, length: 1n << 63n }))).toBe('EOVERFLOW');
    expect(errnoOf(() => map({ user_va: 0, length: U64_MAX - 1n }))).toBe('EINVAL');
  });

  it('with a domain attached, the pin faults and nothing is left behind', () => {
    attachHugeMockDomain(ctx, ioas, 'dev0');
    expect(errnoOf(() => map({ length: 1n << 54n }))).toBe('EFAULT');
    expect(ctx.table.ioas(ioas).iopt.areaCount).toBe(0);
    expect(m.memory.pinnedFrames).toBe(0);
    expect(m.accounting.mmPinnedPages).toBe(0);
  });
});
