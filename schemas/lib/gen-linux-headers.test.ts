/**
 * The headers under the kernel's names (gen-linux-headers.ts) compile with the machine's cc,
 * every struct they declare has the size, alignment and field offsets the schemas state, every
 * value the catalog has is there with its number, and selftest-only values stay out of
 * linux/iommufd.h. Skipped without cc.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getCatalog } from './catalog.ts';
import { generateCLayoutChecks } from './gen-c-header.ts';
import { generateLinuxHeaders } from './gen-linux-headers.ts';

const hasCc = spawnSync('cc', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'ioasid-linux-headers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasCc)('generated linux/iommufd.h and iommufd_test.h', () => {
  const headers = generateLinuxHeaders();
  mkdirSync(join(dir, 'linux'), { recursive: true });
  writeFileSync(join(dir, 'linux', 'iommufd.h'), headers.iommufd);
  writeFileSync(join(dir, 'iommufd_test.h'), headers.iommufdTest);

  it('compile, with the layout of every struct and the number of every value as the schemas state', () => {
    const cat = getCatalog();
    const checks = generateCLayoutChecks({ prefix: '', include: '"iommufd_test.h"', only: (s) => s.source !== 'vfio' });
    const values: string[] = [];
    for (const e of cat.enums.values()) {
      for (const [name, v] of Object.entries(e.values)) {
        if (name.startsWith('VFIO_') || name.startsWith('__VFIO_')) continue;
        values.push(`_Static_assert((unsigned long long)(${name}) == ${v}ull, "${name}");`);
      }
    }
    for (const i of cat.ioctls.values()) if (i.family === 'iommufd') values.push(`_Static_assert(${i.name} == ${i.request}u, "${i.name}");`);
    values.push('_Static_assert(IOMMU_TEST_CMD == 0x3ba0u, "IOMMU_TEST_CMD");');
    const src = join(dir, 'check.c');
    writeFileSync(src, `${checks}\n${values.join('\n')}\nint main(void) { return 0; }\n`);
    const r = spawnSync('cc', ['-std=gnu11', '-Wall', '-Werror', '-I', dir, '-o', join(dir, 'check'), src], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('keep selftest-only values out of linux/iommufd.h', () => {
    expect(headers.iommufd).not.toMatch(/IOMMU_HW_INFO_TYPE_SELFTEST|IOMMU_HWPT_DATA_SELFTEST|MOCK_|IOMMU_TEST_/);
    expect(headers.iommufdTest).toMatch(/#define IOMMU_HWPT_DATA_SELFTEST 0xdead\b/);
    expect(headers.iommufdTest).toMatch(/struct iommu_test_cmd \{/);
  });
});
