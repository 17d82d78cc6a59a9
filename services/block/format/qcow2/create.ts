/**
 * Creating a qcow2 image, with qemu-img create's options: cluster_size, refcount_bits,
 * compat (0.10 = v2, 1.1 = v3), lazy_refcounts, preallocation=off|metadata,
 * backing_file/backing_fmt, compression_type=zlib. The new file holds a header, a
 * one-cluster refcount table and one refcount block; the L1 table is then sized by the
 * ordinary resize path, so creation and growth share one allocator.
 */
import { BlockError, type BlockProtocol } from '../types.js';
import { EXT_FEATURE_TABLE, COMPAT_LAZY_REFCOUNTS, MAX_L1_BYTES, featureTable, serializeHeader, type Qcow2Header } from './header.js';
import { Qcow2Image } from './image.js';
import { l1EntriesFor, resizeImage } from './resize.js';

export interface Qcow2CreateOptions {
  clusterSize?: number;
  refcountBits?: number;
  /** '0.10' or 'v2' for version 2; '1.1' or 'v3' (default) for version 3. */
  compat?: string;
  lazyRefcounts?: boolean;
  preallocation?: 'off' | 'metadata';
  backingFile?: string;
  backingFormat?: string;
  compressionType?: string;
}

interface Checked {
  cs: number;
  clusterBits: number;
  version: number;
  bits: number;
}

/** Checks create options before anything is written (so a refused create leaves no file behind). */
export function checkQcow2Create(size: number, o: Qcow2CreateOptions = {}): Checked {
  const cs = o.clusterSize ?? 65536;
  if (!Number.isInteger(Math.log2(cs)) || cs < 512 || cs > 2 * 1024 * 1024) {
    throw new BlockError('Cluster size must be a power of two between 512 and 2048k', 'EINVAL');
  }
  const clusterBits = Math.log2(cs);
  const compat = o.compat ?? '1.1';
  let version: number;
  if (compat === '0.10' || compat === 'v2') version = 2;
  else if (compat === '1.1' || compat === 'v3') version = 3;
  else throw new BlockError(`Invalid parameter '${compat}'`, 'EINVAL');
  const bits = o.refcountBits ?? 16;
  if (![1, 2, 4, 8, 16, 32, 64].includes(bits)) throw new BlockError('Refcount width must be a power of two and may not exceed 64 bits', 'EINVAL');
  if (version === 2 && bits !== 16) {
    throw new BlockError('Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)', 'EINVAL');
  }
  if (version === 2 && o.lazyRefcounts) {
    throw new BlockError('Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)', 'EINVAL');
  }
  if (o.compressionType && o.compressionType !== 'zlib') {
    throw new BlockError(`Compression type '${o.compressionType}' is not supported by tsemu (zlib only)`, 'ENOTSUP');
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('Image size must be less than 8 EiB!', 'EINVAL');
  if (l1EntriesFor(size, clusterBits) * 8 > MAX_L1_BYTES) {
    throw new BlockError("The image size is too large for file format 'qcow2' (try using a larger cluster size)", 'EFBIG');
  }
  return { cs, clusterBits, version, bits };
}

export async function createQcow2(protocol: BlockProtocol, size: number, o: Qcow2CreateOptions = {}): Promise<void> {
  const { cs, clusterBits, version, bits } = checkQcow2Create(size, o);
  const header: Qcow2Header = {
    version, backingFileOffset: 0, backingFileSize: 0, clusterBits, size: 0, cryptMethod: 0,
    l1Size: 0, l1TableOffset: 0, refcountTableOffset: cs, refcountTableClusters: 1, nbSnapshots: 0, snapshotsOffset: 0,
    incompatible: 0n, compatible: o.lazyRefcounts ? COMPAT_LAZY_REFCOUNTS : 0n, autoclear: 0n,
    refcountOrder: Math.log2(bits), headerLength: version === 3 ? 112 : 72, compressionType: 0,
    extensions: version === 3 ? [{ type: EXT_FEATURE_TABLE, data: featureTable() }] : [],
    backingFile: o.backingFile, backingFormat: o.backingFormat,
  };
  const head = serializeHeader(header, cs);
  const reftable = new Uint8Array(cs);
  new DataView(reftable.buffer).setBigUint64(0, BigInt(2 * cs));
  const block = new Uint8Array(cs);
  // Clusters 0 (header), 1 (refcount table) and 2 (this block) have refcount 1.
  for (let c = 0; c < 3; c++) {
    const bit = c * bits;
    if (bits < 8) block[bit >> 3]! |= 1 << (bit & 7);
    else block[(bit >> 3) + bits / 8 - 1] = 1;
  }
  await protocol.truncate(0);
  await protocol.pwrite(head, 0);
  await protocol.pwrite(reftable, cs);
  await protocol.pwrite(block, 2 * cs);
  await protocol.flush();
  const img = await Qcow2Image.open(protocol, { backing: false });
  await img.lock.run(async () => {
    await resizeImage(img, size);
    if (o.preallocation === 'metadata') await preallocateMetadata(img);
    await img.flushLocked();
  });
}

async function preallocateMetadata(img: Qcow2Image): Promise<void> {
  const cs = img.clusterSize;
  const per = 2 ** img.l2Bits;
  let end = 0;
  for (let pos = 0; pos < img.size;) {
    const l1Index = Math.floor(pos / cs / per);
    const stop = Math.min(img.size, (l1Index + 1) * per * cs);
    const n = Math.ceil((stop - pos) / cs);
    const table = await img.l2ForWrite(l1Index);
    const hosts: number[] = [];
    for (let i = 0; i < n; i++) hosts.push(await img.refcounts.alloc(1));
    await img.setEntries(table, pos, n, (i) => ({ offset: hosts[i]!, zero: false }));
    end = Math.max(end, hosts[n - 1]! + cs);
    pos = stop;
  }
  await img.flushLocked();
  if (end > (await img.protocol.size())) await img.protocol.truncate(end);
}
