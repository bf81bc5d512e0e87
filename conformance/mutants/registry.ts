/**
 * Every mutant, by name. Adding one is a file in bugs/ and a line here. `listMutants()` and
 * `getMutant()` are what a later `ioasid conform --mutant <name>` would use.
 */
import { accessIgnoresUnmap } from './bugs/access-ignores-unmap.ts';
import { accessFdCloseKeepsPins } from './bugs/access-fd-close-keeps-pins.ts';
import { testCmdMinSizeIgnored } from './bugs/test-cmd-min-size-ignored.ts';
import { autoIovaPageAligned } from './bugs/auto-iova-page-aligned.ts';
import { autoIovaIgnoresAllowed } from './bugs/auto-iova-ignores-allowed.ts';
import { changeProcessIgnoresCaller } from './bugs/change-process-ignores-caller.ts';
import { closeKeepsPins } from './bugs/close-keeps-pins.ts';
import { copyIgnoresReadonlySource } from './bugs/copy-ignores-readonly-source.ts';
import { copyPinsTwice } from './bugs/copy-pins-twice.ts';
import { destroyIoasIgnoresUsers } from './bugs/destroy-ioas-ignores-users.ts';
import { fixedIovaAlignmentUnchecked } from './bugs/fixed-iova-alignment-unchecked.ts';
import { hugePagesOptionIgnored } from './bugs/huge-pages-option-ignored.ts';
import { idsNotReused } from './bugs/ids-not-reused.ts';
import { getInfoChainPastArgsz } from './bugs/get-info-chain-past-argsz.ts';
import { iovaRangesIgnoresReserved } from './bugs/iova-ranges-ignores-reserved.ts';
import { iovaRangesNoCount } from './bugs/iova-ranges-no-count.ts';
import { mapFailureKeepsArea } from './bugs/map-failure-keeps-area.ts';
import { mapPinsFdOwnerMm } from './bugs/map-pins-fd-owner-mm.ts';
import { nestedAccessedLeafOnly } from './bugs/nested-accessed-leaf-only.ts';
import { nestedPermsLeafOnly } from './bugs/nested-perms-leaf-only.ts';
import { pinFailureKeepsPartial } from './bugs/pin-failure-keeps-partial.ts';
import { pinKeepsPrivatePageShared } from './bugs/pin-keeps-private-page-shared.ts';
import { reservedFieldEinval } from './bugs/reserved-field-einval.ts';
import { rlimitNotEnforced } from './bugs/rlimit-not-enforced.ts';
import { trailingBytesIgnored } from './bugs/trailing-bytes-ignored.ts';
import { unmapEndOffByOne } from './bugs/unmap-end-off-by-one.ts';
import { unmapFirstDomainOnly } from './bugs/unmap-first-domain-only.ts';
import { unmapKeepsPins } from './bugs/unmap-keeps-pins.ts';
import { unmapKeepsPte } from './bugs/unmap-keeps-pte.ts';
import { unmapSkipsIotlbFlush } from './bugs/unmap-skips-iotlb-flush.ts';
import { unmapLastPageLeftMapped } from './bugs/unmap-last-page-left-mapped.ts';
import { unmapPartialSucceeds } from './bugs/unmap-partial-succeeds.ts';
import { amdv1WriteBitMoved } from './bugs/amdv1-write-bit-moved.ts';
import { armS1ApBitsSwapped } from './bugs/arm-s1-ap-bits-swapped.ts';
import { armS1NoAccessFlag } from './bugs/arm-s1-no-access-flag.ts';
import { riscvWriteBitMoved } from './bugs/riscv-write-bit-moved.ts';
import { vtdssDirtyBitMoved } from './bugs/vtdss-dirty-bit-moved.ts';
import { vtdssPageSizeBitMoved } from './bugs/vtdss-page-size-bit-moved.ts';
import { vtdssWriteBitMoved } from './bugs/vtdss-write-bit-moved.ts';
import { amdv1NoForceCoherence } from './bugs/amdv1-no-force-coherence.ts';
import { bindIgnoresVfToken } from './bugs/bind-ignores-vf-token.ts';
import { mapFileChecksFileSize } from './bugs/map-file-checks-file-size.ts';
import { tceWindowOffsetIgnored } from './bugs/tce-window-offset-ignored.ts';
import { amdv1DirtyBitMoved } from './bugs/amdv1-dirty-bit-moved.ts';
import { iopfVfPriAllowed } from './bugs/iopf-vf-pri-allowed.ts';
import { pgfaultFlagsMasked } from './bugs/pgfault-flags-masked.ts';
import { stallAddressPageAligned } from './bugs/stall-address-page-aligned.ts';
import type { Mutant } from './mutant.ts';

const MUTANTS: readonly Mutant[] = [
  unmapEndOffByOne,
  unmapLastPageLeftMapped,
  unmapKeepsPte,
  unmapSkipsIotlbFlush,
  unmapFirstDomainOnly,
  unmapPartialSucceeds,
  unmapKeepsPins,
  closeKeepsPins,
  destroyIoasIgnoresUsers,
  autoIovaPageAligned,
  reservedFieldEinval,
  iovaRangesNoCount,
  trailingBytesIgnored,
  idsNotReused,
  copyPinsTwice,
  pinFailureKeepsPartial,
  hugePagesOptionIgnored,
  rlimitNotEnforced,
  accessIgnoresUnmap,
  accessFdCloseKeepsPins,
  testCmdMinSizeIgnored,
  fixedIovaAlignmentUnchecked,
  mapFailureKeepsArea,
  iovaRangesIgnoresReserved,
  autoIovaIgnoresAllowed,
  copyIgnoresReadonlySource,
  mapPinsFdOwnerMm,
  changeProcessIgnoresCaller,
  pinKeepsPrivatePageShared,
  nestedPermsLeafOnly,
  nestedAccessedLeafOnly,
  getInfoChainPastArgsz,
  vtdssWriteBitMoved,
  vtdssPageSizeBitMoved,
  vtdssDirtyBitMoved,
  amdv1WriteBitMoved,
  riscvWriteBitMoved,
  armS1ApBitsSwapped,
  armS1NoAccessFlag,
  amdv1NoForceCoherence,
  tceWindowOffsetIgnored,
  bindIgnoresVfToken,
  mapFileChecksFileSize,
  amdv1DirtyBitMoved,
  iopfVfPriAllowed,
  pgfaultFlagsMasked,
  stallAddressPageAligned,
];

export function listMutants(): readonly Mutant[] {
  return MUTANTS;
}

export function getMutant(name: string): Mutant {
  const m = MUTANTS.find((x) => x.name === name);
  if (m === undefined) throw new Error(`no mutant '${name}' (known: ${MUTANTS.map((x) => x.name).join(', ')})`);
  return m;
}
