/**
 * What one guest leaf means to a device, in format-neutral terms, and how a host format says
 * the same thing: the heart of the format transform. A guest leaf decodes to a LeafAccess
 * (readable, writable, reachable by unprivileged requests, executable) or to a refusal naming
 * what the host cannot hold; a LeafAccess encodes to host leaf attribute bits.
 *
 * Rules (Arm ARM D8 VMSAv8-64 stage 1; Intel SDM vol. 3 §4.6 and VT-d §3.6 first stage):
 * - ARM: AF=0 faults unless CD.AFFD; AP[2] read-only; AP[1] unprivileged access; APTable and
 *   XNTable of the tables above apply; UXN/PXN. MAIR[AttrIndx] must be Normal write-back
 *   inner and outer (the host's nested first stage gives coherent write-back DMA only).
 *   UXN ≠ PXN on an unprivileged-readable page is refused (x86 has one XD bit).
 * - x86: P; R/W and U/S are ANDed over every level, XD ORed. A=0, or R/W=1 with D=0, is
 *   refused: the hardware would set A/D in the shadow, never in the guest's table, which the
 *   guest could see. PWT/PCD/PAT memory types are refused (the ARM shadow is write-back).
 * - Encoding: x86 leaf = P|A|U(user)|RW|D(write)|XD(¬exec) (+PS); ARM leaf = AF|nG|SH inner|
 *   AttrIndx 1 (MAIR byte 1 = 0xff in the CD the VMM writes)|AP[1](user)|AP[2](¬write)|
 *   UXN|PXN(¬exec) — what Linux's own tables hold for the same prot.
 * Every device request in this model is unprivileged and never an instruction fetch, but the
 * transform carries privilege and execute permission faithfully anyway.
 */

import { ARM_AF, ARM_AP_RDONLY, ARM_AP_UNPRIV, ARM_NG, ARM_SH_IS, ARM_XN_HI } from '../formats/arm-lpae.ts';
import type { PtFormat } from '../formats/format.ts';
import { X86_A, X86_D, X86_P, X86_RW, X86_U, X86_XD_HI } from '../formats/x86-64.ts';

export interface LeafAccess {
  read: boolean;
  write: boolean;
  /** Unprivileged (EL0 / U/S=1) requests may use the leaf. */
  user: boolean;
  exec: boolean;
}

/** A decoded guest leaf: its access, or why it faults (guest semantics), or why the host cannot hold it. */
export type LeafMeaning = { ok: true; access: LeafAccess } | { ok: false; fault: string } | { ok: false; refusal: string };

/** Attributes inherited from the tables above a leaf (ANDed / ORed down the walk). */
export interface TableAttrs {
  /** ARM APTable[0] seen / x86 U/S=0 seen. */
  noUser: boolean;
  /** ARM APTable[1] seen / x86 R/W=0 seen. */
  noWrite: boolean;
  noExec: boolean;
}

export const NO_TABLE_ATTRS: TableAttrs = { noUser: false, noWrite: false, noExec: false };

/** The guest context bits a leaf decode needs. */
export interface ArmLeafContext {
  /** CD.AFFD: AF=0 never faults. */
  affd: boolean;
  /** CD word 3: MAIR (8 attribute bytes). */
  mair: readonly number[];
  /** CD.WXN: writable implies execute-never. */
  wxn: boolean;
}

// ---- ARM VMSAv8-64 stage 1 ----

const ARM_PXN_HI = 1 << 21;
const ARM_UXN_HI = 1 << 22;

/** One nibble of a MAIR byte says write-back: 0b01RW with RW ≠ 00 (transient) or 0b11RW (non-transient). */
function isWriteBack(nibble: number): boolean {
  return nibble >>> 2 === 0b11 || (nibble >>> 2 === 0b01 && (nibble & 3) !== 0);
}

/** APTable/XNTable bits of an ARM table descriptor (hi half: b61 APTable[0], b62 APTable[1], b60 UXNTable). */
export function armTableAttrs(parent: TableAttrs, hi: number): TableAttrs {
  return {
    noUser: parent.noUser || (hi & (1 << 29)) !== 0,
    noWrite: parent.noWrite || (hi & (1 << 30)) !== 0,
    noExec: parent.noExec || (hi & (1 << 28)) !== 0,
  };
}

export function decodeArmLeaf(format: PtFormat, level: number, lo: number, hi: number, table: TableAttrs, ctx: ArmLeafContext): LeafMeaning {
  if ((lo & ARM_AF) === 0 && !ctx.affd) return { ok: false, fault: 'access flag 0 (access flag fault)' };
  const sizeLg2 = format.leafSizeLg2(level, lo, hi);
  // Blocks exist only where the architecture allows them (4K: 1G/2M; 16K: 32M; 64K: 512M, 4T
  // with a 52-bit OA); a block descriptor elsewhere is a translation fault.
  if (!format.leafSizesLg2[level].includes(sizeLg2)) return { ok: false, fault: `block descriptor at a level without blocks (${2 ** sizeLg2} bytes)` };
  const oa = format.leafOaUnit(level, lo, hi) * 2 ** format.unitLg2;
  if (oa % 2 ** sizeLg2 !== 0) return { ok: false, refusal: `output address 0x${oa.toString(16)} of a ${2 ** sizeLg2}-byte block has RES0 bits set` };
  const attr = ctx.mair[(lo >>> 2) & 7] ?? 0;
  if (!isWriteBack(attr >>> 4) || !isWriteBack(attr & 0xf)) {
    return { ok: false, refusal: `memory attribute 0x${attr.toString(16).padStart(2, '0')} (MAIR index ${(lo >>> 2) & 7}) is not Normal write-back; the host's nested first stage gives coherent write-back DMA only` };
  }
  const write = (lo & ARM_AP_RDONLY) === 0 && !table.noWrite;
  const user = (lo & ARM_AP_UNPRIV) !== 0 && !table.noUser;
  const uxn = (hi & ARM_UXN_HI) !== 0 || table.noExec || (ctx.wxn && write);
  const pxn = (hi & ARM_PXN_HI) !== 0 || (ctx.wxn && write);
  if (user && uxn !== pxn) return { ok: false, refusal: `UXN=${Number(uxn)} and PXN=${Number(pxn)} differ; the host's first stage has one execute-disable bit` };
  return { ok: true, access: { read: true, write, user, exec: !(user ? uxn : pxn) } };
}

export function encodeArmLeafAttrs(a: LeafAccess, out: { lo: number; hi: number }): void {
  out.lo = ARM_AF | ARM_NG | ARM_SH_IS | (1 << 2) | (a.user ? ARM_AP_UNPRIV : 0) | (a.write ? 0 : ARM_AP_RDONLY);
  out.hi = a.exec ? 0 : ARM_XN_HI;
}

// ---- x86-64 (VT-d first stage) ----

const X86_PWT = 1 << 3;
const X86_PCD = 1 << 4;
const X86_PAT_PTE = 1 << 7;
const X86_PAT_LARGE = 1 << 12;

export function x86TableAttrs(parent: TableAttrs, lo: number, hi: number): TableAttrs {
  return {
    noUser: parent.noUser || (lo & X86_U) === 0,
    noWrite: parent.noWrite || (lo & X86_RW) === 0,
    noExec: parent.noExec || (hi & X86_XD_HI) !== 0,
  };
}

export function decodeX86Leaf(level: number, lo: number, hi: number, table: TableAttrs): LeafMeaning {
  const pat = level === 0 ? lo & X86_PAT_PTE : lo & X86_PAT_LARGE;
  if (lo & (X86_PWT | X86_PCD) || pat) return { ok: false, refusal: 'PWT/PCD/PAT memory type bits set; the host shadow is write-back' };
  const write = (lo & X86_RW) !== 0 && !table.noWrite;
  if ((lo & X86_A) === 0) return { ok: false, refusal: 'A=0: the host would set A in its shadow, never in the guest table' };
  if ((lo & X86_RW) !== 0 && (lo & X86_D) === 0) return { ok: false, refusal: 'writable with D=0: the host would set D in its shadow, never in the guest table' };
  const user = (lo & X86_U) !== 0 && !table.noUser;
  const exec = (hi & X86_XD_HI) === 0 && !table.noExec;
  return { ok: true, access: { read: true, write, user, exec } };
}

export function encodeX86LeafAttrs(a: LeafAccess, out: { lo: number; hi: number }): void {
  out.lo = X86_A | (a.user ? X86_U : 0) | (a.write ? X86_RW | X86_D : 0);
  out.hi = a.exec ? 0 : X86_XD_HI;
  void X86_P;
}
