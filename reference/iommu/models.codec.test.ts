/**
 * Cross-check of the hw_info payloads the models build by hand (DataView) against the uAPI
 * catalog's struct layouts (schemas/lib/codec.ts encodeStruct): same bytes for the same fields.
 */
import { describe, expect, it } from 'vitest';
import { decodeStruct, encodeStruct } from '../../schemas/lib/codec.ts';
import { u64ToWire } from '../../schemas/lib/u64.ts';
import { createArmSmmuV3Profile } from './arm-smmuv3.ts';
import { createIntelVtdProfile } from './intel-vtd.ts';

describe('hw_info payloads agree with the uAPI catalog', () => {
  it('struct iommu_hw_info_vtd', () => {
    for (const levels of [3, 4, 5]) {
      const p = createIntelVtdProfile({ levels });
      const info = p.hwInfo(0);
      if ('errno' in info) throw new Error('errno');
      const viaCodec = encodeStruct('iommu_hw_info_vtd', {
        flags: 1,
        __reserved: 0,
        cap_reg: u64ToWire(p.registers.CAP_REG),
        ecap_reg: u64ToWire(p.registers.ECAP_REG),
      });
      expect(Buffer.from(info.bytes).toString('hex')).toBe(Buffer.from(viaCodec).toString('hex'));
    }
  });

  it('struct iommu_hw_info_arm_smmuv3', () => {
    const p = createArmSmmuV3Profile({ granules: ['64K'], oas: 52 });
    const info = p.hwInfo(0);
    if ('errno' in info) throw new Error('errno');
    const decoded = decodeStruct('iommu_hw_info_arm_smmuv3', info.bytes);
    expect(decoded).toMatchObject({
      flags: 0,
      idr: p.idRegisters.idr,
      iidr: p.idRegisters.iidr,
      aidr: p.idRegisters.aidr,
    });
    const viaCodec = encodeStruct('iommu_hw_info_arm_smmuv3', { idr: p.idRegisters.idr, iidr: p.idRegisters.iidr, aidr: p.idRegisters.aidr });
    expect(Buffer.from(info.bytes).toString('hex')).toBe(Buffer.from(viaCodec).toString('hex'));
  });
});
