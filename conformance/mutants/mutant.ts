/**
 * A mutant: one realistic bug a kernel port or a fake /dev/iommu might have, seeded into the
 * reference for one run so that the suite can prove it notices. Each mutant is one file in
 * bugs/ plus a line in registry.ts.
 *
 * A mutant prefers patching the engine (reference/iommufd/*) through `install`, which keeps the
 * reference's state consistent with its own wrong answers, as a real implementation's would be.
 * Where the bug sits in a free function nobody can patch, `wrapAdapter` may rewrite what the
 * adapter is given or answers, again the way the buggy implementation would behave.
 */
import type { Adapter } from '../../schemas/lib/adapter.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import type { Restore } from './patch.ts';

export interface Mutant {
  /** Stable kebab-case name (`ioasid conform --mutant <name>` would take it). */
  readonly name: string;
  /** The bug, as a port would have written it. */
  readonly models: string;
  /** Spec clauses (spec/*.md) the bug violates. */
  readonly violates: readonly string[];
  /**
   * Case-id globs where the suite is expected to catch it; the test runs only these (speed).
   * They say where to look, not which case must fail.
   */
  readonly areas: readonly string[];
  /** Seeds the bug into the engine; the returned function takes it out again. */
  install?(): Restore;
  /** Seeds the bug at the adapter boundary instead (or as well). */
  wrapAdapter?(inner: Adapter, catalog: UapiCatalog): Adapter;
}
