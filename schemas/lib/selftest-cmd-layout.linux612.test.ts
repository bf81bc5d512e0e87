/**
 * struct iommu_test_cmd and the iommufd_test.h values of the schemas against Linux 6.12's own
 * drivers/iommu/iommufd/iommufd_test.h (Debian's linux-source-6.12, which `.ci/run` installs; in
 * CI a missing package fails the test instead of skipping it). The C compiler measures every
 * union member field the 6.12 header has (offsetof within struct iommu_test_cmd, sizeof) and
 * the enumerator values; the header is compiled in a temporary folder next to 6.12's
 * <linux/iommufd.h>, and nothing of it is kept. Facts of 6.12 itself: its union ends with
 * trigger_iopf (check_dev_cache came in v6.14, trigger_vevent and the PASID members in v6.15)
 * and its MOCK_FLAGS_DEVICE_* lack PASID (v6.15).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getCatalog } from './catalog.ts';
import { compilerCommand, haveCompiler } from './layout-probe.ts';
import { LINUX_612_TARBALL, linux612File } from './linux-source.ts';

const testHeader = linux612File('drivers/iommu/iommufd/iommufd_test.h');
const uapiHeader = testHeader === null ? null : linux612File('include/uapi/linux/iommufd.h');
const mustRun = testHeader !== null || !!process.env.CI;
if (!mustRun) console.warn(`selftest-cmd-layout.linux612.test: SKIPPED — ${LINUX_612_TARBALL} is not installed (apt-get install -y linux-source-6.12); it runs in CI`);

/** The union members of Linux 6.12's struct iommu_test_cmd, in header order. */
const MEMBERS_612 = [
  'add_reserved', 'mock_domain', 'mock_domain_flags', 'mock_domain_replace', 'check_map', 'check_refs', 'create_access',
  'destroy_access_pages', 'access_pages', 'access_rw', 'memory_limit', 'access_replace_ioas', 'dirty', 'check_iotlb', 'trigger_iopf',
];

/** Runs `program` compiled against the two headers; its stdout is JSON. */
function measure(program: string): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'ioasid-stcmd-'));
  try {
    mkdirSync(join(dir, 'linux'));
    copyFileSync(uapiHeader!, join(dir, 'linux', 'iommufd.h'));
    copyFileSync(testHeader!, join(dir, 'iommufd_test.h'));
    writeFileSync(join(dir, 'probe.c'), program);
    const cc = spawnSync(compilerCommand(), ['-std=gnu11', '-I', dir, '-o', join(dir, 'probe'), join(dir, 'probe.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`probe does not compile:\n${cc.stderr}`);
    const run = spawnSync(join(dir, 'probe'), { encoding: 'utf8' });
    return JSON.parse(run.stdout) as Record<string, number>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!mustRun)('struct iommu_test_cmd on Linux 6.12\'s iommufd_test.h', () => {
  it('has the union members the schemas say 6.12 has, each field where the schemas put it', () => {
    expect(testHeader, `${LINUX_612_TARBALL} must be installed (.ci/run installs linux-source-6.12)`).not.toBeNull();
    expect(haveCompiler()).toBe(true);
    const text = readFileSync(testHeader!, 'utf8');
    const struct = text.slice(text.indexOf('struct iommu_test_cmd {'), text.indexOf('__u32 last;'));
    expect([...struct.matchAll(/\}\s*(\w+);/g)].map((m) => m[1])).toEqual(MEMBERS_612);

    const catalog = getCatalog();
    const cmd = catalog.structs.get('iommu_test_cmd')!;
    const lines: string[] = [];
    const expected: Record<string, number> = {};
    const emit = (key: string, expr: string, value: number) => {
      lines.push(`  printf("%s\\"${key}\\": %lu", first ? "" : ", ", (unsigned long)(${expr})); first = 0;`);
      expected[key] = value;
    };
    emit('sizeof', 'sizeof(struct iommu_test_cmd)', cmd.sizeBytes);
    emit('alignof', '_Alignof(struct iommu_test_cmd)', cmd.alignBytes);
    for (const f of cmd.fields) {
      if (f.union !== undefined && !MEMBERS_612.includes(f.name)) continue;
      if (f.union === undefined) {
        emit(`${f.name}@`, `offsetof(struct iommu_test_cmd, ${f.name})`, f.offsetBytes);
        continue;
      }
      for (const g of catalog.structs.get(f.ctype)!.fields) {
        emit(`${f.name}.${g.name}@`, `offsetof(struct iommu_test_cmd, ${f.name}.${g.name})`, f.offsetBytes + g.offsetBytes);
        emit(`${f.name}.${g.name}#`, `sizeof(((struct iommu_test_cmd *)0)->${f.name}.${g.name})`, g.sizeBytes);
      }
    }
    // The op numbers 6.12 has agree with the mainline numbering the schemas carry.
    for (const [name, v] of Object.entries(catalog.enums.get('iommu_test_op')!.values)) {
      if (v <= 15) emit(name, name, v);
    }
    for (const set of ['mock_flags_access', 'mock_flags_access_create', 'mock_access_rw_flags']) {
      for (const [name, v] of Object.entries(catalog.enums.get(set)!.values)) emit(name, name, v);
    }
    emit('MOCK_FLAGS_DEVICE_NO_DIRTY', 'MOCK_FLAGS_DEVICE_NO_DIRTY', 1);
    emit('MOCK_FLAGS_DEVICE_HUGE_IOVA', 'MOCK_FLAGS_DEVICE_HUGE_IOVA', 2);
    const program = `#include <stddef.h>\n#include <stdio.h>\n#include "iommufd_test.h"\nint main(void) {\n  int first = 1;\n  printf("{");\n${lines.join('\n')}\n  printf("}\\n");\n  return 0;\n}\n`;
    expect(measure(program)).toEqual(expected);
    expect(Object.keys(expected).length).toBeGreaterThan(60);
    // What 6.12 lacks: the v6.15 PASID device flag.
    expect(text).not.toMatch(/MOCK_FLAGS_DEVICE_PASID/);
  }, 120_000);
});
