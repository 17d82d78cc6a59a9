/**
 * Block status (qemu-img map): runs of the image as allocated data (with host offsets),
 * zero clusters, compressed clusters or holes, looked up through the backing chain for
 * holes (depth counts the hops), merged into maximal extents as qemu-img prints them.
 */
import { appendExtent, unallocatedExtents } from '../extents.js';
import type { BlockExtent } from '../types.js';
import { Kind } from './entries.js';
import type { Qcow2Image } from './image.js';

export async function blockStatus(img: Qcow2Image, offset: number, length: number): Promise<BlockExtent[]> {
  const out: BlockExtent[] = [];
  let done = 0;
  while (done < length) {
    const run = await img.mapRun(offset + done, length - done);
    let parts: BlockExtent[];
    if (run.kind === Kind.Unallocated) {
      parts = await unallocatedExtents(img.backing, offset + done, run.length);
    } else if (run.kind === Kind.Zero) {
      parts = [{ offset: offset + done, length: run.length, data: false, present: true, zero: true, depth: 0 }];
      if (run.entry.offset) parts[0]!.hostOffset = run.entry.offset + ((offset + done) % img.clusterSize);
    } else if (run.kind === Kind.Compressed) {
      parts = [{ offset: offset + done, length: run.length, data: true, present: true, zero: false, depth: 0, compressed: true }];
    } else {
      parts = [{ offset: offset + done, length: run.length, data: true, present: true, zero: false, depth: 0, hostOffset: run.host }];
    }
    for (const p of parts) appendExtent(out, p);
    done += run.length;
  }
  return out;
}
