/**
 * `ioasid schema check-header`: the C-header reader on the shapes uAPI headers use, the check on
 * a hand-written header whose differences from the schemas are known by value
 * (testdata/iommufd-known-differences.h), and on the machine's real <linux/vfio.h>, whose
 * differences depend on its kernel version (Linux 6.12's iommufd.h: header-check.linux612.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getCatalog } from './catalog.ts';
import { readHeader } from './c-header-reader.ts';
import { checkHeader, draftImports, headerCheckJson, headerKind, isConflict, type HeaderCheck } from './header-check.ts';
import { validateBySchemaId } from './validate.ts';
import { haveCompiler } from './layout-probe.ts';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'iommufd-known-differences.h');
const cc = haveCompiler() && existsSync('/usr/include/linux/types.h');

const diff = (c: HeaderCheck, what: string, path: string) => c.differences.find((d) => d.what === what && d.path === path);

describe('the C header reader (tree-sitter)', () => {
  it('reads fields through anonymous unions, arrays, bitfields and flexible arrays; ioctl structs from kernel-doc', async () => {
    const h = await readHeader(`
/**
 * VFIO_THING - _IOW(VFIO_TYPE, VFIO_BASE + 1,
 *                   struct vfio_thing)
 */
struct vfio_thing {
	__u32 argsz;
#define VFIO_THING_FLAG (1 << 0)
	union { __u32 a; struct { __u16 b; __u16 c; }; };
	__u8 r[3], s;
	__u32 bits : 4;
	struct vfio_other items[];
};
#define VFIO_THING _IO(VFIO_TYPE, VFIO_BASE + 1)
enum { X = 2, Y };`);
    const s = h.structs.find((x) => x.name === 'vfio_thing')!;
    expect(s.fields.map((f) => [f.name, f.ctype, f.union ?? '', f.dimension ?? '', f.flexible ?? false, f.bitfield ?? false])).toEqual([
      ['argsz', '__u32', '', '', false, false],
      ['a', '__u32', 'u0', '', false, false],
      ['b', '__u16', 'u0', '', false, false],
      ['c', '__u16', 'u0', '', false, false],
      ['r', '__u8', '', '3', false, false],
      ['s', '__u8', '', '', false, false],
      ['bits', '__u32', '', '', false, true],
      ['items', 'vfio_other', '', '', true, false],
    ]);
    expect(h.macros.map((m) => [m.name, m.value, m.ioctl])).toEqual([['VFIO_THING_FLAG', '(1 << 0)', false], ['VFIO_THING', '_IO(VFIO_TYPE, VFIO_BASE + 1)', true]]);
    expect(h.enums).toEqual([{ enumerators: [{ name: 'X', line: 15 }, { name: 'Y', line: 15 }] }]);
    expect(h.ioctlStructs.get('VFIO_THING')).toBe('vfio_thing');
  });
  it('recognises which header it reads', () => {
    expect(headerKind('x.h', '#define IOMMUFD_TYPE (\';\')')).toBe('iommufd');
    expect(headerKind('x.h', '#define VFIO_TYPE (\';\')')).toBe('vfio');
    expect(() => headerKind('x.h', 'int a;')).toThrow(/neither iommufd.h nor vfio.h/);
  });
});

describe.skipIf(!cc)('check-header on a header with known differences', async () => {
  const check = cc ? await checkHeader(FIXTURE, getCatalog()) : (undefined as never);

  it('agrees where the header agrees: struct iommu_destroy and IOMMU_DESTROY', () => {
    expect(check.kind).toBe('iommufd');
    expect(check.differences.filter((d) => d.path.includes('iommu_destroy') || d.path === 'IOMMU_DESTROY')).toEqual([]);
    expect(check.agreed.ioctls).toBe(1);
  });
  it('finds every planted conflict, with both values', () => {
    expect(check.differences.filter(isConflict).map((d) => [d.what, d.path, d.schema, d.header])).toEqual([
      ['struct-size', 'struct iommu_ioas_map', '40', '48'],
      ['field-type', 'struct iommu_ioas_map.length', '__aligned_u64', '__u64'],
      ['ioctl-number', 'IOMMU_IOAS_MAP', '0x3b85', '0x3b86'],
      ['value-differs', 'iommufd_ioas_map_flags.IOMMU_IOAS_MAP_READABLE', '0x4', '0x8'],
    ]);
  });
  it('lists what the header has and the schemas lack', () => {
    expect(diff(check, 'field-missing-in-schemas', 'struct iommu_ioas_map.pasid')?.header).toBe('__u32 at 40');
    expect(diff(check, 'struct-missing-in-schemas', 'struct iommu_frob')?.header).toBe('24 bytes');
    expect(diff(check, 'ioctl-missing-in-schemas', 'IOMMU_FROB')?.header).toBe('0x3b99 (struct iommu_frob)');
    expect(diff(check, 'value-missing-in-schemas', 'iommufd_ioas_map_flags.IOMMU_IOAS_MAP_PASID')?.header).toBe('0x10');
    // and what the schemas have that this small header does not
    expect(diff(check, 'ioctl-missing-in-header', 'IOMMU_IOAS_ALLOC')?.schema).toBe('0x3b81');
    expect(check.probe.notConstant).toEqual(['IOMMU_FROB_NAME']);
  });
  it('its JSON is valid against header-check.schema.json, which rejects an unknown difference', () => {
    const doc = headerCheckJson([check]);
    expect(validateBySchemaId('header-check.schema.json', doc)).toBeNull();
    expect(doc.headers[0].differences.find((d) => d.what === 'ioctl-number')).toEqual({ what: 'ioctl-number', path: 'IOMMU_IOAS_MAP', schema: '0x3b85', header: '0x3b86', line: 61 });
    const bad = { ...doc, headers: [{ ...doc.headers[0], differences: [{ what: 'looks-odd', path: 'x' }] }] };
    expect(validateBySchemaId('header-check.schema.json', bad)).not.toBeNull();
  });
  it('drafts schema entries for the missing struct, ioctl and value (--import)', () => {
    const d = draftImports(check, getCatalog()) as { structs: Record<string, any>; ioctls: Record<string, any>; values: Record<string, any> };
    const frob = d.structs.iommu_frob;
    expect(frob['x-struct']).toEqual({ name: 'iommu_frob', size: 24, align: 8, source: 'iommufd', flexibleArray: { name: 'out_data', struct: '__aligned_u64', countField: '(fill in)' } });
    expect(Object.keys(frob.properties)).toEqual(['size', 'flags', 'in_type', 'out_type', 'tag']);
    expect(frob.properties.in_type).toMatchObject({ 'x-offset': 8, 'x-union': 'u0' });
    expect(frob.properties.tag).toMatchObject({ 'x-ctype': '__u8', 'x-offset': 12, 'x-size': 4, 'x-count': 4 });
    expect(d.ioctls['uapi/iommu-frob.schema.json']['x-ioctl']).toEqual({ name: 'IOMMU_FROB', family: 'iommufd', nr: 0x99, request: 0x3b99, minSize: 24, sizeField: 'size' });
    expect(d.values).toEqual({ iommufd_ioas_map_flags: { IOMMU_IOAS_MAP_PASID: 16 } });
  });
});

const SYSTEM_VFIO = '/usr/include/linux/vfio.h';

describe.skipIf(!cc || !existsSync(SYSTEM_VFIO))('check-header on the machine\'s <linux/vfio.h>', async () => {
  const check = cc && existsSync(SYSTEM_VFIO) ? await checkHeader(SYSTEM_VFIO, getCatalog()) : (undefined as never);
  const text = existsSync(SYSTEM_VFIO) ? readFileSync(SYSTEM_VFIO, 'utf8') : '';

  it('agrees on the type1 MAP_DMA / UNMAP_DMA layout, numbers and flags, which every kernel since 3.6 shares', () => {
    expect(check.kind).toBe('vfio');
    for (const p of ['struct vfio_iommu_type1_dma_map', 'struct vfio_iommu_type1_dma_unmap', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA', 'VFIO_GET_API_VERSION']) {
      expect(check.differences.filter((d) => d.path === p || d.path.startsWith(`${p}.`)).filter((d) => d.what !== 'field-missing-in-schemas')).toEqual([]);
    }
    expect(check.probe.values.get('VFIO_IOMMU_MAP_DMA')).toBe(0x3b71n);
    expect(check.probe.values.get('VFIO_DMA_MAP_FLAG_READ')).toBe(1n);
    expect(check.agreed.ioctls).toBeGreaterThanOrEqual(6);
  });
  // Linux 6.1 (Debian 12's linux-libc-dev) predates the VFIO cdev (6.6) and declares
  // vfio_iommu_type1_info with `__u64 iova_pgsizes` and no `pad`; later headers match the schemas.
  const pre66 = !/struct vfio_device_bind_iommufd\b/.test(text);
  it.skipIf(!pre66)('a pre-6.6 header lacks the VFIO cdev ioctls and structs the schemas have', () => {
    expect(diff(check, 'ioctl-missing-in-header', 'VFIO_DEVICE_BIND_IOMMUFD')?.schema).toBe('0x3b76');
    expect(diff(check, 'ioctl-missing-in-header', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.schema).toBe('0x3b77');
    expect(diff(check, 'struct-missing-in-header', 'struct vfio_device_bind_iommufd')?.schema).toBe('24 bytes');
  });
  const noPad = /__u32\s+cap_offset;[^}]*\};/.test(text.slice(text.indexOf('struct vfio_iommu_type1_info {')));
  it.skipIf(!noPad)('an older vfio_iommu_type1_info: no pad field and a plain __u64 iova_pgsizes, same size', () => {
    expect(diff(check, 'field-missing-in-header', 'struct vfio_iommu_type1_info.pad')?.schema).toBe('__u32 at 20');
    expect(diff(check, 'field-type', 'struct vfio_iommu_type1_info.iova_pgsizes')).toMatchObject({ schema: '__aligned_u64', header: '__u64' });
    expect(diff(check, 'struct-size', 'struct vfio_iommu_type1_info')).toBeUndefined();
  });
  it('lists header ioctls the schemas do not model, with the struct their kernel-doc names', () => {
    expect(diff(check, 'ioctl-missing-in-schemas', 'VFIO_DEVICE_SET_IRQS')?.header).toBe('0x3b6e (struct vfio_irq_set)');
  });
});

// A real <linux/iommufd.h> (Linux 6.12, from Debian's linux-source-6.12): header-check.linux612.test.ts.
