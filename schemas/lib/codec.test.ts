/**
 * The codec: byte images of structs (little-endian, C offsets), round trips of every struct, and
 * the extensible-struct rule of drivers/iommu/iommufd/main.c + copy_struct_from_user as the
 * kernel's selftest `cmd_length` exercises it (min-1 → EINVAL, sizeof+1 with 0xff → E2BIG,
 * sizeof+1 with 0 → like sizeof).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getCatalog, isScalar, structInfo } from './catalog.ts';
import {
  bytesToHex, copyStructFromUser, copyStructToUser, decodeStruct, decodeStructArray, decodeVfioCapChain, encodeStruct, encodeStructArray,
} from './codec.ts';

describe('encodeStruct', () => {
  it('lays out iommu_ioas_map little-endian at the C offsets', () => {
    const b = encodeStruct('iommu_ioas_map', {
      size: 40, flags: 5, ioas_id: 2, user_va: '0x7f0000001000', length: 0x4000, iova: '0xfedcba9876543210',
    });
    expect(b.length).toBe(40);
    expect(bytesToHex(b)).toBe(
      '28000000' + '05000000' + '02000000' + '00000000' + // size flags ioas_id __reserved
      '00100000007f0000' + // user_va 0x7f0000001000
      '0040000000000000' + // length
      '1032547698badcfe', // iova
    );
  });
  it('writes fixed arrays element by element and __aligned_le64 little-endian', () => {
    const b = encodeStruct('iommu_hwpt_arm_smmuv3', { ste: ['0x0123456789abcdef', 1] });
    expect(bytesToHex(b)).toBe('efcdab8967452301' + '0100000000000000');
    const h = encodeStruct('iommu_hw_info', { __reserved: [1, 2, 3], out_max_pasid_log2: 20 });
    expect([...h.subarray(28, 32)]).toEqual([20, 1, 2, 3]);
  });
  it('writes s32 two\'s complement', () => {
    const b = encodeStruct('iommu_ioas_map_file', { fd: -1 });
    expect(bytesToHex(b.subarray(12, 16))).toBe('ffffffff');
    expect(decodeStruct('iommu_ioas_map_file', b).fd).toBe(-1);
  });
  it('embeds structs', () => {
    const b = encodeStruct('vfio_iommu_type1_info_dma_avail', { header: { id: 3, version: 1, next: 0 }, avail: 65535 });
    expect(bytesToHex(b)).toBe('0300' + '0100' + '00000000' + 'ffff0000');
  });
  it('rejects unknown fields, naming them', () => {
    expect(() => encodeStruct('iommu_ioas_map', { flagz: 1 })).toThrow(/iommu_ioas_map\.flagz/);
    expect(() => encodeStruct('iommu_ioas_map', { __trailing: '00' })).toThrow(/__trailing/);
  });
  it('rejects values that do not fit, naming the field', () => {
    expect(() => encodeStruct('iommu_ioas_map', { flags: 0x1_0000_0000 })).toThrow(/iommu_ioas_map\.flags/);
    expect(() => encodeStruct('iommu_option', { op: 65536 })).toThrow(/iommu_option\.op.*__u16/);
    expect(() => encodeStruct('iommu_ioas_map', { length: -1 })).toThrow(/iommu_ioas_map\.length/);
    expect(() => encodeStruct('iommu_ioas_map', { iova: '0x1_0000' })).toThrow(/iommu_ioas_map\.iova/);
    expect(() => encodeStruct('iommu_ioas_map', { iova: '0x10000000000000000' })).toThrow(/iommu_ioas_map\.iova/);
    expect(() => encodeStruct('iommu_hw_info', { __reserved: [0, 0, 0, 0] })).toThrow(/__reserved.*3/);
  });
  it('ignores the protocol-only device name', () => {
    expect(encodeStruct('vfio_device_bind_iommufd', { device: 'dev0', argsz: 24 }).length).toBe(24);
  });
  it('rejects two different values for one union member', () => {
    expect(() => encodeStruct('iommu_hw_info', { in_data_type: 1, out_data_type: 2 })).toThrow(/union data_type/);
    expect(encodeStruct('iommu_hw_info', { in_data_type: 2, out_data_type: 2 })[24]).toBe(2);
  });
});

describe('decodeStruct', () => {
  it('gives u64 in wire form: numbers up to 2^53-1, hex strings above', () => {
    const b = encodeStruct('iommu_ioas_unmap', { iova: 0, length: '0xffffffffffffffff' });
    expect(decodeStruct('iommu_ioas_unmap', b)).toEqual({ size: 0, ioas_id: 0, iova: 0, length: '0xffffffffffffffff' });
    const c = encodeStruct('iommu_ioas_unmap', { length: '9007199254740991' });
    expect(decodeStruct('iommu_ioas_unmap', c).length).toBe(9007199254740991);
  });
  it('refuses too few bytes', () => {
    expect(() => decodeStruct('iommu_ioas_map', new Uint8Array(39))).toThrow(/39 bytes.*40/);
  });
});

/** An arbitrary valid field set for a struct, in wire form. */
function arbitraryFields(name: string): fc.Arbitrary<Record<string, unknown>> {
  const s = structInfo(name);
  const unionTaken = new Set<string>();
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of s.fields) {
    if (f.union !== undefined) {
      if (unionTaken.has(f.union)) continue;
      unionTaken.add(f.union);
    }
    const eb = f.count ? f.sizeBytes / f.count : f.sizeBytes;
    let one: fc.Arbitrary<unknown>;
    if (!isScalar(f.ctype)) one = arbitraryFields(f.ctype);
    else if (f.ctype === '__s32') one = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    else if (eb === 8) one = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`));
    else one = fc.integer({ min: 0, max: 2 ** (8 * eb) - 1 });
    parts[f.name] = f.count ? fc.array(one, { minLength: f.count, maxLength: f.count }) : one;
  }
  return fc.record(parts);
}

describe('every struct round-trips', () => {
  for (const name of [...getCatalog().structs.keys()]) {
    it(name, () => {
      fc.assert(fc.property(arbitraryFields(name), (fields) => {
        const bytes = encodeStruct(name, fields);
        expect(bytes.length).toBe(structInfo(name).sizeBytes);
        const back = decodeStruct(name, bytes);
        for (const [k, v] of Object.entries(fields)) expect(back[k]).toEqual(v);
        expect(encodeStruct(name, back)).toEqual(bytes);
      }), { numRuns: 50 });
    });
  }
});

describe('struct arrays', () => {
  it('iova ranges back to back', () => {
    const ranges = [{ start: 0x1000, last: 0x1fff }, { start: '0x8000000000000000', last: '0xffffffffffffffff' }];
    const b = encodeStructArray('iommu_iova_range', ranges);
    expect(b.length).toBe(32);
    expect(decodeStructArray('iommu_iova_range', b)).toEqual(ranges);
    expect(decodeStructArray('iommu_iova_range', b, 1)).toEqual([ranges[0]]);
    expect(() => decodeStructArray('iommu_iova_range', b, 3)).toThrow(/3 entries/);
  });
  it('invalidation entries with a stride larger than the struct', () => {
    const b = encodeStructArray('iommu_hwpt_invalidate_selftest', [{ flags: 1, iotlb_id: 2 }, { flags: 0, iotlb_id: 3 }], 12);
    expect(bytesToHex(b)).toBe('0100000002000000' + '00000000' + '0000000003000000' + '00000000');
    expect(decodeStructArray('iommu_hwpt_invalidate_selftest', b, 2, 12)).toEqual([{ flags: 1, iotlb_id: 2 }, { flags: 0, iotlb_id: 3 }]);
  });
});

describe('copyStructFromUser (the extensible-struct rule)', () => {
  const map = { flags: 7, ioas_id: 1, user_va: 0x10000, length: 0x1000, iova: 0x2000 };
  it('size defaults to sizeof plus the trailing bytes', () => {
    const r = copyStructFromUser('IOMMU_IOAS_MAP', map);
    expect(r).toEqual({ ok: true, userSizeBytes: 40, fields: { size: 40, __reserved: 0, ...map } });
  });
  it('size below the minimum is EINVAL (selftest cmd_length: min - 1)', () => {
    expect(copyStructFromUser('IOMMU_IOAS_MAP', { ...map, size: 39 })).toEqual({ ok: false, errno: 'EINVAL' });
    expect(copyStructFromUser('IOMMU_HWPT_ALLOC', { size: 23 })).toEqual({ ok: false, errno: 'EINVAL' });
    expect(copyStructFromUser('IOMMU_HWPT_ALLOC', { size: 24 }).ok).toBe(true);
  });
  it('a non-zero byte past sizeof that size covers is E2BIG (sizeof + 1 with 0xff)', () => {
    expect(copyStructFromUser('IOMMU_IOAS_MAP', { ...map, size: 41, __trailing: 'ff' })).toEqual({ ok: false, errno: 'E2BIG' });
    // Bytes beyond `size` are not the user's argument.
    expect(copyStructFromUser('IOMMU_IOAS_MAP', { ...map, size: 41, __trailing: '00ff' }).ok).toBe(true);
    // Bytes size covers but __trailing does not supply are zero.
    expect(copyStructFromUser('IOMMU_IOAS_MAP', { ...map, size: 4096 }).ok).toBe(true);
  });
  it('sizeof + 1 with a zero byte reads exactly like sizeof', () => {
    const a = copyStructFromUser('IOMMU_IOAS_MAP', { ...map, size: 41, __trailing: '00' });
    const b = copyStructFromUser('IOMMU_IOAS_MAP', { ...map, size: 40 });
    expect(a.ok && b.ok && { ...a.fields, size: 0 }).toEqual(b.ok && { ...b.fields, size: 0 });
  });
  it('a shorter struct is zero-filled past size (an older userspace)', () => {
    const r = copyStructFromUser('IOMMU_HWPT_ALLOC', { size: 40, flags: 4, dev_id: 1, pt_id: 2, data_uptr: 0x1000, fault_id: 9 });
    expect(r.ok && r.fields.fault_id).toBe(0);
    expect(r.ok && r.fields.data_uptr).toBe(0x1000);
    const cut = copyStructFromUser('IOMMU_HWPT_ALLOC', { size: 36, data_uptr: '0x1122334455667788' });
    expect(cut.ok && cut.fields.data_uptr).toBe(0x55667788); // only the low 4 bytes lie inside size
  });
  it('VFIO commands check argsz against minsz and ignore what lies past the struct', () => {
    expect(copyStructFromUser('VFIO_IOMMU_MAP_DMA', { argsz: 31 })).toEqual({ ok: false, errno: 'EINVAL' });
    expect(copyStructFromUser('VFIO_IOMMU_GET_INFO', { argsz: 15 })).toEqual({ ok: false, errno: 'EINVAL' });
    expect(copyStructFromUser('VFIO_IOMMU_GET_INFO', { argsz: 16 }).ok).toBe(true);
    expect(copyStructFromUser('VFIO_IOMMU_GET_INFO', { argsz: 64, __trailing: 'ff' }).ok).toBe(true);
    expect(copyStructFromUser('VFIO_DEVICE_DETACH_IOMMUFD_PT', { device: 'dev0', argsz: 8 }).ok).toBe(true);
    expect(copyStructFromUser('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { device: 'dev0', argsz: 11 })).toEqual({ ok: false, errno: 'EINVAL' });
  });
  it('malformed arguments throw, naming the field', () => {
    expect(() => copyStructFromUser('IOMMU_IOAS_MAP', { bogus: 1 })).toThrow(/bogus/);
    expect(() => copyStructFromUser('IOMMU_IOAS_MAP', { __trailing: 'f' })).toThrow(/__trailing/);
    expect(() => copyStructFromUser('VFIO_SET_IOMMU', { type: 1 })).toThrow(/no struct/);
  });
});

describe('copyStructToUser', () => {
  it('writes min(size, sizeof) bytes', () => {
    const r = copyStructToUser('IOMMU_IOAS_IOVA_RANGES', { size: 28, num_iovas: 2, out_iova_alignment: 4096 }, 28);
    expect(r.bytes.length).toBe(28);
    expect(r.fields.num_iovas).toBe(2);
    expect(r.fields.out_iova_alignment).toBeUndefined();
    expect(r.cut).toEqual(['out_iova_alignment']);
    const full = copyStructToUser('IOMMU_IOAS_IOVA_RANGES', { num_iovas: 2, out_iova_alignment: 4096 }, 100);
    expect(full.bytes.length).toBe(32);
    expect(full.fields.out_iova_alignment).toBe(4096);
  });
});

describe('decodeVfioCapChain', () => {
  // A GET_INFO buffer laid out by hand: the 24-byte vfio_iommu_type1_info, an IOVA_RANGE
  // capability (id 1) with one range at offset 24, then DMA_AVAIL (id 3) at offset 56.
  const hex =
    '44000000' + '03000000' + '0010000000000000' + '18000000' + '00000000' + // argsz 68, flags 3, pgsizes 4096, cap_offset 24, pad
    '0100' + '0100' + '38000000' + '01000000' + '00000000' + // header {1, 1, next 56}, nr_iovas 1, reserved
    '0000000000000000' + 'ffffffffffffffff' + // [0, U64_MAX]
    '0300' + '0100' + '00000000' + 'ffff0000'; // header {3, 1, next 0}, avail 65535
  const buf = Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
  it('walks the chain and decodes each capability with its flexible array', () => {
    const caps = decodeVfioCapChain(buf, 24);
    expect(caps.map((c) => [c.offsetBytes, c.id, c.struct])).toEqual([
      [24, 1, 'vfio_iommu_type1_info_cap_iova_range'],
      [56, 3, 'vfio_iommu_type1_info_dma_avail'],
    ]);
    expect(caps[0].entries).toEqual([{ start: 0, end: '0xffffffffffffffff' }]);
    expect(caps[1].fields?.avail).toBe(65535);
  });
  it('refuses a chain that leaves the buffer or loops', () => {
    expect(() => decodeVfioCapChain(buf.subarray(0, 60), 24)).toThrow(/offset 56/);
    const loop = buf.slice();
    loop.set([24, 0, 0, 0], 56 + 4);
    expect(() => decodeVfioCapChain(loop, 24)).toThrow(/loops back to offset 24/);
  });
});
