/**
 * The VFIO type1 container emulation on an iommufd (vfio_compat.c): GET_API_VERSION,
 * CHECK_EXTENSION, SET_IOMMU, IOMMU_GET_INFO (with its capability chain), IOMMU_MAP_DMA and
 * IOMMU_UNMAP_DMA, all on the IOAS chosen with IOMMU_VFIO_IOAS. These ioctls use `argsz`
 * (argsz < minsz → EINVAL) instead of iommufd's size rules, and the integer-argument ones
 * return their answer as the ioctl's return value.
 */

import type { IommufdContext } from './context.ts';
import { check } from './errors.ts';
import { IoptPages } from './pages.ts';
import type { Args, Out } from './hwpt.ts';
import type { IoasObject } from './objects.ts';
import { PAGE_SIZE, ULONG_MAX, U64_MAX } from './io-pagetable.ts';
import { PAGE_BYTES } from '../machine/process-memory.ts';

export const VFIO_API_VERSION = 0;
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
/** offsetofend(vfio_iommu_type1_dma_map, size) and …_dma_unmap, size. */
const MAP_DMA_MINSZ = 32;
const UNMAP_DMA_MINSZ = 24;
/** offsetofend(vfio_iommu_type1_info, iova_pgsizes); sizeof is 24. */
const INFO_MINSZ = 16;
const INFO_SIZE = 24;

/** The result of an integer-returning ioctl travels in `ret`. */
export interface CompatOut {
  ret?: number;
  out: Out;
  /** Bytes the kernel leaves in the user buffer past the struct (GET_INFO's capability chain). */
  trailing?: Uint8Array;
}

function compatIoas(ctx: IommufdContext): IoasObject {
  check(ctx.vfioIoas !== null, 'ENODEV', 'no compat IOAS (IOMMU_VFIO_IOAS SET)');
  return ctx.vfioIoas;
}

export function checkExtension(ctx: IommufdContext, type: number): CompatOut {
  switch (type) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return { ret: 1, out: {} };
    case VFIO_DMA_CC_IOMMU:
      compatIoas(ctx);
      return { ret: 1, out: {} }; // every unit the reference models enforces coherency
    default:
      return { ret: 0, out: {} };
  }
}

export function setIommu(ctx: IommufdContext, type: number): CompatOut {
  check(type === VFIO_TYPE1_IOMMU || type === VFIO_TYPE1v2_IOMMU, 'EINVAL', 'only TYPE1 and TYPE1v2');
  const ioas = compatIoas(ctx);
  if (type === VFIO_TYPE1_IOMMU) ioas.iopt.disableLarge();
  ctx.vfioType = type;
  return { ret: 0, out: {} };
}

export function mapDma(ctx: IommufdContext, a: Args): CompatOut {
  check(a.argsz >= BigInt(MAP_DMA_MINSZ) && (Number(a.flags) & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) === 0, 'EINVAL', 'argsz or flags');
  const ioas = compatIoas(ctx);
  const flags = Number(a.flags);
  check(a.vaddr + a.size <= U64_MAX, 'EOVERFLOW', 'vaddr + size');
  check(a.size !== 0n && a.size <= U64_MAX - PAGE_SIZE, 'EINVAL', 'size');
  check(a.size <= BigInt(Number.MAX_SAFE_INTEGER) - 2n * PAGE_SIZE, 'EFAULT', 'length beyond what the reference models');
  const uptrDown = a.vaddr - (a.vaddr % PAGE_SIZE);
  const startByte = Number(a.vaddr - uptrDown);
  // Legacy maps always use the VFIO-compatible per-process accounting.
  const mode = ctx.machine.capable('CAP_IPC_LOCK') ? 'none' : 'mm';
  const pages = new IoptPages(ctx.machine.memory, ctx.machine.accounting, { kind: 'user', startVpn: Number(uptrDown / PAGE_SIZE) },
    Math.ceil((startByte + Number(a.size)) / PAGE_BYTES), (flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0, mode, uptrDown, ctx.machine.failNth);
  ctx.machine.failNth.point('iopt_pages');
  ioas.iopt.mapPages([{ pages, startByte, lengthBytes: Number(a.size) }], Number(a.size), a.iova,
    { read: (flags & VFIO_DMA_MAP_FLAG_READ) !== 0, write: (flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0 });
  return { ret: 0, out: {} };
}

export function unmapDma(ctx: IommufdContext, a: Args): CompatOut {
  check(a.argsz >= BigInt(UNMAP_DMA_MINSZ) && (Number(a.flags) & ~VFIO_DMA_UNMAP_FLAG_ALL) === 0, 'EINVAL', 'argsz or flags');
  const ioas = compatIoas(ctx);
  let unmapped: bigint;
  if (Number(a.flags) & VFIO_DMA_UNMAP_FLAG_ALL) {
    check(a.iova === 0n && a.size === 0n, 'EINVAL', 'UNMAP_FLAG_ALL with a range');
    unmapped = ioas.iopt.unmapAll();
  } else {
    if (ioas.iopt.disableLargePages) {
      const cuts = [(a.iova + a.size - 1n) & ULONG_MAX];
      if (a.iova !== 0n) cuts.push(a.iova - 1n);
      for (const c of cuts) ioas.iopt.cut(c);
    }
    unmapped = ioas.iopt.unmap(a.iova, a.size);
  }
  return { ret: 0, out: { size: unmapped } };
}

/** VFIO_IOMMU_GET_INFO: the struct plus the capability chain the kernel writes after it. */
export function getInfo(ctx: IommufdContext, a: Args, trailingIn: Uint8Array): CompatOut {
  check(a.argsz >= BigInt(INFO_MINSZ), 'EINVAL', 'argsz');
  const ioas = compatIoas(ctx);
  const argsz = Number(a.argsz > 65536n ? 65536n : a.argsz);
  const buf = new Uint8Array(Math.max(argsz, INFO_SIZE));
  buf.set(trailingIn.subarray(0, Math.max(0, argsz - INFO_SIZE)), INFO_SIZE);
  const dv = new DataView(buf.buffer);
  let pgsizes = ULONG_MAX;
  for (const d of ioas.iopt.domains) pgsizes &= d.spec.pgsizeBitmap;
  if (pgsizes & (PAGE_SIZE - 1n)) pgsizes = (pgsizes & ~(PAGE_SIZE - 1n) & ULONG_MAX) | PAGE_SIZE;
  if (BigInt(ioas.iopt.iovaAlignment) > pgsizes) pgsizes = BigInt(ioas.iopt.iovaAlignment);
  // Capability 1: DMA_AVAIL (12 bytes), capability 2: IOVA_RANGE (16 + 16 per range).
  let total = INFO_SIZE;
  let lastCap = -1;
  const dmaAt = total;
  if (argsz > total && argsz - total >= 12) {
    dv.setUint16(dmaAt, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, true);
    dv.setUint16(dmaAt + 2, 1, true);
    dv.setUint32(dmaAt + 4, 0, true);
    dv.setUint32(dmaAt + 8, 0xffffffff, true);
  }
  lastCap = dmaAt;
  total += 12;
  const ranges = ioas.iopt.iovaRanges();
  const iovaAt = total;
  const avail = argsz > total ? argsz - total : 0;
  ranges.forEach((r, k) => {
    if (avail >= 16 + 16 * (k + 1)) {
      dv.setBigUint64(iovaAt + 16 + 16 * k, r.start, true);
      dv.setBigUint64(iovaAt + 24 + 16 * k, r.last, true);
    }
  });
  const iovaSize = 16 + 16 * ranges.length;
  if (avail >= iovaSize) {
    dv.setUint16(iovaAt, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, true);
    dv.setUint16(iovaAt + 2, 1, true);
    dv.setUint32(iovaAt + 4, 0, true);
    dv.setUint32(iovaAt + 8, ranges.length, true);
  }
  if (argsz >= total) dv.setUint32(lastCap + 4, total, true);
  total += iovaSize;
  const capOffset = argsz >= total ? INFO_SIZE : 0;
  const trailing = buf.subarray(INFO_SIZE, argsz);
  return {
    ret: 0,
    out: { argsz: total, flags: VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, iova_pgsizes: pgsizes, cap_offset: capOffset },
    trailing: buf.slice(INFO_SIZE, Math.max(argsz, INFO_SIZE)),
  };
}
