/**
 * The entries of a JSON object typed with an index signature that admits `undefined`. The
 * generated schema types (gen-types.ts, strictIndexSignatures) and Json declare every index
 * signature so, because TypeScript could not otherwise type an object that has named optional
 * properties beside it; a value parsed from JSON never holds `undefined`, so this drops none of
 * its entries and only narrows their type. Order is Object.entries' order.
 */
export function definedEntries<T>(o: { readonly [key: string]: T | undefined }): [string, T][] {
  return Object.entries(o).filter((e): e is [string, T] => e[1] !== undefined);
}
