/**
 * L1 and L2 table entries. Entries are 64-bit big-endian; offsets stay below 2^56 so they
 * are exact as JS numbers, and are read as two 32-bit halves (no BigInt on the hot path).
 *
 *   L1: bit 63 COPIED (refcount 1) | bits 9-55 L2 table offset
 *   L2: bit 63 COPIED | bit 62 COMPRESSED | standard: bits 9-55 host offset, bit 0 ZERO
 *                                           compressed: host offset in bits 0..x-1 and
 *                                           (sectors - 1) in bits x..61, x = 62 - (cluster_bits - 8)
 */

export const COPIED_HI = 0x80000000;
export const COMPRESSED_HI = 0x40000000;

export const enum Kind {
  Unallocated,
  Zero,
  Normal,
  Compressed,
}

export interface L2Entry {
  kind: Kind;
  /** Host offset of the cluster (Normal, or Zero with a preallocated cluster), else 0. */
  offset: number;
  copied: boolean;
  /** Compressed: host byte offset and byte count to read. */
  compressedOffset: number;
  compressedBytes: number;
}

export function readU64Parts(dv: DataView, at: number): [number, number] {
  return [dv.getUint32(at), dv.getUint32(at + 4)];
}

/** The L2 table offset in an L1 entry (0 = none). */
export function l1Offset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 2 ** 32 + ((lo & 0xfffffe00) >>> 0);
}

export function decodeL2(hi: number, lo: number, clusterBits: number): L2Entry {
  const copied = (hi & COPIED_HI) !== 0;
  if (hi & COMPRESSED_HI) {
    const v = ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)) & ((1n << 62n) - 1n);
    const x = BigInt(62 - (clusterBits - 8));
    const offset = Number(v & ((1n << x) - 1n));
    const sectors = Number(v >> x) + 1;
    const bytes = sectors * 512 - (offset % 512);
    return { kind: Kind.Compressed, offset: 0, copied, compressedOffset: offset, compressedBytes: bytes };
  }
  const offset = l1Offset(hi, lo);
  let kind: Kind;
  if (lo & 1) kind = Kind.Zero;
  else if (offset) kind = Kind.Normal;
  else kind = Kind.Unallocated;
  return { kind, offset, copied, compressedOffset: 0, compressedBytes: 0 };
}

/** Writes a standard entry (host offset, flags). */
export function writeStandard(dv: DataView, at: number, offset: number, copied: boolean, zero: boolean): void {
  const hi = Math.floor(offset / 2 ** 32);
  const lo = offset % 2 ** 32;
  dv.setUint32(at, (hi | (copied ? COPIED_HI : 0)) >>> 0);
  dv.setUint32(at + 4, (lo | (zero ? 1 : 0)) >>> 0);
}

/** Writes a compressed-cluster descriptor for `bytes` of compressed data at `offset`. */
export function writeCompressed(dv: DataView, at: number, offset: number, bytes: number, clusterBits: number): void {
  const x = BigInt(62 - (clusterBits - 8));
  const sectors = Math.floor((offset + bytes - 1) / 512) - Math.floor(offset / 512);
  const v = (1n << 62n) | (BigInt(sectors) << x) | BigInt(offset);
  dv.setBigUint64(at, v);
}

/** True when every byte of `buf` is zero. */
export function isZero(buf: Uint8Array): boolean {
  if (buf.byteOffset % 4 !== 0) return isZeroRange(buf, null, 0, buf.length);
  return isZeroRange(buf, new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2), 0, buf.length);
}

/**
 * Whether bytes [from, to) of `buf` are all zero, where `words` (if given) views `buf`'s own
 * memory from its first byte as 32-bit words: a caller that scans one buffer in many small
 * pieces (convert's 4 KiB sparse check) makes that view once instead of one per piece.
 */
export function isZeroRange(buf: Uint8Array, words: Int32Array | null, from: number, to: number): boolean {
  let i = from;
  if (words) {
    for (; i < to && i & 3; i++) if (buf[i] !== 0) return false;
    const end = to >>> 2;
    let w = i >>> 2;
    for (; w < end; w++) if (words[w] !== 0) return false;
    i = Math.max(i, w << 2);
  }
  for (; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}
