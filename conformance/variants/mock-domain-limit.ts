/**
 * The `mock_domain_limit` variant of the selftest fixture iommufd_ioas, derived from the
 * `.mock-domain` cases: the same test with one mock domain, after IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT
 * set the kernel's temporary buffers to 16 bytes (one pfn_batch element), which forces every
 * PFN walk of pages.c through one-run batches. The fixture sets the limit right after it
 * allocates the IOAS and before it creates the mock domain; the derived case does the same.
 *
 * Invariant: every `.mock-domain-limit` case is exactly `deriveMockDomainLimit` of its
 * `.mock-domain` sibling (mock-domain-limit.test.ts checks it), so a fix to a `.mock-domain`
 * case is made once and carried over by running this file:
 *   node --import tsx conformance/variants/mock-domain-limit.ts
 */

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../../schemas/lib/package-root.ts';

/** The fixture variant's memory_limit. */
export const MOCK_DOMAIN_LIMIT_BYTES = 16;
/** The clause every derived case cites besides those of its source case. */
export const TEMP_MEMORY_CLAUSE = 'IOAS-TEMPMEM-2';

const FROM_SUFFIX = '.mock-domain';
const TO_SUFFIX = '.mock-domain-limit';
const FROM_SOURCE = 'iommufd_ioas.mock_domain.';
const TO_SOURCE = 'iommufd_ioas.mock_domain_limit.';

interface Step {
  op: string;
  [field: string]: unknown;
}

export interface CaseJson {
  id: string;
  title: string;
  clauses: string[];
  requires?: string[];
  source?: string;
  note?: string;
  steps: Step[];
  [field: string]: unknown;
}

/** Whether a case is a `.mock-domain` port of an iommufd_ioas test, the variant's source. */
export function isMockDomainSource(c: CaseJson): boolean {
  return c.id.endsWith(FROM_SUFFIX) && (c.source ?? '').startsWith(FROM_SOURCE);
}

/** The derived case's id. */
export function limitVariantId(id: string): string {
  return id.slice(0, -FROM_SUFFIX.length) + TO_SUFFIX;
}

export function deriveMockDomainLimit(c: CaseJson): CaseJson {
  if (!isMockDomainSource(c)) throw new Error(`${c.id} is not a .mock-domain port of iommufd_ioas`);
  const allocAt = c.steps.findIndex((s) => s.op === 'IOMMU_IOAS_ALLOC');
  if (allocAt < 0) throw new Error(`${c.id} allocates no IOAS`);
  const setLimit: Step = { op: 'SET_TEMP_MEMORY_LIMIT', arg: { limit: MOCK_DOMAIN_LIMIT_BYTES } };
  const steps = [...c.steps.slice(0, allocAt + 1), setLimit, ...c.steps.slice(allocAt + 1)];
  const out: CaseJson = { ...c };
  out.id = limitVariantId(c.id);
  out.title = `${c.title} (temporary memory limit ${MOCK_DOMAIN_LIMIT_BYTES} bytes)`;
  out.clauses = [...c.clauses, TEMP_MEMORY_CLAUSE];
  out.requires = [...(c.requires ?? []), 'test:temp-memory-limit'];
  out.source = TO_SOURCE + c.source!.slice(FROM_SOURCE.length);
  const why = `Derived from ${c.id} by conformance/variants/mock-domain-limit.ts; edit that case, not this one.`;
  out.note = c.note === undefined ? why : `${c.note} ${why}`;
  out.steps = steps;
  return out;
}

export function caseText(c: CaseJson): string {
  return `${JSON.stringify(c, null, 2)}\n`;
}

/** Every case file below `dir`, sorted. */
export function caseFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...caseFiles(path));
    else if (name.endsWith('.json')) out.push(path);
  }
  return out.sort();
}

/** The derived file of each `.mock-domain` source case below `casesDir`: path → text. */
export function derivedFiles(casesDir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const path of caseFiles(casesDir)) {
    const c = JSON.parse(readFileSync(path, 'utf8')) as CaseJson;
    if (!isMockDomainSource(c)) continue;
    out.set(path.slice(0, -`${FROM_SUFFIX}.json`.length) + `${TO_SUFFIX}.json`, caseText(deriveMockDomainLimit(c)));
  }
  return out;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = derivedFiles(join(PACKAGE_ROOT, 'conformance', 'cases'));
  for (const [path, text] of files) writeFileSync(path, text);
  console.log(`wrote ${files.size} .mock-domain-limit cases`);
}
