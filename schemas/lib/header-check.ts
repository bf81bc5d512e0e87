/**
 * A real kernel header checked against our schemas: every struct size and alignment, every field
 * offset, size and type, every ioctl number and every value of the flag sets and enums the
 * schemas model, as the C compiler computes them from the header (c-header-reader.ts finds the
 * items, layout-probe.ts measures them) — and what the header declares that the schemas lack,
 * with draft schema entries for it (`--import`).
 *
 * A header is `iommufd` (include/uapi/linux/iommufd.h) or `vfio` (include/uapi/linux/vfio.h);
 * only the schema items of that header are compared (struct `source`, ioctl family, value names
 * VFIO_… or IOMMU…; the selftest's iommufd_test.h values are in neither). A header older than
 * the schemas lacks what came later and a newer one has more: both are listed, as differences,
 * for the reader to judge against the kernel version.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Difference, HeaderCheck as HeaderCheckJson } from '../generated/header-check.ts';
import type { EnumInfo, IoctlInfo, StructInfo, UapiCatalog } from './catalog-types.ts';
import { SCALAR_BYTES, isScalar } from './catalog.ts';
import { readHeader, type HeaderItems, type HeaderStruct } from './c-header-reader.ts';
import { probeLayout, type ProbeResult } from './layout-probe.ts';

export type HeaderKind = 'iommufd' | 'vfio';

/** One difference, as schemas/header-check.schema.json states it (`what`, `path`, `schema`, `header`, `line`). */
export type HeaderDifference = Difference;

export interface HeaderCheck {
  header: string;
  kind: HeaderKind;
  compiler: string;
  /** Items compared and found equal, by class. */
  agreed: { structs: number; fields: number; ioctls: number; values: number };
  differences: HeaderDifference[];
  /** Integer constants of the header that are neither an ioctl nor a value of a modelled set. */
  otherConstants: string[];
  /** What the reader found in the header (draftImports builds on it). */
  items: HeaderItems;
  probe: ProbeResult;
}

/** Which header a text is: by its include guard and type macro, else by its file name. */
export function headerKind(path: string, text: string): HeaderKind {
  if (/\bIOMMUFD_TYPE\b/.test(text) || /_UAPI_IOMMUFD_H/.test(text)) return 'iommufd';
  if (/\bVFIO_TYPE\b/.test(text) || /\bVFIO_H\b/.test(text)) return 'vfio';
  const b = basename(path);
  if (b.includes('iommufd')) return 'iommufd';
  if (b.includes('vfio')) return 'vfio';
  throw new Error(`${path}: neither iommufd.h nor vfio.h (no IOMMUFD_TYPE or VFIO_TYPE)`);
}

function structsOf(cat: UapiCatalog, kind: HeaderKind): StructInfo[] {
  return [...cat.structs.values()].filter((s) => s.source === kind);
}

function ioctlsOf(cat: UapiCatalog, kind: HeaderKind): IoctlInfo[] {
  return [...cat.ioctls.values()].filter((i) => (kind === 'iommufd' ? i.family === 'iommufd' : i.family === 'vfio-device' || i.family === 'vfio-container'));
}

/** The values of a modelled set that this header declares (selftest-only values live in iommufd_test.h). */
function valuesOf(e: EnumInfo, kind: HeaderKind): string[] {
  const selftest = new Set(e.selftest ?? []);
  return Object.keys(e.values).filter((k) => !selftest.has(k) && (kind === 'vfio' ? k.startsWith('VFIO_') : k.startsWith('IOMMU')));
}

/** A header value as the schemas write it: an int enumerator such as 1 << 31 reads back negative. */
function unsignedValue(v: bigint): bigint {
  return v < 0n && v >= -(1n << 31n) ? v + (1n << 32n) : v;
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

function elementBytes(ctype: string, cat: UapiCatalog): number | undefined {
  return isScalar(ctype) ? SCALAR_BYTES[ctype] : cat.structs.get(ctype)?.sizeBytes;
}

function compareStruct(s: StructInfo, h: HeaderStruct, probe: ProbeResult, out: HeaderDifference[], agreed: HeaderCheck['agreed']): void {
  const p = probe.structs.get(h.name);
  const path = `struct ${s.name}`;
  if (!p) return;
  let same = true;
  if (p.sizeBytes !== s.sizeBytes) {
    out.push({ what: 'struct-size', path, schema: String(s.sizeBytes), header: String(p.sizeBytes), line: h.line });
    same = false;
  }
  if (p.alignBytes !== s.alignBytes) {
    out.push({ what: 'struct-align', path, schema: String(s.alignBytes), header: String(p.alignBytes), line: h.line });
    same = false;
  }
  if (same) agreed.structs++;
  const headerFields = new Map(h.fields.map((f) => [f.name, f]));
  for (const f of s.fields) {
    const hf = headerFields.get(f.name);
    const fp = p.fields.get(f.name);
    const fpath = `${path}.${f.name}`;
    if (!hf || !fp) {
      out.push({ what: 'field-missing-in-header', path: fpath, schema: `${f.ctype} at ${f.offsetBytes}` });
      continue;
    }
    let ok = true;
    if (fp.offsetBytes !== f.offsetBytes) {
      out.push({ what: 'field-offset', path: fpath, schema: String(f.offsetBytes), header: String(fp.offsetBytes), line: hf.line });
      ok = false;
    }
    if (fp.sizeBytes !== f.sizeBytes) {
      out.push({ what: 'field-size', path: fpath, schema: String(f.sizeBytes), header: String(fp.sizeBytes ?? 'flexible'), line: hf.line });
      ok = false;
    }
    if (hf.ctype !== f.ctype) {
      out.push({ what: 'field-type', path: fpath, schema: f.ctype, header: hf.ctype, line: hf.line });
      ok = false;
    }
    if ((fp.count ?? undefined) !== (f.count ?? undefined)) {
      out.push({ what: 'field-count', path: fpath, schema: String(f.count ?? 'scalar'), header: String(fp.count ?? 'scalar'), line: hf.line });
      ok = false;
    }
    if (ok) agreed.fields++;
  }
  const known = new Set(s.fields.map((f) => f.name));
  for (const hf of h.fields) {
    if (known.has(hf.name)) continue;
    if (s.flexibleArray?.name === hf.name && hf.flexible) {
      if (hf.ctype !== s.flexibleArray.struct) out.push({ what: 'flexible-array', path: `${path}.${hf.name}`, schema: `${s.flexibleArray.struct}[]`, header: `${hf.ctype}[]`, line: hf.line });
      continue;
    }
    const fp = p.fields.get(hf.name);
    out.push({ what: 'field-missing-in-schemas', path: `${path}.${hf.name}`, header: `${hf.ctype}${hf.flexible ? '[]' : hf.dimension ? `[${hf.dimension}]` : ''} at ${fp?.offsetBytes ?? '?'}${hf.bitfield ? ' (bitfield)' : ''}`, line: hf.line });
  }
  if (s.flexibleArray && !h.fields.some((f) => f.name === s.flexibleArray!.name)) {
    out.push({ what: 'field-missing-in-header', path: `${path}.${s.flexibleArray.name}`, schema: `${s.flexibleArray.struct}[]` });
  }
}

/** Checks one header (path) against the catalog. Throws when the header cannot be read or compiled. */
export async function checkHeader(headerPath: string, cat: UapiCatalog, kindOverride?: HeaderKind): Promise<HeaderCheck> {
  const text = readFileSync(headerPath, 'utf8');
  const kind = kindOverride ?? headerKind(headerPath, text);
  const items = await readHeader(text);
  const probe = probeLayout(headerPath, items);
  const differences: HeaderDifference[] = [];
  const agreed = { structs: 0, fields: 0, ioctls: 0, values: 0 };
  const hStructs = new Map(items.structs.map((s) => [s.name, s]));
  const macroLine = new Map(items.macros.map((m) => [m.name, m.line]));
  const enumLine = new Map(items.enums.flatMap((e) => e.enumerators.map((x) => [x.name, x.line] as const)));
  const lineOf = (n: string) => macroLine.get(n) ?? enumLine.get(n);

  const ours = structsOf(cat, kind);
  for (const s of ours) {
    const h = hStructs.get(s.name);
    if (!h) differences.push({ what: 'struct-missing-in-header', path: `struct ${s.name}`, schema: `${s.sizeBytes} bytes` });
    else compareStruct(s, h, probe, differences, agreed);
  }
  const ourStructNames = new Set(cat.structs.keys());
  for (const h of items.structs) {
    if (ourStructNames.has(h.name)) continue;
    const p = probe.structs.get(h.name);
    differences.push({ what: 'struct-missing-in-schemas', path: `struct ${h.name}`, header: p ? `${p.sizeBytes} bytes` : undefined, line: h.line });
  }

  const ioctlMacros = new Set(items.macros.filter((m) => m.ioctl).map((m) => m.name));
  for (const i of ioctlsOf(cat, kind)) {
    const v = probe.values.get(i.name);
    if (v === undefined) differences.push({ what: 'ioctl-missing-in-header', path: i.name, schema: hex(i.request) });
    else if (v !== BigInt(i.request)) differences.push({ what: 'ioctl-number', path: i.name, schema: hex(i.request), header: hex(v), line: lineOf(i.name) });
    else agreed.ioctls++;
  }
  for (const name of ioctlMacros) {
    if (cat.ioctls.has(name) || !probe.values.has(name)) continue;
    const s = items.ioctlStructs.get(name);
    differences.push({ what: 'ioctl-missing-in-schemas', path: name, header: `${hex(probe.values.get(name)!)}${s ? ` (struct ${s})` : ''}`, line: lineOf(name) });
  }

  const modelled = new Set<string>();
  for (const e of cat.enums.values()) {
    const names = valuesOf(e, kind);
    for (const k of names) {
      modelled.add(k);
      const v = probe.values.get(k);
      if (v === undefined) differences.push({ what: 'value-missing-in-header', path: `${e.name}.${k}`, schema: hex(e.values[k]) });
      else if (unsignedValue(v) !== BigInt(e.values[k])) differences.push({ what: 'value-differs', path: `${e.name}.${k}`, schema: hex(e.values[k]), header: hex(unsignedValue(v)), line: lineOf(k) });
      else agreed.values++;
    }
  }
  // Values of the header that belong with a modelled set: enumerators of a C enum of the same
  // name, or constants sharing a set's prefix; everything else is listed apart.
  const setByEnum = new Map<string, EnumInfo>();
  for (const he of items.enums) if (he.name && cat.enums.has(he.name)) setByEnum.set(he.name, cat.enums.get(he.name)!);
  // A prefix that begins another set's prefix (VFIO_ of vfio_extension) is too general to claim a constant.
  const candidates = [...cat.enums.values()].filter((e) => valuesOf(e, kind).length > 0).map((e) => e.prefix);
  const prefixes = candidates.filter((p) => !candidates.some((q) => q !== p && q.startsWith(p))).sort((a, b) => b.length - a.length);
  const allValues = new Set([...cat.enums.values()].flatMap((e) => Object.keys(e.values)));
  const otherConstants: string[] = [];
  const inEnum = new Map<string, string>();
  for (const he of items.enums) if (he.name) for (const x of he.enumerators) inEnum.set(x.name, he.name);
  for (const [name, v] of probe.values) {
    if (allValues.has(name) || ioctlMacros.has(name)) continue;
    const set = inEnum.get(name);
    const owner = set && setByEnum.has(set) ? set : prefixes.find((p) => name.startsWith(p));
    if (owner !== undefined) {
      const e = setByEnum.get(owner) ?? [...cat.enums.values()].find((x) => x.prefix === owner)!;
      differences.push({ what: 'value-missing-in-schemas', path: `${e.name}.${name}`, header: hex(unsignedValue(v)), line: lineOf(name) });
    } else if (set !== undefined) {
      differences.push({ what: 'value-missing-in-schemas', path: `${set}.${name}`, header: hex(unsignedValue(v)), line: lineOf(name) });
    } else otherConstants.push(name);
  }
  return { header: headerPath, kind, compiler: probe.compiler, agreed, differences, otherConstants, items, probe };
}

/** The --json document (schemas/header-check.schema.json) for the checked headers. */
export function headerCheckJson(checks: readonly HeaderCheck[]): HeaderCheckJson {
  return {
    format: 'ioasid-header-check',
    headers: checks.map((c) => ({
      header: c.header, kind: c.kind, compiler: c.compiler, agreed: c.agreed,
      // JSON has no undefined: absent sides are left out.
      differences: c.differences.map((d) => JSON.parse(JSON.stringify(d)) as Difference),
      other_constants: c.otherConstants,
    })),
  };
}

/** Whether a difference says the schemas disagree with the header on an item both have. */
export function isConflict(d: HeaderDifference): boolean {
  return !d.what.includes('missing');
}

/**
 * Draft schema entries for what the header has and the schemas lack: `$defs` struct entries in
 * the form of schemas/defs/*.schema.json (offsets and sizes from the compiler; `x-dir` guessed from
 * the name — `out_…` out, else in — and marked so in `$comment`), uapi schema files for missing
 * ioctls (struct from the kernel-doc, minSize = the full size: check against the kernel's
 * IOCTL_OP), and the values missing from modelled sets. A draft to edit, never a finished schema.
 */
export function draftImports(check: HeaderCheck, cat: UapiCatalog): Record<string, unknown> {
  const structs: Record<string, unknown> = {};
  const ioctls: Record<string, unknown> = {};
  const values: Record<string, Record<string, number | string>> = {};
  const sets: Record<string, unknown> = {};
  const byName = new Map(check.items.structs.map((s) => [s.name, s]));
  const draftStruct = (name: string): Record<string, unknown> | undefined => {
    const h = byName.get(name);
    const p = check.probe.structs.get(name);
    if (!h || !p) return undefined;
    const properties: Record<string, unknown> = {};
    let flexibleArray: Record<string, string> | undefined;
    for (const f of h.fields) {
      const fp = p.fields.get(f.name);
      if (!fp || f.bitfield) continue;
      if (f.flexible) {
        flexibleArray = { name: f.name, struct: f.ctype, countField: '(fill in)' };
        continue;
      }
      const prop: Record<string, unknown> = {
        $ref: `scalars.schema.json#/$defs/${/64/.test(f.ctype) ? 'u64' : /s32/.test(f.ctype) ? 's32' : /u16/.test(f.ctype) ? 'u16' : /u8/.test(f.ctype) ? 'u8' : 'u32'}`,
        'x-ctype': f.ctype,
        'x-offset': fp.offsetBytes,
        'x-size': fp.sizeBytes,
        'x-dir': f.name.startsWith('out_') ? 'out' : 'in',
      };
      if (fp.count !== undefined) prop['x-count'] = fp.count;
      if (f.name.startsWith('__reserved')) prop['x-reserved'] = true;
      if (f.union !== undefined) prop['x-union'] = f.union;
      if (!isScalar(f.ctype) && elementBytes(f.ctype, cat) === undefined) prop.$comment = `struct ${f.ctype}: not in the schemas either`;
      properties[f.name] = prop;
    }
    return {
      title: name.split('_').map((w) => (w ? w[0].toUpperCase() + w.slice(1) : w)).join(''),
      type: 'object',
      additionalProperties: false,
      properties,
      'x-struct': { name, size: p.sizeBytes, align: p.alignBytes, source: check.kind, ...(flexibleArray ? { flexibleArray } : {}) },
      $comment: `Draft from ${basename(check.header)} line ${h.line} (ioasid schema check-header --import): x-dir guessed from the field names; check directions, reserved fields, flags and enums against the kernel.`,
    };
  };
  for (const d of check.differences) {
    if (d.what === 'struct-missing-in-schemas') {
      const name = d.path.replace(/^struct /, '');
      const s = draftStruct(name);
      if (s) structs[name] = s;
    } else if (d.what === 'ioctl-missing-in-schemas') {
      const request = Number(check.probe.values.get(d.path)!);
      const struct = check.items.ioctlStructs.get(d.path);
      const p = struct ? check.probe.structs.get(struct) : undefined;
      const family = check.kind === 'iommufd' ? 'iommufd' : d.path.startsWith('VFIO_DEVICE') ? 'vfio-device' : 'vfio-container';
      const file = `uapi/${d.path.toLowerCase().replace(/_/g, '-')}.schema.json`;
      ioctls[file] = {
        'x-ioctl': {
          name: d.path, family, nr: request & 0xff, request,
          ...(p ? { minSize: p.sizeBytes, sizeField: check.kind === 'iommufd' ? 'size' : 'argsz' } : {}),
        },
        ...(struct ? { 'x-struct-draft': draftStruct(struct) ?? `struct ${struct} (not in the header)` } : {}),
        $comment: `Draft: minSize is the full struct size; the kernel's minimum (IOCTL_OP offsetofend / minsz) may be smaller.`,
      };
    } else if (d.what === 'value-missing-in-schemas') {
      const [set, name] = d.path.split('.');
      const v = Number(BigInt(d.header!));
      if (cat.enums.has(set)) (values[set] ??= {})[name] = v;
      else {
        const draft = (sets[set] ??= { type: 'integer', 'x-kind': /flags/.test(set) ? 'flags' : 'enum', 'x-prefix': '(fill in)', 'x-values': {} }) as { 'x-values': Record<string, number> };
        draft['x-values'][name] = v;
      }
    }
  }
  return { header: check.header, kind: check.kind, structs, ioctls, values, sets };
}

/** Markdown: the differences grouped, then the other constants. */
export function renderHeaderCheck(c: HeaderCheck): string {
  const conflicts = c.differences.filter(isConflict);
  const missing = c.differences.filter((d) => !isConflict(d));
  const out = [
    `# Header check: ${c.header} (${c.kind})`,
    '',
    `Compiled with \`${c.compiler}\`. Agree: ${c.agreed.structs} struct(s), ${c.agreed.fields} field(s), ${c.agreed.ioctls} ioctl number(s), ${c.agreed.values} value(s). ${conflicts.length} conflict(s), ${missing.length} item(s) on one side only.`,
  ];
  const table = (title: string, list: HeaderDifference[]) => {
    if (list.length === 0) return;
    out.push('', `## ${title}`, '', '| difference | item | schemas | header |', '|---|---|---|---|');
    for (const d of list) out.push(`| ${d.what} | \`${d.path}\` | ${d.schema ?? '—'} | ${d.header ?? '—'}${d.line ? ` (line ${d.line})` : ''} |`);
  };
  table('Conflicts (both have it, they disagree)', conflicts);
  table('In the schemas, not in the header', missing.filter((d) => d.what.endsWith('missing-in-header')));
  table('In the header, not in the schemas', missing.filter((d) => d.what.endsWith('missing-in-schemas')));
  if (c.otherConstants.length > 0) out.push('', `## Other integer constants of the header (${c.otherConstants.length}), no modelled set`, '', c.otherConstants.join(', '));
  return out.join('\n') + '\n';
}
