/**
 * Where the runner gets the uAPI catalog: schemas/lib/catalog.ts getCatalog(), loaded lazily
 * so that commands which need no catalog (report, list) do not pay for it.
 */
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';

export async function loadCatalog(): Promise<UapiCatalog> {
  let mod: { getCatalog?: () => UapiCatalog };
  try {
    // A literal specifier, so that the compiled build (tsconfig.build.json) imports catalog.js.
    mod = (await import('../../schemas/lib/catalog.ts')) as typeof mod;
  } catch (e) {
    throw new Error(`the uAPI catalog (schemas/lib/catalog.ts) cannot be loaded: ${(e as Error).message}`);
  }
  if (typeof mod.getCatalog !== 'function') throw new Error('schemas/lib/catalog.ts does not export getCatalog()');
  return mod.getCatalog();
}
