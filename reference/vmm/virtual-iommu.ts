/**
 * The VMM library's one API: a virtual IOMMU for one assigned device, whatever reaches the
 * host behind it. `create` binds the device, asks the host what it walks (GET_HW_INFO along
 * the device's path) and picks the strategy the 2021 RFC lays out:
 * - native nesting when the host nests the guest's own format (a VT-d guest on a VT-d host
 *   with ECAP.NEST, an SMMUv3 guest on an SMMUv3 host with S1P and S2P and its granule);
 * - software nesting when the host nests its own format but not the guest's;
 * - emulation otherwise (every guest translation mapped into an IOAS).
 * The guest then programs its context (`setArmContext` / `setVtdContext`), issues its
 * invalidations (`invalidateCmdq` / `invalidateVtd`), and — where the strategy shadows, since
 * neither guest announces a new mapping — its stores to its table frames trap (`watches`,
 * `guestTableWrite`).
 *
 * A context the chosen strategy cannot carry is refused with RefusedError and its reason.
 */

import type { Adapter } from '../../schemas/lib/adapter.ts';
import { decodeArmContext, decodeVtdContext, steContextPtr, type GuestFormatName, type GuestTableConfig, type VtdPasidContext } from './guest-context.ts';
import type { CmdqCommand, VtdPiotlb } from './guest-invalidation.ts';
import { GuestRam } from './guest-memory.ts';
import { queryHostCaps, type HostCaps } from './host-caps.ts';
import { HostSession } from './host-session.ts';
import { EmulationStrategy } from './emulation-strategy.ts';
import { NativeStrategy } from './native-strategy.ts';
import { SwnestStrategy } from './swnest-strategy.ts';
import { RefusedError, type RawContext, type Strategy, type StrategyName } from './strategy.ts';
import { UapiClient } from './uapi-client.ts';

export const DEFAULT_RAM_GPA = 2 ** 30;

export interface VirtualIommuOptions {
  /** The device's name in the adapter's topology. */
  device: string;
  /** The format of the guest's vIOMMU. */
  guest: GuestFormatName;
  ramBytes: number;
  /** GPA of guest RAM (default 1 GiB, clear of the x86 and SMMUv3 MSI windows). */
  ramGpa?: number;
  /** Guest RAM already mapped in this VMM process (another device of the same guest). */
  ramHva?: number;
  /** Force a strategy (refused when the host cannot do it); default: the RFC's choice. */
  strategy?: StrategyName;
  /** Bytes of VMM memory for the shadow (software nesting). */
  poolBytes?: number;
  /** GPA of the shadow pool; default: the first 1 GiB boundary above guest RAM. */
  poolGpa?: number;
  /** The guest's virtual StreamID (ARM guest). */
  vsid?: number;
  /** Emulation: COPY guest mappings from an IOAS holding all guest RAM instead of MAPping them. */
  emulationCopy?: boolean;
}

/** The strategy the RFC's rule gives for a guest format on a host. */
export function chooseStrategy(caps: HostCaps, guest: GuestFormatName): { strategy: StrategyName; why: string } {
  if (caps.nestsFormats.includes(guest)) return { strategy: 'native', why: `the host (${caps.kind}) walks ${guest} tables on top of its stage 2` };
  if (caps.nestsFormats.length > 0) return { strategy: 'swnest', why: `the host (${caps.kind}) nests ${caps.nestsFormats.join(', ')} only: the guest's ${guest} table is transformed into it` };
  return { strategy: 'emulation', why: `the host (${caps.kind}) offers no nesting: every guest mapping goes into an IOAS` };
}

export class VirtualIommu {
  /** Invalidation submissions the guest made (each a VM exit: a CMDQ producer or QI tail write). */
  guestSubmissions = 0;

  private constructor(
    readonly client: UapiClient,
    readonly host: HostSession,
    readonly ram: GuestRam,
    readonly caps: HostCaps,
    readonly guest: GuestFormatName,
    readonly strategy: Strategy,
    readonly why: string,
  ) {}

  static async create(adapterOrClient: Adapter | UapiClient, opts: VirtualIommuOptions): Promise<VirtualIommu> {
    const client = adapterOrClient instanceof UapiClient ? adapterOrClient : await UapiClient.open(adapterOrClient);
    // Guest RAM in 2 MiB pages (hugetlb), as VMMs back it.
    const ramHva = opts.ramHva ?? Number((await client.hook('MMAP', { length: opts.ramBytes, huge: true })).addr);
    const ram = new GuestRam(client, ramHva, opts.ramBytes, opts.ramGpa ?? DEFAULT_RAM_GPA);
    const host = await HostSession.bind(client, opts.device);
    const caps = await queryHostCaps(client, host.devId, host.scratchHva);
    const chosen = chooseStrategy(caps, opts.guest);
    const name = opts.strategy ?? chosen.strategy;
    const why = opts.strategy === undefined ? chosen.why : `forced (${chosen.strategy} would be chosen: ${chosen.why})`;
    // Neither guest says when it maps: SMMUv3 has no caching mode, and VT-d's caching mode does
    // not cover first-stage tables (§6.1). A shadowing VMM write-protects the guest's tables.
    const trapWrites = true;
    const decode = (raw: RawContext): Promise<GuestTableConfig> => decodeContext(ram, raw);
    let strategy: Strategy;
    if (name === 'native') {
      if (!caps.nestsFormats.includes(opts.guest)) throw new RefusedError(`native nesting: the host (${caps.kind}) does not walk ${opts.guest} tables`);
      strategy = await NativeStrategy.create(host, ram, caps, opts.vsid ?? 0);
    } else if (name === 'swnest') {
      if (caps.nestsFormats.length === 0) throw new RefusedError(`software nesting: the host (${caps.kind}) offers no nesting`);
      const poolGpa = opts.poolGpa ?? Math.ceil((ram.gpaBase + opts.ramBytes) / 2 ** 30) * 2 ** 30;
      strategy = await SwnestStrategy.create(host, ram, caps, opts.poolBytes ?? 8 << 20, poolGpa, trapWrites, decode);
    } else strategy = await EmulationStrategy.create(host, ram, trapWrites, decode, opts.emulationCopy === true);
    return new VirtualIommu(client, host, ram, caps, opts.guest, strategy, why);
  }

  /** The ARM guest wrote its vSTE (and issued CFGI_STE): words 0 and 1. */
  async setArmContext(ste0: bigint, ste1: bigint): Promise<void> {
    const raw: RawContext = { kind: 'arm', ste0, ste1 };
    await this.strategy.setContext(raw, this.strategy.name === 'native' ? null : await decodeContext(this.ram, raw));
  }

  /** The x86 guest programmed its PASID entry (null: not present) and invalidated the PASID cache. */
  async setVtdContext(ctx: VtdPasidContext | null): Promise<void> {
    const raw: RawContext = { kind: 'vtd', ctx };
    await this.strategy.setContext(raw, this.strategy.name === 'native' ? null : await decodeContext(this.ram, raw));
  }

  async invalidateCmdq(cmds: CmdqCommand[]): Promise<void> {
    this.guestSubmissions++;
    await this.strategy.invalidate({ kind: 'cmdq', cmds });
  }

  async invalidateVtd(descs: VtdPiotlb[]): Promise<void> {
    this.guestSubmissions++;
    await this.strategy.invalidate({ kind: 'vtd', descs });
  }


  /** Whether a guest store to `gpa` traps into the VMM (a write-protected table frame). */
  watches(gpa: number): boolean {
    return this.strategy.watches(gpa);
  }

  async guestTableWrite(gpa: number, lengthBytes: number): Promise<void> {
    await this.strategy.tableWritten(gpa, lengthBytes);
  }

  get devId(): number {
    return this.host.devId;
  }
}

/** The guest's context decoded for a walk (the CD is read from guest memory); refusals throw. */
export async function decodeContext(ram: GuestRam, raw: RawContext): Promise<GuestTableConfig> {
  let r;
  if (raw.kind === 'arm') {
    const valid = (raw.ste0 & 1n) === 1n && Number((raw.ste0 >> 1n) & 7n) === 5;
    const cdGpa = steContextPtr(raw.ste0);
    const cd = valid && ram.inRam(cdGpa, 64) ? (await ram.readWords64(cdGpa, 8)).map(([lo, hi]) => (BigInt(hi) << 32n) | BigInt(lo)) : null;
    r = decodeArmContext(raw.ste0, raw.ste1, cd);
  } else r = decodeVtdContext(raw.ctx);
  if (!r.ok) throw new RefusedError(r.refusal);
  return r.config;
}
