/**
 * Block status (qemu-img map): runs of the image as allocated data (with host offsets),
 * zero clusters, compressed clusters or holes, looked up through the backing chain for
 * holes (depth counts the hops), merged into maximal extents as qemu-img prints them.
 */
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
      if (img.backing && offset + done < img.backing.size) {
        const n = Math.min(run.length, img.backing.size - offset - done);
        parts = (await img.backing.blockStatus(offset + done, n)).map((e) => ({ ...e, depth: e.depth + 1 }));
        if (n < run.length) parts.push({ offset: offset + done + n, length: run.length - n, data: false, present: false, zero: true, depth: 1 });
      } else {
        parts = [{ offset: offset + done, length: run.length, data: false, present: false, zero: true, depth: 0 }];
      }
    } else if (run.kind === Kind.Zero) {
      parts = [{ offset: offset + done, length: run.length, data: false, present: true, zero: true, depth: 0 }];
      if (run.entry.offset) parts[0]!.hostOffset = run.entry.offset + ((offset + done) % img.clusterSize);
    } else if (run.kind === Kind.Compressed) {
      parts = [{ offset: offset + done, length: run.length, data: true, present: true, zero: false, depth: 0, compressed: true }];
    } else {
      parts = [{ offset: offset + done, length: run.length, data: true, present: true, zero: false, depth: 0, hostOffset: run.host }];
    }
    for (const p of parts) {
      const last = out[out.length - 1];
      if (last && last.data === p.data && last.zero === p.zero && last.depth === p.depth && last.present === p.present &&
          !!last.compressed === !!p.compressed &&
          (last.hostOffset === undefined) === (p.hostOffset === undefined) &&
          (p.hostOffset === undefined || last.hostOffset! + last.length === p.hostOffset)) {
        last.length += p.length;
      } else {
        out.push(p);
      }
    }
    done += run.length;
  }
  return out;
}
