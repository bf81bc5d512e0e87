/**
 * The ioctl entry of the reference (main.c iommufd_fops_ioctl): name → handler, the size rules
 * of §2.1 for iommufd structs (size < min → EINVAL; non-zero bytes past the kernel struct →
 * E2BIG; fields past `size` read as zero; only fields inside `size` are copied back), argsz
 * rules for the VFIO commands, and the translation between protocol JSON (uAPI field names,
 * u64 wire rule) and handler arguments (every integer a bigint).
 *
 * Struct layouts come from the schemas' catalog; nothing here restates an offset.
 */

import type { IoctlResult, JsonObject, WireStruct } from '../../schemas/lib/adapter.ts';
import { AdapterError, RPC_INVALID_PARAMS } from '../../schemas/lib/adapter.ts';
import { bytesToHex, copyStructFromUser, hexToBytes as codecHexToBytes, isHexBytes } from '../../schemas/lib/codec.ts';
import type { StructInfo, UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { parseWireInt, u64ToWire } from '../../schemas/lib/u64.ts';
import { IOMMU_NO_PASID, attachDevice, bindDevice, detachDevice } from './device.ts';
import type { IommufdContext } from './context.ts';
import { check, UapiError } from './errors.ts';
import { getHwInfo, hwptAlloc, hwptInvalidate } from './hwpt.ts';
import { getDirtyBitmap, setDirtyTracking } from './dirty.ts';
import type { Args, Out } from './hwpt.ts';
import type { CompatOut } from './vfio-compat.ts';
import { checkExtension, getInfo, mapDma, setIommu, unmapDma, VFIO_API_VERSION } from './vfio-compat.ts';
import type { DeviceObject } from './objects.ts';
import { vdeviceAlloc, viommuAlloc } from './viommu.ts';
import { faultAlloc } from './fault.ts';
import { veventqAlloc } from './veventq.ts';
import { hwQueueAlloc } from './hw-queue.ts';

type Handler = (ctx: IommufdContext, a: Args, raw: JsonObject, trailing: Uint8Array) => Out | CompatOut;

const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0;
const VFIO_DEVICE_ATTACH_PASID = 1 << 0;
const VFIO_DEVICE_DETACH_PASID = 1 << 0;

function boundDevice(ctx: IommufdContext, raw: JsonObject): DeviceObject {
  const name = raw.device;
  if (typeof name !== 'string') throw new AdapterError(RPC_INVALID_PARAMS, 'VFIO device commands name the device in arg.device');
  const dev = ctx.machineBindings.get(name);
  check(dev !== undefined && ctx.table.all().includes(dev), 'EINVAL', `device '${name}' is not bound to this iommufd`);
  return dev;
}

const HANDLERS: Record<string, Handler> = {
  IOMMU_DESTROY: (c, a) => c.destroy(a),
  IOMMU_IOAS_ALLOC: (c, a) => c.ioasAlloc(a),
  IOMMU_IOAS_ALLOW_IOVAS: (c, a) => c.allowIovas(a),
  IOMMU_IOAS_COPY: (c, a) => c.ioasCopy(a),
  IOMMU_IOAS_IOVA_RANGES: (c, a) => c.iovaRanges(a),
  IOMMU_IOAS_MAP: (c, a) => c.ioasMap(a),
  IOMMU_IOAS_UNMAP: (c, a) => c.ioasUnmap(a),
  IOMMU_OPTION: (c, a) => c.option(a),
  IOMMU_VFIO_IOAS: (c, a) => c.vfioIoasCmd(a),
  IOMMU_HWPT_ALLOC: (c, a) => hwptAlloc(c, a),
  IOMMU_GET_HW_INFO: (c, a) => getHwInfo(c, a),
  IOMMU_HWPT_INVALIDATE: (c, a) => hwptInvalidate(c, a),
  IOMMU_IOAS_MAP_FILE: (c, a) => c.ioasMapFile(a),
  IOMMU_HWPT_SET_DIRTY_TRACKING: (c, a) => setDirtyTracking(c, a),
  IOMMU_HWPT_GET_DIRTY_BITMAP: (c, a) => getDirtyBitmap(c, a),
  IOMMU_IOAS_CHANGE_PROCESS: (c, a) => c.changeProcess(a),
  IOMMU_VIOMMU_ALLOC: (c, a) => viommuAlloc(c, a),
  IOMMU_VDEVICE_ALLOC: (c, a) => vdeviceAlloc(c, a),
  IOMMU_FAULT_QUEUE_ALLOC: (c, a) => faultAlloc(c, a),
  IOMMU_VEVENTQ_ALLOC: (c, a) => veventqAlloc(c, a),
  IOMMU_HW_QUEUE_ALLOC: (c, a) => hwQueueAlloc(c, a),
  VFIO_DEVICE_BIND_IOMMUFD: (c, a, raw, trailing) => {
    // vfio_df_ioctl_bind_iommufd (v6.17+, fixed ksize in v6.18): argsz < 16 → EINVAL;
    // copy_struct_from_user of the 24-byte struct (non-zero bytes past it → E2BIG, fields past
    // argsz read as zero); then iommufd < 0 or an unknown flag → EINVAL.
    check(a.argsz >= 16n, 'EINVAL', 'argsz');
    check(trailing.every((b) => b === 0), 'E2BIG', 'non-zero bytes past the struct');
    const flags = Number(a.flags);
    check(BigInt.asIntN(32, a.iommufd ?? 0n) >= 0n && (flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) === 0, 'EINVAL', 'iommufd or flags');
    if (typeof raw.device !== 'string') throw new AdapterError(RPC_INVALID_PARAMS, 'VFIO_DEVICE_BIND_IOMMUFD names the device in arg.device');
    const tokenPtr = a.argsz >= 24n ? a.token_uuid_ptr : 0n;
    return { out_devid: bindDevice(c, raw.device, (flags & VFIO_DEVICE_BIND_FLAG_TOKEN) !== 0 ? tokenPtr : null).id };
  },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: (c, a, raw) => {
    const flags = Number(a.flags);
    check(a.argsz >= 12n && (flags & ~VFIO_DEVICE_ATTACH_PASID) === 0, 'EINVAL', 'argsz or flags');
    if (flags & VFIO_DEVICE_ATTACH_PASID) check(a.argsz >= 16n, 'EINVAL', 'argsz without pasid');
    const dev = boundDevice(c, raw);
    const pasid = flags & VFIO_DEVICE_ATTACH_PASID ? Number(a.pasid ?? 0n) : IOMMU_NO_PASID;
    const attached = pasid === IOMMU_NO_PASID ? dev.hwpt !== null : dev.pasids.has(pasid);
    return { pt_id: attachDevice(c, dev, Number(a.pt_id), pasid, attached) };
  },
  VFIO_DEVICE_DETACH_IOMMUFD_PT: (c, a, raw) => {
    const flags = Number(a.flags);
    check(a.argsz >= 8n && (flags & ~VFIO_DEVICE_DETACH_PASID) === 0, 'EINVAL', 'argsz or flags');
    if (flags & VFIO_DEVICE_DETACH_PASID) check(a.argsz >= 12n, 'EINVAL', 'argsz without pasid');
    const dev = boundDevice(c, raw);
    const pasid = flags & VFIO_DEVICE_DETACH_PASID ? Number(a.pasid ?? 0n) : IOMMU_NO_PASID;
    if (pasid === IOMMU_NO_PASID && dev.hwpt === null) return {};
    detachDevice(c, dev, pasid);
    return {};
  },
  VFIO_GET_API_VERSION: () => ({ ret: VFIO_API_VERSION, out: {} }),
  VFIO_CHECK_EXTENSION: (c, a, raw) => checkExtension(c, intArg(a, raw)),
  VFIO_SET_IOMMU: (c, a, raw) => setIommu(c, intArg(a, raw)),
  VFIO_IOMMU_GET_INFO: (c, a, _raw, trailing) => getInfo(c, a, trailing),
  VFIO_IOMMU_MAP_DMA: (c, a) => mapDma(c, a),
  VFIO_IOMMU_UNMAP_DMA: (c, a) => unmapDma(c, a),
};

/** The integer argument of VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU, under whichever name it came. */
function intArg(a: Args, raw: JsonObject): number {
  for (const k of ['arg', 'argv', 'extension', 'type']) if (raw[k] !== undefined || k === 'arg') if (a[k] !== 0n || raw[k] !== undefined) return Number(a[k]);
  return 0;
}

export function implementedIoctls(): string[] {
  return Object.keys(HANDLERS);
}

/**
 * A JSON integer (number, "0x…", decimal, negative for signed fields) as a u64 bigint, by the
 * wire rule (schemas/lib/u64.ts parseWireInt): a value past 2^64−1 or below −2^63 is the
 * caller's invalid params, never wrapped.
 */
export function toBig(v: unknown, what: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (Array.isArray(v)) {
    // Fixed arrays (e.g. __reserved[3]) as little-endian bytes of their elements: only zero-ness matters to handlers.
    return v.reduce<bigint>((acc, x) => acc | toBig(x, what), 0n);
  }
  try {
    return parseWireInt(v, what);
  } catch (e) {
    throw new AdapterError(RPC_INVALID_PARAMS, (e as Error).message);
  }
}

/** Hex bytes, optionally "0x"-prefixed, as a hook or `__trailing` carries them; linear time. */
export function hexToBytes(hex: unknown, what: string): Uint8Array {
  if (hex === undefined || hex === null || hex === '') return new Uint8Array(0);
  if (typeof hex !== 'string') throw new AdapterError(RPC_INVALID_PARAMS, `${what}: not a hex byte string`);
  const h = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (!isHexBytes(h)) throw new AdapterError(RPC_INVALID_PARAMS, `${what}: not a hex byte string`);
  return codecHexToBytes(h, what);
}

export { bytesToHex };

const wire = (v: bigint | number): number | string => (typeof v === 'number' ? v : u64ToWire(BigInt.asUintN(64, v)));

/** Keeps the bytes of `v` that lie below `size` (copy_struct_from_user zero-fills the rest). */
function truncateField(v: bigint, offsetBytes: number, sizeBytes: number, userSize: number): bigint {
  if (offsetBytes + sizeBytes <= userSize) return v;
  if (offsetBytes >= userSize) return 0n;
  return v & ((1n << BigInt(8 * (userSize - offsetBytes))) - 1n);
}

/**
 * Runs one ioctl. `catalog` (the schemas' uAPI catalog) supplies struct sizes and layouts for
 * the size rules; without it every field is taken as given.
 */
export function dispatchIoctl(ctx: IommufdContext, catalog: UapiCatalog | null, cmd: string, arg: WireStruct): IoctlResult {
  // Object.hasOwn: a command named like an Object.prototype member (constructor, __proto__) is unknown.
  const handler = Object.hasOwn(HANDLERS, cmd) ? HANDLERS[cmd] : undefined;
  const info = catalog?.ioctls.get(cmd);
  if (handler === undefined) {
    // A command the catalog knows but the reference does not model is the adapter's failure,
    // not an errno; anything else is not an ioctl of /dev/iommu.
    if (info !== undefined) throw new AdapterError(RPC_INVALID_PARAMS, `${cmd} is not implemented by the reference`);
    return { errno: 'ENOTTY' };
  }
  const struct: StructInfo | undefined = info?.struct !== undefined ? catalog?.structs.get(info.struct) : undefined;
  const sizeField = info?.sizeField ?? (cmd.startsWith('VFIO_') ? 'argsz' : 'size');
  const trailing = hexToBytes(arg.__trailing, '__trailing');
  const a: Args = {};
  for (const [k, v] of Object.entries(arg)) if (k !== '__trailing' && k !== 'device') a[k] = toBig(v, k);
  if (info?.intArg !== undefined) a.arg = toBig(arg[info.intArg], info.intArg);
  let userSize = Number.MAX_SAFE_INTEGER;
  if (struct !== undefined && (info!.family === 'iommufd' || info!.family === 'test')) {
    // main.c: size < min_size → EINVAL; copy_struct_from_user: non-zero bytes past the
    // kernel struct → E2BIG; what `size` does not cover reads as zero.
    const { device: _device, ...fields } = arg;
    let copied;
    try {
      copied = copyStructFromUser(cmd, fields);
    } catch (e) {
      throw new AdapterError(RPC_INVALID_PARAMS, `${cmd}: ${(e as Error).message}`);
    }
    if (!copied.ok) return { errno: copied.errno };
    userSize = copied.userSizeBytes;
    for (const [k, v] of Object.entries(copied.fields)) a[k] = toBig(v, k);
  } else if (struct !== undefined) {
    const given = arg[sizeField];
    userSize = given === undefined ? struct.sizeBytes + trailing.length : Number(toBig(given, sizeField));
    a[sizeField] = BigInt(userSize);
  }
  const respond = (out: Out, inside: boolean): WireStruct => {
    const res: WireStruct = { ...arg };
    for (const [k, v] of Object.entries(out)) {
      const f = struct?.fields.find((x) => x.name === k);
      if (inside && f !== undefined && f.offsetBytes + f.sizeBytes > userSize) {
        if (f.offsetBytes >= userSize) continue;
        // The copy back ends inside this field: its low (little-endian) bytes are the kernel's,
        // the others stay as the caller left them.
        const kept = toBig(arg[k] ?? 0, k) & ~((1n << BigInt(8 * (userSize - f.offsetBytes))) - 1n);
        res[k] = wire(kept | truncateField(BigInt(v), f.offsetBytes, f.sizeBytes, userSize));
        continue;
      }
      res[k] = wire(v);
    }
    return res;
  };
  // Fields the caller left out read as zero, as the runner's compiler and C would make them.
  const zeroed: Args = new Proxy(a, { get: (t, k: string) => t[k] ?? 0n });
  try {
    const r = handler(ctx, zeroed, arg, trailing);
    // No uAPI struct has a field named `out`: its presence marks a VFIO-compat answer.
    if ('out' in r) {
      const c = r as CompatOut;
      const res = respond(c.out, true);
      if (c.trailing !== undefined && c.trailing.length > 0) res.__trailing = bytesToHex(c.trailing);
      return { ret: c.ret ?? 0, arg: res };
    }
    return { ret: 0, arg: respond(r as Out, true) };
  } catch (e) {
    if (e instanceof UapiError) {
      return e.out !== undefined ? { errno: e.errno, arg: respond(e.out as Out, true) } : { errno: e.errno };
    }
    throw e;
  }
}
