/**
 * The qcow2 header and its extensions (qemu docs/interop/qcow2.txt), parsed into numbers and
 * written back. Unknown header extensions are kept byte for byte and written back in place,
 * so a rewrite of the header (dirty bit, backing file, snapshot table) never drops them.
 */
import { BlockError } from '../types.js';

export const QCOW2_MAGIC = 0x514649fb;

/** A probe score for the first bytes of an image: 100 for qcow2's magic, else 0. */
export function probeQcow2(head: Uint8Array): number {
  return head.length >= 8 && head[0] === 0x51 && head[1] === 0x46 && head[2] === 0x49 && head[3] === 0xfb ? 100 : 0;
}

export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const INCOMPAT_DIRTY = 1n;
export const INCOMPAT_CORRUPT = 2n;
export const INCOMPAT_DATA_FILE = 4n;
export const INCOMPAT_COMPRESSION = 8n;
export const INCOMPAT_EXTL2 = 16n;
export const COMPAT_LAZY_REFCOUNTS = 1n;
export const AUTOCLEAR_BITMAPS = 1n;
export const AUTOCLEAR_DATA_FILE_RAW = 2n;

const INCOMPAT_NAMES: Record<number, string> = {
  0: 'dirty bit', 1: 'corrupt bit', 2: 'external data file', 3: 'compression type', 4: 'extended L2 entries',
};

/** The largest L1 and refcount tables qemu accepts (QCOW_MAX_L1_SIZE, QCOW_MAX_REFTABLE_SIZE). */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;

export interface HeaderExtension {
  type: number;
  data: Uint8Array;
}

export interface Qcow2Header {
  version: number;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatible: bigint;
  compatible: bigint;
  autoclear: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Extensions other than the backing format, in file order. */
  extensions: HeaderExtension[];
  backingFile?: string;
  backingFormat?: string;
}

export function u64(dv: DataView, off: number): number {
  const v = dv.getBigUint64(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BlockError('Image is corrupt: 64-bit field out of range', 'EINVAL');
  return Number(v);
}

export function setU64(dv: DataView, off: number, v: number): void {
  dv.setBigUint64(off, BigInt(v));
}

function invalid(msg: string): never {
  throw new BlockError(msg, 'EINVAL');
}

/** Parses the header from the first bytes of the image (the whole first cluster, or at least 4 KiB). */
export function parseHeader(buf: Uint8Array, fileSize: number): Qcow2Header {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 72 || dv.getUint32(0) !== QCOW2_MAGIC) invalid('Image is not in qcow2 format');
  const version = dv.getUint32(4);
  if (version < 2 || version > 3) throw new BlockError(`Unsupported qcow2 version ${version}`, 'ENOTSUP');
  const clusterBits = dv.getUint32(20);
  if (clusterBits < 9 || clusterBits > 21) invalid(`Unsupported cluster size: 2^${clusterBits}`);
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(dv, 8),
    backingFileSize: dv.getUint32(16),
    clusterBits,
    size: u64(dv, 24),
    cryptMethod: dv.getUint32(32),
    l1Size: dv.getUint32(36),
    l1TableOffset: u64(dv, 40),
    refcountTableOffset: u64(dv, 48),
    refcountTableClusters: dv.getUint32(56),
    nbSnapshots: dv.getUint32(60),
    snapshotsOffset: u64(dv, 64),
    incompatible: 0n,
    compatible: 0n,
    autoclear: 0n,
    refcountOrder: 4,
    headerLength: 72,
    compressionType: 0,
    extensions: [],
  };
  if (version === 3) {
    if (buf.length < 104) invalid('qcow2 header exceeds cluster size');
    h.incompatible = dv.getBigUint64(72);
    h.compatible = dv.getBigUint64(80);
    h.autoclear = dv.getBigUint64(88);
    h.refcountOrder = dv.getUint32(96);
    h.headerLength = dv.getUint32(100);
    if (h.headerLength < 104) invalid('qcow2 header too short');
    if (h.headerLength > buf.length) invalid('qcow2 header exceeds cluster size');
    if (h.headerLength > 104) h.compressionType = buf[104]!;
  }
  const clusterSize = 2 ** clusterBits;
  if (h.refcountOrder > 6) invalid('Reference count entry width too large; may not exceed 64 bits');
  const unknown = h.incompatible & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION);
  if (unknown) {
    const names: string[] = [];
    for (let b = 0; b < 64; b++) {
      if (unknown & (1n << BigInt(b))) names.push(INCOMPAT_NAMES[b] ?? `Unknown incompatible feature: ${(1n << BigInt(b)).toString(16)}`);
    }
    throw new BlockError(`Unsupported qcow2 feature(s): ${names.join(', ')}`, 'ENOTSUP');
  }
  if (h.compressionType > 1) throw new BlockError(`Unknown compression type ${h.compressionType}`, 'ENOTSUP');
  if (!!(h.incompatible & INCOMPAT_COMPRESSION) !== (h.compressionType !== 0)) {
    invalid('Invalid compression type: the incompatible bit and the header field disagree');
  }
  if (h.cryptMethod) throw new BlockError('Use of AES-CBC and LUKS encrypted qcow2 images is not supported by tsemu', 'ENOTSUP');
  if (h.size > 2 ** 53 - clusterSize) invalid('Image size is too large');
  const aligned = (o: number) => o % clusterSize === 0;
  if (!aligned(h.l1TableOffset)) invalid('Invalid L1 table offset');
  if (h.l1Size * 8 > MAX_L1_BYTES) invalid('Active L1 table too large');
  const l2Bits = clusterBits - 3;
  const needL1 = Math.ceil(h.size / 2 ** (clusterBits + l2Bits));
  if (h.l1Size < needL1) invalid('L1 table is too small');
  if (!aligned(h.refcountTableOffset) || h.refcountTableOffset === 0) invalid('Invalid reference count table offset');
  if (h.refcountTableClusters * clusterSize > MAX_REFTABLE_BYTES) invalid('Reference count table too large');
  if (h.refcountTableOffset + h.refcountTableClusters * clusterSize > Math.max(fileSize, clusterSize) + MAX_REFTABLE_BYTES) {
    invalid('Reference count table offset invalid');
  }
  if (h.nbSnapshots > 65536) invalid('Too many snapshots');
  if (h.nbSnapshots && !aligned(h.snapshotsOffset)) invalid('Invalid snapshot table offset');
  if (h.backingFileOffset) {
    if (h.backingFileSize > 1023 || h.backingFileOffset + h.backingFileSize > clusterSize) invalid('Backing file name too long');
    h.backingFile = new TextDecoder().decode(buf.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize));
  }
  // Header extensions: from the end of the header to the backing file name (or the cluster's end).
  let off = version === 3 ? h.headerLength : 72;
  const end = h.backingFileOffset || Math.min(buf.length, clusterSize);
  while (off + 8 <= end) {
    const type = dv.getUint32(off);
    const len = dv.getUint32(off + 4);
    off += 8;
    if (type === EXT_END) break;
    if (off + len > end) invalid('Invalid header extension: it runs past the header cluster');
    const data = buf.slice(off, off + len);
    if (type === EXT_BACKING_FORMAT) h.backingFormat = new TextDecoder().decode(data);
    else if (type === EXT_DATA_FILE) throw new BlockError('Unsupported qcow2 feature(s): external data file', 'ENOTSUP');
    else h.extensions.push({ type, data });
    off += (len + 7) & ~7;
  }
  return h;
}

/** The feature name table qemu writes in new images, so other tools can name our bits. */
export function featureTable(): Uint8Array {
  const rows: Array<[number, number, string]> = [
    [0, 0, 'dirty bit'], [0, 1, 'corrupt bit'], [0, 2, 'external data file'], [0, 3, 'compression type'],
    [0, 4, 'extended L2 entries'], [1, 0, 'lazy refcounts'], [2, 0, 'bitmaps'], [2, 1, 'raw external data'],
  ];
  const out = new Uint8Array(rows.length * 48);
  rows.forEach(([type, bit, name], i) => {
    out[i * 48] = type;
    out[i * 48 + 1] = bit;
    out.set(new TextEncoder().encode(name), i * 48 + 2);
  });
  return out;
}

/** Serializes header, extensions and backing file name into one buffer of `clusterSize`. */
export function serializeHeader(h: Qcow2Header, clusterSize: number): Uint8Array {
  try {
    return serializeOnce(h, clusterSize);
  } catch (e) {
    // The feature name table is optional: qemu leaves it out when the header cluster is full.
    if (!h.extensions.some((x) => x.type === EXT_FEATURE_TABLE)) throw e;
    h.extensions = h.extensions.filter((x) => x.type !== EXT_FEATURE_TABLE);
    return serializeOnce(h, clusterSize);
  }
}

function serializeOnce(h: Qcow2Header, clusterSize: number): Uint8Array {
  const buf = new Uint8Array(clusterSize);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, QCOW2_MAGIC);
  dv.setUint32(4, h.version);
  dv.setUint32(20, h.clusterBits);
  setU64(dv, 24, h.size);
  dv.setUint32(32, h.cryptMethod);
  dv.setUint32(36, h.l1Size);
  setU64(dv, 40, h.l1TableOffset);
  setU64(dv, 48, h.refcountTableOffset);
  dv.setUint32(56, h.refcountTableClusters);
  dv.setUint32(60, h.nbSnapshots);
  setU64(dv, 64, h.snapshotsOffset);
  let off = 72;
  if (h.version === 3) {
    dv.setBigUint64(72, h.incompatible);
    dv.setBigUint64(80, h.compatible);
    dv.setBigUint64(88, h.autoclear);
    dv.setUint32(96, h.refcountOrder);
    const len = Math.max(h.headerLength, 104);
    dv.setUint32(100, len);
    if (len > 104) buf[104] = h.compressionType;
    off = len;
  }
  const exts: HeaderExtension[] = [];
  if (h.backingFormat) exts.push({ type: EXT_BACKING_FORMAT, data: new TextEncoder().encode(h.backingFormat) });
  exts.push(...h.extensions);
  for (const e of exts) {
    if (off + 8 + e.data.length + 8 > clusterSize) throw new BlockError('Header extensions do not fit in the first cluster', 'EFBIG');
    dv.setUint32(off, e.type);
    dv.setUint32(off + 4, e.data.length);
    buf.set(e.data, off + 8);
    off += 8 + ((e.data.length + 7) & ~7);
  }
  off += 8; // end-of-extensions marker (zeros)
  if (h.backingFile) {
    const name = new TextEncoder().encode(h.backingFile);
    if (off + name.length > clusterSize) throw new BlockError('Backing file name too long', 'EINVAL');
    buf.set(name, off);
    h.backingFileOffset = off;
    h.backingFileSize = name.length;
    setU64(dv, 8, off);
    dv.setUint32(16, name.length);
  } else {
    h.backingFileOffset = 0;
    h.backingFileSize = 0;
  }
  return buf;
}
