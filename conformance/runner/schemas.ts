/**
 * The runner's access to its three schemas (case, protocol, report), validated through the
 * project's one strict Ajv2020 instance (schemas/lib/validate.ts), every error reported with the
 * JSON pointer, the schema rule and the message. Nothing else in the runner touches ajv.
 *
 * The protocol schema is also read for what it says about test hooks: which capability offers
 * each (x-capability), whether it runs in a context (x-scope) and how each argument field is
 * typed (u64, object id, hex bytes, boolean), so that the compiler converts hook arguments
 * without a second table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMAS_DIR } from '../../schemas/lib/catalog.ts';
import { validateBySchemaId, type ValidationIssue } from '../../schemas/lib/validate.ts';

export interface SchemaIssue {
  pointer: string;
  rule: string;
  message: string;
}

type AnySchema = Record<string, unknown>;

const raw = new Map<string, AnySchema>();

function load(name: string): AnySchema {
  let s = raw.get(name);
  if (!s) {
    s = JSON.parse(readFileSync(join(SCHEMAS_DIR, `${name}.schema.json`), 'utf8')) as AnySchema;
    raw.set(name, s);
  }
  return s;
}

function issues(list: ValidationIssue[]): SchemaIssue[] {
  return list.map((e) => ({ pointer: e.instancePath || '/', rule: `${e.keyword} (${e.schemaPath})`, message: e.message }));
}

function check(ref: string, value: unknown): SchemaIssue[] {
  const bad = validateBySchemaId(ref, value);
  if (bad && bad.length === 1 && bad[0].keyword === '$id') throw new Error(`schema ${ref} not found`);
  return bad ? issues(bad) : [];
}

export function validateCase(value: unknown): SchemaIssue[] {
  return check('case.schema.json', value);
}

export function validateTopology(value: unknown): SchemaIssue[] {
  return check('case.schema.json#/$defs/topology', value);
}

export function validateReport(value: unknown): SchemaIssue[] {
  return check('report.schema.json', value);
}

/** Validates a value against protocol.schema.json#/$defs/<def> (helloResult, ioctlResult, …). */
export function validateProtocol(def: string, value: unknown): SchemaIssue[] {
  return check(`protocol.schema.json#/$defs/${def}`, value);
}

export function hasProtocolDef(def: string): boolean {
  const defs = load('protocol').$defs as Record<string, unknown>;
  return def in defs;
}

/** How a hook argument field is typed on the wire. */
export type HookFieldKind = 'u64' | 'id' | 'hex' | 'bool' | 'int' | 'struct' | 'other';

export interface HookInfo {
  op: string;
  /** The capability that offers it (x-capability); absent for the user-memory hooks every adapter offers. */
  capability?: string;
  /** A context hook gets the step's fd; a process hook runs without one. */
  scope: 'context' | 'process';
  fields: Record<string, HookFieldKind>;
  /** Argument fields that need a capability of their own when set (a field's x-capability). */
  fieldCapabilities: Record<string, string>;
  /**
   * Argument fields whose $capture decides the capability instead of the hook's
   * (x-capability-by-capture: output field that made the capture → capability).
   */
  captureCapabilities: Record<string, Record<string, string>>;
  /**
   * x-case-struct: a case may write the hex field `bytes` as struct `struct` by its fields in
   * `field` (the compiler encodes it; the answer's `bytes` is decoded into `field` for `out`).
   */
  caseStruct?: { field: string; struct: string; bytes: string };
}

let hookTable: Map<string, HookInfo> | undefined;

export function hooks(): ReadonlyMap<string, HookInfo> {
  if (!hookTable) {
    hookTable = new Map();
    const defs = load('protocol').$defs as Record<string, AnySchema>;
    for (const [name, def] of Object.entries(defs)) {
      if (!name.startsWith('hookArg_')) continue;
      const op = name.slice('hookArg_'.length);
      const fields: Record<string, HookFieldKind> = {};
      const fieldCapabilities: Record<string, string> = {};
      const captureCapabilities: Record<string, Record<string, string>> = {};
      for (const [field, s] of Object.entries((def.properties ?? {}) as Record<string, AnySchema>)) {
        if (typeof s['x-capability'] === 'string') fieldCapabilities[field] = s['x-capability'];
        if (s['x-capability-by-capture'] !== undefined) captureCapabilities[field] = s['x-capability-by-capture'] as Record<string, string>;
        const ref = s.$ref as string | undefined;
        fields[field] =
          ref === '#/$defs/u64' ? 'u64'
          : ref === '#/$defs/objectId' ? 'id'
          : ref === '#/$defs/hexData' ? 'hex'
          : s.type === 'boolean' ? 'bool'
          : s.type === 'integer' ? 'int'
          : 'other';
      }
      const caseStruct = def['x-case-struct'] as HookInfo['caseStruct'];
      if (caseStruct !== undefined) fields[caseStruct.field] = 'struct';
      hookTable.set(op, {
        op,
        capability: def['x-capability'] as string | undefined,
        scope: def['x-scope'] as 'context' | 'process',
        fields,
        fieldCapabilities,
        captureCapabilities,
        ...(caseStruct !== undefined ? { caseStruct } : {}),
      });
    }
  }
  return hookTable;
}

/** The capability names protocol v1 defines (vendor x-… names aside). */
export function knownCapabilities(): string[] {
  const defs = load('protocol').$defs as Record<string, AnySchema>;
  const anyOf = defs.capability.anyOf as AnySchema[];
  return anyOf[0].enum as string[];
}

export function resultNames(): string[] {
  const defs = load('report').$defs as Record<string, AnySchema>;
  return defs.result.enum as string[];
}
