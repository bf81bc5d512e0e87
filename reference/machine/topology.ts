/**
 * The machine a `world` topology describes: host bridges, each with one IOMMU unit of a
 * hardware model, devices behind bridges (flags `no_dirty` / `pasid` / `pri` / `stall`, optional group, optional
 * SR-IOV `vf_token`), and the simulated process's capabilities. Parsing checks everything and names the field that is
 * wrong; a topology either builds completely or throws.
 *
 * Invariants: device and bridge names are unique; every device's bridge exists; the unit
 * object of a bridge is shared by all its devices.
 */

import type { IommuUnit, UnitDevice } from '../iommu/unit.ts';
import { createUnit } from '../iommu/registry.ts';
import { DEFAULT_MEMORY_BYTES, MAX_MEMORY_BYTES, MIN_MEMORY_BYTES } from './physical-memory.ts';
import { createUnitIotlb, IotlbWorld, type UnitIotlb } from '../iotlb/unit-iotlb.ts';

const HUGE_PAGE_BYTES = 2 * 1024 * 1024;

export const KNOWN_CAPS = ['CAP_IPC_LOCK', 'CAP_SYS_RESOURCE'] as const;
const DEVICE_FLAGS = ['no_dirty', 'pasid', 'pri', 'stall'] as const;

export interface Bridge {
  name: string;
  unit: IommuUnit;
  /** The unit's translation cache (knob `iommu.iotlb`, read by reference/iotlb/knobs.ts). */
  iotlb: UnitIotlb;
}

export interface Device extends UnitDevice {
  bridge: Bridge;
  unit: IommuUnit;
  /**
   * Topology `vf_token` (a UUID, as 32 lowercase hex digits): the device is an SR-IOV VF whose
   * PF is bound to vfio-pci with this VF token, so binding it needs the token
   * (vfio_pci_validate_vf_token). null: a device that is neither such a VF nor a PF with VFs in use.
   */
  vfToken: string | null;
  /** Made by IOMMU_TEST_OP_MOCK_DOMAIN (reference/iommufd/selftest-cmd.ts), not by the topology. */
  madeByMockDomain?: true;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export interface Topology {
  bridges: Map<string, Bridge>;
  devices: Map<string, Device>;
  /** Capabilities the process holds (everything but what the topology drops). */
  caps: Set<string>;
  /** Bytes of physical memory (`memory.bytes`, DEFAULT_MEMORY_BYTES when absent). */
  memoryBytes: number;
}

export class TopologyError extends Error {
  constructor(field: string, rule: string) {
    super(`topology: ${field}: ${rule}`);
    this.name = 'TopologyError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function buildTopology(json: unknown): Topology {
  if (!isObject(json)) throw new TopologyError('(root)', 'must be an object');
  for (const key of Object.keys(json)) {
    if (!['bridges', 'devices', 'process', 'memory', 'name', 'title', 'note', 'description'].includes(key)) throw new TopologyError(key, 'unknown field');
  }
  const bridges = new Map<string, Bridge>();
  const iotlbWorld = new IotlbWorld();
  const bridgeList = json.bridges ?? [];
  if (!Array.isArray(bridgeList)) throw new TopologyError('bridges', 'must be an array');
  bridgeList.forEach((b, i) => {
    const at = `bridges[${i}]`;
    if (!isObject(b) || typeof b.name !== 'string') throw new TopologyError(`${at}.name`, 'must be a string');
    if (bridges.has(b.name)) throw new TopologyError(`${at}.name`, `duplicate bridge '${b.name}'`);
    if (!isObject(b.iommu)) throw new TopologyError(`${at}.iommu`, 'must be an object with a model');
    let unit: IommuUnit;
    let iotlb: UnitIotlb;
    try {
      const { iotlb: iotlbKnob, ...modelKnobs } = b.iommu;
      unit = createUnit(modelKnobs);
      iotlb = createUnitIotlb(unit, iotlbKnob, iotlbWorld);
    } catch (e) {
      throw new TopologyError(`${at}.iommu`, (e as Error).message);
    }
    bridges.set(b.name, { name: b.name, unit, iotlb });
  });
  const devices = new Map<string, Device>();
  const deviceList = json.devices ?? [];
  if (!Array.isArray(deviceList)) throw new TopologyError('devices', 'must be an array');
  deviceList.forEach((d, i) => {
    const at = `devices[${i}]`;
    if (!isObject(d) || typeof d.name !== 'string') throw new TopologyError(`${at}.name`, 'must be a string');
    if (devices.has(d.name)) throw new TopologyError(`${at}.name`, `duplicate device '${d.name}'`);
    const bridge = typeof d.bridge === 'string' ? bridges.get(d.bridge) : undefined;
    if (bridge === undefined) throw new TopologyError(`${at}.bridge`, `must name a bridge (${[...bridges.keys()].join(', ')})`);
    const flags = d.flags ?? [];
    if (!Array.isArray(flags) || flags.some((f) => !(DEVICE_FLAGS as readonly unknown[]).includes(f))) {
      throw new TopologyError(`${at}.flags`, `must be a list of ${DEVICE_FLAGS.join(', ')}`);
    }
    if (d.group !== undefined && typeof d.group !== 'string') throw new TopologyError(`${at}.group`, 'must be a string');
    if (d.vf_token !== undefined && (typeof d.vf_token !== 'string' || !UUID.test(d.vf_token))) {
      throw new TopologyError(`${at}.vf_token`, 'must be a UUID (8-4-4-4-12 hex digits)');
    }
    devices.set(d.name, {
      name: d.name,
      bridge,
      unit: bridge.unit,
      noDirty: flags.includes('no_dirty'),
      pasid: flags.includes('pasid'),
      pri: flags.includes('pri'),
      stall: flags.includes('stall'),
      group: d.group as string | undefined,
      vfToken: typeof d.vf_token === 'string' ? d.vf_token.replaceAll('-', '').toLowerCase() : null,
    });
  });
  const caps = new Set<string>(KNOWN_CAPS);
  if (json.process !== undefined) {
    if (!isObject(json.process)) throw new TopologyError('process', 'must be an object');
    const drop = json.process.drop ?? [];
    if (!Array.isArray(drop) || drop.some((c) => !(KNOWN_CAPS as readonly unknown[]).includes(c))) {
      throw new TopologyError('process.drop', `must be a list of ${KNOWN_CAPS.join(', ')}`);
    }
    for (const c of drop) caps.delete(c as string);
  }
  let memoryBytes = DEFAULT_MEMORY_BYTES;
  if (json.memory !== undefined) {
    const m = json.memory;
    if (!isObject(m) || Object.keys(m).some((k) => k !== 'bytes')) throw new TopologyError('memory', 'must be an object {bytes}');
    const b = typeof m.bytes === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(m.bytes) ? Number(BigInt(m.bytes)) : m.bytes;
    if (typeof b !== 'number' || !Number.isSafeInteger(b) || b % HUGE_PAGE_BYTES !== 0 || b < MIN_MEMORY_BYTES || b > MAX_MEMORY_BYTES) {
      throw new TopologyError('memory.bytes', `must be a multiple of 2 MiB from ${MIN_MEMORY_BYTES} to ${MAX_MEMORY_BYTES}`);
    }
    memoryBytes = b;
  }
  return { bridges, devices, caps, memoryBytes };
}
