/**
 * Where the runner gets the uAPI catalog: schemas/lib/catalog.ts getCatalog(), loaded lazily
 * so that commands which need no catalog (report, list) do not pay for it.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { REPO_ROOT } from './case-loader.ts';

export async function loadCatalog(): Promise<UapiCatalog> {
  const specifier = pathToFileURL(resolve(REPO_ROOT, 'schemas', 'lib', 'catalog.ts')).href;
  let mod: { getCatalog?: () => UapiCatalog };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch (e) {
    throw new Error(`the uAPI catalog (schemas/lib/catalog.ts) cannot be loaded: ${(e as Error).message}`);
  }
  if (typeof mod.getCatalog !== 'function') throw new Error('schemas/lib/catalog.ts does not export getCatalog()');
  return mod.getCatalog();
}
