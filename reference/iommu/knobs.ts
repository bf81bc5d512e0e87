/**
 * Topology knobs of an IOMMU unit model: the object a topology gives a bridge's `iommu`
 * (`{"model": "intel-vtd", "levels": 5}`). Each model declares its knobs with a default and a
 * rule; reading them rejects unknown keys and bad values with a KnobError that names the key,
 * so a wrong topology fails before anything is built.
 *
 * Invariant: a model never sees a knob value that its declaration did not accept.
 */

export class KnobError extends Error {
  constructor(
    readonly model: string,
    readonly key: string,
    readonly rule: string,
  ) {
    super(`iommu model '${model}': knob '${key}': ${rule}`);
    this.name = 'KnobError';
  }
}

export type KnobValue = boolean | number | string | string[] | KnobObject[];
export interface KnobObject {
  [key: string]: number | string | boolean;
}

/** One knob: its default and a check that returns an error sentence or null. */
export interface KnobSpec<T> {
  default: T;
  check(value: unknown): string | null;
}

export function intKnob(defaultValue: number, allowed: readonly number[]): KnobSpec<number> {
  return {
    default: defaultValue,
    check: (v) =>
      typeof v === 'number' && Number.isInteger(v) && allowed.includes(v)
        ? null
        : `must be one of ${allowed.join(', ')}`,
  };
}

export function rangeKnob(defaultValue: number, min: number, max: number): KnobSpec<number> {
  return {
    default: defaultValue,
    check: (v) =>
      typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
        ? null
        : `must be an integer in ${min}..${max}`,
  };
}

export function boolKnob(defaultValue: boolean): KnobSpec<boolean> {
  return { default: defaultValue, check: (v) => (typeof v === 'boolean' ? null : 'must be true or false') };
}

export function enumKnob<T extends string>(defaultValue: T, allowed: readonly T[]): KnobSpec<T> {
  return {
    default: defaultValue,
    check: (v) =>
      typeof v === 'string' && (allowed as readonly string[]).includes(v)
        ? null
        : `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`,
  };
}

/** A set of names given as an array without repeats, e.g. granules ["4K","64K"]. */
export function setKnob<T extends string>(
  defaultValue: readonly T[],
  allowed: readonly T[],
  minCount = 0,
): KnobSpec<T[]> {
  return {
    default: [...defaultValue],
    check: (v) => {
      if (!Array.isArray(v)) return `must be an array of ${allowed.map((a) => `"${a}"`).join(', ')}`;
      if (v.length < minCount) return `must name at least ${minCount}`;
      const seen = new Set<string>();
      for (const item of v) {
        if (typeof item !== 'string' || !(allowed as readonly string[]).includes(item)) {
          return `unknown entry ${JSON.stringify(item)}; allowed ${allowed.map((a) => `"${a}"`).join(', ')}`;
        }
        if (seen.has(item)) return `repeats "${item}"`;
        seen.add(item);
      }
      return null;
    },
  };
}

export type KnobSpecs = Record<string, KnobSpec<unknown>>;
export type KnobValues<S extends KnobSpecs> = { [K in keyof S]: S[K] extends KnobSpec<infer T> ? T : never };

/**
 * Reads a topology `iommu` object against the specs: `model` must match, every other key must
 * be declared and pass its check; absent keys take their default.
 */
export function readKnobs<S extends KnobSpecs>(model: string, specs: S, input: Record<string, unknown>): KnobValues<S> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new KnobError(model, 'iommu', 'must be an object');
  }
  if (input.model !== undefined && input.model !== model) {
    throw new KnobError(model, 'model', `must be "${model}"`);
  }
  for (const key of Object.keys(input)) {
    if (key === 'model') continue;
    if (!Object.prototype.hasOwnProperty.call(specs, key)) {
      throw new KnobError(model, key, `unknown knob; known: ${Object.keys(specs).join(', ')}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    if (input[key] === undefined) {
      out[key] = structuredClone(spec.default);
      continue;
    }
    const why = spec.check(input[key]);
    if (why !== null) throw new KnobError(model, key, why);
    out[key] = structuredClone(input[key]);
  }
  return out as KnobValues<S>;
}

/** The defaults as a plain object: what a model documents and `describe` prints. */
export function knobDefaults(specs: KnobSpecs): Record<string, unknown> {
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, structuredClone(s.default)]));
}
