/**
 * `ioasid spec diff` on two folders (a uAPI change plus clause changes, the impacted cases, the
 * JSON document valid against spec-diff.schema.json), on two revisions of this repository's
 * own history, and its usage errors.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runSpecDiff, specDiffOf } from '../../cli/commands/spec-diff.ts';
import { SCHEMAS_DIR } from '../../schemas/lib/catalog.ts';
import { validateBySchemaId } from '../../schemas/lib/validate.ts';
import { REPO_ROOT } from './case-loader.ts';
import { resolveCommit } from './spec-snapshot.ts';

const root = mkdtempSync(join(tmpdir(), 'ioasid-specdiff-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function side(name: string, spec: string, cases: Record<string, string[]>, editMap?: (s: Record<string, any>) => void): string {
  const dir = join(root, name);
  cpSync(join(SCHEMAS_DIR, 'uapi'), join(dir, 'schemas', 'uapi'), { recursive: true });
  cpSync(join(SCHEMAS_DIR, 'defs'), join(dir, 'schemas', 'defs'), { recursive: true });
  if (editMap) {
    const p = join(dir, 'schemas', 'uapi', 'iommu-ioas-map.schema.json');
    const s = JSON.parse(readFileSync(p, 'utf8'));
    editMap(s);
    writeFileSync(p, JSON.stringify(s));
  }
  mkdirSync(join(dir, 'spec'), { recursive: true });
  writeFileSync(join(dir, 'spec', 'ioas.md'), spec);
  for (const [id, clauses] of Object.entries(cases)) {
    const p = join(dir, 'conformance', 'cases', `${id}.json`);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, JSON.stringify({ id, title: id, clauses, steps: [{ op: 'IOMMU_IOAS_MAP' }] }));
  }
  return dir;
}

const OLD_SPEC = `# IOAS\n\n**MAP-1.** MAP maps the range.\nIt pins the pages.\n\n**MAP-2.** A bad flag gives EOPNOTSUPP.\n\n**MAP-3.** Gone later.\n`;
const NEW_SPEC = `# IOAS\n\n**MAP-1.** MAP maps the range.\n  It pins   the pages.\n\n**MAP-2.** A bad flag gives EINVAL.\n\n**MAP-4.** A new rule.\n`;

describe('spec diff of two folders', () => {
  const a = side('a', OLD_SPEC, { 'ioas/map/ok': ['MAP-1'], 'ioas/map/bad-flag': ['MAP-2'], 'ioas/map/old': ['MAP-3'] });
  const b = side('b', NEW_SPEC, { 'ioas/map/ok': ['MAP-1'], 'ioas/map/bad-flag': ['MAP-2'], 'ioas/map/new': ['MAP-4'] }, (s) => {
    s['x-ioctl'].nr = 140;
    s['x-ioctl'].request = 0x3b00 + 140;
  });
  const { diff, markdown } = specDiffOf(a, b);

  it('classifies the uAPI change and gives the verdict', () => {
    expect(diff.verdict).toBe('breaking');
    expect(diff.changes).toEqual([expect.objectContaining({ kind: 'breaking', what: 'ioctl-renumbered', item: 'ioctl', path: 'IOMMU_IOAS_MAP' })]);
  });
  it('names the cases that call the ioctl a breaking change touches', () => {
    expect(diff.ioctl_cases).toEqual({ IOMMU_IOAS_MAP: ['ioas/map/bad-flag', 'ioas/map/new', 'ioas/map/ok'] });
    expect(markdown).toContain('- `IOMMU_IOAS_MAP`: 3 case(s): ioas/map/bad-flag, ioas/map/new, ioas/map/ok');
  });
  it('lists clauses added, removed and changed (whitespace alone is no change), with the cases citing them', () => {
    expect(diff.clauses.added).toEqual([{ id: 'MAP-4', file: 'spec/ioas.md', cases: ['ioas/map/new'] }]);
    expect(diff.clauses.removed).toEqual([{ id: 'MAP-3', file: 'spec/ioas.md', cases: ['ioas/map/old'] }]);
    expect(diff.clauses.changed).toEqual([{ id: 'MAP-2', file: 'spec/ioas.md', cases: ['ioas/map/bad-flag'] }]);
    expect(diff.impacted_cases).toEqual(['ioas/map/bad-flag', 'ioas/map/new', 'ioas/map/old']);
  });
  it('is a valid spec-diff.schema.json document, and the schema rejects a wrong verdict', () => {
    expect(validateBySchemaId('spec-diff.schema.json', diff)).toBeNull();
    expect(validateBySchemaId('spec-diff.schema.json', { ...diff, verdict: 'maybe' })).not.toBeNull();
  });
  it('renders Markdown for a review comment, with the changed paragraph old and new', () => {
    expect(markdown).toMatch(/^# Spec diff: /);
    expect(markdown).toContain('**Verdict: breaking**');
    expect(markdown).toContain('| ioctl-renumbered | `IOMMU_IOAS_MAP` |');
    expect(markdown).toContain('  - **MAP-2.** A bad flag gives EOPNOTSUPP.');
    expect(markdown).toContain('  + **MAP-2.** A bad flag gives EINVAL.');
  });
  it('two identical folders: verdict none, nothing listed', () => {
    const same = specDiffOf(a, a).diff;
    expect(same.verdict).toBe('none');
    expect(same.changes).toEqual([]);
    expect(same.clauses).toEqual({ added: [], removed: [], changed: [] });
  });
});

describe('spec diff: cases calling the ioctls a value change touches', () => {
  it('a flag removed from iommufd_ioas_map_flags names the ioctls whose fields carry the set (MAP, MAP_FILE, COPY) and their cases', () => {
    const cases = { 'ioas/map/ok': ['MAP-1'] };
    const a = side('flags-a', OLD_SPEC, cases);
    const b = side('flags-b', OLD_SPEC, cases);
    const enums = join(b, 'schemas', 'defs', 'enums.schema.json');
    const e = JSON.parse(readFileSync(enums, 'utf8'));
    delete e.$defs.iommufd_ioas_map_flags['x-values'].IOMMU_IOAS_MAP_READABLE;
    writeFileSync(enums, JSON.stringify(e));
    const { diff } = specDiffOf(a, b);
    expect(diff.changes.map((c) => `${c.kind} ${c.what} ${c.path}`)).toEqual(['breaking flag-removed iommufd_ioas_map_flags.IOMMU_IOAS_MAP_READABLE']);
    expect(Object.keys(diff.ioctl_cases)).toEqual(['IOMMU_IOAS_COPY', 'IOMMU_IOAS_MAP', 'IOMMU_IOAS_MAP_FILE']);
    expect(diff.ioctl_cases.IOMMU_IOAS_MAP).toEqual(['ioas/map/ok']);
    expect(diff.ioctl_cases.IOMMU_IOAS_COPY).toEqual([]);
  });
});

describe('spec diff on this repository\'s history', () => {
  // iommu_hwpt_selftest gained pagetable_type (and MOCK_IOMMUPT_*) in 5363698.
  const commit = resolveCommit(REPO_ROOT, '5363698');
  it.skipIf(commit === undefined)('the selftest struct change of 5363698 is a compatible append of driver data', () => {
    const { diff } = specDiffOf('5363698~1', '5363698');
    expect(diff.verdict).toBe('compatible');
    expect(diff.changes.map((c) => `${c.kind} ${c.what} ${c.path}`)).toEqual([
      'compatible field-appended struct iommu_hwpt_selftest.pagetable_type',
      'compatible set-added mock_iommupt_type',
    ]);
    expect(diff.new.commit).toBe(commit);
  });
});

describe('spec diff usage errors', () => {
  it('names the argument that is neither a folder nor a revision, exit 2', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runSpecDiff(['HEAD', 'no-such-revision-xyz'])).toBe(2);
      expect(String(err.mock.calls.map((c) => c[0]).join(''))).toContain("argument 'no-such-revision-xyz'");
      expect(await runSpecDiff(['HEAD'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
