/**
 * An ordered set of disjoint, inclusive ranges [start, last] over the 64-bit IOVA space: the
 * store of an io_pagetable's areas and of its merged extents. It is a treap keyed by `start`
 * (a binary search tree by key, a max-heap by a random priority), so insert, delete, the
 * first range ending at or after an IOVA, and the successor of a range are O(log n) expected,
 * and in-order iteration is O(n). Keys stay bigint: the IOVA space is 64 bits wide and 2^64−1
 * is a valid `last`, so a JS number would lose exactness; a treap does O(log n) comparisons per
 * operation, a few dozen bigint compares, which is not where an UNMAP spends its time.
 *
 * Because the ranges are disjoint, ordering by `start` also orders them by `last`, so "the
 * first range that intersects [s, l]" is "the first range with last ≥ s, if its start ≤ l" —
 * no max-last augmentation is needed (the kernel's interval tree needs one because its nodes
 * may overlap; ours never do).
 *
 * The tree is intrusive: a stored range is its own node and carries its links (`treePrio`,
 * `treeLeft`, `treeRight`), so an IOAS keeps no node object per area — one MAP of 64 GiB in
 * 2 MiB runs is 32,768 areas, and every object they keep is work for the collector. Callers
 * that create ranges for a tree give them `UNLINKED`'s fields up front (one object shape for
 * every range the tree walks); a range without them gets them at insert. A range is in at most
 * one tree at a time; delete clears its links.
 *
 * Invariants: every stored range has start ≤ last; ranges never overlap; the tree is in
 * `start` order and in heap order of priorities; `size` counts the stored ranges. Callers may
 * change a stored range's bounds in place only when it stays disjoint from the others (the
 * order of the starts is then unchanged); `insert` refuses a range that overlaps a stored one.
 * Priorities come from a seeded xorshift, so a tree's shape is deterministic per operation
 * sequence.
 */

export interface Range {
  start: bigint;
  last: bigint;
}

/** The links a stored range carries (see the file header); meaningless while not stored. */
export interface RangeLinks {
  treePrio: number;
  treeLeft: RangeLinks | null;
  treeRight: RangeLinks | null;
}

/** The link fields of a range not in any tree: spread or copy them into new ranges. */
export const UNLINKED: Readonly<RangeLinks> = Object.freeze({ treePrio: 0, treeLeft: null, treeRight: null });

type Node = Range & RangeLinks;

export class RangeTree<T extends Range> implements Iterable<T> {
  private root: Node | null = null;
  private seed = 0x9e3779b9;
  size = 0;

  private nextPrio(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    // 30 bits: a small integer (Smi) that V8 keeps inline in the range, where a 32-bit value
    // would be a heap-allocated number per stored range.
    return this.seed >>> 2;
  }

  /**
   * Splits `t` into the nodes with start < key and those with start ≥ key and hangs them under
   * `into` as its left and right subtrees: one pass down, nothing allocated.
   */
  private static splitInto(t: Node | null, key: bigint, into: Node): void {
    into.treeLeft = null;
    into.treeRight = null;
    // `lTail` is the node whose right link takes the next smaller node (`into` itself at first,
    // through its left link), `rTail` the one whose left link takes the next larger node.
    let lTail: Node | null = null;
    let rTail: Node | null = null;
    while (t !== null) {
      if (t.start < key) {
        if (lTail === null) into.treeLeft = t;
        else lTail.treeRight = t;
        lTail = t;
        t = t.treeRight as Node | null;
      } else {
        if (rTail === null) into.treeRight = t;
        else rTail.treeLeft = t;
        rTail = t;
        t = t.treeLeft as Node | null;
      }
    }
    if (lTail !== null) lTail.treeRight = null;
    if (rTail !== null) rTail.treeLeft = null;
  }

  /** Joins two treaps where every start in `a` is below every start in `b`. */
  private static merge(a: Node | null, b: Node | null): Node | null {
    if (a === null) return b;
    if (b === null) return a;
    if (a.treePrio > b.treePrio) {
      a.treeRight = RangeTree.merge(a.treeRight as Node | null, b);
      return a;
    }
    b.treeLeft = RangeTree.merge(a, b.treeLeft as Node | null);
    return b;
  }

  /** The first range with last ≥ iova (the first that can intersect anything from iova up). */
  firstEndingAtOrAfter(iova: bigint): T | undefined {
    let n = this.root;
    let best: Node | undefined;
    while (n !== null) {
      if (n.last < iova) n = n.treeRight as Node | null;
      else {
        best = n;
        n = n.treeLeft as Node | null;
      }
    }
    return best as T | undefined;
  }

  /** The first range intersecting [start, last], or undefined. */
  firstIntersecting(start: bigint, last: bigint): T | undefined {
    const r = this.firstEndingAtOrAfter(start);
    return r !== undefined && r.start <= last ? r : undefined;
  }

  /** The range right after `item` in start order (item need not be stored). */
  after(item: Range): T | undefined {
    const key = item.start;
    let n = this.root;
    let best: Node | undefined;
    while (n !== null) {
      if (n.start <= key) n = n.treeRight as Node | null;
      else {
        best = n;
        n = n.treeLeft as Node | null;
      }
    }
    return best as T | undefined;
  }

  /** Adds `item`; throws (a caller bug, never a uAPI error) when it overlaps a stored range. */
  insert(item: T): void {
    if (item.start > item.last) throw new Error('RangeTree.insert: start > last');
    if (this.firstIntersecting(item.start, item.last) !== undefined) throw new Error('RangeTree.insert: overlaps a stored range');
    const node = item as unknown as Node;
    const key = node.start;
    node.treePrio = this.nextPrio();
    // Descend while the path's priorities beat the new node's, then split there: one pass.
    let parent: Node | null = null;
    let n = this.root;
    while (n !== null && n.treePrio > node.treePrio) {
      parent = n;
      n = (key < n.start ? n.treeLeft : n.treeRight) as Node | null;
    }
    RangeTree.splitInto(n, key, node);
    if (parent === null) this.root = node;
    else if (key < parent.start) parent.treeLeft = node;
    else parent.treeRight = node;
    this.size++;
  }

  /** Removes `item` (matched by identity); throws when it is not stored. */
  delete(item: T): void {
    const key = item.start;
    let parent: Node | null = null;
    let n = this.root;
    while (n !== null && n.start !== key) {
      parent = n;
      n = (key < n.start ? n.treeLeft : n.treeRight) as Node | null;
    }
    if (n === null || n !== (item as unknown as Node)) throw new Error('RangeTree.delete: not stored');
    const joined = RangeTree.merge(n.treeLeft as Node | null, n.treeRight as Node | null);
    if (parent === null) this.root = joined;
    else if (parent.treeLeft === n) parent.treeLeft = joined;
    else parent.treeRight = joined;
    // A removed range must not keep the tree's other nodes alive.
    n.treeLeft = null;
    n.treeRight = null;
    this.size--;
  }

  clear(): void {
    this.root = null;
    this.size = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    const stack: Node[] = [];
    let n = this.root;
    while (n !== null || stack.length > 0) {
      while (n !== null) {
        stack.push(n);
        n = n.treeLeft as Node | null;
      }
      const top = stack.pop() as Node;
      yield top as unknown as T;
      n = top.treeRight as Node | null;
    }
  }

  toArray(): T[] {
    return [...this];
  }

  /** Throws when an invariant of the file header does not hold (tests call it). */
  checkInvariants(): void {
    let count = 0;
    let prev: Node | undefined;
    const walk = (n: Node | null, parentPrio: number): void => {
      if (n === null) return;
      if (n.treePrio > parentPrio) throw new Error('RangeTree: heap order broken');
      walk(n.treeLeft as Node | null, n.treePrio);
      if (n.start > n.last) throw new Error('RangeTree: start > last');
      if (prev !== undefined && prev.last >= n.start) throw new Error('RangeTree: ranges overlap or are out of order');
      prev = n;
      count++;
      walk(n.treeRight as Node | null, n.treePrio);
    };
    walk(this.root, Infinity);
    if (count !== this.size) throw new Error('RangeTree: size disagrees with the nodes');
  }
}
