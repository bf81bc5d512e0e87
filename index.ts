/**
 * The package's public entry (`import type { Adapter } from 'ioasid'`): what a module adapter
 * needs — the Adapter interface of conformance/PROTOCOL.md, its message types, AdapterError
 * and the protocol's constants. Cheap to import: types and constants only. The embedded
 * reference is `ioasid/reference`; everything else is the `ioasid` command.
 */
export * from './schemas/lib/adapter.ts';
