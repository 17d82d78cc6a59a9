/**
 * Creating a QED image as qemu-img does: the header (and backing file name) in cluster 0,
 * an empty L1 table of table_size clusters right after it, nothing else.
 */
import { BlockError, type BlockProtocol } from '../types.js';
import {
  clusterSizeValid, DEFAULT_CLUSTER_SIZE, DEFAULT_TABLE_SIZE, F_BACKING_FILE, F_BACKING_FORMAT_NO_PROBE, HEADER_BYTES,
  imageSizeValid, MAX_BACKING_NAME, MAX_CLUSTER_SIZE, MAX_TABLE_SIZE, maxImageSize, MIN_CLUSTER_SIZE, MIN_TABLE_SIZE,
  serializeHeader, tableSizeValid, type QedHeader,
} from './header.js';

export interface QedCreateOptions {
  clusterSize?: number;
  /** L1/L2 table size in clusters. */
  tableSize?: number;
  backingFile?: string;
  backingFormat?: string;
}

/** Refuses what qemu-img create refuses, with its messages. */
export function checkQedCreate(size: number, o: QedCreateOptions): void {
  const cs = o.clusterSize ?? DEFAULT_CLUSTER_SIZE;
  const ts = o.tableSize ?? DEFAULT_TABLE_SIZE;
  if (!clusterSizeValid(cs)) {
    throw new BlockError(`QED cluster size must be within range [${MIN_CLUSTER_SIZE}, ${MAX_CLUSTER_SIZE}] and power of 2`, 'EINVAL');
  }
  if (!tableSizeValid(ts)) {
    throw new BlockError(`QED table size must be within range [${MIN_TABLE_SIZE}, ${MAX_TABLE_SIZE}] and power of 2`, 'EINVAL');
  }
  if (!imageSizeValid(size, cs, ts)) {
    throw new BlockError(`QED image size must be a non-zero multiple of cluster size and less than ${maxImageSize(cs, ts)} bytes`, 'EINVAL');
  }
  const name = new TextEncoder().encode(o.backingFile ?? '');
  if (name.length > Math.min(MAX_BACKING_NAME, cs - HEADER_BYTES)) {
    throw new BlockError('Backing file name too long for the QED header', 'EINVAL');
  }
}

export async function createQed(file: BlockProtocol, size: number, o: QedCreateOptions): Promise<void> {
  checkQedCreate(size, o);
  const cs = o.clusterSize ?? DEFAULT_CLUSTER_SIZE;
  const ts = o.tableSize ?? DEFAULT_TABLE_SIZE;
  const name = new TextEncoder().encode(o.backingFile ?? '');
  let features = 0n;
  if (o.backingFile) features |= F_BACKING_FILE;
  if (o.backingFile && o.backingFormat === 'raw') features |= F_BACKING_FORMAT_NO_PROBE;
  const h: QedHeader = {
    clusterSize: cs, tableSize: ts, headerSize: 1, features, compatFeatures: 0n, autoclearFeatures: 0n,
    l1TableOffset: cs, imageSize: size,
    backingFilenameOffset: o.backingFile ? HEADER_BYTES : 0, backingFilenameSize: name.length,
  };
  // The L1 table reads as zeros from a sparse file: only the header is written.
  await file.truncate(0);
  await file.truncate(cs + cs * ts);
  const head = new Uint8Array(HEADER_BYTES + name.length);
  head.set(serializeHeader(h));
  head.set(name, HEADER_BYTES);
  await file.pwrite(head, 0);
  await file.flush();
}
