/**
 * TypeScript shapes of the three JSON contracts this runner reads and writes: a golden case
 * (schemas/case.schema.json), a conformance report (schemas/report.schema.json) and the pieces
 * of the protocol the runner builds. They mirror the schemas by hand until schemas/generated/
 * carries the generated types; the schemas stay the source of truth, and every value that
 * crosses a boundary is validated against them, so a drift here shows up as a failing test.
 */
import type { Json, JsonObject } from '../../schemas/lib/adapter.ts';
import type { CaseResultName } from './results.ts';

export type { Json, JsonObject };

export interface Topology {
  name?: string;
  title?: string;
  note?: string;
  bridges: { name: string; iommu: { model: string; [knob: string]: Json } }[];
  devices: { name: string; bridge: string; flags?: string[]; group?: string }[];
  process?: { drop?: string[] };
}

export interface CaseStep {
  op: string;
  fd?: number;
  process?: Json;
  arg?: JsonObject;
  argv?: Json;
  argp?: Json;
  out?: JsonObject;
  errno?: string | string[];
  copied_back?: boolean;
  label?: string;
  fail_nth?: boolean;
  note?: string;
}

export interface GoldenCase {
  id: string;
  title: string;
  clauses: string[];
  requires?: string[];
  topology?: string | Topology;
  source?: string;
  note?: string;
  steps: CaseStep[];
}

/** A case as loaded: the file's content plus where it came from and its resolved topology. */
export interface LoadedCase {
  case: GoldenCase;
  path: string;
  topology: Topology;
  /** requires ∪ the capabilities of the test hooks its steps use. */
  effectiveRequires: string[];
}

export interface InvalidCase {
  path: string;
  pointer?: string;
  rule: string;
  message: string;
}

export interface StepRef {
  index: number;
  label?: string;
  op: string;
  fail_nth?: number;
}

export interface Failure {
  step: StepRef | null;
  field?: string;
  expected?: Json;
  actual?: Json;
  message: string;
}

export interface CaseReport {
  id: string;
  title: string;
  area: string;
  path?: string;
  clauses: string[];
  requires: string[];
  result: CaseResultName;
  outcome?: CaseResultName;
  duration_ms: number;
  steps_run?: number;
  message?: string;
  failure?: Failure;
  missing?: string[];
  fail_nth?: { steps: number; attempts: number };
  expectation?: { pattern: string; expect: 'fail' | 'skip'; reason?: string };
  diagnostics?: string;
}

export type Counts = Record<CaseResultName, number>;

export interface RunConfig {
  command_line: string[];
  suite: { version: string; commit: string | null; interpreting?: string };
  adapter: { kind: 'reference' | 'stdio' | 'module'; spec: string; command?: string };
  timeouts: { hello_ms: number; case_ms: number };
  restart_budget: number;
  restarts: number;
  cases: string[];
  filter?: string[];
  shard?: { index: number; count: number };
  expectations?: string;
  requires?: string[];
  skip_features?: string[];
  bail: boolean;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  host: { node: string; platform: string };
}

export interface SmokeReport {
  ok: boolean;
  message: string;
  steps?: { what: string; ok: boolean; detail?: string }[];
}

export interface Report {
  format: 'ioasid-report';
  report_version: 1;
  run: RunConfig;
  completed: boolean;
  abort_reason?: string;
  implementation: { name: string; version: string; homepage?: string; language?: string } | null;
  protocol: number | null;
  capabilities: string[];
  smoke: SmokeReport;
  summary: {
    total: number;
    not_run: number;
    invalid_cases: number;
    by_result: Counts;
    by_area: Record<string, Counts>;
  };
  cases: CaseReport[];
  invalid_cases: InvalidCase[];
}
