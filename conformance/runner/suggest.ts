/**
 * "Did you mean": the known names closest to a mistyped one (Levenshtein distance, at most a
 * third of the name's length), for case ids, ops, errno names and struct fields.
 */

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest known names (up to three, all at the smallest distance); [] when none is close. */
export function closest(name: string, known: Iterable<string>): string[] {
  const limit = Math.max(1, Math.floor(name.length / 3));
  const scored: [string, number][] = [];
  const lower = name.toLowerCase();
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= limit) scored.push([k, d]);
  }
  if (scored.length === 0) return [];
  const best = Math.min(...scored.map(([, d]) => d));
  return scored.filter(([, d]) => d === best).map(([k]) => k).sort().slice(0, 3);
}

/** ` (did you mean X or Y?)`, or '' when nothing is close. */
export function suggest(name: string, known: Iterable<string>): string {
  const c = closest(name, known);
  return c.length === 0 ? '' : ` (did you mean ${c.join(' or ')}?)`;
}
