import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice } from './device.ts';
import { UapiError } from './errors.ts';
import { U64_MAX } from './io-pagetable.ts';
import { big, errnoOf } from './test-helpers.ts';


const R = 1 << 2;
const W = 1 << 1;
const FIXED = 1 << 0;
const PAGE = 4096;
const topology = { bridges: [{ name: 'pci0', iommu: { model: 'mock' } }], devices: [{ name: 'dev0', bridge: 'pci0' }] };
let m: Machine;
let ctx: IommufdContext;
let buf: number;
const ioasAlloc = () => Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
const map = (ioas: number, o: Partial<Record<string, number | bigint>>) =>
  ctx.ioasMap(big({ flags: R | W, ioas_id: ioas, __reserved: 0, user_va: buf, length: PAGE, iova: 0, ...o }));
const option = (o: Record<string, number | bigint>) => ctx.option(big({ option_id: 0, op: 1, __reserved: 0, object_id: 0, val64: 0, ...o }));
const copy = (o: Record<string, number | bigint>) => ctx.ioasCopy(big({ flags: R | W | FIXED, length: PAGE, dst_iova: 0, src_iova: 0, ...o }));
const allow = (ioas: number, ranges: Array<[bigint | number, bigint | number]>) => {
  const at = m.memory.mmap(PAGE);
  const b = new Uint8Array(16 * ranges.length);
  const dv = new DataView(b.buffer);
  ranges.forEach(([s, l], i) => {
    dv.setBigUint64(16 * i, BigInt(s), true);
    dv.setBigUint64(16 * i + 8, BigInt(l), true);
  });
  m.memory.write(at, b);
  return ctx.allowIovas(big({ ioas_id: ioas, num_iovas: ranges.length, __reserved: 0, allowed_iovas: at }));
};

beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
  buf = m.memory.mmap(64 * PAGE);
});

describe('IOMMU_OPTION (iommufd.global_options, iommufd_ioas.ioas_option_huge_pages)', () => {
  it('RLIMIT_MODE: GET 0, SET 1, SET 2 → EINVAL, GET 1; object_id ≠ 0 → EOPNOTSUPP; __reserved → EOPNOTSUPP', () => {
    expect(option({})).toEqual({ val64: 0n });
    option({ op: 0, val64: 1 });
    expect(errnoOf(() => option({ op: 0, val64: 2 }))).toBe('EINVAL');
    expect(option({})).toEqual({ val64: 1n });
    expect(errnoOf(() => option({ object_id: 1 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => option({ __reserved: 1 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => option({ option_id: 7 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => option({ op: 2 }))).toBe('EOPNOTSUPP');
  });

  it('RLIMIT_MODE SET: EBUSY while objects exist, EPERM without CAP_SYS_RESOURCE', () => {
    ioasAlloc();
    expect(errnoOf(() => option({ op: 0, val64: 1 }))).toBe('EBUSY');
    m = new Machine({ ...topology, process: { drop: ['CAP_SYS_RESOURCE'] } });
    ctx = new IommufdContext(3, m, new Map());
    expect(errnoOf(() => option({ op: 0, val64: 1 }))).toBe('EPERM');
  });

  it('HUGE_PAGES: object 0 → ENOENT; GET 1, SET 0, GET 0, SET 2 → EINVAL, SET 1', () => {
    expect(errnoOf(() => option({ option_id: 1 }))).toBe('ENOENT');
    expect(errnoOf(() => option({ option_id: 1, op: 0 }))).toBe('ENOENT');
    const ioas = ioasAlloc();
    expect(option({ option_id: 1, object_id: ioas })).toEqual({ val64: 1n });
    option({ option_id: 1, object_id: ioas, op: 0, val64: 0 });
    expect(option({ option_id: 1, object_id: ioas })).toEqual({ val64: 0n });
    expect(errnoOf(() => option({ option_id: 1, object_id: ioas, op: 0, val64: 2 }))).toBe('EINVAL');
    option({ option_id: 1, object_id: ioas, op: 0, val64: 1 });
  });

  it('HUGE_PAGES 0 with a misaligned area → EADDRINUSE; with domain and areas → EINVAL (ioas_align_change)', () => {
    const ioas = ioasAlloc();
    map(ioas, { flags: R | FIXED, iova: 0x10000, user_va: buf + 1, length: 1 });
    expect(errnoOf(() => option({ option_id: 1, object_id: ioas, op: 0, val64: 0 }))).toBe('EADDRINUSE');
    const ioas2 = ioasAlloc();
    option({ option_id: 1, object_id: ioas2, op: 0, val64: 0 });
    expect(errnoOf(() => map(ioas2, { flags: R | FIXED, iova: 0x10000, user_va: buf + 1, length: PAGE }))).toBe('EINVAL');
    const ioas3 = ioasAlloc();
    attachDevice(ctx, bindDevice(ctx, 'dev0'), ioas3, 0, false);
    map(ioas3, { length: PAGE });
    expect(errnoOf(() => option({ option_id: 1, object_id: ioas3, op: 0, val64: 0 }))).toBe('EINVAL');
  });
});

describe('IOMMU_IOAS_COPY (iommufd_ioas.copy_area, copy_sweep)', () => {
  it('copies into another IOAS sharing the pages: pinned once', () => {
    const src = ioasAlloc();
    const dst = ioasAlloc();
    attachDevice(ctx, bindDevice(ctx, 'dev0'), dst, 0, false);
    map(src, { flags: R | W | FIXED, iova: 0x10000, length: 4 * PAGE });
    expect(copy({ src_ioas_id: src, dst_ioas_id: dst, src_iova: 0x10000, dst_iova: 0x1000000, length: 4 * PAGE })).toEqual({ dst_iova: 0x1000000n });
    expect(m.memory.refs(buf, 4 * PAGE)).toEqual([1, 1, 1, 1]);
  });

  it('source not fully mapped → ENOENT; check order flags, overflow, R/W, src IOAS', () => {
    const src = ioasAlloc();
    map(src, { flags: R | W | FIXED, iova: 0x10000, length: 4 * PAGE });
    let n = 0;
    for (let off = -2 * PAGE; off < 6 * PAGE; off += 511) {
      const inside = off >= 0 && off + PAGE <= 4 * PAGE;
      const r = errnoOf(() => copy({ src_ioas_id: src, dst_ioas_id: src, src_iova: 0x10000 + off, dst_iova: 0x100000 + n++ * 2 * PAGE, length: PAGE }));
      expect(r).toBe(inside ? 'OK' : 'ENOENT');
    }
    expect(errnoOf(() => copy({ flags: 1 << 3, src_ioas_id: 99, dst_ioas_id: 99 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => copy({ src_ioas_id: 99, dst_ioas_id: 99, length: U64_MAX }))).toBe('EOVERFLOW');
    expect(errnoOf(() => copy({ flags: FIXED, src_ioas_id: 99, dst_ioas_id: 99 }))).toBe('EINVAL');
    expect(errnoOf(() => copy({ src_ioas_id: 99, dst_ioas_id: 99 }))).toBe('ENOENT');
    expect(errnoOf(() => copy({ src_ioas_id: src, dst_ioas_id: 99, src_iova: 0x10000 }))).toBe('ENOENT');
  });

  it('WRITEABLE copy of read-only pages → EPERM', () => {
    const src = ioasAlloc();
    map(src, { flags: R | FIXED, iova: 0x10000, length: PAGE });
    expect(errnoOf(() => copy({ src_ioas_id: src, dst_ioas_id: src, src_iova: 0x10000, dst_iova: 0x20000 }))).toBe('EPERM');
    expect(errnoOf(() => copy({ flags: R | FIXED, src_ioas_id: src, dst_ioas_id: src, src_iova: 0x10000, dst_iova: 0x20000 }))).toBe('OK');
  });
});

describe('IOMMU_IOAS_ALLOW_IOVAS (iommufd_ioas.area_allowed, area_auto_iova)', () => {
  it('start == last → EINVAL; overlapping input → EINVAL; over a reserved range → EADDRINUSE; 0 clears', () => {
    const ioas = ioasAlloc();
    expect(errnoOf(() => allow(ioas, [[0x1000, 0x1000]]))).toBe('EINVAL');
    expect(errnoOf(() => allow(ioas, [[0x1000, 0x5000], [0x4000, 0x8000]]))).toBe('EINVAL');
    ctx.table.ioas(ioas).iopt.reserve(0x100000n, 0x1fffffn, null);
    expect(errnoOf(() => allow(ioas, [[0x180000, 0x280000]]))).toBe('EADDRINUSE');
    allow(ioas, [[0x400000, 0x7fffff]]);
    expect(errnoOf(() => ctx.table.ioas(ioas).iopt.reserve(0x500000n, 0x500fffn, null))).toBe('EADDRINUSE');
    for (let i = 0; i < 4; i++) {
      const iova = map(ioas, { length: PAGE }).iova as bigint;
      expect(iova >= 0x400000n && iova <= 0x7fffffn).toBe(true);
    }
    allow(ioas, []);
    expect(ctx.table.ioas(ioas).iopt.allowed).toEqual([]);
  });

  it('attach that would reserve inside an allowed range → EADDRINUSE', () => {
    const ioas = ioasAlloc();
    allow(ioas, [[0x1000, 0x2000000]]);
    expect(errnoOf(() => attachDevice(ctx, bindDevice(ctx, 'dev0'), ioas, 0, false))).toBe('EADDRINUSE');
  });
});

describe('IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_CHANGE_PROCESS (change_process.basic)', () => {
  it('bad fd → EBADF; range past EOF → EINVAL; file map pins the file pages', () => {
    const ioas = ioasAlloc();
    attachDevice(ctx, bindDevice(ctx, 'dev0'), ioas, 0, false);
    const file = m.createFile(10, 4 * PAGE);
    const mf = (o: Record<string, number | bigint>) => ctx.ioasMapFile(big({ flags: R | W, ioas_id: ioas, fd: 10, start: 0, length: 4 * PAGE, iova: 0, ...o }));
    expect(errnoOf(() => mf({ fd: 11 }))).toBe('EBADF');
    expect(errnoOf(() => mf({ length: 4 * PAGE + 1 }))).toBe('EINVAL');
    expect(errnoOf(() => mf({ length: 0 }))).toBe('EINVAL');
    mf({});
    expect(ctx.changeProcess(big({ __reserved: 0 }))).toEqual({});
    const va = m.memory.mmap(4 * PAGE, file, 0);
    expect(m.memory.refs(va, 4 * PAGE)).toEqual([1, 1, 1, 1]);
    map(ioas, { length: PAGE });
    expect(errnoOf(() => ctx.changeProcess(big({ __reserved: 0 })))).toBe('EINVAL');
    m.truncateFile(file, 0);
    expect(errnoOf(() => mf({}))).toBe('EINVAL');
  });
});

describe('io_pagetable invariants under random FIXED/auto maps, unmaps and copies', () => {
  it('areas stay sorted and disjoint, extents equal their union, fill state follows the domains', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('map', 'auto', 'unmap', 'copy', 'attach'), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 1, max: 4 })), { minLength: 5, maxLength: 60 }),
        (ops) => {
          m = new Machine(topology);
          ctx = new IommufdContext(3, m, new Map());
          buf = m.memory.mmap(64 * PAGE);
          const ioas = ioasAlloc();
          const iopt = ctx.table.ioas(ioas).iopt;
          for (const [op, slot, pages] of ops) {
            const iova = 0x1000000 + slot * PAGE;
            try {
              if (op === 'map') map(ioas, { flags: R | W | FIXED, iova, length: pages * PAGE });
              else if (op === 'auto') map(ioas, { length: pages * PAGE });
              else if (op === 'unmap') ctx.ioasUnmap(big({ ioas_id: ioas, iova, length: pages * PAGE }));
              else if (op === 'copy') copy({ src_ioas_id: ioas, dst_ioas_id: ioas, src_iova: iova, dst_iova: 0x2000000 + slot * 4 * PAGE, length: PAGE });
              else if (iopt.domains.length === 0) attachDevice(ctx, bindDevice(ctx, 'dev0'), ioas, 0, false);
            } catch (e) {
              if (!(e instanceof UapiError)) throw e;
            }
            iopt.checkInvariants();
          }
          ctx.close();
          expect(m.memory.pinnedFrames).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
