/**
 * The compatibility rules judged on example changes, each a modified copy of our own schemas in
 * a temporary folder, with the verdict a uAPI reviewer gives (spec/REVIEWING.md): what breaks
 * binaries built against the old header, what keeps them working, and what only breaks code
 * that names the item.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMAS_DIR, getCatalog, loadCatalogFrom } from './catalog.ts';
import { compareCatalogs, extensibility, verdictOf, type UapiChange } from './uapi-compat.ts';

const root = mkdtempSync(join(tmpdir(), 'ioasid-compat-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Json = Record<string, any>;
let n = 0;

/** A copy of schemas/uapi and schemas/defs with `edit` applied, read as a catalog. */
function changed(edit: (read: (file: string) => Json, write: (file: string, doc: Json) => void) => void): UapiChange[] {
  const dir = join(root, `v${n++}`);
  cpSync(join(SCHEMAS_DIR, 'uapi'), join(dir, 'uapi'), { recursive: true });
  cpSync(join(SCHEMAS_DIR, 'defs'), join(dir, 'defs'), { recursive: true });
  const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Json;
  const write = (file: string, doc: Json) => writeFileSync(join(dir, file), JSON.stringify(doc, null, 2));
  edit(read, write);
  const problems: string[] = [];
  const cat = loadCatalogFrom(dir, problems);
  return compareCatalogs(getCatalog(), cat);
}

const MAP = 'uapi/iommu-ioas-map.schema.json';
const ENUMS = 'defs/enums.schema.json';

function field(ctype: string, offset: number, size: number, extra: Json = {}): Json {
  return { $ref: '../defs/scalars.schema.json#/$defs/u32', 'x-ctype': ctype, 'x-offset': offset, 'x-size': size, 'x-dir': 'in', ...extra };
}

/** Inserts `name` before `before` in an object's key order (field order is the C order). */
function insertBefore(props: Json, before: string, name: string, value: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(props)) {
    if (k === before) out[name] = value;
    out[k] = v;
  }
  return out;
}

const brief = (cs: UapiChange[]) => cs.map((c) => `${c.kind} ${c.what} ${c.path}`);

describe('uAPI compatibility of example changes', () => {
  it('identical catalogs: no change, verdict none', () => {
    const cs = changed(() => {});
    expect(cs).toEqual([]);
    expect(verdictOf(cs)).toBe('none');
  });

  it('a field appended under the size field, old minimum kept: compatible', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      s.properties = insertBefore(s.properties, '__trailing', 'pasid', field('__u32', 40, 4));
      s.properties = insertBefore(s.properties, '__trailing', '__reserved2', field('__u32', 44, 4, { 'x-reserved': true }));
      s['x-struct'].size = 48;
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(['compatible field-appended struct iommu_ioas_map.pasid', 'compatible reserved-appended struct iommu_ioas_map.__reserved2']);
    expect(verdictOf(cs)).toBe('compatible');
  });

  it('the same append with the minimum size raised to cover it: breaking', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      s.properties = insertBefore(s.properties, '__trailing', 'pasid', field('__u32', 40, 4));
      s.properties = insertBefore(s.properties, '__trailing', '__reserved2', field('__u32', 44, 4, { 'x-reserved': true }));
      s['x-struct'].size = 48;
      s['x-ioctl'].minSize = 44;
      write(MAP, s);
    });
    expect(brief(cs)).toContain('breaking min-size-raised IOMMU_IOAS_MAP');
    expect(cs.find((c) => c.what === 'min-size-raised')!.detail).toMatch(/40 → 44/);
    expect(verdictOf(cs)).toBe('breaking');
  });

  it('a field inserted in the middle: breaking, and every field after it moved', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      const p = insertBefore(s.properties, 'ioas_id', 'pasid', field('__u32', 8, 4));
      p.ioas_id['x-offset'] = 12;
      p.__reserved['x-offset'] = 16;
      p.__reserved['x-size'] = 8;
      p.__reserved['x-ctype'] = '__aligned_u64';
      p.user_va['x-offset'] = 24;
      p.length['x-offset'] = 32;
      p.iova['x-offset'] = 40;
      s.properties = p;
      s['x-struct'].size = 48;
      write(MAP, s);
    });
    const b = brief(cs);
    expect(b).toContain('breaking field-inserted struct iommu_ioas_map.pasid');
    for (const f of ['ioas_id', 'user_va', 'length', 'iova']) expect(b).toContain(`breaking field-moved struct iommu_ioas_map.${f}`);
    expect(verdictOf(cs)).toBe('breaking');
  });

  it('a field widened: breaking', () => {
    const cs = changed((read, write) => {
      const s = read('uapi/iommu-ioas-alloc.schema.json');
      s.properties.out_ioas_id = { ...s.properties.out_ioas_id, 'x-ctype': '__aligned_u64', 'x-size': 8 };
      s['x-struct'].size = 16;
      s['x-struct'].align = 8;
      write('uapi/iommu-ioas-alloc.schema.json', s);
    });
    expect(brief(cs)).toContain('breaking field-resized struct iommu_ioas_alloc.out_ioas_id');
    expect(cs.find((c) => c.what === 'field-resized')!.detail).toMatch(/4 → 8 bytes.*widened/);
    expect(verdictOf(cs)).toBe('breaking');
  });

  it('a field retyped at the same size (__u32 → __s32): breaking', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      s.properties.ioas_id['x-ctype'] = '__s32';
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(['breaking field-retyped struct iommu_ioas_map.ioas_id']);
  });

  it('an enum value renumbered: breaking', () => {
    const cs = changed((read, write) => {
      const e = read(ENUMS);
      e.$defs.iommu_hwpt_data_type['x-values'].IOMMU_HWPT_DATA_VTD_S1 = 5;
      write(ENUMS, e);
    });
    expect(brief(cs)).toEqual(['breaking value-renumbered iommu_hwpt_data_type.IOMMU_HWPT_DATA_VTD_S1']);
    expect(cs[0].detail).toMatch(/0x1 → 0x5/);
  });

  it('a flag removed: breaking', () => {
    const cs = changed((read, write) => {
      const e = read(ENUMS);
      delete e.$defs.iommufd_ioas_map_flags['x-values'].IOMMU_IOAS_MAP_READABLE;
      write(ENUMS, e);
    });
    expect(brief(cs)).toEqual(['breaking flag-removed iommufd_ioas_map_flags.IOMMU_IOAS_MAP_READABLE']);
  });

  it('a flag added: compatible', () => {
    const cs = changed((read, write) => {
      const e = read(ENUMS);
      e.$defs.iommufd_ioas_map_flags['x-values'].IOMMU_IOAS_MAP_PASID = 8;
      write(ENUMS, e);
    });
    expect(brief(cs)).toEqual(['compatible flag-added iommufd_ioas_map_flags.IOMMU_IOAS_MAP_PASID']);
    expect(verdictOf(cs)).toBe('compatible');
  });

  it('a value renamed with its number kept: source-only, binaries unaffected', () => {
    const cs = changed((read, write) => {
      const e = read(ENUMS);
      const v = e.$defs.iommufd_ioas_map_flags['x-values'];
      e.$defs.iommufd_ioas_map_flags['x-values'] = { IOMMU_IOAS_MAP_FIXED_IOVA: 1, IOMMU_IOAS_MAP_WRITABLE: v.IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_READABLE: 4 };
      write(ENUMS, e);
    });
    expect(brief(cs)).toEqual(['source value-renamed iommufd_ioas_map_flags.IOMMU_IOAS_MAP_WRITABLE']);
    expect(verdictOf(cs)).toBe('compatible');
  });

  it('an ioctl added (with its struct): compatible', () => {
    const cs = changed((read, write) => {
      const s = read('uapi/iommu-destroy.schema.json');
      s.$id = 'https://ioasid.dev/schemas/uapi/iommu-frob.schema.json';
      s['x-struct'].name = 'iommu_frob';
      s['x-ioctl'] = { ...s['x-ioctl'], name: 'IOMMU_FROB', nr: 200, request: 0x3b00 + 200 };
      write('uapi/iommu-frob.schema.json', s);
    });
    expect(brief(cs)).toEqual(['compatible ioctl-added IOMMU_FROB']);
  });

  it('an ioctl renumbered: breaking', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      s['x-ioctl'].nr = 140;
      s['x-ioctl'].request = 0x3b00 + 140;
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(['breaking ioctl-renumbered IOMMU_IOAS_MAP']);
    expect(cs[0].detail).toMatch(/0x3b85 \(nr 133\) → 0x3b8c \(nr 140\)/);
  });

  it('an ioctl removed: breaking', () => {
    const cs = changed((_read, _write) => {
      rmSync(join(root, `v${n - 1}`, 'uapi', 'iommu-option.schema.json'));
    });
    expect(brief(cs)).toEqual(['breaking ioctl-removed IOMMU_OPTION']);
  });

  it('a field renamed in place: source-only (binaries see the same bytes; sources, cases and adapters name it)', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      s.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k === 'user_va' ? 'uptr' : k, v]));
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(['source field-renamed struct iommu_ioas_map.uptr']);
    expect(cs[0].detail).toMatch(/renamed from user_va/);
    expect(verdictOf(cs)).toBe('compatible');
  });

  it('a reserved field given a meaning: compatible (zero keeps the old behaviour)', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      s.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => {
        if (k !== '__reserved') return [k, v];
        const { 'x-reserved': _r, ...rest } = v as Json;
        return ['pasid', rest];
      }));
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(['compatible reserved-given-meaning struct iommu_ioas_map.pasid']);
    expect(cs[0].detail).toMatch(/reserved __reserved.*zero must keep the old behaviour/);
  });

  it('half a reserved field given a meaning, the rest still reserved: compatible', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      const p = insertBefore(s.properties, '__reserved', 'pasid_lo', { ...field('__u16', 12, 2) });
      p.__reserved = { ...p.__reserved, 'x-ctype': '__u16', 'x-offset': 14, 'x-size': 2 };
      s.properties = p;
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(['compatible reserved-given-meaning struct iommu_ioas_map.pasid_lo']);
  });

  it('a meaningful field made reserved: breaking', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      s.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => (k === 'ioas_id' ? ['__reserved0', { ...(v as Json), 'x-reserved': true }] : [k, v])));
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(['breaking field-made-reserved struct iommu_ioas_map.ioas_id']);
  });

  it('a field removed from the end: breaking', () => {
    const cs = changed((read, write) => {
      const s = read(MAP);
      delete s.properties.iova;
      s['x-struct'].size = 32;
      s['x-ioctl'].minSize = 32;
      write(MAP, s);
    });
    expect(brief(cs)).toEqual(expect.arrayContaining(['breaking field-removed struct iommu_ioas_map.iova', 'breaking struct-shrunk struct iommu_ioas_map']));
  });

  it('a field appended to an array element (iommu_iova_range, its size is the stride): breaking', () => {
    expect(extensibility(getCatalog(), 'iommu_iova_range')).toMatchObject({ how: 'fixed' });
    const cs = changed((read, write) => {
      const d = read('defs/iommufd-payloads.schema.json');
      const r = d.$defs.iommu_iova_range;
      r.properties.flags = { ...r.properties.last, 'x-offset': 16 };
      r['x-struct'].size = 24;
      write('defs/iommufd-payloads.schema.json', d);
    });
    expect(brief(cs)).toEqual(['breaking field-appended struct iommu_iova_range.flags', 'breaking struct-resized struct iommu_iova_range']);
  });

  it('a field appended to driver data passed with its length (iommu_hwpt_vtd_s1): compatible', () => {
    expect(extensibility(getCatalog(), 'iommu_hwpt_vtd_s1')).toEqual({ how: 'length' });
    const cs = changed((read, write) => {
      const d = read('defs/iommufd-payloads.schema.json');
      const r = d.$defs.iommu_hwpt_vtd_s1;
      r.properties.pasid_bits = { ...r.properties.addr_width, 'x-offset': 24 };
      r.properties.__reserved2 = { ...r.properties.__reserved, 'x-offset': 28 };
      r['x-struct'].size = 32;
      write('defs/iommufd-payloads.schema.json', d);
    });
    expect(brief(cs)).toEqual(['compatible field-appended struct iommu_hwpt_vtd_s1.pasid_bits', 'compatible reserved-appended struct iommu_hwpt_vtd_s1.__reserved2']);
  });

  it('a field the kernel starts reading (out → inout): breaking; one it starts writing back (in → inout): compatible', () => {
    const cs = changed((read, write) => {
      const s = read('uapi/iommu-ioas-alloc.schema.json');
      s.properties.out_ioas_id['x-dir'] = 'inout';
      write('uapi/iommu-ioas-alloc.schema.json', s);
      const m = read(MAP);
      m.properties.user_va['x-dir'] = 'inout';
      write(MAP, m);
    });
    expect(brief(cs).sort()).toEqual(['breaking field-now-read struct iommu_ioas_alloc.out_ioas_id', 'compatible field-now-written struct iommu_ioas_map.user_va']);
  });

  it('an input field turned output: the kernel ignores what old binaries pass (breaking) and writes it back', () => {
    const cs = changed((read, write) => {
      const m = read(MAP);
      m.properties.user_va['x-dir'] = 'out';
      write(MAP, m);
    });
    expect(brief(cs)).toEqual(['breaking field-no-longer-read struct iommu_ioas_map.user_va', 'compatible field-now-written struct iommu_ioas_map.user_va']);
  });

  it('an errno renumbered: breaking', () => {
    const cs = changed((read, write) => {
      const e = read('defs/errno.schema.json');
      e.$defs.errno['x-values'].EINVAL = 23;
      write('defs/errno.schema.json', e);
    });
    expect(brief(cs)).toEqual(['breaking constant-renumbered errno EINVAL']);
  });
});
