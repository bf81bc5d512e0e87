/**
 * A nested walk that checks the stage-1 access rights (R/W, U/S) of the leaf only, as a port
 * that reuses a single-stage leaf decoder would: a read-only or supervisor-only entry higher up
 * the guest's table no longer protects what lies below it.
 */
import { ProfileUnit } from '../../../reference/iommu/profile-unit.ts';
import type { NestedDomain, Result, Stage1Walk } from '../../../reference/iommu/unit.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const nestedPermsLeafOnly: Mutant = {
  name: 'nested-perms-leaf-only',
  models: 'stage-1 R/W and U/S are taken from the leaf entry only, not ANDed over the walk',
  violates: ['NEST-VTD-4'],
  areas: ['nesting/*'],
  install: () => Patches.install((p) => p.method(ProfileUnit.prototype, 'nestedOn', (original) => function (this: ProfileUnit, ...args: unknown[]): Result<NestedDomain> {
    const r = original.apply(this, args) as Result<NestedDomain>;
    if (!r.ok || r.value.stage1 === undefined) return r;
    const stage1 = r.value.stage1;
    r.value.stage1 = (req) => {
      const w = stage1(req);
      if ('fault' in w || !('rules' in w)) return w;
      const rules = w.rules;
      // BUG: only the last entry of the path is looked at.
      return { ...w, rules: { ...rules, permits: (path, write) => rules.permits(path.slice(-1), write) } } satisfies Stage1Walk;
    };
    return r;
  })),
};
