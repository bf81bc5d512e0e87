/**
 * Load-time checks of the names a case uses, which the case schema cannot know: every errno is
 * a Linux errno name, every op is an ioctl of the catalog, a test hook, CLOSE or a raw request
 * number, and every `arg` field is a field of the ioctl's struct (or an argument of the hook).
 * Each problem comes with its JSON pointer and the closest known names, so that a typo is the
 * case author's to fix before anything runs, never an implementation's `fail`.
 */
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { hooks } from './schemas.ts';
import { suggest } from './suggest.ts';
import type { GoldenCase } from './types.ts';

export interface LintIssue {
  pointer: string;
  rule: string;
  message: string;
}

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function lintCase(c: GoldenCase, catalog: UapiCatalog): LintIssue[] {
  const out: LintIssue[] = [];
  const table = hooks();
  const ops = () => ['CLOSE', ...table.keys(), ...catalog.ioctls.keys()];
  c.steps.forEach((step, i) => {
    const at = `/steps/${i}`;
    const errnos = step.errno === undefined ? [] : Array.isArray(step.errno) ? step.errno : [step.errno];
    errnos.forEach((name, k) => {
      if (!catalog.errnos.has(name)) {
        out.push({ pointer: Array.isArray(step.errno) ? `${at}/errno/${k}` : `${at}/errno`, rule: 'known-errno', message: `'${name}' is not a Linux errno name${suggest(name, catalog.errnos.keys())}` });
      }
    });
    const op = step.op;
    const hook = table.get(op);
    const ioctl = catalog.ioctls.get(op);
    if (op !== 'CLOSE' && !hook && !ioctl && !/^0x[0-9a-f]+$/.test(op)) {
      out.push({ pointer: `${at}/op`, rule: 'known-op', message: `'${op}' is neither an ioctl of the catalog, a test hook, CLOSE nor a request number${suggest(op, ops())}` });
      return;
    }
    const given = Object.keys(step.arg ?? {});
    if (hook) {
      const known = Object.keys(hook.fields);
      for (const f of given) {
        if (!known.includes(f)) out.push({ pointer: `${at}/arg/${escapePointer(f)}`, rule: 'known-field', message: `the ${op} hook takes no '${f}' (it takes ${known.join(', ') || 'nothing'})${suggest(f, known)}` });
      }
    } else if (ioctl?.struct && step.argp === undefined) {
      const s = catalog.structs.get(ioctl.struct);
      if (!s) return;
      const protocolFields = (s as { protocolFields?: string[] }).protocolFields ?? [];
      const known = [...s.fields.map((f) => f.name), '__trailing', ...protocolFields, ...(op.startsWith('VFIO_DEVICE_') ? ['device'] : [])];
      for (const f of given) {
        if (!known.includes(f)) out.push({ pointer: `${at}/arg/${escapePointer(f)}`, rule: 'known-field', message: `struct ${s.name} (${op}) has no field '${f}'${suggest(f, known)}` });
      }
    }
  });
  return out;
}

/** Line and column (from 1) of a JSON.parse error's "position N", when it says one. */
export function jsonErrorWhere(text: string, message: string): { line: number; column: number } | null {
  const m = /position (\d+)/.exec(message);
  if (!m) {
    const lc = /line (\d+) column (\d+)/.exec(message);
    return lc ? { line: Number(lc[1]), column: Number(lc[2]) } : null;
  }
  const pos = Math.min(Number(m[1]), text.length);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return { line, column: pos - before.lastIndexOf('\n') };
}
