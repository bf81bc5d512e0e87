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
  ioas.iopt.mapPages([{ pages, firstPageIndex: 0, pageOffsetBytes: startByte, lengthBytes: Number(a.size) }], Number(a.size), a.iova,
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
      ioas.iopt.cutAll(cuts);
    }
    unmapped = ioas.iopt.unmap(a.iova, a.size);
  }
  return { ret: 0, out: { size: unmapped } };
}

/** sizeof(struct vfio_iommu_type1_info_dma_avail): header (8) + avail. */
const DMA_AVAIL_CAP_BYTES = 12;
/** sizeof(struct vfio_iommu_type1_info_cap_iova_range) without its ranges, and one range. */
const IOVA_RANGE_CAP_BYTES = 16;
const IOVA_RANGE_BYTES = 16;
/** The bytes of the caller's buffer past the struct, and how far the kernel may write into it. */
interface CapBuffer {
  view: DataView;
  argsz: number;
}

/** iommufd_fill_cap_dma_avail: the whole capability or nothing; returns its size. */
function fillDmaAvail(b: CapBuffer, atByte: number): number {
  if (b.argsz - atByte >= DMA_AVAIL_CAP_BYTES) {
    const at = atByte - INFO_SIZE;
    b.view.setUint16(at, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, true);
    b.view.setUint16(at + 2, 1, true);
    b.view.setUint32(at + 4, 0, true);
    b.view.setUint32(at + 8, 0xffffffff, true); // U32_MAX: iommufd's limit is the memory cgroup
  }
  return DMA_AVAIL_CAP_BYTES;
}

/** iommufd_fill_cap_iova: each range that fits, then the header once all of them fit. */
function fillIovaRange(b: CapBuffer, atByte: number, ranges: { start: bigint; last: bigint }[]): number {
  const avail = b.argsz - atByte;
  const at = atByte - INFO_SIZE;
  ranges.forEach((r, k) => {
    if (avail >= IOVA_RANGE_CAP_BYTES + IOVA_RANGE_BYTES * (k + 1)) {
      b.view.setBigUint64(at + IOVA_RANGE_CAP_BYTES + IOVA_RANGE_BYTES * k, r.start, true);
      b.view.setBigUint64(at + IOVA_RANGE_CAP_BYTES + IOVA_RANGE_BYTES * k + 8, r.last, true);
    }
  });
  const size = IOVA_RANGE_CAP_BYTES + IOVA_RANGE_BYTES * ranges.length;
  if (avail >= size) {
    b.view.setUint16(at, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, true);
    b.view.setUint16(at + 2, 1, true);
    b.view.setUint32(at + 4, 0, true);
    b.view.setUint32(at + 8, ranges.length, true);
    b.view.setUint32(at + 12, 0, true); // the struct's reserved word goes out with the header
  }
  return size;
}

/**
 * VFIO_IOMMU_GET_INFO: the struct plus the capability chain the kernel writes after it
 * (vfio_compat.c iommufd_vfio_iommu_get_info). Capabilities DMA_AVAIL then IOVA_RANGE, each
 * starting 8-byte aligned; a capability is written only where it fits below `argsz`, a
 * header's `next` only once the next capability's offset is below `argsz`, `cap_offset` only
 * when the whole chain fits. Nothing at or past `argsz` is written; the struct itself is copied
 * back up to min(argsz, sizeof) bytes.
 */
export function getInfo(ctx: IommufdContext, a: Args, trailingIn: Uint8Array): CompatOut {
  check(a.argsz >= BigInt(INFO_MINSZ), 'EINVAL', 'argsz');
  const ioas = compatIoas(ctx);
  // argsz is a u32; the chain is far shorter than the cap, so capping changes no write.
  const argsz = Number(a.argsz > 65536n ? 65536n : a.argsz);
  const ranges = ioas.iopt.iovaRanges();
  const chainBytes = alignUp8(DMA_AVAIL_CAP_BYTES) + IOVA_RANGE_CAP_BYTES + IOVA_RANGE_BYTES * ranges.length;
  const written = Math.max(0, Math.min(argsz, INFO_SIZE + chainBytes) - INFO_SIZE);
  const buf = new Uint8Array(Math.max(trailingIn.length, written));
  buf.set(trailingIn);
  const b: CapBuffer = { view: new DataView(buf.buffer), argsz };
  let pgsizes = ULONG_MAX;
  for (const d of ioas.iopt.domains) pgsizes &= d.spec.pgsizeBitmap;
  if (pgsizes & (PAGE_SIZE - 1n)) pgsizes = (pgsizes & ~(PAGE_SIZE - 1n) & ULONG_MAX) | PAGE_SIZE;
  if (BigInt(ioas.iopt.iovaAlignment) > pgsizes) pgsizes = BigInt(ioas.iopt.iovaAlignment);
  let total = INFO_SIZE;
  let lastCap = -1;
  for (const fill of [(at: number) => fillDmaAvail(b, at), (at: number) => fillIovaRange(b, at, ranges)]) {
    const size = alignUp8(fill(total));
    if (lastCap >= 0 && argsz >= total) b.view.setUint32(lastCap - INFO_SIZE + 4, total, true);
    lastCap = total;
    total += size;
  }
  return {
    ret: 0,
    // `pad` is zero in the kernel's copy (info = {}), so a long enough argsz clears it.
    out: { argsz: total, flags: VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, iova_pgsizes: pgsizes, cap_offset: argsz >= total ? INFO_SIZE : 0, pad: 0 },
    trailing: buf,
  };
}

function alignUp8(bytes: number): number {
  return (bytes + 7) & ~7;
}
