/**
 * The "newc" cpio format (SVR4 portable ASCII, magic 070701): what the Linux kernel
 * unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst)
 * and what GNU cpio writes with `-H newc`.
 *
 * Each member is a 110-byte header of ASCII fields, the NUL-terminated name padded so
 * that header + name is a multiple of 4 bytes, then the data padded to 4 bytes. The
 * header holds 13 fields of 8 hex digits: ino, mode, uid, gid, nlink, mtime, filesize,
 * devmajor, devminor, rdevmajor, rdevminor, namesize (with the NUL), check (0 for 070701).
 * The archive ends with a member named "TRAILER!!!". Symlinks keep their target as data;
 * device nodes have no data and carry their number in rdevmajor/rdevminor.
 *
 * `CpioBuilder` adds parent directories before their children (the kernel creates each
 * member in order and does not make missing parents), numbers inodes from 1, and writes
 * nlink 1 for everything but directories, so no two members are taken for hard links.
 */
import { gunzipSync } from 'node:zlib';

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const NEWC_MAGIC = '070701';
export const NEWC_CRC_MAGIC = '070702';
export const TRAILER = 'TRAILER!!!';
const HEADER_SIZE = 110;

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: 'symlink'; path: string; target: string; uid?: number; gid?: number; mtime?: number }
  | { type: 'char' | 'block'; path: string; major: number; minor: number; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: 'fifo'; path: string; mode?: number; uid?: number; gid?: number; mtime?: number };

/** A member as read back: the type bits are in `mode`. */
export interface CpioMember {
  name: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Uint8Array;
}

const TYPE_BITS = { dir: S_IFDIR, file: S_IFREG, symlink: S_IFLNK, char: S_IFCHR, block: S_IFBLK, fifo: S_IFIFO } as const;
const DEFAULT_PERMS = { dir: 0o755, file: 0o644, symlink: 0o777, char: 0o600, block: 0o600, fifo: 0o644 } as const;

export class CpioError extends Error {}

/** "/a//b/" and "./a/b" both become "a/b": archive names are relative, as gen_init_cpio's. */
export function normalizeCpioPath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new CpioError(`cpio path '${path}' contains '..'`);
  if (parts.length === 0) throw new CpioError(`cpio path '${path}' names the root`);
  return parts.join('/');
}

function hex8(n: number, what: string): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CpioError(`cpio ${what} ${n} does not fit in 8 hex digits`);
  return n.toString(16).padStart(8, '0');
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(fields: {
  ino: number; mode: number; uid: number; gid: number; nlink: number; mtime: number; size: number;
  rdevMajor: number; rdevMinor: number; nameSize: number;
}): Buffer {
  const f = fields;
  const s =
    NEWC_MAGIC +
    hex8(f.ino, 'inode') + hex8(f.mode, 'mode') + hex8(f.uid, 'uid') + hex8(f.gid, 'gid') + hex8(f.nlink, 'nlink') +
    hex8(f.mtime, 'mtime') + hex8(f.size, 'file size') + hex8(0, 'devmajor') + hex8(0, 'devminor') +
    hex8(f.rdevMajor, 'rdevmajor') + hex8(f.rdevMinor, 'rdevminor') + hex8(f.nameSize, 'name size') + hex8(0, 'check');
  return Buffer.from(s, 'latin1');
}

/** Serializes members in the order given, then the trailer. Paths are normalized, not reordered. */
export function writeNewc(entries: readonly CpioEntry[], defaults: { mtime?: number } = {}): Buffer {
  const chunks: Buffer[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => {
    chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    offset += b.byteLength;
  };
  const member = (name: string, fields: Omit<Parameters<typeof header>[0], 'nameSize' | 'size'>, data: Uint8Array) => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    push(header({ ...fields, size: data.byteLength, nameSize: nameBytes.length }));
    push(nameBytes);
    push(Buffer.alloc(pad4(offset)));
    if (data.byteLength) push(data);
    push(Buffer.alloc(pad4(offset)));
  };
  let ino = 1;
  for (const e of entries) {
    const name = normalizeCpioPath(e.path);
    const perms = e.type === 'symlink' ? 0o777 : (e.mode ?? DEFAULT_PERMS[e.type]);
    if (perms & ~0o7777) throw new CpioError(`cpio member '${name}': mode 0${perms.toString(8)} has bits outside 07777 (give permissions only)`);
    const data = e.type === 'file' ? e.data : e.type === 'symlink' ? Buffer.from(e.target, 'utf8') : new Uint8Array(0);
    if (e.type === 'symlink' && e.target === '') throw new CpioError(`cpio symlink '${name}' has an empty target`);
    member(
      name,
      {
        ino: ino++,
        mode: TYPE_BITS[e.type] | perms,
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        nlink: e.type === 'dir' ? 2 : 1,
        mtime: e.mtime ?? defaults.mtime ?? 0,
        rdevMajor: e.type === 'char' || e.type === 'block' ? e.major : 0,
        rdevMinor: e.type === 'char' || e.type === 'block' ? e.minor : 0,
      },
      data,
    );
  }
  member(TRAILER, { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, rdevMajor: 0, rdevMinor: 0 }, new Uint8Array(0));
  return Buffer.concat(chunks, offset);
}

/**
 * Reads every member of a newc (070701 or 070702) archive, gzip-compressed or not, up to
 * its trailer. Archives concatenated with zero padding between them, as the kernel
 * accepts, are read one after another.
 */
export function readNewc(input: Uint8Array): CpioMember[] {
  const buf = input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b ? gunzipSync(input) : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const out: CpioMember[] = [];
  let off = 0;
  const field = (at: number, i: number, name: string) => {
    const s = buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8);
    if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new CpioError(`cpio header at ${at}: field ${name} is not hex ('${s}')`);
    return parseInt(s, 16);
  };
  for (;;) {
    while (off < buf.length && buf[off] === 0) off++; // padding between concatenated archives
    if (off >= buf.length) break;
    if (off + HEADER_SIZE > buf.length) throw new CpioError(`cpio: truncated header at ${off}`);
    const magic = buf.toString('latin1', off, off + 6);
    if (magic !== NEWC_MAGIC && magic !== NEWC_CRC_MAGIC) throw new CpioError(`cpio: bad magic '${magic}' at ${off} (only newc is read)`);
    const names = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];
    const v = names.map((n, i) => field(off, i, n));
    const [ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor, nameSize] = v as [number, number, number, number, number, number, number, number, number, number, number, number];
    const nameStart = off + HEADER_SIZE;
    if (nameSize < 1 || nameStart + nameSize > buf.length) throw new CpioError(`cpio: bad name size ${nameSize} at ${off}`);
    if (buf[nameStart + nameSize - 1] !== 0) throw new CpioError(`cpio: name at ${nameStart} is not NUL-terminated`);
    const name = buf.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + pad4(nameStart + nameSize);
    if (dataStart + size > buf.length) throw new CpioError(`cpio: member '${name}' is truncated`);
    off = dataStart + size + pad4(dataStart + size);
    if (name === TRAILER) continue;
    out.push({ name, ino, mode, uid, gid, nlink, mtime, devMajor, devMinor, rdevMajor, rdevMinor, data: buf.subarray(dataStart, dataStart + size) });
  }
  return out;
}

/**
 * Collects members and writes them parents-first. Adding a path twice replaces the
 * earlier member in place; a missing parent directory is added with mode 0755.
 */
export class CpioBuilder {
  private readonly entries = new Map<string, CpioEntry>();

  constructor(private readonly defaults: { mtime?: number } = {}) {}

  add(entry: CpioEntry): this {
    const path = normalizeCpioPath(entry.path);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const existing = this.entries.get(dir);
      if (!existing) this.entries.set(dir, { type: 'dir', path: dir, mode: 0o755 });
      else if (existing.type !== 'dir') throw new CpioError(`cpio: '${dir}' is a ${existing.type}, not a directory, so '${path}' cannot go under it`);
    }
    const prev = this.entries.get(path);
    if (prev?.type === 'dir' && entry.type !== 'dir') {
      for (const k of this.entries.keys()) if (k.startsWith(`${path}/`)) throw new CpioError(`cpio: '${path}' has members under it and must stay a directory`);
    }
    this.entries.set(path, { ...entry, path });
    return this;
  }

  dir(path: string, mode = 0o755): this {
    return this.add({ type: 'dir', path, mode });
  }

  file(path: string, data: Uint8Array | string, mode = 0o644): this {
    return this.add({ type: 'file', path, data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data, mode });
  }

  symlink(path: string, target: string): this {
    return this.add({ type: 'symlink', path, target });
  }

  charDevice(path: string, major: number, minor: number, mode = 0o600): this {
    return this.add({ type: 'char', path, major, minor, mode });
  }

  has(path: string): boolean {
    return this.entries.has(normalizeCpioPath(path));
  }

  list(): CpioEntry[] {
    return [...this.entries.values()];
  }

  toBuffer(): Buffer {
    return writeNewc(this.list(), this.defaults);
  }
}
