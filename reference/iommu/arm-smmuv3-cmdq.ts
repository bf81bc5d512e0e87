/**
 * SMMUv3 command queue opcodes (Arm IHI 0070 §4; Linux arm-smmu-v3.h CMDQ_OP_*), the one list
 * the kernel model's SMMUv3 pieces share: the vSMMU's conversion of user commands
 * (arm-vsmmu.ts), the TLB's execution of TLBIs (iotlb/smmuv3.ts) and the configuration-cache
 * drops (iotlb/unit-iotlb.ts). The VMM side (reference/vmm) keeps its own, as a client of the
 * uAPI.
 */
export const CMDQ_OP_CFGI_STE = 0x03;
export const CMDQ_OP_CFGI_STE_RANGE = 0x04;
export const CMDQ_OP_CFGI_CD = 0x05;
export const CMDQ_OP_CFGI_CD_ALL = 0x06;
export const CMDQ_OP_TLBI_NH_ALL = 0x10;
export const CMDQ_OP_TLBI_NH_ASID = 0x11;
export const CMDQ_OP_TLBI_NH_VA = 0x12;
export const CMDQ_OP_TLBI_NH_VAA = 0x13;
export const CMDQ_OP_TLBI_S12_VMALL = 0x28;
export const CMDQ_OP_TLBI_S2_IPA = 0x2a;
export const CMDQ_OP_TLBI_NSNH_ALL = 0x30;
export const CMDQ_OP_ATC_INV = 0x40;
