/**
 * Bit-field helpers for capability registers (VT-d CAP/ECAP, AMD EFR, SMMUv3 IDRn, RISC-V
 * capabilities). Registers are built once per unit, never on a hot path, so 64-bit values are
 * bigints here; 32-bit SMMU registers use the same helpers and are range-checked.
 *
 * Invariant: `place` refuses a value that does not fit its field, so an encoder can never
 * spill a knob into a neighbouring field.
 */

/** A field [hi:lo] of a register, named as the manual/header names it. */
export interface RegField {
  name: string;
  hi: number;
  lo: number;
}

export const field = (name: string, hi: number, lo: number): RegField => ({ name, hi, lo });
export const flag = (name: string, bitPos: number): RegField => ({ name, hi: bitPos, lo: bitPos });

function width(f: RegField): bigint {
  return BigInt(f.hi - f.lo + 1);
}

/** The value shifted into field position; throws if it does not fit. */
export function place(f: RegField, value: number | bigint | boolean): bigint {
  const v = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
  const max = (1n << width(f)) - 1n;
  if (v < 0n || v > max) throw new RangeError(`${f.name}: value ${v} does not fit bits ${f.hi}:${f.lo}`);
  return v << BigInt(f.lo);
}

/** Extracts a field from a register value. */
export function extract(f: RegField, reg: bigint): bigint {
  return (reg >> BigInt(f.lo)) & ((1n << width(f)) - 1n);
}

export function extractNumber(f: RegField, reg: bigint): number {
  return Number(extract(f, reg));
}

export function isSet(f: RegField, reg: bigint): boolean {
  return extract(f, reg) !== 0n;
}

/** ORs together the placed fields of a register: entries are [field, value]. */
export function compose(entries: ReadonlyArray<readonly [RegField, number | bigint | boolean]>): bigint {
  let reg = 0n;
  for (const [f, v] of entries) reg |= place(f, v);
  return reg;
}

/** Little-endian byte image writer for the hw_info payload structs. */
export class LeBytes {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(sizeBytes: number) {
    this.bytes = new Uint8Array(sizeBytes);
    this.view = new DataView(this.bytes.buffer);
  }
  u32(offsetBytes: number, value: number | bigint): this {
    const v = BigInt(value);
    if (v < 0n || v > 0xffffffffn) throw new RangeError(`u32 at ${offsetBytes}: ${v} out of range`);
    this.view.setUint32(offsetBytes, Number(v), true);
    return this;
  }
  u64(offsetBytes: number, value: bigint): this {
    this.view.setBigUint64(offsetBytes, value, true);
    return this;
  }
}

export const hex = (v: bigint): string => `0x${v.toString(16)}`;
