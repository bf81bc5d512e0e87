/**
 * A nested walk that sets the Accessed flag in the leaf only (as a single-stage markAccess
 * does), not in every stage-1 entry the walk used: the guest's page-table scanner never sees its
 * upper levels accessed.
 */
import { ProfileUnit } from '../../../reference/iommu/profile-unit.ts';
import type { NestedDomain, Result, Stage1Walk } from '../../../reference/iommu/unit.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const nestedAccessedLeafOnly: Mutant = {
  name: 'nested-accessed-leaf-only',
  models: 'A/EA/D are written to the stage-1 leaf only, not to every entry used',
  violates: ['NEST-VTD-5', 'NEST-WALK-5'],
  areas: ['nesting/*'],
  install: () => Patches.install((p) => p.method(ProfileUnit.prototype, 'nestedOn', (original) => function (this: ProfileUnit, ...args: unknown[]): Result<NestedDomain> {
    const r = original.apply(this, args) as Result<NestedDomain>;
    if (!r.ok || r.value.stage1 === undefined) return r;
    const stage1 = r.value.stage1;
    r.value.stage1 = (req) => {
      const w = stage1(req);
      if ('fault' in w || !('rules' in w)) return w;
      const rules = w.rules;
      // BUG: every entry but the leaf gets no bits.
      const accessBits = (path: Parameters<typeof rules.accessBits>[0], write: boolean) =>
        rules.accessBits(path, write).map((b, i) => (i === path.length - 1 ? b : { lo: 0, hi: 0 }));
      return { ...w, rules: { ...rules, accessBits } } satisfies Stage1Walk;
    };
    return r;
  })),
};
