/**
 * Expected and actual side by side: both pretty-printed, and the lines that are not common to
 * the two (a longest-common-subsequence over lines) marked, so that the one field that differs
 * in a forty-line STATE dump stands out.
 */

export interface DiffLine {
  text: string;
  changed: boolean;
}

export function sideBySide(expected: unknown, actual: unknown): { expected: DiffLine[]; actual: DiffLine[] } {
  const a = (JSON.stringify(expected, null, 2) ?? 'undefined').split('\n');
  const b = (JSON.stringify(actual, null, 2) ?? 'undefined').split('\n');
  // LCS table over lines; reports are small (a capped number of lines keeps it quadratic-safe).
  const n = Math.min(a.length, 2000);
  const m = Math.min(b.length, 2000);
  const lcs: Uint16Array[] = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const keepA = new Set<number>();
  const keepB = new Set<number>();
  for (let i = 0, j = 0; i < n && j < m;) {
    if (a[i] === b[j]) {
      keepA.add(i++);
      keepB.add(j++);
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) i++;
    else j++;
  }
  return {
    expected: a.map((text, i) => ({ text, changed: !keepA.has(i) })),
    actual: b.map((text, j) => ({ text, changed: !keepB.has(j) })),
  };
}
