// The two-stage DMA path on VT-d nesting: a guest writes IA-32e tables by hand into memory it
// mapped into the IOAS (GPA = IOVA of the NEST_PARENT), and DMA through the nested HWPT walks
// them through stage 2. Descriptor values are written from the Intel SDM / VT-d bit layout
// (P b0, R/W b1, U/S b2, A b5, D b6, PS b7, EA b10, address b51:12), never from our encoder.
import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice } from './device.ts';
import { dma, translate } from './dma.ts';
import { hwptAlloc } from './hwpt.ts';
import type { DeviceObject, HwptPagingObject } from './objects.ts';
import { big, errnoOf } from './test-helpers.ts';
import { createFormat } from '../formats/registry.ts';
import type { NestedDomain, Stage1Fault, Stage1Request, Stage1Walk } from '../iommu/unit.ts';
import { translateNested } from './nested-walk.ts';

const NEST_PARENT = 1;
const VTD_S1 = 1;
const SRE = 1n;
const EAFE = 2n;
const WPE = 4n;
/** P | R/W | U/S: a table entry a guest writes for a user-accessible, writable subtree. */
const PWU = 0x7n;
const A = 0x20n;
const D = 0x40n;
const PS = 0x80n;
const EA = 0x400n;

/** Guest RAM: GPA 0x100000 + 64 KiB, each 4 KiB page mapped alone so one can be unmapped. */
const GPA = 0x100000n;
const RAM_PAGES = 16;
const PML4 = GPA;
const PDPT = GPA + 0x1000n;
const PD = GPA + 0x2000n;
const PT = GPA + 0x3000n;
const DATA = GPA + 0x4000n;
/** IOVA with index 1 at PDPT, PD and PT level (bits 38:30, 29:21, 20:12), 0 at PML4. */
const IOVA = 0x40201000n;

function setup(knobs: Record<string, unknown> = {}) {
  const m = new Machine({
    bridges: [{ name: 'pci0', iommu: { model: 'intel-vtd', levels: 4, ...knobs } }],
    devices: [{ name: 'dev0', bridge: 'pci0', flags: ['pasid'] }],
  });
  const ctx = new IommufdContext(3, m, new Map());
  const ram = m.memory.mmap(RAM_PAGES * 4096);
  const ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
  for (let i = 0; i < RAM_PAGES; i++) {
    ctx.ioasMap(big({ ioas_id: ioas, flags: 7, __reserved: 0, user_va: ram + i * 4096, length: 4096, iova: GPA + BigInt(i * 4096) }));
  }
  const dev = bindDevice(ctx, 'dev0');
  const parentId = Number(hwptAlloc(ctx, big({ flags: NEST_PARENT, dev_id: dev.id, pt_id: ioas, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0, fault_id: 0, __reserved2: 0 })).out_hwpt_id);
  const parent = ctx.table.get(parentId) as HwptPagingObject;
  const scratch = m.memory.mmap(4096);
  /** A nested HWPT with these VTD_S1 fields (flags, pgtbl_addr, addr_width), PASID-capable. */
  const nested = (flags: bigint, pgtbl: bigint, aw = 48): number => {
    const b = new Uint8Array(24);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, flags, true);
    v.setBigUint64(8, pgtbl, true);
    v.setUint32(16, aw, true);
    m.memory.write(scratch, b);
    return Number(hwptAlloc(ctx, big({ flags: 8, dev_id: dev.id, pt_id: parentId, __reserved: 0, data_type: VTD_S1, data_len: 24, data_uptr: scratch, fault_id: 0, __reserved2: 0 })).out_hwpt_id);
  };
  /** The guest writes the 8-byte descriptor `value` at GPA `gpa` (as its CPU would). */
  const put = (gpa: bigint, value: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, value, true);
    m.memory.write(ram + Number(gpa - GPA), b);
  };
  const get = (gpa: bigint): bigint => new DataView(m.memory.read(ram + Number(gpa - GPA), 8)!.buffer).getBigUint64(0, true);
  /** The standard 4-level path to DATA, every entry P|R/W|U/S. */
  const path4 = () => {
    put(PML4, PDPT | PWU);
    put(PDPT + 8n, PD | PWU);
    put(PD + 8n, PT | PWU);
    put(PT + 8n, DATA | PWU);
  };
  const hostOf = (gpa: bigint) => parent.domain.table.translate(gpa)!.physBytes;
  return { m, ctx, ram, ioas, dev, parent, nested, put, get, path4, hostOf };
}

type World = ReturnType<typeof setup>;
const tr = (w: World, iova: bigint, write = false, pasid = 0, privileged = false) => translate(w.m.phys, w.dev as DeviceObject, pasid, iova, write, { privileged });

describe('nested VT-d first stage over the NEST_PARENT second stage', () => {
  let w: World;
  beforeEach(() => {
    w = setup();
  });

  it('translates IOVA → GPA → host physical; a write lands in guest RAM; A on every entry, D on the leaf', () => {
    w.path4();
    attachDevice(w.ctx, w.dev, w.nested(0n, PML4), 0, false);
    expect(tr(w, IOVA + 0x10n)).toEqual({ fault: null, t: { physBytes: w.hostOf(DATA) + 0x10, pageSizeBytes: 4096, read: true, write: true } });
    // TRANSLATE is a DMA of no bytes: it walks, and sets A as a read does.
    expect(w.get(PML4)).toBe(PDPT | PWU | A);
    expect(w.get(PT + 8n)).toBe(DATA | PWU | A);
    expect(dma(w.m.phys, w.dev, 0, IOVA + 0x10n, 2, new Uint8Array([0xab, 0xcd])).fault).toBe(null);
    expect([...w.m.memory.read(w.ram + 0x4010, 2)!]).toEqual([0xab, 0xcd]);
    expect(w.get(PML4)).toBe(PDPT | PWU | A);
    expect(w.get(PDPT + 8n)).toBe(PD | PWU | A);
    expect(w.get(PD + 8n)).toBe(PT | PWU | A);
    expect(w.get(PT + 8n)).toBe(DATA | PWU | A | D);
  });

  it('R/W = 0 anywhere on the path: reads pass, writes fault at stage 1 (permission) and set no D', () => {
    w.path4();
    w.put(PD + 8n, PT | 0x5n);
    attachDevice(w.ctx, w.dev, w.nested(0n, PML4), 0, false);
    expect(dma(w.m.phys, w.dev, 0, IOVA, 1, new Uint8Array([1]))).toEqual({ fault: 'permission', stage: 1, faultIova: IOVA });
    expect(w.get(PT + 8n)).toBe(DATA | PWU);
    expect(tr(w, IOVA)).toMatchObject({ fault: null, t: { read: true, write: false } });
  });

  it('U/S = 0: a request without PASID is a user request and faults; a supervisor request needs SRE', () => {
    w.path4();
    w.put(PDPT + 8n, PD | 0x3n);
    const noSre = w.nested(0n, PML4);
    attachDevice(w.ctx, w.dev, noSre, 0, false);
    expect(tr(w, IOVA)).toEqual({ fault: 'permission', stage: 1 });
    attachDevice(w.ctx, w.dev, noSre, 5, false);
    expect(tr(w, IOVA, false, 5)).toEqual({ fault: 'permission', stage: 1 });
    expect(tr(w, IOVA, false, 5, true)).toEqual({ fault: 'not-present', stage: 1 });
    const sre = w.nested(SRE, PML4);
    attachDevice(w.ctx, w.dev, sre, 6, false);
    expect(tr(w, IOVA, true, 6, true)).toMatchObject({ fault: null, t: { read: true, write: true } });
    expect(tr(w, IOVA, false, 6, false)).toEqual({ fault: 'permission', stage: 1 });
  });

  it('WPE (with SRE) makes supervisor writes honour R/W; WPE without SRE is not programmed', () => {
    w.path4();
    w.put(PT + 8n, DATA | 0x5n);
    attachDevice(w.ctx, w.dev, w.nested(SRE, PML4), 1, false);
    attachDevice(w.ctx, w.dev, w.nested(SRE | WPE, PML4), 2, false);
    expect(tr(w, IOVA, true, 1, true)).toMatchObject({ fault: null, t: { write: true } });
    expect(tr(w, IOVA, true, 2, true)).toEqual({ fault: 'permission', stage: 1 });
    expect(tr(w, IOVA, true, 2, false)).toEqual({ fault: 'permission', stage: 1 });
  });

  it('not-present at each stage-1 level; reserved bits are no valid translation either', () => {
    w.path4();
    attachDevice(w.ctx, w.dev, w.nested(0n, PML4), 0, false);
    expect(tr(w, IOVA + 0x1000n)).toEqual({ fault: 'not-present', stage: 1 });
    expect(tr(w, IOVA + 0x200000n)).toEqual({ fault: 'not-present', stage: 1 });
    expect(tr(w, 1n << 39n)).toEqual({ fault: 'not-present', stage: 1 });
    // PS in a PML4E is reserved.
    w.put(PML4, PDPT | PWU | PS);
    expect(tr(w, IOVA)).toEqual({ fault: 'not-present', stage: 1 });
    w.put(PML4, PDPT | PWU);
    // A 2 MiB leaf with bit 13 set (bits 20:13 reserved).
    w.put(PD + 8n, 0x200000n | 0x2000n | PS | PWU);
    expect(tr(w, IOVA)).toEqual({ fault: 'not-present', stage: 1 });
  });

  it('stage-2 faults: a stage-1 table page or the output page missing from the IOAS', () => {
    w.path4();
    attachDevice(w.ctx, w.dev, w.nested(0n, PML4), 0, false);
    w.put(PT + 16n, (GPA + 0x100000n) | PWU);
    expect(tr(w, IOVA + 0x1000n)).toEqual({ fault: 'not-present', stage: 2 });
    expect(errnoOf(() => w.ctx.ioasUnmap(big({ ioas_id: w.ioas, iova: PD, length: 4096 })))).toBe('OK');
    expect(tr(w, IOVA)).toEqual({ fault: 'not-present', stage: 2 });
    // The root itself is a GPA: a root outside the parent's aperture faults at stage 2.
    attachDevice(w.ctx, w.dev, w.nested(0n, 1n << 60n), 0, true);
    expect(tr(w, IOVA)).toEqual({ fault: 'aperture', stage: 2 });
  });

  it('unmapping the data page from the IOAS leaves no path to the old page, whatever stage 1 says', () => {
    w.path4();
    attachDevice(w.ctx, w.dev, w.nested(0n, PML4), 0, false);
    expect(tr(w, IOVA).fault).toBe(null);
    w.ctx.ioasUnmap(big({ ioas_id: w.ioas, iova: DATA, length: 4096 }));
    expect(dma(w.m.phys, w.dev, 0, IOVA, 4, null)).toEqual({ fault: 'not-present', stage: 2, faultIova: IOVA });
  });

  it('2 MiB and 1 GiB stage-1 leaves (1 GiB needs FS1GP); the page size is the smaller leaf', () => {
    w.path4();
    // PDE[1] as a 2 MiB leaf at GPA 0: IOVA 0x40200000 + GPA reaches RAM page 0.
    w.put(PD + 8n, 0n | PS | PWU);
    attachDevice(w.ctx, w.dev, w.nested(0n, PML4), 0, false);
    expect(tr(w, 0x40200000n + GPA)).toEqual({ fault: null, t: { physBytes: w.hostOf(GPA), pageSizeBytes: 4096, read: true, write: true } });
    // PDPTE[1] as a 1 GiB leaf at GPA 0: IOVA 0x40000000 + GPA + 0x5000 → RAM page 5. (A fresh
    // world: rewriting the PDPTE the walk above cached, without an invalidation, is IOTLB-USER-5.)
    const g1 = setup();
    g1.path4();
    g1.put(PDPT + 8n, 0n | PS | PWU);
    attachDevice(g1.ctx, g1.dev, g1.nested(0n, PML4), 0, false);
    expect(tr(g1, 0x40000000n + GPA + 0x5008n)).toMatchObject({ fault: null, t: { physBytes: g1.hostOf(GPA + 0x5000n) + 8 } });
    expect(g1.get(PDPT + 8n)).toBe(PS | PWU | A);
    const no1g = setup({ first_stage_1g: false });
    no1g.path4();
    no1g.put(PDPT + 8n, 0n | PS | PWU);
    attachDevice(no1g.ctx, no1g.dev, no1g.nested(0n, PML4), 0, false);
    expect(tr(no1g, 0x40000000n + GPA)).toEqual({ fault: 'not-present', stage: 1 });
  });

  it('canonical inputs: the upper half walks PML4 index 256; a non-canonical input has no translation', () => {
    w.put(PML4 + 256n * 8n, PDPT | PWU);
    w.put(PDPT, PD | PWU);
    w.put(PD, PT | PWU);
    w.put(PT, DATA | PWU);
    attachDevice(w.ctx, w.dev, w.nested(0n, PML4), 0, false);
    expect(tr(w, 0xffff800000000000n)).toMatchObject({ fault: null, t: { physBytes: w.hostOf(DATA) } });
    expect(tr(w, 0x0000800000000000n)).toEqual({ fault: 'not-present', stage: 1 });
    expect(tr(w, 0xfff0800000000000n)).toEqual({ fault: 'not-present', stage: 1 });
  });

  it('EAFE sets EA with A on every entry used', () => {
    const e = setup({ extended_accessed: true });
    e.path4();
    attachDevice(e.ctx, e.dev, e.nested(EAFE, PML4), 0, false);
    expect(dma(e.m.phys, e.dev, 0, IOVA, 1, null).fault).toBe(null);
    expect(e.get(PML4)).toBe(PDPT | PWU | A | EA);
    expect(e.get(PT + 8n)).toBe(DATA | PWU | A | EA);
  });

  it('5-level tables with addr_width 57', () => {
    const f = setup({ levels: 5 });
    // PML5 at PML4's place, the old PML4 one level below: IOVA bits 56:48 = 0.
    f.put(PML4, PDPT | PWU);
    f.put(PDPT, PD | PWU);
    f.put(PD + 8n, PT | PWU);
    f.put(PT + 8n, DATA | PWU);
    f.put(DATA + 8n, (GPA + 0x5000n) | PWU);
    attachDevice(f.ctx, f.dev, f.nested(0n, PML4, 57), 0, false);
    expect(tr(f, 0x40201000n)).toMatchObject({ fault: null, t: { physBytes: f.hostOf(GPA + 0x5000n) } });
    expect(f.get(PML4)).toBe(PDPT | PWU | A);
  });
});

describe('the same two-stage walk for another format (a nested domain that reads its context from guest memory)', () => {
  it('ARM LPAE stage 1 (4 KiB granule, 4 levels): the context word is read through stage 2, then the table', () => {
    const w = setup();
    // A context descriptor at GPA DATA + 0x800 whose word holds the stage-1 root (like CD.TTB0).
    const CD = DATA + 0x800n;
    w.put(CD, PML4);
    // ARM VMSAv8-64 descriptors by hand: table = addr | 0b11; level-3 page = addr | 0b11 | AF(b10)
    // | AP[1](b6, EL0 access); AP[2] (b7) makes it read-only.
    w.put(PML4, PDPT | 3n);
    w.put(PDPT + 8n, PD | 3n);
    w.put(PD + 8n, PT | 3n);
    w.put(PT + 8n, (GPA + 0x5000n) | 0x443n);
    w.put(PT + 16n, (GPA + 0x6000n) | 0x4c3n);
    const format = createFormat('arm-lpae-s1', { granule: 4096, levels: 4, ias: 48 });
    const ro = (lo: number) => (lo & 0x80) !== 0;
    const domain = {
      unit: w.dev.dev.unit,
      dataType: 0,
      fields: {},
      pasid: false,
      stage1(req: Stage1Request): Stage1Walk | Stage1Fault {
        const ttb = req.readIpa64(CD);
        if (typeof ttb !== 'bigint') return ttb;
        return {
          format,
          rootIpa: ttb,
          inputUnit: Number(req.iova >> 12n),
          rules: {
            reserved: () => false,
            permits: (path, write) => !write || !ro(path[path.length - 1].lo),
            accessBits: (path) => path.map(() => ({ lo: 0, hi: 0 })),
          },
        };
      },
    } satisfies NestedDomain;
    const host = (gpa: bigint) => w.parent.domain.table.translate(gpa)!.physBytes;
    const req = (iova: bigint, write: boolean) => ({ iova, pasid: 0, hasPasid: false, write, privileged: false });
    expect(translateNested(w.m.phys, w.parent.domain, domain, req(IOVA + 4n, true))).toEqual({ fault: null, t: { physBytes: host(GPA + 0x5000n) + 4, pageSizeBytes: 4096, read: true, write: true } });
    expect(translateNested(w.m.phys, w.parent.domain, domain, req(IOVA + 0x1000n, true))).toEqual({ fault: 'permission', stage: 1 });
    expect(translateNested(w.m.phys, w.parent.domain, domain, req(IOVA + 0x1000n, false))).toMatchObject({ fault: null, t: { write: false } });
    // The context itself is at a GPA: without stage 2 under it, the fault is stage 2's.
    w.ctx.ioasUnmap(big({ ioas_id: w.ioas, iova: DATA, length: 4096 }));
    expect(translateNested(w.m.phys, w.parent.domain, domain, req(IOVA, false))).toEqual({ fault: 'not-present', stage: 2 });
  });
});
