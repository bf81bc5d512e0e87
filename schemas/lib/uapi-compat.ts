/**
 * The uAPI compatibility rules: two catalogs (schemas/lib/catalog.ts, an old and a new one)
 * compared item by item — ioctls, structs, fields, flag sets, enums and their values, errno
 * constants — and every difference classified as a uAPI reviewer would (spec/REVIEWING.md
 * states the rules in prose; each rule here has its `what` name there):
 *
 * - `breaking`: a binary built against the old header stops working — something that existed
 *   moves, disappears, is renumbered, resized or retyped, a minimum size rises, the kernel
 *   starts reading bytes old binaries never initialised.
 * - `compatible`: old binaries keep working — a new ioctl, struct, flag or enum value; a field
 *   appended past the old end of a struct whose length travels with it (a size field or a length
 *   argument) while the old minimum stays accepted; a reserved field (checked zero) given a
 *   meaning that zero keeps as before.
 * - `source`: binaries are unaffected but code that names the item must change (a renamed field,
 *   value, struct or ioctl with the same layout and number) — C sources built against the header
 *   and this project's cases and adapters, which name fields and values.
 *
 * Pure: nothing here reads files. Invariant: identical catalogs give no change; every change
 * names the item (`path`) as C spells it.
 */
import type { EnumInfo, FieldInfo, IoctlInfo, StructInfo, UapiCatalog } from './catalog-types.ts';

export type ChangeKind = 'breaking' | 'compatible' | 'source';
export type ChangeItem = 'ioctl' | 'struct' | 'field' | 'enum' | 'value' | 'constant';

export interface UapiChange {
  kind: ChangeKind;
  /** The rule (`field-appended`, `ioctl-renumbered`, …), as spec/REVIEWING.md names it. */
  what: string;
  item: ChangeItem;
  /** The item as C names it: `IOMMU_IOAS_MAP`, `struct iommu_ioas_map.iova`, `iommufd_ioas_map_flags.IOMMU_IOAS_MAP_READABLE`. */
  path: string;
  /** One sentence for the reviewer: old → new and why the rule applies. */
  detail: string;
}

/**
 * How a struct's length reaches the kernel, which decides whether it may grow:
 * `size-field` an ioctl argument carrying its own size (iommufd `size`, VFIO `argsz`);
 * `length` a struct behind a pointer whose byte length travels beside it (driver data and its
 * `data_len`, invalidation entries and `entry_len`), copied with a minimum the kernel keeps;
 * `fixed` everything else: array elements, embedded structs, VFIO capabilities, event records
 * read from or written to an fd — their size is a stride or a record length that both sides
 * hard-code.
 */
export type Extensibility =
  | { how: 'size-field'; ioctl: string; minSizeBytes: number }
  | { how: 'length' }
  | { how: 'fixed'; why: string };

/** Event records: the unit of read()/write() on a FAULT or vEVENTQ fd. */
const EVENT_RECORD = /vevent|pgfault|page_response/;

export function extensibility(cat: UapiCatalog, structName: string): Extensibility {
  for (const i of cat.ioctls.values()) {
    if (i.struct === structName) return { how: 'size-field', ioctl: i.name, minSizeBytes: i.minSizeBytes ?? 0 };
  }
  const s = cat.structs.get(structName);
  if (s?.capId !== undefined) return { how: 'fixed', why: 'a VFIO capability (extended by a new capability version, not in place)' };
  if (EVENT_RECORD.test(structName)) return { how: 'fixed', why: 'an event record whose size is the unit of read()/write() on its fd' };
  for (const other of cat.structs.values()) {
    if (other.flexibleArray?.struct === structName) return { how: 'fixed', why: `the element of ${other.name}.${other.flexibleArray.name}[]` };
    for (const f of other.fields) {
      if (f.ctype === structName) return { how: 'fixed', why: `embedded in struct ${other.name} (${f.name})` };
      if (f.pointee?.struct === structName && f.pointee.entrySizeField === undefined) {
        return { how: 'fixed', why: `the element of the array ${other.name}.${f.name} points at (its size is the stride)` };
      }
    }
  }
  return { how: 'length' };
}

/** Bytes [start, end) as a list of ranges. */
type Range = [number, number];

function rangeOf(f: FieldInfo): Range {
  return [f.offsetBytes, f.offsetBytes + f.sizeBytes];
}

function covered(r: Range, by: readonly Range[]): boolean {
  for (let b = r[0]; b < r[1]; b++) if (!by.some(([s, e]) => b >= s && b < e)) return false;
  return true;
}

function overlaps(r: Range, by: readonly Range[]): boolean {
  return by.some(([s, e]) => r[0] < e && s < r[1]);
}

function describeField(f: FieldInfo): string {
  return `${f.ctype} ${f.name}${f.count ? `[${f.count}]` : ''} at ${f.offsetBytes} (${f.sizeBytes} bytes)`;
}

function sameLayout(a: StructInfo, b: StructInfo): boolean {
  const key = (s: StructInfo) => JSON.stringify([s.sizeBytes, s.alignBytes, s.fields.map((f) => [f.ctype, f.offsetBytes, f.sizeBytes, f.count ?? 1])]);
  return key(a) === key(b);
}

class Collector {
  readonly changes: UapiChange[] = [];
  add(kind: ChangeKind, what: string, item: ChangeItem, path: string, detail: string): void {
    this.changes.push({ kind, what, item, path, detail });
  }
}

function compareField(out: Collector, sPath: string, o: FieldInfo, n: FieldInfo): void {
  const path = `${sPath}.${n.name}`;
  if (o.offsetBytes !== n.offsetBytes) out.add('breaking', 'field-moved', 'field', path, `offset ${o.offsetBytes} → ${n.offsetBytes}: old binaries read and write it at the old place`);
  if (o.sizeBytes !== n.sizeBytes) {
    out.add('breaking', 'field-resized', 'field', path, `${o.sizeBytes} → ${n.sizeBytes} bytes (${describeField(o)} → ${describeField(n)}): ${n.sizeBytes > o.sizeBytes ? 'widened' : 'narrowed'}`);
  } else if (o.ctype !== n.ctype) {
    out.add('breaking', 'field-retyped', 'field', path, `type ${o.ctype} → ${n.ctype}: same size, but signedness, alignment or byte order is part of the ABI`);
  }
  if (o.direction !== n.direction) {
    const reads = (d: FieldInfo['direction']) => d !== 'out';
    const writes = (d: FieldInfo['direction']) => d !== 'in';
    const dir = `direction ${o.direction} → ${n.direction}`;
    if (reads(n.direction) && !reads(o.direction)) out.add('breaking', 'field-now-read', 'field', path, `${dir}: the kernel now reads a field old binaries leave uninitialised`);
    if (reads(o.direction) && !reads(n.direction)) out.add('breaking', 'field-no-longer-read', 'field', path, `${dir}: what old binaries pass there is now ignored`);
    if (writes(o.direction) && !writes(n.direction)) out.add('breaking', 'field-no-longer-written', 'field', path, `${dir}: old binaries expect the kernel to fill it`);
    if (writes(n.direction) && !writes(o.direction)) out.add('compatible', 'field-now-written', 'field', path, `${dir}: the kernel also writes it back; old binaries that ignore it are unaffected`);
  }
  const setOld = o.flags ?? o.enum;
  const setNew = n.flags ?? n.enum;
  if (setOld !== undefined && setNew !== undefined && setOld !== setNew) {
    out.add('source', 'field-values-renamed', 'field', path, `carries ${setNew} instead of ${setOld}: the set's values are compared on their own`);
  }
  if (o.pointee !== undefined && n.pointee !== undefined && JSON.stringify(o.pointee) !== JSON.stringify(n.pointee)) {
    out.add('breaking', 'pointee-changed', 'field', path, `points at ${JSON.stringify(o.pointee)} → ${JSON.stringify(n.pointee)}`);
  }
}

function compareStruct(out: Collector, o: StructInfo, n: StructInfo, ext: Extensibility): void {
  const sPath = `struct ${n.name}`;
  const meaningful = (s: StructInfo) => s.fields.filter((f) => !f.reserved);
  const oldReserved = o.fields.filter((f) => f.reserved).map(rangeOf);
  const newReserved = n.fields.filter((f) => f.reserved).map(rangeOf);
  const oldAll = o.fields.map(rangeOf);
  const oM = meaningful(o);
  const nM = meaningful(n);
  const oldByName = new Map(oM.map((f) => [f.name, f]));
  const matchedOld = new Set<string>();
  const unmatchedNew: FieldInfo[] = [];
  for (const f of nM) {
    const g = oldByName.get(f.name);
    if (g) {
      matchedOld.add(g.name);
      compareField(out, sPath, g, f);
    } else unmatchedNew.push(f);
  }
  const unmatchedOld = oM.filter((f) => !matchedOld.has(f.name));
  for (const f of unmatchedNew) {
    const path = `${sPath}.${f.name}`;
    const r = rangeOf(f);
    if (covered(r, oldReserved)) {
      const was = o.fields.filter((g) => g.reserved && overlaps(r, [rangeOf(g)])).map((g) => g.name).join(', ');
      out.add('compatible', 'reserved-given-meaning', 'field', path, `${describeField(f)} takes bytes of the reserved ${was}: the kernel rejected non-zero there, so old binaries pass zero — zero must keep the old behaviour`);
      continue;
    }
    const twin = unmatchedOld.find((g) => g.offsetBytes === f.offsetBytes && g.sizeBytes === f.sizeBytes);
    if (twin) {
      unmatchedOld.splice(unmatchedOld.indexOf(twin), 1);
      if (twin.ctype === f.ctype && (twin.count ?? 1) === (f.count ?? 1)) {
        out.add('source', 'field-renamed', 'field', path, `renamed from ${twin.name}: same offset, size and type, so binaries are unaffected; sources, cases and adapters that name it must change`);
        compareField(out, sPath, { ...twin, name: f.name }, f);
      } else {
        out.add('breaking', 'field-replaced', 'field', path, `${describeField(twin)} replaced by ${describeField(f)}`);
      }
      continue;
    }
    if (f.offsetBytes >= o.sizeBytes) {
      if (ext.how === 'size-field') {
        out.add('compatible', 'field-appended', 'field', path, `${describeField(f)}, past the old end (${o.sizeBytes} bytes) under the size field: an old binary's shorter size leaves it zero — zero must mean the old behaviour`);
      } else if (ext.how === 'length') {
        out.add('compatible', 'field-appended', 'field', path, `${describeField(f)}, past the old end (${o.sizeBytes} bytes) of a struct passed with its length: the kernel must still accept the old length and read the missing bytes as zero`);
      } else {
        out.add('breaking', 'field-appended', 'field', path, `${describeField(f)} grows a fixed-size struct: ${ext.why}`);
      }
      continue;
    }
    const sharesBytes = o.fields.some((g) => g.offsetBytes === f.offsetBytes && f.union !== undefined && covered(r, [rangeOf(g)]));
    if (sharesBytes) {
      out.add('compatible', 'union-member-added', 'field', path, `${describeField(f)}: another name for bytes old binaries already fill`);
      continue;
    }
    if (!overlaps(r, oldAll)) {
      out.add('breaking', 'padding-given-meaning', 'field', path, `${describeField(f)} sits in implicit padding the kernel never checked: old binaries may leave garbage there`);
      continue;
    }
    out.add('breaking', 'field-inserted', 'field', path, `${describeField(f)} inside the old layout, over bytes other fields held`);
  }
  for (const g of unmatchedOld) {
    const path = `${sPath}.${g.name}`;
    if (covered(rangeOf(g), newReserved)) out.add('breaking', 'field-made-reserved', 'field', path, `${describeField(g)} is now reserved: old binaries that set it are rejected or ignored`);
    else out.add('breaking', 'field-removed', 'field', path, `${describeField(g)} is gone`);
  }
  for (const f of n.fields.filter((x) => x.reserved)) {
    const r = rangeOf(f);
    if (covered(r, oldReserved) || overlaps(r, oM.map(rangeOf))) continue;
    const path = `${sPath}.${f.name}`;
    if (f.offsetBytes >= o.sizeBytes) {
      if (ext.how !== 'fixed') out.add('compatible', 'reserved-appended', 'field', path, `${describeField(f)} past the old end: old binaries' shorter length leaves it zero`);
    } else {
      out.add('breaking', 'padding-made-reserved', 'field', path, `${describeField(f)} over implicit padding: the kernel now requires zero where old binaries may leave garbage`);
    }
  }
  if (n.sizeBytes < o.sizeBytes) out.add('breaking', 'struct-shrunk', 'struct', sPath, `${o.sizeBytes} → ${n.sizeBytes} bytes`);
  else if (n.sizeBytes > o.sizeBytes && ext.how === 'fixed') out.add('breaking', 'struct-resized', 'struct', sPath, `${o.sizeBytes} → ${n.sizeBytes} bytes: ${ext.why}`);
  if (n.alignBytes !== o.alignBytes) out.add('breaking', 'struct-realigned', 'struct', sPath, `alignment ${o.alignBytes} → ${n.alignBytes}`);
  const flexOld = o.flexibleArray ? JSON.stringify(o.flexibleArray) : undefined;
  const flexNew = n.flexibleArray ? JSON.stringify(n.flexibleArray) : undefined;
  if (flexOld !== flexNew) out.add('breaking', 'flexible-array-changed', 'struct', sPath, `trailing array ${flexOld ?? 'none'} → ${flexNew ?? 'none'}`);
  // A capability id first recorded (absent → value) is an annotation, not a change.
  if (o.capId !== undefined && o.capId !== n.capId) out.add('breaking', 'capability-renumbered', 'struct', sPath, `VFIO capability id ${o.capId ?? 'none'} → ${n.capId ?? 'none'}`);
}

function compareIoctl(out: Collector, o: IoctlInfo, n: IoctlInfo): void {
  const p = n.name;
  if (o.request !== n.request || o.nr !== n.nr) {
    out.add('breaking', 'ioctl-renumbered', 'ioctl', p, `request 0x${o.request.toString(16)} (nr ${o.nr}) → 0x${n.request.toString(16)} (nr ${n.nr}): old binaries issue the old number`);
  }
  if (o.family !== n.family) out.add('breaking', 'ioctl-moved', 'ioctl', p, `family ${o.family} → ${n.family}: it goes to another fd`);
  if ((o.struct === undefined) !== (n.struct === undefined)) {
    out.add('breaking', 'ioctl-argument-changed', 'ioctl', p, `argument ${o.struct ? `struct ${o.struct}` : 'an integer'} → ${n.struct ? `struct ${n.struct}` : 'an integer'}`);
  }
  if (o.sizeField !== n.sizeField && o.sizeField !== undefined && n.sizeField !== undefined) {
    out.add('breaking', 'size-field-changed', 'ioctl', p, `size field ${o.sizeField} → ${n.sizeField}`);
  }
  if (o.minSizeBytes !== undefined && n.minSizeBytes !== undefined && o.minSizeBytes !== n.minSizeBytes) {
    if (n.minSizeBytes > o.minSizeBytes) out.add('breaking', 'min-size-raised', 'ioctl', p, `minimum size ${o.minSizeBytes} → ${n.minSizeBytes} bytes: old binaries passing ${o.minSizeBytes} now fail with EINVAL`);
    else out.add('compatible', 'min-size-lowered', 'ioctl', p, `minimum size ${o.minSizeBytes} → ${n.minSizeBytes} bytes: shorter calls are now accepted`);
  }
  if (o.intArg !== undefined && n.intArg !== undefined && o.intArg !== n.intArg) out.add('source', 'argument-renamed', 'ioctl', p, `integer argument ${o.intArg} → ${n.intArg}`);
}

function compareEnum(out: Collector, o: EnumInfo, n: EnumInfo): void {
  const item: ChangeItem = 'value';
  const word = n.kind === 'flags' ? 'flag' : 'enum value';
  if (o.kind !== n.kind) out.add('breaking', 'set-kind-changed', 'enum', n.name, `${o.kind} → ${n.kind}: values change meaning (bits versus numbers)`);
  if (o.prefix !== n.prefix) out.add('source', 'prefix-changed', 'enum', n.name, `prefix ${o.prefix} → ${n.prefix}: short names in cases change`);
  const onlyOld = Object.keys(o.values).filter((k) => !Object.hasOwn(n.values, k));
  const onlyNew = Object.keys(n.values).filter((k) => !Object.hasOwn(o.values, k));
  for (const [k, v] of Object.entries(n.values)) {
    if (!Object.hasOwn(o.values, k) || o.values[k] === v) continue;
    out.add('breaking', n.kind === 'flags' ? 'flag-renumbered' : 'value-renumbered', item, `${n.name}.${k}`, `${word} 0x${o.values[k].toString(16)} → 0x${v.toString(16)}: old binaries pass and expect the old number`);
  }
  const renamedTo = new Set<string>();
  for (const k of onlyOld) {
    const twin = onlyNew.find((m) => n.values[m] === o.values[k] && !renamedTo.has(m));
    if (twin) {
      renamedTo.add(twin);
      out.add('source', 'value-renamed', item, `${n.name}.${twin}`, `renamed from ${k} (same value 0x${o.values[k].toString(16)})`);
    } else {
      out.add('breaking', n.kind === 'flags' ? 'flag-removed' : 'value-removed', item, `${n.name}.${k}`, `${word} ${k} (0x${o.values[k].toString(16)}) is gone: old binaries that pass it are rejected`);
    }
  }
  const oldValues = new Set(Object.values(o.values));
  for (const k of onlyNew) {
    if (renamedTo.has(k)) continue;
    const v = n.values[k];
    const alias = oldValues.has(v) ? ` (same value as an existing ${word}: an alias)` : '';
    const clash = n.kind === 'flags' && !alias && Object.values(o.values).some((x) => (x & v) !== 0) ? ' — overlaps the bits of an existing flag: check' : '';
    out.add('compatible', n.kind === 'flags' ? 'flag-added' : 'value-added', item, `${n.name}.${k}`, `new ${word} ${k} = 0x${v.toString(16)}${alias}${clash}: old binaries never pass it (and ignore it where the kernel reports it)`);
  }
  const sOld = JSON.stringify([...(o.selftest ?? [])].sort());
  const sNew = JSON.stringify([...(n.selftest ?? [])].sort());
  if (sOld !== sNew) out.add('compatible', 'selftest-values-changed', 'enum', n.name, `values only on CONFIG_IOMMUFD_TEST kernels: ${sOld} → ${sNew}`);
}

/** Pairs removed and added items that are the same thing under a new name. */
function pairRenames<T>(removed: T[], added: T[], same: (a: T, b: T) => boolean): [T, T][] {
  const pairs: [T, T][] = [];
  for (const r of [...removed]) {
    const a = added.find((x) => same(r, x));
    if (!a) continue;
    pairs.push([r, a]);
    removed.splice(removed.indexOf(r), 1);
    added.splice(added.indexOf(a), 1);
  }
  return pairs;
}

/** Every difference between two catalogs, classified, in a stable order. */
export function compareCatalogs(oldCat: UapiCatalog, newCat: UapiCatalog): UapiChange[] {
  const out = new Collector();
  const comparedStructs = new Set<string>();

  // ioctls
  const oldIoctls = [...oldCat.ioctls.values()];
  const removedIoctls = oldIoctls.filter((i) => !newCat.ioctls.has(i.name));
  const addedIoctls = [...newCat.ioctls.values()].filter((i) => !oldCat.ioctls.has(i.name));
  const ioctlPairs: [IoctlInfo, IoctlInfo][] = oldIoctls.filter((i) => newCat.ioctls.has(i.name)).map((i) => [i, newCat.ioctls.get(i.name)!]);
  for (const [o, n] of pairRenames(removedIoctls, addedIoctls, (a, b) => a.request === b.request && a.family === b.family)) {
    out.add('source', 'ioctl-renamed', 'ioctl', n.name, `renamed from ${o.name} (same request 0x${n.request.toString(16)})`);
    ioctlPairs.push([o, n]);
  }
  for (const [o, n] of ioctlPairs) {
    compareIoctl(out, o, n);
    if (o.struct !== undefined && n.struct !== undefined) {
      const os = oldCat.structs.get(o.struct);
      const ns = newCat.structs.get(n.struct);
      if (os && ns) {
        if (o.struct !== n.struct && !newCat.structs.has(o.struct)) out.add('source', 'struct-renamed', 'struct', `struct ${n.struct}`, `renamed from struct ${o.struct} (the argument of ${n.name})`);
        compareStruct(out, os, ns, extensibility(oldCat, o.struct));
        comparedStructs.add(o.struct);
        comparedStructs.add(n.struct);
      }
    }
  }
  for (const i of addedIoctls) out.add('compatible', 'ioctl-added', 'ioctl', i.name, `new ioctl, request 0x${i.request.toString(16)}${i.struct ? `, struct ${i.struct}` : ''}: old binaries never issue it`);
  for (const i of removedIoctls) out.add('breaking', 'ioctl-removed', 'ioctl', i.name, `request 0x${i.request.toString(16)} is gone: old binaries get ENOTTY`);

  // structs that are not (or not only) ioctl arguments; an added or removed ioctl's argument
  // comes and goes with it
  for (const i of [...addedIoctls, ...removedIoctls]) if (i.struct !== undefined) comparedStructs.add(i.struct);
  const removedStructs = [...oldCat.structs.values()].filter((s) => !newCat.structs.has(s.name) && !comparedStructs.has(s.name));
  const addedStructs = [...newCat.structs.values()].filter((s) => !oldCat.structs.has(s.name) && !comparedStructs.has(s.name));
  const structPairs: [StructInfo, StructInfo][] = [...oldCat.structs.values()]
    .filter((s) => newCat.structs.has(s.name) && !comparedStructs.has(s.name))
    .map((s) => [s, newCat.structs.get(s.name)!]);
  for (const [o, n] of pairRenames(removedStructs, addedStructs, sameLayout)) {
    out.add('source', 'struct-renamed', 'struct', `struct ${n.name}`, `renamed from struct ${o.name} (same layout)`);
    structPairs.push([o, n]);
  }
  for (const [o, n] of structPairs) compareStruct(out, o, n, extensibility(oldCat, o.name));
  for (const s of addedStructs) out.add('compatible', 'struct-added', 'struct', `struct ${s.name}`, `new struct, ${s.sizeBytes} bytes`);
  for (const s of removedStructs) out.add('breaking', 'struct-removed', 'struct', `struct ${s.name}`, `${s.sizeBytes} bytes, gone`);

  // flag sets and enums
  const removedEnums = [...oldCat.enums.values()].filter((e) => !newCat.enums.has(e.name));
  const addedEnums = [...newCat.enums.values()].filter((e) => !oldCat.enums.has(e.name));
  const enumPairs: [EnumInfo, EnumInfo][] = [...oldCat.enums.values()].filter((e) => newCat.enums.has(e.name)).map((e) => [e, newCat.enums.get(e.name)!]);
  for (const [o, n] of pairRenames(removedEnums, addedEnums, (a, b) => a.kind === b.kind && JSON.stringify(a.values) === JSON.stringify(b.values))) {
    out.add('source', 'set-renamed', 'enum', n.name, `renamed from ${o.name} (same values)`);
    enumPairs.push([o, n]);
  }
  for (const [o, n] of enumPairs) compareEnum(out, o, n);
  for (const e of addedEnums) out.add('compatible', 'set-added', 'enum', e.name, `new ${e.kind === 'flags' ? 'flag set' : 'enum'} with ${Object.keys(e.values).length} value(s)`);
  for (const e of removedEnums) out.add('breaking', 'set-removed', 'enum', e.name, `${e.kind === 'flags' ? 'flag set' : 'enum'} ${e.name} is gone`);

  // errno constants
  for (const [name, v] of oldCat.errnos) {
    const w = newCat.errnos.get(name);
    if (w === undefined) out.add('breaking', 'constant-removed', 'constant', `errno ${name}`, `${name} (${v}) is gone`);
    else if (w !== v) out.add('breaking', 'constant-renumbered', 'constant', `errno ${name}`, `${v} → ${w}`);
  }
  for (const [name, v] of newCat.errnos) if (!oldCat.errnos.has(name)) out.add('compatible', 'constant-added', 'constant', `errno ${name}`, `new constant ${name} = ${v}`);
  return out.changes;
}

/** breaking when any change breaks binaries; compatible when there are only other changes; none without changes. */
export function verdictOf(changes: readonly UapiChange[]): 'breaking' | 'compatible' | 'none' {
  if (changes.some((c) => c.kind === 'breaking')) return 'breaking';
  return changes.length > 0 ? 'compatible' : 'none';
}
