/**
 * The result vocabulary of a conformance run and which results count as failures. Kept in
 * step with schemas/report.schema.json#/$defs/result (a test checks the two agree).
 */

export const RESULTS = [
  'pass',
  'fail',
  'unsupported',
  'error',
  'timeout',
  'crash',
  'expected fail',
  'unexpected pass',
  'skipped',
] as const;

export type CaseResultName = (typeof RESULTS)[number];

/** Results that make `ioasid conform` exit non-zero. */
export const FAILING_RESULTS: ReadonlySet<CaseResultName> = new Set([
  'fail',
  'error',
  'timeout',
  'crash',
  'unexpected pass',
]);

/** Results that an expectations entry `fail` turns into `expected fail`. */
export const FAILURE_OUTCOMES: ReadonlySet<CaseResultName> = new Set(['fail', 'error', 'timeout', 'crash']);

export function emptyCounts(): Record<CaseResultName, number> {
  return Object.fromEntries(RESULTS.map((r) => [r, 0])) as Record<CaseResultName, number>;
}

/** The area of a case: the first segment of its id. */
export function areaOf(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 ? id : id.slice(0, slash);
}
