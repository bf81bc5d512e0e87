/**
 * Case authors' mistakes are caught when the files load, with file, JSON pointer, rule and the
 * closest known names, and are never run (so never scored as the implementation's fail).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCases } from './case-loader.ts';
import { jsonErrorWhere } from './case-lint.ts';
import { renderJunit } from './reporters/junit.ts';
import { byId, mkCase, runCases, writeCases } from './testing/fixtures.ts';
import { createToyAdapter } from './testing/toy-adapter.ts';

const alloc = { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } };

describe('load-time validation of names', () => {
  it('catches an unknown errno, an unknown op and an unknown arg field, with a pointer and a did-you-mean', () => {
    const dir = writeCases([
      mkCase('a/good', [alloc]),
      mkCase('a/errno', [alloc, { op: 'IOMMU_DESTROY', arg: { id: 9 }, errno: ['ENOENT', 'ENOENTT'] }]),
      mkCase('a/op', [{ op: 'IOMMU_IOAS_ALOC' }]),
      mkCase('a/field', [alloc, { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$i', lenght: 4096 } }]),
      mkCase('a/hook-field', [{ op: 'MMAP', arg: { lenght: 4096 } }]),
    ]);
    const { cases, invalid } = loadCases([dir]);
    expect(cases.map((c) => c.case.id)).toEqual(['a/good']);
    const by = Object.fromEntries(invalid.map((i) => [i.path.split('/').pop(), i]));
    expect(by['errno.json']).toEqual({ path: expect.stringMatching(/a\/errno\.json$/), pointer: '/steps/1/errno/1', rule: 'known-errno', message: "'ENOENTT' is not a Linux errno name (did you mean ENOENT?)" });
    expect(by['op.json']).toMatchObject({ pointer: '/steps/0/op', rule: 'known-op', message: expect.stringMatching(/'IOMMU_IOAS_ALOC' is neither an ioctl .*\(did you mean IOMMU_IOAS_ALLOC\?\)$/) });
    expect(by['field.json']).toMatchObject({ pointer: '/steps/1/arg/lenght', rule: 'known-field', message: "struct iommu_ioas_map (IOMMU_IOAS_MAP) has no field 'lenght' (did you mean length?)" });
    expect(by['hook-field.json']).toMatchObject({ pointer: '/steps/0/arg/lenght', rule: 'known-field', message: expect.stringMatching(/the MMAP hook takes no 'lenght' .*\(did you mean length\?\)$/) });
  });

  it('gives a JSON syntax error its line and column', () => {
    const dir = writeCases([mkCase('a/good', [alloc])]);
    writeFileSync(join(dir, 'a', 'broken.json'), '{\n  "id": "a/broken",\n  "title" "x"\n}\n');
    const { invalid } = loadCases([dir]);
    expect(invalid).toEqual([{ path: expect.stringMatching(/a\/broken\.json$/), rule: 'json', message: expect.stringMatching(/^not JSON \(line 3, column 11\): /) }]);
    expect(jsonErrorWhere('ab', 'Unexpected token in JSON at line 4 column 2')).toEqual({ line: 4, column: 2 });
  });

  it('reports a stray file in a cases folder, and leaves *.md, *.test.ts and hidden files alone', () => {
    const dir = writeCases([mkCase('a/good', [alloc])]);
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b', 'case.jsonc'), '{}');
    writeFileSync(join(dir, 'README.md'), '# cases');
    writeFileSync(join(dir, 'b', 'x.test.ts'), '');
    writeFileSync(join(dir, 'b', '.gitkeep'), '');
    const { cases, invalid } = loadCases([dir]);
    expect(cases).toHaveLength(1);
    expect(invalid).toEqual([{ path: expect.stringMatching(/b\/case\.jsonc$/), rule: 'case-file-name', message: expect.stringMatching(/^not a case file/) }]);
  });

  it('an invalid case file never runs, is counted apart, and JUnit counts it as an error', async () => {
    const dir = writeCases([{ ...mkCase('a/op', [{ op: 'IOMMU_IOAS_ALOC' }]) }]);
    const { invalid } = loadCases([dir]);
    const r = await runCases([mkCase('a/good', [alloc])], () => createToyAdapter(), { invalid });
    expect(r.cases.map((c) => c.id)).toEqual(['a/good']);
    expect(r.summary.invalid_cases).toBe(1);
    expect(r.summary.by_result.fail).toBe(0);
    expect(renderJunit(r)).toMatch(/<testsuites [^>]*tests="2" failures="0" errors="1"/);
    expect(renderJunit(r)).toContain('<testsuite name="ioasid.invalid-cases" tests="1" failures="0" errors="1"');
  });

  it('a step that cannot compile when it runs makes the case invalid, not error and not fail', async () => {
    const r = await runCases([mkCase('a/capture', [{ op: 'IOMMU_DESTROY', arg: { id: '$never' }, errno: 'ENOENT' }])], () => createToyAdapter());
    expect(byId(r, 'a/capture')).toMatchObject({ result: 'invalid', message: expect.stringMatching(/^case error: step 0 IOMMU_DESTROY: /) });
    expect(r.summary.by_result.invalid).toBe(1);
  });
});
