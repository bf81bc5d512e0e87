import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCases } from './case-loader.ts';
import { coverage, coverageFailed, loadClauses, parseClauses } from './spec-coverage.ts';
import { mkCase, tempDir, writeCases } from './testing/fixtures.ts';

const SPEC = `# IOAS

**IOAS-MAP-1.** An IOMMU_IOAS_MAP without FIXED_IOVA picks an IOVA.
It may span lines.

**IOAS-MAP-FIXED-2.** A FIXED_IOVA map over an existing area fails with EEXIST.

Text that mentions **IOAS-MAP-9.** inside a sentence
**IOAS-MAP-8.** does not start a paragraph, so it is no clause.

\`\`\`
**IOAS-CODE-1.** in a code block is no clause either.
\`\`\`

**lower-1.** not an id.
`;

describe('spec clauses', () => {
  it('are paragraphs opening with a bold id and a period', () => {
    expect(parseClauses(SPEC, 'spec/ioas.md').map((c) => [c.id, c.line])).toEqual([['IOAS-MAP-1', 3], ['IOAS-MAP-FIXED-2', 6]]);
  });
  it('coverage lists the citing cases and fails on gaps and unknown citations', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'spec'));
    writeFileSync(join(dir, 'spec', 'ioas.md'), SPEC);
    const cases = writeCases([
      mkCase('ioas/a', [{ op: 'IOMMU_IOAS_ALLOC' }], { clauses: ['IOAS-MAP-1'] }),
      mkCase('ioas/b', [{ op: 'IOMMU_IOAS_ALLOC' }], { clauses: ['IOAS-MAP-1', 'IOAS-NOPE-3'] }),
    ], dir);
    const cov = coverage(loadClauses(join(dir, 'spec')), loadCases([cases]).cases);
    expect(cov.clauses.map((c) => [c.id, c.cases])).toEqual([['IOAS-MAP-1', ['ioas/a', 'ioas/b']], ['IOAS-MAP-FIXED-2', []]]);
    expect(cov.uncovered).toEqual(['IOAS-MAP-FIXED-2']);
    expect(cov.unknown).toEqual([{ case: 'ioas/b', clause: 'IOAS-NOPE-3' }]);
    expect(coverageFailed(cov)).toBe(true);
    const full = coverage(parseClauses('**A-1.** x\n', 'a.md'), loadCases([writeCases([mkCase('a/a', [], { clauses: ['A-1'] })])]).cases);
    expect(coverageFailed(full)).toBe(false);
  });
});
