/**
 * RISC-V IOMMU 1.0: IOATC entries are tagged with PSCID (first stage, unless global) and GSCID
 * (when a G-stage is on); single-stage host entries carry no GSCID. IOTINVAL.VMA (spec §3.1.1)
 * invalidates first-stage (GV = 0: host; GV = 1: the VS-stage of GSCID) entries: AV = 0 every
 * address, AV = 1 the address ADDR (S = 1: a NAPOT range); PSCV = 1 only that PSCID (global
 * entries survive), PSCV = 0 every PSCID. AV = 1 drops leaves only unless NL = 1. IOTINVAL.GVMA
 * invalidates G-stage entries (GV = 0 every VM, GV = 1 GSCID, AV = 1 one GPA) and the combined
 * entries built over them: the spec lets an implementation drop every VS entry of the GSCID,
 * which this model does (it does not keep the GPA of a combined entry). PSCV = 1 with GVMA is
 * illegal.
 *
 * Driver (drivers/iommu/riscv/iommu.c): PSCIDs from one machine-wide IDA (1..2^20 − 1) at
 * domain allocation; riscv_iommu_iotlb_inval sends AV = 1 per 4 KiB page for a range below
 * RISCV_IOMMU_IOTLB_INVAL_LIMIT (2 MiB), else PSCID-wide; no GSCID (no nesting). The last
 * device of a unit leaving the domain invalidates its PSCID there (riscv_iommu_bond_unlink).
 */

import type { IotlbEngine } from './engine.ts';
import type { Family } from './family.ts';
import { napotRange } from './range.ts';

export const RV_HOST = 0;
export const RV_VS = 1;
export const RV_G = 2;
const IOTLB_INVAL_LIMIT = 2n << 20n;

export interface RiscvIotinval {
  gvma: boolean;
  gv: boolean;
  av: boolean;
  pscv: boolean;
  gscid?: number;
  pscid?: number;
  addr?: bigint;
  nl?: boolean;
  s?: boolean;
}

/** IOTINVAL.VMA / .GVMA; false for the illegal PSCV = 1 with GVMA. */
export function riscvIotinval(e: IotlbEngine, c: RiscvIotinval): boolean {
  const range = c.av ? (napotRange(c.addr ?? 0n, c.s === true) ?? undefined) : undefined;
  const opts = c.av ? { range, leafOnly: c.nl !== true } : {};
  if (!c.gvma) {
    const sel = c.gv ? { kinds: 1 << RV_VS, group: c.gscid ?? 0 } : { kinds: 1 << RV_HOST };
    e.invalidate(c.pscv ? { ...sel, sub: c.pscid ?? 0 } : sel, opts);
    return true;
  }
  if (c.pscv) return false;
  if (!c.gv) {
    e.invalidate({ kinds: (1 << RV_G) | (1 << RV_VS) });
    return true;
  }
  e.invalidate({ kinds: 1 << RV_G, group: c.gscid ?? 0 }, opts);
  e.invalidate({ kinds: 1 << RV_VS, group: c.gscid ?? 0 });
  return true;
}

export const riscvFamily: Family = {
  name: 'riscv-iommu',
  domainScopedTags: false,
  flushOnDirtySwitch: false,
  domainAllocated(u, _spec, ids) {
    ids.pscid = u.shared.get('riscv-pscid', 1, 2 ** 20 - 1).alloc();
  },
  domainFreed(u, _spec, ids) {
    u.shared.get('riscv-pscid', 1, 2 ** 20 - 1).free(ids.pscid);
  },
  bind(_u, _spec, ids) {
    return { kind: RV_HOST, group: 0, sub: ids.domain.pscid };
  },
  unbind(u, _spec, tag, lastOnUnit) {
    if (lastOnUnit) riscvIotinval(u.engine, { gvma: false, gv: false, av: false, pscv: true, pscid: tag.sub });
  },
  unitReleased() {},
  flushRange(u, _spec, tag, range) {
    if (range.last - range.start + 1n >= IOTLB_INVAL_LIMIT) {
      riscvIotinval(u.engine, { gvma: false, gv: false, av: false, pscv: true, pscid: tag.sub });
      return;
    }
    for (let a = range.start & ~0xfffn; a <= range.last; a += 4096n) {
      riscvIotinval(u.engine, { gvma: false, gv: false, av: true, pscv: true, pscid: tag.sub, addr: a });
    }
  },
  flushAll(u, _spec, tag) {
    riscvIotinval(u.engine, { gvma: false, gv: false, av: false, pscv: true, pscid: tag.sub });
  },
};
