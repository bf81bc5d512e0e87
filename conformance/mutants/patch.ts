/**
 * How a mutant changes the reference while it is installed: `patchMethod` swaps one method on a
 * class prototype (the engine's own code path, so a mutant is the bug a port would have, not a
 * rewritten answer) and returns the undo; `Patches` collects several so `install` can restore
 * them all, in reverse order, even when one of them fails half-way.
 *
 * Invariant: after `restore()` every patched prototype holds exactly the function it had before
 * (checked by identity in mutants.test.ts), so a mutant never leaks into the next run.
 */

export type Restore = () => void;

/**
 * Replaces `proto[name]` by `make(original)` until the returned undo runs. `name` may be a
 * TypeScript-private method: privacy is a compile-time notion, the prototype slot is real.
 */
export function patchMethod<T extends object>(proto: T, name: string, make: (original: (...args: any[]) => any) => (this: any, ...args: any[]) => any): Restore {
  const slots = proto as unknown as Record<string, unknown>;
  const had = Object.prototype.hasOwnProperty.call(proto, name);
  const original = slots[name];
  if (typeof original !== 'function') throw new Error(`patchMethod: ${proto.constructor?.name ?? 'prototype'}.${name} is not a method (the engine moved?)`);
  slots[name] = make(original as (...args: any[]) => any);
  return () => {
    if (had) slots[name] = original;
    else delete slots[name];
  };
}

/** A stack of undos for one installation. */
export class Patches {
  private readonly undos: Restore[] = [];

  method<T extends object>(proto: T, name: string, make: (original: (...args: any[]) => any) => (this: any, ...args: any[]) => any): this {
    this.undos.push(patchMethod(proto, name, make));
    return this;
  }

  restore(): void {
    while (this.undos.length > 0) this.undos.pop()!();
  }

  /** Runs `apply` and returns the undo; a failure half-way undoes what was patched. */
  static install(apply: (p: Patches) => void): Restore {
    const p = new Patches();
    try {
      apply(p);
    } catch (e) {
      p.restore();
      throw e;
    }
    return () => p.restore();
  }
}
