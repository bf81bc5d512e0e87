/**
 * Case-id globs, as --filter, --expectations and shards use them: `*` matches within one path
 * segment, `**` across segments, `?` one character. A pattern without glob characters also
 * selects everything below it as a folder (`ioas/map` and `ioas/map/` select `ioas/map/fixed-iova`).
 */

const cache = new Map<string, RegExp>();

function toRegExp(pattern: string): RegExp {
  // `hwpt/nested/` is the folder `hwpt/nested`: what a shell's completion writes.
  if (pattern.length > 1 && pattern.endsWith('/')) pattern = pattern.replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `**/` also matches zero segments.
        if (pattern[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}(?:/.*)?$`);
}

export function globMatches(pattern: string, id: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    re = toRegExp(pattern);
    cache.set(pattern, re);
  }
  return re.test(id);
}

export function anyGlobMatches(patterns: readonly string[], id: string): boolean {
  return patterns.some((p) => globMatches(p, id));
}
