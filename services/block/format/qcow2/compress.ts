/**
 * Compressed clusters: raw deflate with a 4 KiB window (windowBits 12), as qemu writes and
 * reads them. The stored stream may be followed by padding up to the sector end, which
 * inflate ignores. zstd (compression_type 1) needs a zstd binding Node 20 does not have:
 * reading such a cluster fails with ENOTSUP and a clear message.
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { BlockError } from '../types.js';

export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;

export function decompressCluster(data: Uint8Array, clusterSize: number, type: number): Uint8Array {
  if (type !== COMPRESSION_ZLIB) throw new BlockError('zstd-compressed clusters are not supported by tsemu', 'ENOTSUP');
  let out: Buffer;
  try {
    out = inflateRawSync(data, { windowBits: 12, finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: clusterSize });
  } catch (e) {
    throw new BlockError(`Could not decompress a compressed cluster: ${(e as Error).message}`, 'EIO');
  }
  if (out.length !== clusterSize) throw new BlockError('Compressed cluster decompressed to the wrong size', 'EIO');
  return out;
}

/** The compressed form of a cluster, or undefined when it would not save space (then store it plain). */
export function compressCluster(data: Uint8Array): Uint8Array | undefined {
  const out = deflateRawSync(data, { windowBits: 12, level: 6, memLevel: 9 });
  return out.length < data.length ? out : undefined;
}
