/**
 * `ioasid report merge`: combines the reports of the shards of one run (same implementation,
 * same suite) into one. A case id in two inputs is an error (the shards overlap). The merged
 * report is complete only when every input is and, for sharded inputs, every shard 1..n is
 * present exactly once.
 */
import { summarize } from './summary.ts';
import type { InvalidCase, Report } from './types.ts';

export class MergeError extends Error {}

export function mergeReports(reports: Report[], commandLine: string[]): Report {
  if (reports.length === 0) throw new MergeError('nothing to merge');
  const first = reports[0];
  const implKey = (r: Report) => (r.implementation ? `${r.implementation.name} ${r.implementation.version}` : 'unknown');
  for (const r of reports) {
    if (implKey(r) !== implKey(first)) throw new MergeError(`cannot merge reports of different implementations: ${implKey(first)} and ${implKey(r)}`);
    if (r.run.suite.version !== first.run.suite.version || r.run.suite.commit !== first.run.suite.commit) {
      throw new MergeError(`cannot merge reports of different suites: ${first.run.suite.version}@${first.run.suite.commit} and ${r.run.suite.version}@${r.run.suite.commit}`);
    }
  }
  const ids = new Map<string, number>();
  const cases: Report['cases'] = [];
  reports.forEach((r, i) => {
    for (const c of r.cases) {
      if (ids.has(c.id)) throw new MergeError(`case ${c.id} is in input ${ids.get(c.id)! + 1} and input ${i + 1}: the shards overlap`);
      ids.set(c.id, i);
      cases.push(c);
    }
  });
  cases.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const invalid = new Map<string, InvalidCase>();
  for (const r of reports) for (const i of r.invalid_cases) invalid.set(`${i.path}\u0000${i.pointer ?? ''}\u0000${i.rule}`, i);
  let completed = reports.every((r) => r.completed);
  const reasons = reports.filter((r) => r.abort_reason).map((r) => r.abort_reason!);
  const shards = reports.map((r) => r.run.shard).filter((s): s is { index: number; count: number } => s !== undefined);
  if (shards.length > 0) {
    const n = shards[0].count;
    const got = new Set(shards.map((s) => s.index));
    const missing = Array.from({ length: n }, (_, k) => k + 1).filter((k) => !got.has(k));
    if (shards.some((s) => s.count !== n) || shards.length !== reports.length) throw new MergeError('the inputs are not shards of one split (--shard i/n with one n)');
    if (got.size !== shards.length) throw new MergeError('a shard is given twice');
    if (missing.length > 0) {
      completed = false;
      reasons.push(`shard(s) ${missing.map((k) => `${k}/${n}`).join(', ')} missing`);
    }
  }
  const total = reports.reduce((s, r) => s + r.summary.total, 0);
  const run: Report['run'] = {
    ...first.run,
    command_line: commandLine,
    restarts: reports.reduce((s, r) => s + r.run.restarts, 0),
    started_at: reports.map((r) => r.run.started_at).sort()[0],
    finished_at: reports.map((r) => r.run.finished_at).sort().at(-1)!,
    duration_ms: Math.max(...reports.map((r) => r.run.duration_ms)),
    cases: [...new Set(reports.flatMap((r) => r.run.cases))],
  };
  delete run.shard;
  const caps = new Set(reports.flatMap((r) => r.capabilities));
  const merged: Report = {
    format: 'ioasid-report',
    report_version: 1,
    run,
    completed,
    implementation: first.implementation,
    protocol: first.protocol,
    capabilities: [...caps].sort(),
    smoke: reports.find((r) => !r.smoke.ok)?.smoke ?? first.smoke,
    summary: summarize(cases, total, invalid.size),
    cases,
    invalid_cases: [...invalid.values()],
  };
  if (reasons.length > 0) merged.abort_reason = reasons.join('; ');
  return merged;
}
