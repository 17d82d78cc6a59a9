/**
 * Write-zeroes and discard on qcow2: whole clusters change only their L2 entries (the
 * zero flag in v3, deallocation where nothing shows through from a backing file), partial
 * clusters are written as zeros (write-zeroes) or left alone (discard, which may keep data).
 *
 *   v3: zero -> zero flag, keeping a cluster the image owns as preallocated; zero-unmap ->
 *       zero flag, cluster freed; discard -> deallocated, or zero flag over a backing file.
 *   v2: no zero flag: deallocated when there is no backing file, else zeros are written
 *       (discard then does nothing).
 */
import { decodeL2, Kind } from './entries.js';
import type { Qcow2Image } from './image.js';

export type ZeroMode = 'zero' | 'zero-unmap' | 'discard';

export async function zeroRange(img: Qcow2Image, offset: number, length: number, mode: ZeroMode): Promise<void> {
  if (!length) return;
  await img.beforeWrite();
  img.bitmaps?.mark(offset, length);
  const cs = img.clusterSize;
  const v3 = img.header.version >= 3;
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const clusterEnd = Math.min(end, (Math.floor(pos / cs) + 1) * cs);
    const partial = pos % cs !== 0 || (clusterEnd - pos < cs && clusterEnd !== img.size);
    if (partial) {
      if (mode !== 'discard') {
        const run = await img.mapRun(pos, clusterEnd - pos);
        if (!(run.kind === Kind.Zero || (run.kind === Kind.Unallocated && !img.backing))) {
          await img.writeLocked(new Uint8Array(clusterEnd - pos), pos);
        }
      }
      pos = clusterEnd;
      continue;
    }
    // Whole clusters up to the end of this L2 table (or of the request).
    const tableEnd = (Math.floor(pos / cs / 2 ** img.l2Bits) + 1) * cs * 2 ** img.l2Bits;
    let stop = Math.min(end, tableEnd);
    if (stop % cs && stop !== img.size) stop = Math.floor(stop / cs) * cs;
    const n = Math.ceil((stop - pos) / cs);
    const useZeroFlag = v3 && (mode !== 'discard' || !!img.backing);
    const deallocate = !img.backing && (mode !== 'zero' || !v3);
    if (!useZeroFlag && !deallocate) {
      if (mode !== 'discard') await img.writeLocked(new Uint8Array(stop - pos), pos);
      pos = stop;
      continue;
    }
    const l1Index = Math.floor(pos / cs / 2 ** img.l2Bits);
    if (!img.l1Entry(l1Index).offset && !useZeroFlag) { pos = stop; continue; }
    const table = await img.l2ForWrite(l1Index);
    const keep = mode === 'zero';
    const tbl = await img.l2cache.get(table);
    const dv = new DataView(tbl.buffer, tbl.byteOffset, tbl.byteLength);
    const firstIdx = Math.floor(pos / cs) % 2 ** img.l2Bits;
    const olds = Array.from({ length: n }, (_, i) =>
      decodeL2(dv.getUint32((firstIdx + i) * 8), dv.getUint32((firstIdx + i) * 8 + 4), img.clusterBits));
    await img.setEntries(table, pos, n, (i) => {
      const old = olds[i]!;
      if (useZeroFlag) {
        const preallocated = keep && old.kind !== Kind.Compressed && old.offset && old.copied ? old.offset : 0;
        return { offset: preallocated, zero: true };
      }
      return { offset: 0, zero: false };
    });
    pos = stop;
  }
}
