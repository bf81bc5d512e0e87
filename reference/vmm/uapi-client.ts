/**
 * The VMM's handle on /dev/iommu: one open context of any Adapter (the embedded reference, a
 * stdio adapter, a module), spoken to through the adapter protocol only — ioctls by uAPI name
 * and the test hooks that stand for what a VMM process does by itself (mmap, touching its own
 * memory). The VMM library never sees an implementation's internals.
 *
 * Invariants: an ioctl or hook that fails as the kernel would throws UapiCallError naming the
 * call and the errno; every call is counted (per ioctl name and per hook op), which is what the
 * benchmark reports as the VMM's system-call traffic. Memory hooks (MEM_READ, MEM_WRITE) stand
 * for plain loads and stores of the VMM process and are counted apart from ioctls.
 */

import type { Adapter, JsonObject, TestParams, WireStruct } from '../../schemas/lib/adapter.ts';

export type HookOp = TestParams['op'];
import { bytesToHex, hexToBytes } from '../../schemas/lib/codec.ts';

export class UapiCallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: string,
    readonly arg?: WireStruct,
  ) {
    super(`${call} failed with ${errno}`);
    this.name = 'UapiCallError';
  }
}

/** Hook ops that are the VMM touching its own memory, not system calls. */
const MEMORY_OPS = new Set(['MEM_READ', 'MEM_WRITE']);

export class UapiClient {
  /** ioctls made, per uAPI name. */
  readonly ioctls = new Map<string, number>();
  /** Test hooks used, per op (MEM_READ/MEM_WRITE included). */
  readonly hooks = new Map<string, number>();

  private constructor(
    readonly adapter: Adapter,
    readonly fd: number,
  ) {}

  /** Opens a fresh /dev/iommu context in the adapter's current world. */
  static async open(adapter: Adapter): Promise<UapiClient> {
    const { fd } = await adapter.open({});
    return new UapiClient(adapter, fd);
  }

  async close(): Promise<void> {
    await this.adapter.close({ fd: this.fd });
  }

  /** Total ioctls so far (the counter the benchmark differences). */
  get ioctlCount(): number {
    let n = 0;
    for (const v of this.ioctls.values()) n += v;
    return n;
  }

  async ioctl(cmd: string, arg: WireStruct): Promise<WireStruct> {
    this.ioctls.set(cmd, (this.ioctls.get(cmd) ?? 0) + 1);
    const r = await this.adapter.ioctl({ fd: this.fd, cmd, arg });
    if ('errno' in r && r.errno !== undefined) throw new UapiCallError(cmd, r.errno, (r as { arg?: WireStruct }).arg);
    return (r as { arg: WireStruct }).arg;
  }

  /** A test hook; an errno answer throws. */
  async hook(op: HookOp, arg: JsonObject = {}): Promise<JsonObject> {
    this.hooks.set(op, (this.hooks.get(op) ?? 0) + 1);
    const r = await this.adapter.test({ fd: this.fd, op, arg });
    if ('errno' in r && r.errno !== undefined) throw new UapiCallError(op, r.errno);
    return ((r as { out?: JsonObject }).out ?? {}) as JsonObject;
  }

  /** A test hook whose errno is an answer, not a failure (a DMA that faults is data). */
  async hookRaw(op: HookOp, arg: JsonObject): Promise<{ errno?: string; out?: JsonObject }> {
    this.hooks.set(op, (this.hooks.get(op) ?? 0) + 1);
    return (await this.adapter.test({ fd: this.fd, op, arg })) as { errno?: string; out?: JsonObject };
  }

  /** Hook calls that are not the VMM's own loads and stores. */
  get hookCallCount(): number {
    let n = 0;
    for (const [op, v] of this.hooks) if (!MEMORY_OPS.has(op)) n += v;
    return n;
  }

  async mmap(lengthBytes: number): Promise<number> {
    return Number((await this.hook('MMAP', { length: lengthBytes })).addr);
  }

  async memRead(addr: number, lengthBytes: number): Promise<Uint8Array> {
    return hexToBytes((await this.hook('MEM_READ', { addr, length: lengthBytes })).data);
  }

  async memWrite(addr: number, bytes: Uint8Array): Promise<void> {
    await this.hook('MEM_WRITE', { addr, data: bytesToHex(bytes) });
  }
}
