/**
 * The random ioctl sequences of the differential fuzzer: abstract commands on the mock topology
 * (two devices on one mock IOMMU) drawn by fast-check, and how each becomes a case step.
 *
 * A command names the resources it uses by index into what earlier commands created (the n-th
 * buffer, the n-th object of a kind), taken modulo how many exist, so that every shrunk
 * sequence is still well formed; with none of that kind it names an ID or address that does not
 * exist — an invalid input on purpose, like the out-of-range IOVAs, zero or unaligned lengths and
 * unknown flag bits the arbitraries also draw. Steps are written in the case format with
 * captures (`$m0` a buffer, `$o3` an object, `$p1` a pin), so the same step runs on
 * implementations whose addresses and IDs differ, and a minimal sequence is a case file as is.
 */
import fc from 'fast-check';
import type { CaseStep } from '../runner/types.ts';

export type ObjectKind = 'ioas' | 'hwpt' | 'device' | 'access';

/** A reference to an object of a kind (or, deliberately, of another kind or none). */
export interface ObjRef {
  kind: ObjectKind;
  idx: number;
}

export type Command =
  | { k: 'mmap'; pages: number }
  | { k: 'munmap'; buf: number }
  | { k: 'ioas_alloc' }
  | { k: 'map'; ioas: ObjRef; buf: number; offPages: number; offBytes: number; len: number; iova: number; flags: number }
  | { k: 'unmap'; ioas: ObjRef; iova: number; len: number }
  | { k: 'unmap_all'; ioas: ObjRef }
  | { k: 'copy'; src: ObjRef; dst: ObjRef; srcIova: number; dstIova: number; len: number; flags: number }
  | { k: 'destroy'; obj: ObjRef }
  | { k: 'bind'; dev: number }
  | { k: 'attach'; dev: number; pt: ObjRef }
  | { k: 'detach'; dev: number }
  | { k: 'hwpt_alloc'; dev: ObjRef; pt: ObjRef }
  | { k: 'create_access'; ioas: ObjRef; flags: number }
  | { k: 'access_pin'; access: ObjRef; iova: number; len: number; write: boolean }
  | { k: 'access_unpin'; access: ObjRef; pin: number }
  | { k: 'access_rw'; access: ObjRef; iova: number; lenBytes: number; write: boolean }
  | { k: 'check_refs'; buf: number }
  | { k: 'dma_read'; dev: ObjRef; iova: number }
  | { k: 'accounting' }
  | { k: 'add_reserved'; ioas: ObjRef; iova: number; len: number }
  | { k: 'unbind'; dev: ObjRef }
  | { k: 'huge_pages'; ioas: ObjRef; on: boolean };

export const DEVICES = ['dev0', 'dev1'] as const;
/** The topology every sequence runs on (conformance/topologies/mock-two.json). */
export const TOPOLOGY_NAME = 'mock-two';
export const TOPOLOGY = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [{ name: 'dev0', bridge: 'pci0' }, { name: 'dev1', bridge: 'pci0' }],
};

const PAGE = 0x1000;
/** IOVA slots: 16 pages inside the mock aperture (overlaps are likely), then invalid ones. */
const IOVA_BASE = 0x1000000;
const SPECIAL_IOVAS = [0, IOVA_BASE + 0x800, 0x80000000, 0x7ffff000, 0xfffffffffffff000n] as const;
/** Lengths: whole pages (0 included), then a half mock page and a page plus one byte. */
const SPECIAL_LENGTHS = [0x800, 0x1001] as const;
/** MAP flags: FIXED_IOVA 1, WRITEABLE 2, READABLE 4; bit 5 is no flag. */
const MAP_FLAG_BITS = [1, 2, 4];
const UNKNOWN_FLAG = 1 << 5;
/** A user address no implementation maps (below Linux's mmap_min_addr of 64 KiB). */
const UNMAPPED_VA = 0x4000;
/** A sentinel object ID no sequence allocates. */
export const NO_SUCH_ID = 0x7fff;

const idx = fc.nat({ max: 7 });
const objRef = (kind: ObjectKind, other = 0.15): fc.Arbitrary<ObjRef> =>
  fc.oneof(
    { weight: Math.round((1 - other) * 100), arbitrary: idx.map((i) => ({ kind, idx: i })) },
    { weight: Math.round(other * 100), arbitrary: fc.record({ kind: fc.constantFrom<ObjectKind>('ioas', 'hwpt', 'device', 'access'), idx }) },
  );
const iovaSlot = fc.oneof({ weight: 9, arbitrary: fc.nat({ max: 15 }) }, { weight: 1, arbitrary: fc.integer({ min: 16, max: 16 + SPECIAL_IOVAS.length - 1 }) });
const lenCode = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 6 }) }, { weight: 1, arbitrary: fc.integer({ min: 7, max: 7 + SPECIAL_LENGTHS.length - 1 }) });
const mapFlags = fc.oneof(
  { weight: 6, arbitrary: fc.constant(7) },
  { weight: 3, arbitrary: fc.subarray(MAP_FLAG_BITS).map((b) => b.reduce((a, x) => a | x, 0)) },
  { weight: 1, arbitrary: fc.constant(7 | UNKNOWN_FLAG) },
);

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('mmap' as const), pages: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('munmap' as const), buf: idx }) },
  { weight: 3, arbitrary: fc.constant({ k: 'ioas_alloc' as const }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('map' as const), ioas: objRef('ioas'), buf: idx, offPages: fc.nat({ max: 3 }), offBytes: fc.constantFrom(0, 0, 0, 0x800, 0x10), len: lenCode, iova: iovaSlot, flags: mapFlags }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('unmap' as const), ioas: objRef('ioas'), iova: iovaSlot, len: lenCode }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unmap_all' as const), ioas: objRef('ioas') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('copy' as const), src: objRef('ioas'), dst: objRef('ioas'), srcIova: iovaSlot, dstIova: iovaSlot, len: lenCode, flags: mapFlags }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('destroy' as const), obj: fc.record({ kind: fc.constantFrom<ObjectKind>('ioas', 'hwpt', 'device', 'access'), idx }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('bind' as const), dev: fc.nat({ max: 1 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('attach' as const), dev: fc.nat({ max: 1 }), pt: fc.oneof(objRef('ioas'), objRef('hwpt')) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('detach' as const), dev: fc.nat({ max: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('hwpt_alloc' as const), dev: objRef('device'), pt: objRef('ioas') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('create_access' as const), ioas: objRef('ioas'), flags: fc.constantFrom(0, 1) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('access_pin' as const), access: objRef('access'), iova: iovaSlot, len: lenCode, write: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('access_unpin' as const), access: objRef('access'), pin: idx }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('access_rw' as const), access: objRef('access'), iova: iovaSlot, lenBytes: fc.constantFrom(1, 8, 0x100, 0x1800), write: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('check_refs' as const), buf: idx }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dma_read' as const), dev: objRef('device'), iova: iovaSlot }) },
  { weight: 1, arbitrary: fc.constant({ k: 'accounting' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('add_reserved' as const), ioas: objRef('ioas'), iova: iovaSlot, len: lenCode }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unbind' as const), dev: objRef('device') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('huge_pages' as const), ioas: objRef('ioas'), on: fc.boolean() }) },
);

export const sequenceArb = (maxLength: number): fc.Arbitrary<Command[]> => fc.array(commandArb, { minLength: 1, maxLength, size: 'max' });

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
const iovaOf = (slot: number): string => hex(slot < 16 ? IOVA_BASE + slot * PAGE : SPECIAL_IOVAS[slot - 16]);
const lengthOf = (code: number): string => hex(code < 7 ? code * PAGE : SPECIAL_LENGTHS[code - 7]);

/** What the sequence has created so far (the same on both sides while they agree). */
export class Names {
  buffers: { name: string; pages: number }[] = [];
  objects: { name: string; kind: ObjectKind; device?: string }[] = [];
  pins: { name: string; access: string }[] = [];
  private counter = 0;

  fresh(prefix: string): string {
    return `$${prefix}${this.counter++}`;
  }

  /** An object's capture name, or (none of that kind) an ID that names nothing. */
  obj(ref: ObjRef): string | number {
    const of = this.objects.filter((o) => o.kind === ref.kind);
    return of.length === 0 ? NO_SUCH_ID : of[ref.idx % of.length].name;
  }

  buffer(i: number): { name: string; pages: number } | null {
    return this.buffers.length === 0 ? null : this.buffers[i % this.buffers.length];
  }
}

/** A step and what a success adds to the names (applied by the caller once both sides agree). */
export interface Rendered {
  step: CaseStep;
  /** The out fields compared between implementations (captures excluded). */
  compare: string[];
  /** On success: the capture this step makes, and what it stands for. */
  creates?: { field: string; add: (n: Names, name: string) => void };
  /** On success: a name that stops existing. */
  removes?: (n: Names) => void;
}

/** The case step of a command, given the names so far. */
export function render(c: Command, n: Names): Rendered {
  const addr = (buf: number, offPages: number, offBytes = 0): string => {
    const b = n.buffer(buf);
    const off = offPages * PAGE + offBytes;
    return b === null ? hex(UNMAPPED_VA + off) : off === 0 ? b.name : `${b.name} + ${hex(off)}`;
  };
  switch (c.k) {
    case 'mmap':
      return {
        step: { op: 'MMAP', arg: { length: hex(c.pages * PAGE) } },
        compare: [],
        creates: { field: 'addr', add: (x, name) => x.buffers.push({ name, pages: c.pages }) },
      };
    case 'munmap': {
      const b = n.buffer(c.buf);
      const step: CaseStep = { op: 'MUNMAP', arg: { addr: b?.name ?? hex(UNMAPPED_VA), length: hex((b?.pages ?? 1) * PAGE) } };
      return { step, compare: [], removes: b ? (x) => (x.buffers = x.buffers.filter((y) => y.name !== b.name)) : undefined };
    }
    case 'ioas_alloc':
      return { step: { op: 'IOMMU_IOAS_ALLOC' }, compare: ['out_ioas_id'], creates: { field: 'out_ioas_id', add: (x, name) => x.objects.push({ name, kind: 'ioas' }) } };
    case 'map':
      return {
        step: { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: n.obj(c.ioas), flags: c.flags, user_va: addr(c.buf, c.offPages, c.offBytes), length: lengthOf(c.len), iova: iovaOf(c.iova) } },
        compare: ['iova'],
      };
    case 'unmap':
      return { step: { op: 'IOMMU_IOAS_UNMAP', arg: { ioas_id: n.obj(c.ioas), iova: iovaOf(c.iova), length: lengthOf(c.len) } }, compare: ['length'] };
    case 'unmap_all':
      return { step: { op: 'IOMMU_IOAS_UNMAP', arg: { ioas_id: n.obj(c.ioas), iova: '0x0', length: '0xffffffffffffffff' } }, compare: ['length'] };
    case 'copy':
      return {
        step: { op: 'IOMMU_IOAS_COPY', arg: { src_ioas_id: n.obj(c.src), dst_ioas_id: n.obj(c.dst), flags: c.flags, src_iova: iovaOf(c.srcIova), dst_iova: iovaOf(c.dstIova), length: lengthOf(c.len) } },
        compare: ['dst_iova'],
      };
    case 'destroy': {
      const id = n.obj(c.obj);
      return {
        step: { op: 'IOMMU_DESTROY', arg: { id } },
        compare: [],
        removes: typeof id === 'string' ? (x) => {
          x.objects = x.objects.filter((o) => o.name !== id);
          x.pins = x.pins.filter((p) => p.access !== id);
        } : undefined,
      };
    }
    case 'bind': {
      const device = DEVICES[c.dev];
      return {
        step: { op: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { device } },
        compare: ['out_devid'],
        creates: { field: 'out_devid', add: (x, name) => x.objects.push({ name, kind: 'device', device }) },
      };
    }
    case 'attach':
      return {
        step: { op: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { device: DEVICES[c.dev], pt_id: n.obj(c.pt) } },
        compare: ['pt_id'],
      };
    case 'detach':
      return { step: { op: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', arg: { device: DEVICES[c.dev] } }, compare: [] };
    case 'hwpt_alloc':
      return {
        step: { op: 'IOMMU_HWPT_ALLOC', arg: { dev_id: n.obj(c.dev), pt_id: n.obj(c.pt) } },
        compare: ['out_hwpt_id'],
        creates: { field: 'out_hwpt_id', add: (x, name) => x.objects.push({ name, kind: 'hwpt' }) },
      };
    case 'create_access':
      return {
        step: { op: 'CREATE_ACCESS', arg: { ioas_id: n.obj(c.ioas), flags: c.flags } },
        compare: [],
        creates: { field: 'access_id', add: (x, name) => x.objects.push({ name, kind: 'access' }) },
      };
    case 'access_pin': {
      const access = n.obj(c.access);
      return {
        step: { op: 'ACCESS_PIN', arg: { access_id: access, iova: iovaOf(c.iova), length: lengthOf(c.len), ...(c.write ? { write: true } : {}) } },
        compare: [],
        creates: typeof access === 'string' ? { field: 'pages_id', add: (x, name) => x.pins.push({ name, access }) } : undefined,
      };
    }
    case 'access_unpin': {
      const access = n.obj(c.access);
      const pins = n.pins.filter((p) => p.access === access);
      const pin = pins.length === 0 ? null : pins[c.pin % pins.length];
      return {
        step: { op: 'ACCESS_UNPIN', arg: { access_id: access, pages_id: pin?.name ?? NO_SUCH_ID } },
        compare: [],
        removes: pin ? (x) => (x.pins = x.pins.filter((p) => p.name !== pin.name)) : undefined,
      };
    }
    case 'access_rw':
      return {
        step: {
          op: 'ACCESS_RW',
          arg: { access_id: n.obj(c.access), iova: iovaOf(c.iova), ...(c.write ? { data: '5a'.repeat(c.lenBytes), write: true } : { length: hex(c.lenBytes) }) },
        },
        compare: ['data'],
      };
    case 'check_refs': {
      const b = n.buffer(c.buf);
      return { step: { op: 'CHECK_REFS', arg: { addr: b?.name ?? hex(UNMAPPED_VA), length: hex((b?.pages ?? 1) * PAGE) } }, compare: ['refs'] };
    }
    case 'dma_read':
      return { step: { op: 'DMA_READ', arg: { dev_id: n.obj(c.dev), iova: iovaOf(c.iova), length: '0x8' } }, compare: ['fault', 'data'] };
    case 'accounting':
      return { step: { op: 'ACCOUNTING', arg: {} }, compare: ['user_pages', 'mm_pages', 'pinned_pages'] };
    case 'add_reserved':
      return { step: { op: 'ADD_RESERVED', arg: { ioas_id: n.obj(c.ioas), start: iovaOf(c.iova), length: lengthOf(c.len) } }, compare: [] };
    case 'unbind': {
      const id = n.obj(c.dev);
      return {
        step: { op: 'DEVICE_UNBIND', arg: { dev_id: id } },
        compare: [],
        removes: typeof id === 'string' ? (x) => (x.objects = x.objects.filter((o) => o.name !== id)) : undefined,
      };
    }
    case 'huge_pages':
      // IOMMU_OPTION_HUGE_PAGES (1), IOMMU_OPTION_OP_SET (0) on an IOAS.
      return { step: { op: 'IOMMU_OPTION', arg: { option_id: 1, op: 0, object_id: n.obj(c.ioas), val64: c.on ? 1 : 0 } }, compare: ['val64'] };
  }
}
