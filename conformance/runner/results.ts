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
  'flaky',
  'invalid',
] as const;

export type CaseResultName = (typeof RESULTS)[number];

/**
 * Results that make `ioasid conform` exit non-zero. `invalid` is the case author's mistake, not
 * the implementation's, but a run with an unusable case is not green either. `flaky` is not
 * among them: the case passed at least once, and the report says it did not always.
 */
export const FAILING_RESULTS: ReadonlySet<CaseResultName> = new Set([
  'fail',
  'error',
  'timeout',
  'crash',
  'unexpected pass',
  'invalid',
]);

/**
 * Results that an expectations entry `fail` turns into `expected fail`: the implementation's
 * own wrong answers. An `error` (the adapter answered outside the protocol) and an `invalid`
 * case are never expected: they stay what they are.
 */
export const FAILURE_OUTCOMES: ReadonlySet<CaseResultName> = new Set(['fail', 'timeout', 'crash']);

export function emptyCounts(): Record<CaseResultName, number> {
  return Object.fromEntries(RESULTS.map((r) => [r, 0])) as Record<CaseResultName, number>;
}

/** The area of a case: the first segment of its id. */
export function areaOf(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 ? id : id.slice(0, slash);
}
