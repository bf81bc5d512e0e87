/**
 * Generated artefacts stay in sync with the schemas, and the C layout the schemas state is the
 * one a C compiler gives: our generated header is compiled against _Static_asserts of every
 * size and offset, and so is the system's own <linux/vfio.h> for the structs it declares.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { C_HEADER_PATH, typesOutOfDate } from '../../cli/commands/gen.ts';
import type { StructInfo, UapiCatalog } from './catalog-types.ts';
import { getCatalog } from './catalog.ts';
import { generateCHeader, generateCLayoutChecks } from './gen-c-header.ts';
import { generateTypes } from './gen-types.ts';

describe('generated TypeScript types', () => {
  it('schemas/generated/*.ts match the schemas (run npm run gen)', async () => {
    expect(await typesOutOfDate(), 'generated types are out of date: run npm run gen').toEqual([]);
  }, 60_000);
  it('a type is declared once: a described $ref names the referenced type instead of a numbered copy', async () => {
    const copies: string[] = [];
    for (const [file, text] of await generateTypes()) {
      const names = new Set([...text.matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]));
      for (const n of names) if (/\d$/.test(n) && names.has(n.replace(/\d+$/, ''))) copies.push(`${file}: ${n}`);
    }
    expect(copies).toEqual([]);
  }, 60_000);
  it('the C header matches the schemas (run ioasid gen c-header)', () => {
    expect(existsSync(C_HEADER_PATH) && readFileSync(C_HEADER_PATH, 'utf8') === generateCHeader(), 'run ioasid gen c-header').toBe(true);
  });
});

const cc = spawnSync('cc', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'ioasid-cc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function compiles(source: string, header?: string): { ok: boolean; stderr: string } {
  if (header !== undefined) writeFileSync(join(dir, 'ioasid_uapi.h'), header);
  const file = join(dir, `check-${Math.random().toString(36).slice(2)}.c`);
  writeFileSync(file, source);
  try {
    execFileSync('cc', ['-std=c11', '-fsyntax-only', '-Wall', '-Werror', '-I', dir, file], { stdio: 'pipe' });
    return { ok: true, stderr: '' };
  } catch (e) {
    return { ok: false, stderr: String((e as { stderr?: Buffer }).stderr ?? e) };
  }
}

describe.skipIf(!cc)('C layout checked by the compiler', () => {
  it('the generated header has every size and offset the schemas state', () => {
    const r = compiles(generateCLayoutChecks({ include: '"ioasid_uapi.h"' }), generateCHeader());
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
  });
  it('the check fails when a schema states a wrong offset (the test can fail)', () => {
    const cat = getCatalog();
    const map = cat.structs.get('iommu_ioas_map')!;
    const wrong: StructInfo = { ...map, fields: map.fields.map((f) => (f.name === 'iova' ? { ...f, offsetBytes: 36 } : f)) };
    const broken: UapiCatalog = { ...cat, structs: new Map([...cat.structs, ['iommu_ioas_map', wrong]]) };
    const r = compiles(generateCLayoutChecks({ include: '"ioasid_uapi.h"' }, broken), generateCHeader());
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/offsetof iommu_ioas_map\.iova/);
  });
  const systemVfio = '/usr/include/linux/vfio.h';
  it.skipIf(!existsSync(systemVfio))('the system <linux/vfio.h> agrees for the VFIO structs it declares', () => {
    const text = readFileSync(systemVfio, 'utf8');
    const declared = (s: StructInfo) => s.source === 'vfio' && new RegExp(`struct ${s.name} \\{`).test(text)
      // A header older than a field we model cannot be checked for that struct.
      && s.fields.every((f) => new RegExp(`\\b${f.name}\\b`).test(text.slice(text.indexOf(`struct ${s.name} {`), text.indexOf('};', text.indexOf(`struct ${s.name} {`)))));
    const checked = [...getCatalog().structs.values()].filter(declared).map((s) => s.name);
    // (vfio_iommu_type1_info gained `pad` after 6.1, so an older system header skips it.)
    expect(checked).toEqual(expect.arrayContaining(['vfio_iommu_type1_dma_map', 'vfio_iommu_type1_dma_unmap', 'vfio_info_cap_header', 'vfio_iommu_type1_info_cap_iova_range', 'vfio_iommu_type1_info_dma_avail']));
    const r = compiles(generateCLayoutChecks({ prefix: '', include: '<linux/vfio.h>', only: declared }));
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
  });
});
