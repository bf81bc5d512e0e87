import { describe, expect, it } from 'vitest';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { compileStep } from './compiler.ts';
import { CaseError, evalExpr, parseExpr } from './expression.ts';
import { decodeStructArray, encodeStructArray } from '../../schemas/lib/codec.ts';
import { toyCatalog } from './testing/toy-catalog.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';
import { createToyAdapter } from './testing/toy-adapter.ts';

describe('expressions', () => {
  it('parses captures with arithmetic and integers', () => {
    expect(parseExpr('$buf')).toEqual({ kind: 'capture', name: 'buf', offset: 0n });
    expect(parseExpr('$buf + 0x1000')).toEqual({ kind: 'capture', name: 'buf', offset: 0x1000n });
    expect(parseExpr('$buf - 16')).toEqual({ kind: 'capture', name: 'buf', offset: -16n });
    expect(parseExpr('0xffffffffffffffff')).toEqual({ kind: 'number', value: (1n << 64n) - 1n });
    expect(parseExpr('deadbeefzz')).toBeNull();
  });
  it('evaluates exactly above 2^53 and rejects results outside u64', () => {
    const caps = new Map<string, unknown>([['a', '0xfffffffffffff000']]);
    expect(evalExpr(parseExpr('$a + 0xfff')!, caps)).toBe((1n << 64n) - 1n);
    expect(() => evalExpr(parseExpr('$a + 0x1000')!, caps)).toThrow(CaseError);
    expect(() => evalExpr(parseExpr('$nope')!, caps)).toThrow(/before it is captured/);
  });
});

describe('compiler', () => {
  it('fills size, turns flag names into integers, zero-fills fields, writes u64 by the wire rule', () => {
    const caps = new Map<string, unknown>([['buf', 0x10000000], ['ioas', 1]]);
    const c = compileStep(toyCatalog, {
      op: 'IOMMU_IOAS_MAP',
      arg: { ioas_id: '$ioas', flags: ['FIXED_IOVA', 'READABLE', 'IOMMU_IOAS_MAP_WRITEABLE'], user_va: '$buf + 0x1000', length: '0x4000', iova: '0xfffffffffffff000' },
    }, caps);
    expect(c.arg).toEqual({
      size: 40, flags: 7, ioas_id: 1, __reserved: 0, user_va: 0x10001000, length: 0x4000, iova: '0xfffffffffffff000',
    });
  });
  it('keeps a given size and counts __trailing bytes otherwise', () => {
    expect(compileStep(toyCatalog, { op: 'IOMMU_IOAS_ALLOC', arg: { size: 4 } }, new Map()).arg.size).toBe(4);
    const t = compileStep(toyCatalog, { op: 'IOMMU_IOAS_ALLOC', arg: { __trailing: '0000000001000000' } }, new Map());
    expect(t.arg.size).toBe(12 + 8);
    expect(t.arg.__trailing).toBe('0000000001000000');
  });
  it('rejects unknown fields, unknown flag names and unknown ops as case errors', () => {
    expect(() => compileStep(toyCatalog, { op: 'IOMMU_IOAS_ALLOC', arg: { bogus: 1 } }, new Map())).toThrow(/has no field bogus/);
    expect(() => compileStep(toyCatalog, { op: 'IOMMU_IOAS_MAP', arg: { flags: ['NOPE'] } }, new Map())).toThrow(/'NOPE' is not a value/);
    expect(() => compileStep(toyCatalog, { op: 'IOMMU_NOPE' }, new Map())).toThrow(CaseError);
  });
  it('turns inline pointer content into a placement and fills the count field', () => {
    const c = compileStep(toyCatalog, {
      op: 'IOMMU_IOAS_ALLOW_IOVAS',
      arg: { ioas_id: 1, allowed_iovas: [{ start: '0x1000', last: '0x1fff' }, { start: 0x10000, last: '0xffffffffffffffff' }] },
    }, new Map());
    expect(c.arg.num_iovas).toBe(2);
    expect(c.pointers).toHaveLength(1);
    expect(c.pointers[0].decode).toBeUndefined(); // input-only content is not read back
    expect(Buffer.from(c.pointers[0].bytes).toString('hex')).toBe(
      '0010000000000000' + 'ff1f000000000000' + '0000010000000000' + 'ffffffffffffffff',
    );
    const cap = compileStep(toyCatalog, { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: 1, allowed_iovas: { capacity: 3 } } }, new Map());
    expect(cap.arg.num_iovas).toBe(3);
    expect(cap.pointers[0].bytes.length).toBe(48);
    expect(cap.pointers[0].decode).toMatchObject({ count: 3 });
  });
  it('passes a pointer given as an address through unchanged (bad pointers stay testable)', () => {
    const c = compileStep(toyCatalog, { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: 1, num_iovas: 1, allowed_iovas: 8 } }, new Map());
    expect(c.arg.allowed_iovas).toBe(8);
    expect(c.pointers).toHaveLength(0);
    const bytes = compileStep(toyCatalog, { op: 'IOMMU_HWPT_GET_DIRTY_BITMAP', arg: { data: 'ff00' } }, new Map());
    expect(bytes.pointers[0].bytes).toEqual(new Uint8Array([0xff, 0]));
    // Any string that is not "0x…" or "$…" is content, even one that looks decimal.
    const raw = compileStep(toyCatalog, { op: 'IOMMU_IOAS_ALLOW_IOVAS', arg: { ioas_id: 1, allowed_iovas: '00000000000000000100000000000000' } }, new Map());
    expect(raw.arg.num_iovas).toBe(1);
    expect(raw.pointers[0].bytes.length).toBe(16);
    const one = compileStep(toyCatalog, { op: 'IOMMU_IOAS_ALLOW_IOVAS', arg: { ioas_id: 1, allowed_iovas: { start: 1, last: 2 } } }, new Map());
    expect(one.arg.num_iovas).toBe(1);
  });
  it('round-trips struct arrays through bytes', () => {
    // The schemas' codec lays out what the compiler resolves; the toy catalog's layout is the real one.
    const bytes = encodeStructArray('iommu_iova_range', [{ start: 1, last: '0xffffffffffffffff' }]);
    expect(bytes.length).toBe(toyCatalog.structs.get('iommu_iova_range')!.sizeBytes);
    expect(decodeStructArray('iommu_iova_range', bytes, 1)).toEqual([{ start: 1, last: '0xffffffffffffffff' }]);
  });
  it('compiles raw request numbers, bad argument pointers and integer arguments', () => {
    const raw = compileStep(toyCatalog, { op: '0x3b7f', arg: { size: 8, id: 0 } }, new Map());
    expect(raw).toMatchObject({ kind: 'ioctl', op: '0x3b7f', arg: { size: 8, id: 0 } });
    const nul = compileStep(toyCatalog, { op: 'IOMMU_DESTROY', argp: 0 }, new Map());
    expect(nul).toMatchObject({ kind: 'ioctl', arg: {}, argp: 0 });
    expect(() => compileStep(toyCatalog, { op: 'IOMMU_DESTROY', argv: 1 }, new Map())).toThrow(/argv is for ioctls that take an integer/);
  });
  it('checks the compiled argument against the uAPI schema (real catalog), naming field and rule', () => {
    const real = getCatalog();
    expect(() => compileStep(real, { op: 'IOMMU_IOAS_ALLOC', arg: { flags: '0x100000000' } }, new Map()))
      .toThrow('IOMMU_IOAS_ALLOC.arg/flags: must be <= 4294967295 [uAPI schema maximum');
    // A value the kernel must reject (an unknown flag) is a valid argument: cases send it on purpose.
    expect(compileStep(real, { op: 'IOMMU_IOAS_ALLOC', arg: { flags: 8 } }, new Map()).arg).toEqual({ size: 12, flags: 8, out_ioas_id: 0 });
  });
  it('compiles RAW_IOCTL by the hook schema', () => {
    const raw = compileStep(toyCatalog, { op: 'RAW_IOCTL', arg: { request: '0x40083b80', bytes: '0800000000000000' } }, new Map());
    expect(raw).toMatchObject({ kind: 'test', scope: 'context', arg: { request: 0x40083b80, bytes: '0800000000000000' } });
  });
  it('compiles hook arguments by the protocol schema types', () => {
    const c = compileStep(toyCatalog, { op: 'MEM_WRITE', arg: { addr: '$b + 16', data: 'ABCD' } }, new Map([['b', 0x1000]]));
    expect(c).toMatchObject({ kind: 'test', scope: 'process', arg: { addr: 0x1010, data: 'abcd' } });
    expect(() => compileStep(toyCatalog, { op: 'MMAP', arg: { size: 1 } }, new Map())).toThrow(/takes no size/);
  });
  it('writes a TEST_CMD struct given by fields (x-case-struct) as the bytes a C program holds', () => {
    const c = compileStep(toyCatalog, {
      op: 'TEST_CMD',
      arg: { op: 'ACCESS_RW', cmd: { id: '$afd', access_rw: { iova: '$iova + 2', length: 5, uptr: '0x7000', flags: ['WRITE', 'SLOW_PATH'] }, __trailing: '00ff' } },
    }, new Map([['afd', 4], ['iova', 0x100000]]));
    const data = Buffer.from(c.arg.data as string, 'hex');
    // struct iommu_test_cmd: size (sizeof 72 + 2 trailing bytes), op 0 (the name governs), id, then access_rw at 16.
    expect(data.length).toBe(74);
    expect([data.readUInt32LE(0), data.readUInt32LE(4), data.readUInt32LE(8)]).toEqual([74, 0, 4]);
    expect([data.readBigUInt64LE(16), data.readBigUInt64LE(24), data.readBigUInt64LE(32), data.readUInt32LE(40)]).toEqual([0x100002n, 5n, 0x7000n, 5]);
    expect([...data.subarray(72)]).toEqual([0, 0xff]);
    expect(c.arg).not.toHaveProperty('cmd');
    expect(() => compileStep(toyCatalog, { op: 'TEST_CMD', arg: { op: 'MOCK_DOMAIN', cmd: {}, data: '00' } }, new Map())).toThrow(/either cmd or data/);
    expect(() => compileStep(toyCatalog, { op: 'TEST_CMD', arg: { op: 'MOCK_DOMAIN', cmd: { nope: 1 } } }, new Map())).toThrow(/has no field nope/);
  });
});

describe('captures and pointer content through a run', () => {
  it('captures outputs, uses them with arithmetic, decodes read-back pointer content', async () => {
    const report = await runCases([
      mkCase('ioas/ranges', [
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } },
        { op: 'IOMMU_IOAS_ALLOW_IOVAS', arg: { ioas_id: '$ioas', allowed_iovas: [{ start: '0x100000', last: '0x1fffff' }, { start: '0xfffffffffff00000', last: '0xffffffffffffffff' }] } },
        { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: '$ioas', allowed_iovas: { capacity: 4 } },
          out: { num_iovas: 2, allowed_iovas: [{ start: '0x100000', last: '0x1fffff' }, { start: '0xfffffffffff00000', last: '$top' }] } },
        { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: '$ioas', allowed_iovas: { capacity: 1 } }, errno: 'EMSGSIZE', out: { num_iovas: 2 } },
        { op: 'MMAP', arg: { length: '0x4000' }, out: { addr: '$buf' } },
        { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$ioas', flags: ['FIXED_IOVA', 'READABLE'], user_va: '$buf + 0x1000', length: '0x2000', iova: '0x100000' } },
        { op: 'CHECK_REFS', arg: { addr: '$buf', length: '0x4000' }, out: { refs: [0, 1, 1, 0] } },
      ]),
      mkCase('ioas/wrong-capture', [
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$a' } },
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$a' } },
      ]),
      mkCase('ioas/arith', [
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$a' } },
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$a + 1' }, label: 'second' },
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$a + 1' }, label: 'third' },
      ]),
    ], () => createToyAdapter());
    expect(byId(report, 'ioas/ranges')).toMatchObject({ result: 'pass', steps_run: 7 });
    // The top of the second range (2^64-1) was captured as a u64 string.
    const wrong = byId(report, 'ioas/wrong-capture');
    expect(wrong.result).toBe('fail');
    expect(wrong.failure).toMatchObject({ step: { index: 1, op: 'IOMMU_IOAS_ALLOC' }, field: 'out_ioas_id', expected: 1, actual: 2 });
    const arith = byId(report, 'ioas/arith');
    expect(arith.result).toBe('fail');
    expect(arith.failure).toMatchObject({ step: { index: 2, label: 'third' }, expected: '0x2', actual: 3 });
  });
});
