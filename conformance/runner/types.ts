/**
 * The runner's names for the shapes of the JSON contracts it reads and writes: a golden case
 * (schemas/case.schema.json) and a conformance report (schemas/report.schema.json). Every one
 * is a type generated from its schema (schemas/generated/, `npx ioasid gen types`), re-exported
 * here under the name the runner uses; nothing is declared by hand but LoadedCase, which is
 * the runner's own record of a case it loaded and crosses no boundary.
 */
import type { GoldenCase, Topology } from '../../schemas/generated/case.ts';
import type { Json, JsonObject } from '../../schemas/lib/adapter.ts';

export type { Json, JsonObject };
export type { CaseStep, Fields, GoldenCase, Topology, Value } from '../../schemas/generated/case.ts';
export type {
  CaseResult as CaseReport,
  ConformanceReport as Report,
  Counts,
  Failure,
  InvalidCase,
  RunConfig,
  Smoke as SmokeReport,
  StepRef,
} from '../../schemas/generated/report.ts';

/**
 * A protocol union (IoctlResult, TestResult, RpcResponse) read field by field, as the runner
 * reads an answer the session already checked against its schema: every field of every
 * member, each optional.
 */
export type AnyMember<U> = Partial<(U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never>;

/** A case as loaded: the file's content plus where it came from and its resolved topology. */
export interface LoadedCase {
  case: GoldenCase;
  path: string;
  topology: Topology;
  /** requires ∪ the capabilities of the test hooks its steps use. */
  effectiveRequires: string[];
}
