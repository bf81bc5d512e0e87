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

interface Node<T extends Range> {
  item: T;
  prio: number;
  left: Node<T> | null;
  right: Node<T> | null;
}

export class RangeTree<T extends Range> implements Iterable<T> {
  private root: Node<T> | null = null;
  private seed = 0x9e3779b9;
  size = 0;

  private nextPrio(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }

  /**
   * Splits `t` into the nodes with start < key and those with start ≥ key and hangs them under
   * `into` as its left and right subtrees: one pass down, nothing allocated.
   */
  private static splitInto<T extends Range>(t: Node<T> | null, key: bigint, into: Node<T>): void {
    into.left = null;
    into.right = null;
    // `lTail` is the node whose right link takes the next smaller node (`into` itself at first,
    // through its left link), `rTail` the one whose left link takes the next larger node.
    let lTail: Node<T> | null = null;
    let rTail: Node<T> | null = null;
    while (t !== null) {
      if (t.item.start < key) {
        if (lTail === null) into.left = t;
        else lTail.right = t;
        lTail = t;
        t = t.right;
      } else {
        if (rTail === null) into.right = t;
        else rTail.left = t;
        rTail = t;
        t = t.left;
      }
    }
    if (lTail !== null) lTail.right = null;
    if (rTail !== null) rTail.left = null;
  }

  /** Joins two treaps where every start in `a` is below every start in `b`. */
  private static merge<T extends Range>(a: Node<T> | null, b: Node<T> | null): Node<T> | null {
    if (a === null) return b;
    if (b === null) return a;
    if (a.prio > b.prio) {
      a.right = RangeTree.merge(a.right, b);
      return a;
    }
    b.left = RangeTree.merge(a, b.left);
    return b;
  }

  /** The first range with last ≥ iova (the first that can intersect anything from iova up). */
  firstEndingAtOrAfter(iova: bigint): T | undefined {
    let n = this.root;
    let best: T | undefined;
    while (n !== null) {
      if (n.item.last < iova) n = n.right;
      else {
        best = n.item;
        n = n.left;
      }
    }
    return best;
  }

  /** The first range intersecting [start, last], or undefined. */
  firstIntersecting(start: bigint, last: bigint): T | undefined {
    const r = this.firstEndingAtOrAfter(start);
    return r !== undefined && r.start <= last ? r : undefined;
  }

  /** The range right after `item` in start order (item need not be stored). */
  after(item: Range): T | undefined {
    let n = this.root;
    let best: T | undefined;
    while (n !== null) {
      if (n.item.start <= item.start) n = n.right;
      else {
        best = n.item;
        n = n.left;
      }
    }
    return best;
  }

  /** Adds `item`; throws (a caller bug, never a uAPI error) when it overlaps a stored range. */
  insert(item: T): void {
    if (item.start > item.last) throw new Error('RangeTree.insert: start > last');
    if (this.firstIntersecting(item.start, item.last) !== undefined) throw new Error('RangeTree.insert: overlaps a stored range');
    const node: Node<T> = { item, prio: this.nextPrio(), left: null, right: null };
    // Descend while the path's priorities beat the new node's, then split there: one pass.
    let parent: Node<T> | null = null;
    let n = this.root;
    while (n !== null && n.prio > node.prio) {
      parent = n;
      n = item.start < n.item.start ? n.left : n.right;
    }
    RangeTree.splitInto(n, item.start, node);
    if (parent === null) this.root = node;
    else if (item.start < parent.item.start) parent.left = node;
    else parent.right = node;
    this.size++;
  }

  /** Removes `item` (matched by identity); throws when it is not stored. */
  delete(item: T): void {
    let parent: Node<T> | null = null;
    let n = this.root;
    while (n !== null && n.item.start !== item.start) {
      parent = n;
      n = item.start < n.item.start ? n.left : n.right;
    }
    if (n === null || n.item !== item) throw new Error('RangeTree.delete: not stored');
    const joined = RangeTree.merge(n.left, n.right);
    if (parent === null) this.root = joined;
    else if (parent.left === n) parent.left = joined;
    else parent.right = joined;
    this.size--;
  }

  clear(): void {
    this.root = null;
    this.size = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    const stack: Node<T>[] = [];
    let n = this.root;
    while (n !== null || stack.length > 0) {
      while (n !== null) {
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop() as Node<T>;
      yield top.item;
      n = top.right;
    }
  }

  toArray(): T[] {
    return [...this];
  }

  /** Throws when an invariant of the file header does not hold (tests call it). */
  checkInvariants(): void {
    let count = 0;
    let prev: T | undefined;
    const walk = (n: Node<T> | null, parentPrio: number): void => {
      if (n === null) return;
      if (n.prio > parentPrio) throw new Error('RangeTree: heap order broken');
      walk(n.left, n.prio);
      if (n.item.start > n.item.last) throw new Error('RangeTree: start > last');
      if (prev !== undefined && prev.last >= n.item.start) throw new Error('RangeTree: ranges overlap or are out of order');
      prev = n.item;
      count++;
      walk(n.right, n.prio);
    };
    walk(this.root, Infinity);
    if (count !== this.size) throw new Error('RangeTree: size disagrees with the nodes');
  }
}
