/**
 * Seeds a bug into one page-table format: while installed, every table the reference builds in
 * that format gets a wrapped format object whose codecs differ from the real one. The wrapper
 * inherits everything it does not override, so the walker (page-table.ts) runs unchanged on
 * the wrong encoding, as a port whose encoder and walker share one mistake would.
 *
 * `bitSwap` models a descriptor bit at the wrong position in a self-consistent implementation:
 * encoders write bits a and b exchanged, decoders exchange them back before reading. DMA and
 * translation through such a table behave exactly as through the right one; only the words in
 * memory — what a hardware walker reads — differ. The wrapped format never takes the walker's
 * data-only fast path (`single0`), whose masks name the real positions.
 */
import type { EntryWords, FormatName, PtFormat } from '../../reference/formats/format.ts';
import { PageTable } from '../../reference/formats/page-table.ts';
import { createFormat } from '../../reference/formats/registry.ts';
import type { Restore } from './patch.ts';
import { Patches } from './patch.ts';

/** Overrides for the wrapped format; each gets the real format to delegate to. */
export type FormatRewrite = (real: PtFormat) => Partial<PtFormat>;

const NEVER_SINGLE0 = { anyLo: 0, maskLo: 0, valueLo: 0, zeroHi: 0 };

export function installFormatRewrite(name: FormatName, rewrite: FormatRewrite): Restore {
  return Patches.install((p) => p.method(PageTable, 'create', (original) => function (this: unknown, ...args: unknown[]) {
    const [mem, fmt, config, options] = args as Parameters<typeof PageTable.create>;
    if (fmt !== name) return original.apply(this, args);
    const real = createFormat(fmt, config);
    const wrapped = Object.assign(Object.create(real) as PtFormat, { single0: NEVER_SINGLE0 }, rewrite(real));
    return new PageTable(mem, wrapped, options);
  }));
}

/** Exchanges bits a and b (0..63) of a descriptor held as halves. */
function swap(lo: number, hi: number, a: number, b: number): [number, number] {
  const get = (bit: number): number => (bit < 32 ? (lo >>> bit) & 1 : (hi >>> (bit - 32)) & 1);
  const va = get(a);
  const vb = get(b);
  if (va === vb) return [lo, hi];
  const flip = (bit: number): void => {
    if (bit < 32) lo = (lo ^ (1 << bit)) >>> 0;
    else hi = (hi ^ (1 << (bit - 32))) >>> 0;
  };
  flip(a);
  flip(b);
  return [lo, hi];
}

function swapWords(e: EntryWords, a: number, b: number): void {
  [e.lo, e.hi] = swap(e.lo, e.hi, a, b);
}

/** The format with descriptor bits a and b exchanged in memory, consistently for encode and decode. */
export function bitSwap(a: number, b: number): FormatRewrite {
  return (real) => {
    const dec = <R>(fn: (level: number, lo: number, hi: number) => R) => (level: number, lo: number, hi: number): R => {
      const [l, h] = swap(lo, hi, a, b);
      return fn.call(real, level, l, h);
    };
    const inPlace = (fn: (level: number, e: EntryWords, ...rest: any[]) => void) => (level: number, e: EntryWords, ...rest: any[]): void => {
      swapWords(e, a, b);
      fn.call(real, level, e, ...rest);
      swapWords(e, a, b);
    };
    return {
      kind: dec(real.kind),
      tablePfn: dec(real.tablePfn),
      leafOaUnit: dec(real.leafOaUnit),
      leafSizeLg2: dec(real.leafSizeLg2),
      leafPerm: dec(real.leafPerm),
      isDirty: dec(real.isDirty),
      leafAttrBits: (level, lo, hi, out) => {
        const [l, h] = swap(lo, hi, a, b);
        real.leafAttrBits(level, l, h, out);
      },
      encodeTable: (level, pfn, out) => {
        real.encodeTable(level, pfn, out);
        swapWords(out, a, b);
      },
      encodeLeaf: (level, oa, sizeLg2, attrLo, attrHi, out) => {
        real.encodeLeaf(level, oa, sizeLg2, attrLo, attrHi, out);
        swapWords(out, a, b);
      },
      makeClean: inPlace(real.makeClean),
      makeDirty: inPlace(real.makeDirty),
      markAccess: inPlace(real.markAccess),
    };
  };
}
