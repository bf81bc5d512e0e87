// MAP of 2^53 bytes and more: Linux takes any length below ULONG_MAX whose user_va + length does
// not overflow (iopt_alloc_user_pages: EOVERFLOW; iopt_alloc_pages: EINVAL for 0 or more than
// SIZE_MAX − PAGE_SIZE) and pins nothing without a domain, so the area exists, reads back with
// its exact bounds and UNMAP reports its exact length; with a domain the pin faults (EFAULT).
import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice } from './device.ts';
import { U64_MAX } from './io-pagetable.ts';
import { dumpState } from './state.ts';
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

// Offsets into such an area: Linux keeps an area's place in its pages as a page index plus an
// in-page byte offset (iopt_area_index, area->page_offset) and iopt_area_start_byte sums them in
// 64-bit arithmetic, so COPY and splits at 2^53 bytes and more into an area stay exact.
describe('offsets 2^53 bytes and more into an area', () => {
  const srcIova = 1n << 32n;
  const copy = (o: Record<string, number | bigint>) =>
    ctx.ioasCopy(big({ flags: R | W, src_ioas_id: ioas, dst_iova: 0, length: 0x1000, ...o }));
  const areasOf = (id: number) => {
    const state = dumpState(m, new Map([[3, ctx]])) as { contexts: { objects: { id: number; areas?: { iova: string; pages_offset: string }[] }[] }[] };
    return state.contexts[0].objects.find((o) => o.id === id)!.areas!;
  };

  it('COPY takes the automatic IOVA from the exact source address (odd user_va, odd distance)', () => {
    // start_byte = (2^53 + 2) + page_offset 1; the address iopt_alloc_iova aligns to is
    // pages->uptr (buf) + 2^53 + 3: lowest set bit 1, page offset 3 -> first fit PAGE_SIZE | 3.
    map({ user_va: buf + 1, length: 1n << 54n });
    const dst = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    const out = copy({ dst_ioas_id: dst, src_iova: srcIova + (1n << 53n) + 2n });
    expect(out.dst_iova).toBe(0x1003n);
    expect(areasOf(dst)).toMatchObject([{ iova: '0x1003', pages_offset: '0x20000000000003' }]);
    ctx.table.ioas(dst).iopt.checkInvariants();
  });

  it('COPY checks the exact in-page offset against the destination alignment (EINVAL, not a pin)', () => {
    // start_byte = (2^63 + 2046) + 1: page_offset 2047 is not a multiple of the mock domain's
    // 2048 (iopt_insert_area), which Linux finds before anything is pinned.
    map({ user_va: buf + 1, length: (1n << 63n) + (1n << 20n) });
    const dst = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    attachDevice(ctx, bindDevice(ctx, 'dev0'), dst, 0, false);
    expect(errnoOf(() => copy({ flags: R | W | FIXED, dst_ioas_id: dst, dst_iova: 0x1000000, src_iova: srcIova + (1n << 63n) + 2046n }))).toBe('EINVAL');
    expect(ctx.table.ioas(dst).iopt.areaCount).toBe(0);
    expect(m.memory.pinnedFrames).toBe(0);
  });

  it('a split keeps the right half exact: its offset, its length and a COPY from it', () => {
    // iopt_area_split as iopt_cut_iova calls it (alignment 1 here: the IOAS has no domain).
    map({ user_va: buf + 1, length: (1n << 54n) + 1n });
    const iopt = ctx.table.ioas(ioas).iopt;
    iopt.cut(srcIova + (1n << 53n) + 1n);
    iopt.checkInvariants();
    const rhsStart = srcIova + (1n << 53n) + 2n;
    expect(areasOf(ioas)).toMatchObject([
      { iova: `0x${srcIova.toString(16)}`, pages_offset: '0x1' },
      { iova: `0x${rhsStart.toString(16)}`, pages_offset: '0x20000000000003' },
    ]);
    const dst = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
    expect(copy({ dst_ioas_id: dst, src_iova: rhsStart }).dst_iova).toBe(0x1003n);
    expect(unmap(rhsStart, (1n << 53n) - 1n)).toBe((1n << 53n) - 1n);
    expect(unmap(srcIova, (1n << 53n) + 2n)).toBe((1n << 53n) + 2n);
  });
});
