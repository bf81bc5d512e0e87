/**
 * One Ajv2020 instance for every schema of the project: the uAPI schemas (uapi/, defs/) and
 * whatever else lives in schemas/ as `*.schema.json` (the runner's case, protocol and report
 * schemas), all compiled once, lazily, in strict mode with allErrors. Every `x-…` annotation
 * keyword any schema uses is registered as vocabulary, so strict compilation passes while an
 * unknown plain keyword still fails.
 *
 * Validation never coerces or fills defaults: a conformance checker must see the input as given.
 * Results are `null` (valid) or issues that name the JSON pointer of the offending value, the
 * rule (schema keyword) and ajv's message.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { SCHEMAS_DIR, getCatalog } from './catalog.ts';

export const SCHEMA_BASE = 'https://ioasid.dev/schemas/';

export interface ValidationIssue {
  /** JSON pointer of the offending value inside the validated value ('' = the value itself). */
  instancePath: string;
  /** The schema keyword that failed (`additionalProperties`, `maximum`, `pattern`, …). */
  keyword: string;
  /** ajv's message, with the extra property named for additionalProperties. */
  message: string;
  /** Where the rule sits in the schema (`#/properties/flags/maximum`). */
  schemaPath: string;
}

interface Loaded {
  ajv: Ajv2020;
  /** $id → path below schemas/. */
  files: Map<string, string>;
}

let loaded: Loaded | undefined;

/** Every `*.schema.json` below schemas/ except generated output, sorted by path. */
export function schemaFilePaths(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'generated' && e.name !== 'node_modules') walk(p);
      } else if (e.name.endsWith('.schema.json')) out.push(relative(SCHEMAS_DIR, p).split('\\').join('/'));
    }
  };
  walk(SCHEMAS_DIR);
  return out.sort();
}

/** Every `x-…` key used anywhere in a schema document (annotation vocabulary). */
function annotationKeywords(doc: unknown, into: Set<string>): void {
  if (Array.isArray(doc)) for (const v of doc) annotationKeywords(v, into);
  else if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      if (k.startsWith('x-')) into.add(k);
      annotationKeywords(v, into);
    }
  }
}

function load(): Loaded {
  if (loaded) return loaded;
  const docs = schemaFilePaths().map((file) => ({ file, doc: JSON.parse(readFileSync(join(SCHEMAS_DIR, file), 'utf8')) as Record<string, unknown> }));
  const keywords = new Set<string>(['tsType', 'tsEnumNames']);
  for (const { doc } of docs) annotationKeywords(doc, keywords);
  // ajv is required on first use, not imported: loading it costs more than a --help does in all.
  const { Ajv2020: Ajv } = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  const ajv = new Ajv({ strict: true, allErrors: true, coerceTypes: false, useDefaults: false });
  ajv.addVocabulary([...keywords].sort());
  const files = new Map<string, string>();
  for (const { file, doc } of docs) {
    const id = typeof doc.$id === 'string' ? doc.$id : SCHEMA_BASE + file;
    if (files.has(id)) throw new Error(`schemas/${file}: $id ${id} is also used by schemas/${files.get(id)}`);
    files.set(id, file);
    ajv.addSchema(doc, id);
  }
  // Compile everything now: strict mode is only enforced by compilation (ajv#2668).
  for (const [id, file] of files) {
    try {
      ajv.getSchema(id);
    } catch (e) {
      throw new Error(`schemas/${file}: does not compile in strict mode: ${(e as Error).message}`);
    }
  }
  loaded = { ajv, files };
  return loaded;
}

/** The shared Ajv2020 instance with every schema loaded and compiled. */
export function getAjv(): Ajv2020 {
  return load().ajv;
}

/** The `$id` of every loaded schema, sorted. */
export function schemaIds(): string[] {
  return [...load().files.keys()].sort();
}

function toIssues(errors: ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((e) => {
    let message = e.message ?? e.keyword;
    if (e.keyword === 'additionalProperties') message += `: '${(e.params as { additionalProperty: string }).additionalProperty}'`;
    else if (e.keyword === 'required') message = `must have property '${(e.params as { missingProperty: string }).missingProperty}'`;
    return { instancePath: e.instancePath, keyword: e.keyword, message, schemaPath: e.schemaPath };
  });
}

const byId = new Map<string, ValidateFunction | null>();

/** Resolves a full `$id`, an id relative to schemas/ (`uapi/iommu-ioas-map.schema.json`), either with a `#…` fragment. */
function resolveId(id: string): string {
  return id.startsWith('https://') || id.startsWith('http://') ? id : SCHEMA_BASE + id.replace(/^\.?\//, '');
}

/**
 * Validates `value` against the schema with `$id` `id` (full, or relative to schemas/, with an
 * optional `#/$defs/…` fragment). Null when valid, else the issues; an unknown id is one issue.
 */
export function validateBySchemaId(id: string, value: unknown): ValidationIssue[] | null {
  const full = resolveId(id);
  let v = byId.get(full);
  if (v === undefined) {
    v = getAjv().getSchema(full) ?? null;
    byId.set(full, v);
  }
  if (v === null) return [{ instancePath: '', keyword: '$id', message: `no schema with id ${id}`, schemaPath: '' }];
  return v(value) ? null : toIssues(v.errors);
}

/**
 * Validates an ioctl argument as the protocol carries it (`arg` of an `ioctl` request or
 * result) against the ioctl's schema: field names, integer ranges, the u64 wire form, hex for
 * `__trailing`. Values the kernel must reject (unknown flags, non-zero reserved fields, bad IDs)
 * are valid here: rejecting them is the implementation's job, and cases send them on purpose.
 */
export function validateIoctlArg(cmd: string, arg: unknown): ValidationIssue[] | null {
  const info = getCatalog().ioctls.get(cmd);
  if (!info) return [{ instancePath: '', keyword: 'ioctl', message: `unknown ioctl ${JSON.stringify(cmd)}`, schemaPath: '' }];
  return validateBySchemaId(info.schemaId ?? info.schema, arg);
}

/** One line per issue: `/flags: maximum: must be <= 4294967295`, prefixed with `what`. */
export function formatIssues(what: string, issues: readonly ValidationIssue[]): string[] {
  return issues.map((i) => `${what}${i.instancePath || '/'}: ${i.keyword}: ${i.message}`);
}
