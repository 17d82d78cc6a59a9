/**
 * Building block-status answers (qemu-img map) for formats with a backing chain: the
 * extents of a range this image does not allocate, found in the backing image (one hop
 * deeper), and merging runs into the maximal extents qemu-img prints. Likewise for
 * hostMap's runs (where a read takes its bytes from).
 */
import type { BlockExtent, BlockImage, HostRun } from './types.js';

/** Appends `e` to `out`, extending the last extent when the two read alike and are contiguous on the host. */
export function appendExtent(out: BlockExtent[], e: BlockExtent): void {
  const last = out[out.length - 1];
  if (last && last.data === e.data && last.zero === e.zero && last.depth === e.depth && last.present === e.present &&
      !!last.compressed === !!e.compressed &&
      (last.hostOffset === undefined) === (e.hostOffset === undefined) &&
      (e.hostOffset === undefined || last.hostOffset! + last.length === e.hostOffset)) {
    last.length += e.length;
  } else {
    out.push(e);
  }
}

/**
 * Extents of [offset, offset+length) where this image holds nothing: what the backing image
 * has there (depth + 1); past its end, or without one, a hole of this image (depth 0), as
 * qemu-img map reports it.
 */
export async function unallocatedExtents(backing: BlockImage | undefined, offset: number, length: number): Promise<BlockExtent[]> {
  if (!backing || offset >= backing.size) {
    return [{ offset, length, data: false, present: false, zero: true, depth: 0 }];
  }
  const n = Math.min(length, backing.size - offset);
  const parts = (await backing.blockStatus(offset, n)).map((e) => ({ ...e, depth: e.depth + 1 }));
  if (n < length) parts.push({ offset: offset + n, length: length - n, data: false, present: false, zero: true, depth: 0 });
  return parts;
}

/** Appends `r` to `out`, extending the last run when both are zeros or contiguous in one file. */
export function appendHostRun(out: HostRun[], r: HostRun): void {
  const last = out[out.length - 1];
  if (last && last.fd === r.fd && (r.fd === -1 || last.hostOffset + last.length === r.hostOffset)) last.length += r.length;
  else out.push(r);
}

/**
 * hostMap runs of [offset, offset+length) where this image holds nothing: the backing
 * image's, zeros past its end or without one; null when the backing image cannot say.
 */
export async function unallocatedHostRuns(backing: BlockImage | undefined, offset: number, length: number): Promise<HostRun[] | null> {
  if (!backing || offset >= backing.size) return [{ length, fd: -1, hostOffset: 0 }];
  const n = Math.min(length, backing.size - offset);
  const parts = backing.hostMap ? await backing.hostMap(offset, n) : null;
  if (parts && n < length) parts.push({ length: length - n, fd: -1, hostOffset: 0 });
  return parts;
}
