/**
 * Building block-status answers (qemu-img map) for formats with a backing chain: the
 * extents of a range this image does not allocate, found in the backing image (one hop
 * deeper), and merging runs into the maximal extents qemu-img prints.
 */
import type { BlockExtent, BlockImage } from './types.js';

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
