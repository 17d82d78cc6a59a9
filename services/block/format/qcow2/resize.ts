/**
 * Growing and shrinking a qcow2 image. Growth past what the L1 table covers moves the L1
 * table to new clusters (written before the header points to it, the old one freed
 * after). Shrinking drops the clusters past the new end first.
 */
import { BlockError } from '../types.js';
import { MAX_L1_BYTES } from './header.js';
import type { Qcow2Image } from './image.js';

export function l1EntriesFor(size: number, clusterBits: number): number {
  return Math.ceil(size / 2 ** (clusterBits + clusterBits - 3));
}

/** Moves the active L1 table to a new one of `entries` entries. */
export async function growL1(img: Qcow2Image, entries: number): Promise<void> {
  const cs = img.clusterSize;
  if (entries * 8 > MAX_L1_BYTES) throw new BlockError("The image size is too large for file format 'qcow2' (try using a larger cluster size)", 'EFBIG');
  const fresh = new Uint8Array(entries * 8);
  fresh.set(img.l1);
  const clusters = Math.ceil(fresh.length / cs);
  const offset = await img.refcounts.alloc(clusters);
  await img.flushLocked();
  const padded = new Uint8Array(clusters * cs);
  padded.set(fresh);
  await img.protocol.pwrite(padded, offset);
  await img.protocol.flush();
  const oldOffset = img.header.l1TableOffset;
  const oldBytes = img.header.l1Size * 8;
  await img.setL1Table(offset, fresh);
  await img.protocol.flush();
  if (oldBytes) await img.refcounts.free(oldOffset, oldBytes);
}

export async function resizeImage(img: Qcow2Image, size: number): Promise<void> {
  if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('Invalid image size specified', 'EINVAL');
  size = Math.ceil(size / 512) * 512;
  if (size === img.size) return;
  if (img.snapshotList.length && size < img.size) {
    throw new BlockError("Can't resize an image which has snapshots", 'ENOTSUP');
  }
  const need = l1EntriesFor(size, img.clusterBits);
  if (size > img.size) {
    if (need > img.header.l1Size) await growL1(img, need);
  } else {
    // Drop what lies past the new end: whole clusters deallocated, the tail of a partial one zeroed.
    const cs = img.clusterSize;
    const from = Math.ceil(size / cs) * cs;
    const old = img.size;
    if (from < old) await discardAll(img, from, old);
  }
  img.header.size = size;
  await img.writeHeader();
  await img.flushLocked();
}

async function discardAll(img: Qcow2Image, from: number, to: number): Promise<void> {
  const cs = img.clusterSize;
  const per = 2 ** img.l2Bits;
  for (let pos = from; pos < to;) {
    const l1Index = Math.floor(pos / cs / per);
    const tableEnd = Math.min(to, (l1Index + 1) * per * cs);
    if (img.l1Entry(l1Index).offset) {
      const table = await img.l2ForWrite(l1Index);
      const n = Math.ceil((tableEnd - pos) / cs);
      await img.setEntries(table, pos, n, () => ({ offset: 0, zero: false }));
    }
    pos = tableEnd;
  }
}
