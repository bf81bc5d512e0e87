/**
 * A long-term pin of a MAP_PRIVATE file page pins the file's own page instead of giving the
 * process its private copy first (a GUP without the gup_must_unshare rule for R/O long-term pins
 * of COW mappings, and without the COW break of a FOLL_WRITE pin). The process's next write then
 * copies the page as any COW fault does, and the device keeps the stale file page: DMA and the
 * CPU no longer meet in one page, and device writes land in the file.
 */
import { ProcessMemory, type Vma } from '../../../reference/machine/process-memory.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const pinKeepsPrivatePageShared: Mutant = {
  name: 'pin-keeps-private-page-shared',
  models: 'a long-term pin of a MAP_PRIVATE file page pins the shared file page (no unshare, no COW break)',
  violates: ['IOAS-MAP-12'],
  areas: ['ioas/map/private-file-*'],
  install: () => Patches.install((p) => p.method(ProcessMemory.prototype, 'pinnableFrame', () => function (this: ProcessMemory, v: Vma, page: number): number {
    const copy = v.cow!.frameOf(page);
    // BUG: without a private copy yet, the pin takes the file's page.
    return copy >= 0 ? copy : this.objectFrame(v.object, page);
  })),
};
