/**
 * Reads what a kernel uAPI header declares — structs with their fields (anonymous unions and
 * structs flattened, arrays, flexible arrays, bitfields marked), enums and their enumerators,
 * object-like #defines, which #defines are ioctl numbers and which struct each ioctl takes —
 * with tree-sitter's C grammar (npm web-tree-sitter + the tree-sitter-c.wasm that tree-sitter-c
 * ships; nothing is fetched at run time). A real parser, because the headers put #defines inside
 * struct bodies, nest anonymous unions, and spread declarations over lines, which line-based
 * regular expressions misread. Values are not computed here: the layout probe
 * (layout-probe.ts) has the C compiler evaluate them.
 *
 * The reader never fails on a construct it does not model: it is skipped. Only the kernel-doc
 * comments are read with patterns (`struct x - ioctl(NAME)`, `NAME - _IOW(…, struct x)`), being
 * prose.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Language, Parser, type Node } from 'web-tree-sitter';

export interface HeaderField {
  name: string;
  /** The declared type as written, `struct ` dropped for struct types (`__u32`, `iommu_iova_range`). */
  ctype: string;
  /** Set for fixed arrays: the dimension as written (`3`, `IOMMU_FOO_LEN`). */
  dimension?: string;
  /** A flexible array member (`[]`): no size of its own. */
  flexible?: boolean;
  /** A bitfield: offsetof does not apply. */
  bitfield?: boolean;
  /** Members of one anonymous union share the same id (`u0`, `u1`). */
  union?: string;
  line: number;
}

export interface HeaderStruct {
  name: string;
  fields: HeaderField[];
  line: number;
}

export interface HeaderMacro {
  name: string;
  /** The replacement text, comments dropped. */
  value: string;
  line: number;
  /** The replacement is _IO/_IOR/_IOW/_IOWR(…): an ioctl request number. */
  ioctl: boolean;
}

export interface HeaderEnum {
  /** The C enum tag; undefined for an anonymous enum. */
  name?: string;
  enumerators: { name: string; line: number }[];
}

export interface HeaderItems {
  structs: HeaderStruct[];
  macros: HeaderMacro[];
  enums: HeaderEnum[];
  /** ioctl name → the struct its kernel-doc says it takes. */
  ioctlStructs: Map<string, string>;
}

let parser: Parser | undefined;

async function getParser(): Promise<Parser> {
  if (parser) return parser;
  await Parser.init();
  const require = createRequire(import.meta.url);
  const language = await Language.load(readFileSync(require.resolve('tree-sitter-c/tree-sitter-c.wasm')));
  const p = new Parser();
  p.setLanguage(language);
  parser = p;
  return p;
}

function typeName(type: Node): string {
  if (type.type === 'struct_specifier' || type.type === 'union_specifier' || type.type === 'enum_specifier') {
    return type.childForFieldName('name')?.text ?? `(anonymous ${type.type.replace('_specifier', '')})`;
  }
  return type.text.replace(/\s+/g, ' ');
}

/** The fields of a field_declaration_list, anonymous unions and structs flattened. */
function readFields(list: Node, into: HeaderField[], unionIds: { next: number }, union?: string): void {
  for (const decl of list.namedChildren) {
    if (decl === null || decl.type !== 'field_declaration') continue;
    const type = decl.childForFieldName('type');
    if (!type) continue;
    const declarators = decl.childrenForFieldName('declarator').filter((d): d is Node => d !== null);
    const body = type.childForFieldName('body');
    if (declarators.length === 0 && body && (type.type === 'union_specifier' || type.type === 'struct_specifier')) {
      // An anonymous member: its fields are the outer struct's (C11 6.7.2.1p13).
      const id = type.type === 'union_specifier' ? `u${unionIds.next++}` : union;
      readFields(body, into, unionIds, id);
      continue;
    }
    const bitfield = decl.namedChildren.some((c) => c?.type === 'bitfield_clause');
    for (let d of declarators) {
      let dimension: string | undefined;
      let flexible = false;
      while (d.type === 'array_declarator') {
        const size = d.childForFieldName('size');
        if (size) dimension = dimension === undefined ? size.text : `${dimension}*${size.text}`;
        else flexible = true;
        d = d.childForFieldName('declarator')!;
      }
      if (d.type !== 'field_identifier') continue;
      const f: HeaderField = { name: d.text, ctype: typeName(type), line: decl.startPosition.row + 1 };
      if (dimension !== undefined) f.dimension = dimension;
      if (flexible) f.flexible = true;
      if (bitfield) f.bitfield = true;
      if (union !== undefined) f.union = union;
      into.push(f);
    }
  }
}

const IOCTL_DOC = [
  // iommufd.h: " * struct iommu_ioas_map - ioctl(IOMMU_IOAS_MAP)"
  /struct\s+(\w+)\s+-\s+ioctl\((\w+)\)/g,
  // vfio.h: " * VFIO_IOMMU_MAP_DMA - _IOW(VFIO_TYPE, VFIO_BASE + 13, struct vfio_dma_map)"
  /(\w+)\s+-\s+_IO\w*\([^()]*?,\s*struct\s+(\w+)\s*\)/g,
];

/** Parses the header text. */
export async function readHeader(text: string): Promise<HeaderItems> {
  const p = await getParser();
  const tree = p.parse(text);
  if (!tree) throw new Error('tree-sitter returned no tree');
  const root = tree.rootNode;
  const structs: HeaderStruct[] = [];
  const seen = new Set<string>();
  for (const s of root.descendantsOfType('struct_specifier')) {
    if (!s) continue;
    const name = s.childForFieldName('name')?.text;
    const body = s.childForFieldName('body');
    if (!name || !body || seen.has(name)) continue;
    seen.add(name);
    const fields: HeaderField[] = [];
    readFields(body, fields, { next: 0 });
    structs.push({ name, fields, line: s.startPosition.row + 1 });
  }
  const macros: HeaderMacro[] = [];
  for (const m of root.descendantsOfType('preproc_def')) {
    if (!m) continue;
    const name = m.childForFieldName('name')?.text;
    const raw = m.childForFieldName('value')?.text;
    if (!name || raw === undefined) continue;
    const value = raw.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').replace(/\\\n/g, ' ').trim();
    if (value === '') continue;
    macros.push({ name, value, line: m.startPosition.row + 1, ioctl: /^_IO(R|W|WR)?\s*\(/.test(value) });
  }
  const enums: HeaderEnum[] = [];
  for (const e of root.descendantsOfType('enum_specifier')) {
    const body = e?.childForFieldName('body');
    if (!e || !body) continue;
    const enumerators = body.namedChildren
      .filter((x): x is Node => x !== null && x.type === 'enumerator')
      .map((x) => ({ name: x.childForFieldName('name')!.text, line: x.startPosition.row + 1 }));
    const name = e.childForFieldName('name')?.text;
    enums.push({ ...(name ? { name } : {}), enumerators });
  }
  const ioctlStructs = new Map<string, string>();
  for (const c of root.descendantsOfType('comment')) {
    if (!c) continue;
    const text = c.text.replace(/\n\s*\*\s?/g, ' ');
    for (const m of text.matchAll(IOCTL_DOC[0])) if (!ioctlStructs.has(m[2])) ioctlStructs.set(m[2], m[1]);
    for (const m of text.matchAll(IOCTL_DOC[1])) if (!ioctlStructs.has(m[1])) ioctlStructs.set(m[1], m[2]);
  }
  tree.delete();
  return { structs, macros, enums, ioctlStructs };
}
