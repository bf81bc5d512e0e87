/**
 * A writer of cpio archives in the "newc" format (the one the kernel unpacks as an initramfs):
 * each entry is a 110-byte ASCII header ("070701" and thirteen 8-digit hex fields), its name
 * with a NUL, padded to 4 bytes, then its data, padded to 4; a "TRAILER!!!" entry ends the
 * archive. Deterministic: inode numbers count from 1, mtime is 0, owner root — the same inputs
 * give the same bytes, so the initramfs can be part of a cache key.
 */

export type CpioEntry =
  | { kind: 'dir'; name: string; mode?: number }
  | { kind: 'file'; name: string; data: Uint8Array; mode?: number }
  | { kind: 'char'; name: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;
const MAGIC = '070701';
const TRAILER = 'TRAILER!!!';

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio: field ${n} does not fit 32 bits`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(ino: number, mode: number, nlink: number, size: number, rdevMajor: number, rdevMinor: number, nameBytes: number): string {
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return MAGIC + [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, nameBytes, 0].map(hex8).join('');
}

/** The archive of these entries, in order (a directory must come before what it holds). */
export function writeCpio(entries: CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  let ino = 1;
  const add = (head: string, name: string, data: Uint8Array) => {
    const nameZ = enc.encode(`${name}\0`);
    const h = enc.encode(head);
    parts.push(h, nameZ, new Uint8Array(pad4(h.length + nameZ.length)), data, new Uint8Array(pad4(data.length)));
  };
  for (const e of entries) {
    const name = e.name.replace(/^\/+/, '');
    if (!name || name.includes('\0')) throw new Error(`cpio: bad entry name '${e.name}'`);
    const nameBytes = enc.encode(name).length + 1;
    if (e.kind === 'dir') add(header(ino++, S_IFDIR | (e.mode ?? 0o755), 2, 0, 0, 0, nameBytes), name, new Uint8Array(0));
    else if (e.kind === 'file') add(header(ino++, S_IFREG | (e.mode ?? 0o644), 1, e.data.length, 0, 0, nameBytes), name, e.data);
    else add(header(ino++, S_IFCHR | (e.mode ?? 0o600), 1, 0, e.major, e.minor, nameBytes), name, new Uint8Array(0));
  }
  add(header(0, 0, 1, 0, 0, 0, TRAILER.length + 1), TRAILER, new Uint8Array(0));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
