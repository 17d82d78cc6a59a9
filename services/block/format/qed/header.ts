/**
 * The QED header (qemu docs/interop/qed_spec.txt): 64 little-endian bytes at offset 0, the
 * backing file name somewhere in the first `header_size` clusters, and the rules an image
 * must meet before any table is read. Messages are qemu's where qemu has one.
 */
import { BlockError } from '../types.js';

/** "QED\0" read as a little-endian u32. */
export const QED_MAGIC = 0x00444551;
export const HEADER_BYTES = 64;

/** A probe score for the first bytes of an image: 100 for QED's magic, else 0. */
export function probeQed(head: Uint8Array): number {
  if (head.length < HEADER_BYTES) return 0;
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0, true) === QED_MAGIC ? 100 : 0;
}

/** The image uses a backing file. */
export const F_BACKING_FILE = 0x1n;
/** The image may be inconsistent (an allocating write was in flight): check before use. */
export const F_NEED_CHECK = 0x2n;
/** The backing file is raw: never probe its format. */
export const F_BACKING_FORMAT_NO_PROBE = 0x4n;
const FEATURE_MASK = F_BACKING_FILE | F_NEED_CHECK | F_BACKING_FORMAT_NO_PROBE;

export const MIN_CLUSTER_SIZE = 4096;
export const MAX_CLUSTER_SIZE = 64 * 1024 * 1024;
export const MIN_TABLE_SIZE = 1;
export const MAX_TABLE_SIZE = 16;
export const DEFAULT_CLUSTER_SIZE = 64 * 1024;
export const DEFAULT_TABLE_SIZE = 4;

/** Table entry values with a meaning of their own. */
export const UNALLOCATED = 0;
export const ZERO_CLUSTER = 1;

export interface QedHeader {
  clusterSize: number;
  /** L1 and L2 table size, in clusters. */
  tableSize: number;
  /** Clusters before the first regular one (header, backing file name). */
  headerSize: number;
  features: bigint;
  compatFeatures: bigint;
  autoclearFeatures: bigint;
  l1TableOffset: number;
  imageSize: number;
  backingFilenameOffset: number;
  backingFilenameSize: number;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export function clusterSizeValid(n: number): boolean {
  return n >= MIN_CLUSTER_SIZE && n <= MAX_CLUSTER_SIZE && isPow2(n);
}

export function tableSizeValid(n: number): boolean {
  return n >= MIN_TABLE_SIZE && n <= MAX_TABLE_SIZE && isPow2(n);
}

/** Entries per table. */
export function tableEntries(clusterSize: number, tableSize: number): number {
  return (clusterSize * tableSize) / 8;
}

/** What an L1 table can map: entries^2 clusters (as a double: it reaches 2^80). */
export function maxImageSize(clusterSize: number, tableSize: number): number {
  const n = tableEntries(clusterSize, tableSize);
  return n * n * clusterSize;
}

export function imageSizeValid(size: number, clusterSize: number, tableSize: number): boolean {
  return Number.isSafeInteger(size) && size >= 0 && size % 512 === 0 && size <= maxImageSize(clusterSize, tableSize);
}

function u64(dv: DataView, at: number): bigint {
  return dv.getBigUint64(at, true);
}

export function parseHeader(buf: Uint8Array): QedHeader {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < HEADER_BYTES || dv.getUint32(0, true) !== QED_MAGIC) {
    throw new BlockError('Image not in QED format', 'EINVAL');
  }
  const features = u64(dv, 16);
  if (features & ~FEATURE_MASK) {
    throw new BlockError(`Unsupported QED features: ${(features & ~FEATURE_MASK).toString(16)}`, 'ENOTSUP');
  }
  const clusterSize = dv.getUint32(4, true);
  if (!clusterSizeValid(clusterSize)) throw new BlockError('QED cluster size is invalid', 'EINVAL');
  const tableSize = dv.getUint32(8, true);
  if (!tableSizeValid(tableSize)) throw new BlockError('QED table size is invalid', 'EINVAL');
  const imageSize = u64(dv, 48);
  if (imageSize > BigInt(Number.MAX_SAFE_INTEGER) || !imageSizeValid(Number(imageSize), clusterSize, tableSize)) {
    throw new BlockError('QED image size is invalid', 'EINVAL');
  }
  const l1 = u64(dv, 40);
  return {
    clusterSize,
    tableSize,
    headerSize: dv.getUint32(12, true),
    features,
    compatFeatures: u64(dv, 24),
    autoclearFeatures: u64(dv, 32),
    l1TableOffset: l1 > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(l1),
    imageSize: Number(imageSize),
    backingFilenameOffset: dv.getUint32(56, true),
    backingFilenameSize: dv.getUint32(60, true),
  };
}

export function serializeHeader(h: QedHeader): Uint8Array {
  const buf = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, QED_MAGIC, true);
  dv.setUint32(4, h.clusterSize, true);
  dv.setUint32(8, h.tableSize, true);
  dv.setUint32(12, h.headerSize, true);
  dv.setBigUint64(16, h.features, true);
  dv.setBigUint64(24, h.compatFeatures, true);
  dv.setBigUint64(32, h.autoclearFeatures, true);
  dv.setBigUint64(40, BigInt(h.l1TableOffset), true);
  dv.setBigUint64(48, BigInt(h.imageSize), true);
  dv.setUint32(56, h.backingFilenameOffset, true);
  dv.setUint32(60, h.backingFilenameSize, true);
  return buf;
}

/**
 * Where regular clusters may be: cluster aligned, past the header, inside the file
 * (`fileSize` is the file length rounded down to whole clusters, as qemu keeps it).
 */
export function clusterOffsetValid(h: QedHeader, fileSize: number, offset: number): boolean {
  return offset % h.clusterSize === 0 && offset >= h.headerSize * h.clusterSize && offset < fileSize;
}

/**
 * A whole table fits: its first and last clusters are valid. (qemu's own test also refuses
 * every table of one cluster, so it cannot open table_size=1 images; the spec allows them.)
 */
export function tableOffsetValid(h: QedHeader, fileSize: number, offset: number): boolean {
  return clusterOffsetValid(h, fileSize, offset) && clusterOffsetValid(h, fileSize, offset + (h.tableSize - 1) * h.clusterSize);
}

/** Longest backing file name qemu reads (its PATH_MAX buffer, NUL included). */
export const MAX_BACKING_NAME = 4095;

/** The checks that need the file size, in qemu's order: L1 table, header size, backing file name. */
export function validateLayout(h: QedHeader, fileSize: number): void {
  if (!tableOffsetValid(h, fileSize, h.l1TableOffset)) throw new BlockError('QED table offset is invalid', 'EINVAL');
  // qemu takes 0 too, but then the header's own cluster would count as a regular one.
  if (h.headerSize === 0) throw new BlockError('QED header size is invalid', 'EINVAL');
  if (h.headerSize > Math.floor(0xffffffff / h.clusterSize)) throw new BlockError('QED header size is too large', 'EINVAL');
  if (h.features & F_BACKING_FILE) {
    if (h.backingFilenameOffset + h.backingFilenameSize > h.clusterSize * h.headerSize) {
      throw new BlockError('QED backing filename offset is invalid', 'EINVAL');
    }
    if (h.backingFilenameSize > MAX_BACKING_NAME) throw new BlockError('Failed to read backing filename: it is too long', 'EINVAL');
  }
}
