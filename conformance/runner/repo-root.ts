/** The checkout's root folder (schemas/lib/package-root.ts; a module of its own so that cheap commands need not load the case loader). */
export { PACKAGE_ROOT as REPO_ROOT } from '../../schemas/lib/package-root.ts';
