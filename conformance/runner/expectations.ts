/**
 * The expectations file (`--expectations <file>`): known failures and skips of an
 * implementation, so that a run can be green while they are being fixed, and goes red when
 * one is fixed without the file being updated (an `unexpected pass`). One entry a line:
 *
 *     <case id or glob>  fail|skip  [reason…]        # comments and blank lines are ignored
 *
 * The first matching line wins. Entries follow conformance/renames.json: a line naming an old
 * id also matches the case's new id.
 */
import { readFileSync } from 'node:fs';
import { globMatches } from './glob.ts';
import { FAILURE_OUTCOMES } from './results.ts';
import type { CaseReport } from './types.ts';

export interface Expectation {
  pattern: string;
  expect: 'fail' | 'skip';
  reason?: string;
  line: number;
}

export class ExpectationsError extends Error {}

export function parseExpectations(text: string, file = '<expectations>'): Expectation[] {
  const out: Expectation[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') return;
    const m = /^(\S+)\s+(fail|skip)(?:\s+(.*))?$/.exec(line);
    if (!m) throw new ExpectationsError(`${file}:${i + 1}: expected '<case id or glob> fail|skip [reason]', got '${raw.trim()}'`);
    const e: Expectation = { pattern: m[1], expect: m[2] as 'fail' | 'skip', line: i + 1 };
    if (m[3]) e.reason = m[3];
    out.push(e);
  });
  return out;
}

export function loadExpectations(file: string): Expectation[] {
  return parseExpectations(readFileSync(file, 'utf8'), file);
}

/** The expectation for a case id (old names from renames.json included), if any. */
export function expectationFor(list: Expectation[], id: string, oldIds: readonly string[] = []): Expectation | undefined {
  return list.find((e) => [id, ...oldIds].some((x) => globMatches(e.pattern, x)));
}

/** Applies an expectation to a case that ran: fail → expected fail / unexpected pass. */
export function applyExpectation(report: CaseReport, e: Expectation | undefined): CaseReport {
  if (!e || e.expect !== 'fail') return report;
  const r: CaseReport = { ...report, expectation: { pattern: e.pattern, expect: e.expect, ...(e.reason ? { reason: e.reason } : {}) } };
  if (FAILURE_OUTCOMES.has(report.result)) {
    r.outcome = report.result;
    r.result = 'expected fail';
  } else if (report.result === 'pass') {
    r.outcome = 'pass';
    r.result = 'unexpected pass';
    r.message = `passed, but the expectations file lists it as failing (${e.pattern}, line ${e.line}): remove the line`;
  }
  return r;
}

/** The lines whose pattern matches none of the ids (old names from renames.json included). */
export function unmatchedExpectations(list: Expectation[], ids: readonly string[], oldIdsOf: (id: string) => readonly string[] = () => []): Expectation[] {
  const all = ids.flatMap((id) => [id, ...oldIdsOf(id)]);
  return list.filter((e) => !all.some((id) => globMatches(e.pattern, id)));
}
