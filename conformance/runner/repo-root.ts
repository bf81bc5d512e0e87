/** The checkout's root folder, found from this file's place (a module of its own so that cheap commands need not load the case loader). */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
