import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { MOCK_APERTURE_LAST, MOCK_APERTURE_START } from '../iommu/mock.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice, detachDevice } from './device.ts';
import { UapiError } from './errors.ts';
import { U64_MAX } from './io-pagetable.ts';
import { big, errnoOf } from './test-helpers.ts';


const R = 1 << 2;
const W = 1 << 1;
const FIXED = 1 << 0;
const PAGE = 4096;
const topology = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [
    { name: 'dev0', bridge: 'pci0' },
    { name: 'dev1', bridge: 'pci0' },
    { name: 'nodirty', bridge: 'pci0', flags: ['no_dirty'] },
  ],
};

let m: Machine;
let ctx: IommufdContext;
let buf: number;
const ioasAlloc = () => Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
const map = (ioas: number, o: Partial<Record<string, number | bigint>>) =>
  ctx.ioasMap(big({ flags: R | W, ioas_id: ioas, __reserved: 0, user_va: buf, length: PAGE, iova: 0, ...o }));
const unmap = (ioas: number, iova: number | bigint, length: number | bigint) => ctx.ioasUnmap(big({ ioas_id: ioas, iova, length }));
const state = () => JSON.stringify({
  objs: ctx.table.all().map((o) => [o.id, o.kind, o.users]),
  acct: m.accounting,
  pinned: m.memory.pinnedFrames,
});

beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
  buf = m.memory.mmap(16 * PAGE);
});

describe('IOAS map/unmap without domains', () => {
  it('IDs are 1.. and lowest free is reused (iommufd.cmd_fail, ioas_destroy)', () => {
    expect(ioasAlloc()).toBe(1);
    expect(ioasAlloc()).toBe(2);
    ctx.destroy(big({ id: 1 }));
    expect(ioasAlloc()).toBe(1);
    expect(errnoOf(() => ctx.destroy(big({ id: 0 })))).toBe('ENOENT');
    expect(errnoOf(() => ctx.destroy(big({ id: 99 })))).toBe('ENOENT');
  });

  it('IOAS_ALLOC flags → EOPNOTSUPP', () => {
    expect(errnoOf(() => ctx.ioasAlloc(big({ flags: 1 })))).toBe('EOPNOTSUPP');
  });

  it('unmap on empty → ENOENT, unmap-all on empty → 0 (iommufd_ioas.area)', () => {
    const ioas = ioasAlloc();
    expect(errnoOf(() => unmap(ioas, PAGE, PAGE))).toBe('ENOENT');
    expect(unmap(ioas, 0, U64_MAX).length).toBe(0n);
  });

  it('MAP check order: flags, overflow, R/W, IOAS (ioas.c iommufd_ioas_map)', () => {
    const ioas = ioasAlloc();
    expect(errnoOf(() => map(99, { flags: 1 << 3 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => map(99, { __reserved: 1 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => map(99, { iova: U64_MAX }))).toBe('EOVERFLOW');
    expect(errnoOf(() => map(99, { flags: FIXED }))).toBe('EINVAL');
    expect(errnoOf(() => map(99, {}))).toBe('ENOENT');
    expect(errnoOf(() => map(ioas, { length: 0 }))).toBe('EINVAL');
  });

  it('fixed maps: five overlapping shapes → EEXIST, state unchanged (iommufd_ioas.area)', () => {
    const ioas = ioasAlloc();
    map(ioas, { flags: R | W | FIXED, iova: 0x10000, length: 4 * PAGE });
    const before = state();
    for (const [iova, length] of [[0x10000, PAGE], [0xf000, 2 * PAGE], [0x13000, 2 * PAGE], [0xf000, 6 * PAGE], [0x11000, PAGE]]) {
      expect(errnoOf(() => map(ioas, { flags: R | FIXED, iova, length }))).toBe('EEXIST');
    }
    expect(state()).toBe(before);
  });

  it('fixed map at IOVA 0 and at the top of the u64 space; iova + length overflow → EOVERFLOW', () => {
    const ioas = ioasAlloc();
    expect(map(ioas, { flags: R | FIXED, iova: 0 }).iova).toBe(0n);
    const top = U64_MAX - BigInt(2 * PAGE) + 1n;
    expect(map(ioas, { flags: R | FIXED, iova: top - 1n, length: PAGE }).iova).toBe(top - 1n);
    expect(errnoOf(() => map(ioas, { flags: R | FIXED, iova: U64_MAX - 10n, length: PAGE }))).toBe('EOVERFLOW');
    expect(unmap(ioas, 0, U64_MAX).length).toBe(BigInt(2 * PAGE));
  });

  it('unmap must cover whole areas: half of a 2-page area → ENOENT (iommufd_ioas.area)', () => {
    const ioas = ioasAlloc();
    map(ioas, { flags: R | FIXED, iova: 0x10000, length: 2 * PAGE });
    expect(errnoOf(() => unmap(ioas, 0x10000, PAGE))).toBe('ENOENT');
    expect(errnoOf(() => unmap(ioas, 0x11000, PAGE))).toBe('ENOENT');
    expect(unmap(ioas, 0x10000, 2 * PAGE).length).toBe(BigInt(2 * PAGE));
  });

  it('window over 4 areas with gaps unmaps 32 pages (iommufd_ioas.unmap_fully_contained_areas)', () => {
    const ioas = ioasAlloc();
    const bufBig = m.memory.mmap(64 * PAGE);
    for (let i = 0; i < 4; i++) map(ioas, { flags: R | FIXED, user_va: bufBig, iova: 0x100000 + i * 16 * PAGE, length: 8 * PAGE });
    expect(errnoOf(() => unmap(ioas, 0x100000 + PAGE, 60 * PAGE))).toBe('ENOENT');
    expect(unmap(ioas, 0x100000 - PAGE, 60 * PAGE).length).toBe(BigInt(32 * PAGE));
  });

  it('zero length and misaligned length are EINVAL; unmap length 0 → EINVAL', () => {
    const ioas = ioasAlloc();
    expect(errnoOf(() => unmap(ioas, 0x1000, 0))).toBe('EINVAL');
    expect(errnoOf(() => unmap(ioas, 0x1000, U64_MAX))).toBe('EOVERFLOW');
  });

  it('auto IOVA is aligned to the lowest set bit of the length and never 0 (iommufd_ioas.area_auto_iova)', () => {
    const ioas = ioasAlloc();
    for (let pages = 1; pages <= 10; pages++) {
      const iova = map(ioas, { length: pages * PAGE }).iova as bigint;
      expect(iova).not.toBe(0n);
      const lsb = BigInt(pages * PAGE) & -BigInt(pages * PAGE);
      expect(iova % lsb).toBe(0n);
    }
  });

  it('auto IOVA takes the lowest hole: a freed area in the middle is reused first', () => {
    const ioas = ioasAlloc();
    const iovas = Array.from({ length: 8 }, () => map(ioas, { length: PAGE }).iova as bigint);
    expect(iovas).toEqual(Array.from({ length: 8 }, (_, i) => BigInt(PAGE * (i + 1))));
    unmap(ioas, iovas[3], PAGE);
    unmap(ioas, iovas[5], PAGE);
    expect(map(ioas, { length: PAGE }).iova).toBe(iovas[3]);
    expect(map(ioas, { length: PAGE }).iova).toBe(iovas[5]);
    expect(map(ioas, { length: 2 * PAGE }).iova).toBe(BigInt(10 * PAGE));
  });

  it('reserved range at the top: auto MAP → ENOSPC (iommufd_ioas.reserved_overflow)', () => {
    const ioas = ioasAlloc();
    const iopt = ctx.table.ioas(ioas).iopt;
    iopt.reserve(BigInt(PAGE), U64_MAX, null);
    expect(errnoOf(() => map(ioas, { length: PAGE }))).toBe('ENOSPC');
  });

  it('IOVA_RANGES: whole space, alignment 1, EMSGSIZE with capacity 0 (iommufd_ioas.iova_ranges)', () => {
    const ioas = ioasAlloc();
    const out = m.memory.mmap(PAGE);
    try {
      ctx.iovaRanges(big({ ioas_id: ioas, num_iovas: 0, __reserved: 0, allowed_iovas: out }));
      throw new Error('no error');
    } catch (e) {
      expect((e as UapiError).errno).toBe('EMSGSIZE');
      expect((e as UapiError).out).toEqual({ num_iovas: 1, out_iova_alignment: 1n });
    }
    const r = ctx.iovaRanges(big({ ioas_id: ioas, num_iovas: 1, __reserved: 0, allowed_iovas: out }));
    expect(r.num_iovas).toBe(1);
    const dv = new DataView(m.memory.read(out, 16)!.buffer);
    expect(dv.getBigUint64(0, true)).toBe(0n);
    expect(dv.getBigUint64(8, true)).toBe(U64_MAX);
  });
});

describe('IOAS with a mock domain', () => {
  const attach = (ioas: number, name = 'dev0') => {
    const d = bindDevice(ctx, name);
    return { dev: d, hwpt: attachDevice(ctx, d, ioas, 0, false) };
  };

  it('auto domain: aperture and alignment 2048 show in IOVA_RANGES (iommufd_ioas.iova_ranges)', () => {
    const ioas = ioasAlloc();
    attach(ioas);
    const out = m.memory.mmap(PAGE);
    const r = ctx.iovaRanges(big({ ioas_id: ioas, num_iovas: 4, __reserved: 0, allowed_iovas: out }));
    expect(r).toEqual({ num_iovas: 1, out_iova_alignment: 2048n });
    const dv = new DataView(m.memory.read(out, 16)!.buffer);
    expect(dv.getBigUint64(0, true)).toBe(MOCK_APERTURE_START);
    expect(dv.getBigUint64(8, true)).toBe(MOCK_APERTURE_LAST);
  });

  it('second device reuses the auto HWPT; destroy of the IOAS → EBUSY (iommufd_ioas.ioas_destroy)', () => {
    const ioas = ioasAlloc();
    const a = attach(ioas);
    const b = attach(ioas, 'dev1');
    expect(b.hwpt).toBe(a.hwpt);
    expect(errnoOf(() => ctx.destroy(big({ id: ioas })))).toBe('EBUSY');
    expect(errnoOf(() => ctx.destroy(big({ id: a.hwpt })))).toBe('EBUSY');
  });

  it('maps pin each page once, CHECK_REFS 1, unmap releases (iommufd_mock_domain.all_aligns)', () => {
    const ioas = ioasAlloc();
    attach(ioas);
    attach(ioas, 'dev1');
    const iova = map(ioas, { length: 4 * PAGE }).iova as bigint;
    expect(m.memory.refs(buf, 4 * PAGE)).toEqual([1, 1, 1, 1]);
    expect(unmap(ioas, iova, 4 * PAGE).length).toBe(BigInt(4 * PAGE));
    expect(m.memory.refs(buf, 4 * PAGE)).toEqual([0, 0, 0, 0]);
  });

  it('VA partly unmapped → EFAULT, nothing pinned (iommufd_mock_domain.basic)', () => {
    const ioas = ioasAlloc();
    attach(ioas);
    m.memory.munmap(buf + 2 * PAGE, 2 * PAGE);
    const before = state();
    expect(errnoOf(() => map(ioas, { length: 4 * PAGE }))).toBe('EFAULT');
    expect(state()).toBe(before);
  });

  it('mapping outside the aperture fixed → EINVAL (reserved); length not a multiple of 2048 → EINVAL (ioas_iova_alloc)', () => {
    const ioas = ioasAlloc();
    attach(ioas);
    expect(errnoOf(() => map(ioas, { flags: R | FIXED, iova: 0x1000 }))).toBe('EINVAL');
    expect(errnoOf(() => map(ioas, { length: 2047 }))).toBe('EINVAL');
    expect(map(ioas, { length: 2048 }).iova).toBeGreaterThanOrEqual(MOCK_APERTURE_START);
  });

  it('attach fails with EADDRINUSE when a mapping lies outside the aperture, state unchanged', () => {
    const ioas = ioasAlloc();
    map(ioas, { flags: R | FIXED, iova: 0x1000 });
    const d = bindDevice(ctx, 'dev0');
    const before = state();
    expect(errnoOf(() => attachDevice(ctx, d, ioas, 0, false))).toBe('EADDRINUSE');
    expect(state()).toBe(before);
  });

  it('RLIMIT_MEMLOCK without CAP_IPC_LOCK → ENOMEM; charged once across two domains', () => {
    m = new Machine({ ...topology, process: { drop: ['CAP_IPC_LOCK'] } });
    ctx = new IommufdContext(3, m, new Map());
    buf = m.memory.mmap(16 * PAGE);
    m.accounting.memlockLimitPages = 4;
    const ioas = ioasAlloc();
    attach(ioas);
    attach(ioas, 'dev1');
    map(ioas, { length: 4 * PAGE });
    expect(m.accounting.userLockedPages).toBe(4);
    const before = state();
    expect(errnoOf(() => map(ioas, { user_va: buf + 4 * PAGE, length: PAGE }))).toBe('ENOMEM');
    expect(state()).toBe(before);
    ctx.close();
    expect(m.accounting.userLockedPages).toBe(0);
    expect(m.memory.pinnedFrames).toBe(0);
  });

  it('replace onto a new IOAS frees the old auto HWPT (iommufd_mock_domain.replace)', () => {
    const ioas1 = ioasAlloc();
    const ioas2 = ioasAlloc();
    const { dev, hwpt } = attach(ioas1);
    const h2 = attachDevice(ctx, dev, ioas2, 0, true);
    expect(h2).not.toBe(hwpt);
    expect(errnoOf(() => attachDevice(ctx, dev, hwpt, 0, true))).toBe('ENOENT');
    detachDevice(ctx, dev, 0);
    expect(ctx.table.all().map((o) => o.kind)).toEqual(['IOAS', 'IOAS', 'DEVICE']);
  });

  it('close releases every pin and object', () => {
    const ioas = ioasAlloc();
    attach(ioas);
    map(ioas, { length: 8 * PAGE });
    ctx.close();
    expect(m.memory.pinnedFrames).toBe(0);
    expect(ctx.table.size).toBe(0);
  });
});

describe('garbage user ranges', () => {
  it('a 2^50-byte MAP of unmapped user memory succeeds without a domain and fails fast with EFAULT on attach', () => {
    const ioas = ioasAlloc();
    map(ioas, { flags: R | FIXED, iova: 0x1000000, user_va: 0x7000000000, length: 2n ** 50n });
    const d = bindDevice(ctx, 'dev0');
    // The aperture reservation comes first: the area is outside the mock aperture.
    expect(errnoOf(() => attachDevice(ctx, d, ioas, 0, false))).toBe('EADDRINUSE');
    const ioas2 = ioasAlloc();
    map(ioas2, { flags: R | FIXED, iova: 0x1000000, user_va: 0x7000000000, length: 0x40000000 });
    expect(errnoOf(() => attachDevice(ctx, d, ioas2, 0, false))).toBe('EFAULT');
  });
});
