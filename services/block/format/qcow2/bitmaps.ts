/**
 * Persistent dirty bitmaps (the bitmaps header extension), read only: tsemu lists them
 * (qemu-img info) and counts their clusters (check), so they stay intact. It does not
 * update them: on the first write the autoclear bit is cleared, which tells qemu the
 * bitmaps are no longer consistent, as the spec asks of programs that do not track them.
 */
import { BlockError } from '../types.js';
import type { Qcow2Image } from './image.js';

interface Bitmap {
  tableOffset: number;
  tableSize: number;
  flags: number;
  granularityBits: number;
  name: string;
}

interface Directory {
  offset: number;
  size: number;
  bitmaps: Bitmap[];
}

async function readDirectory(img: Qcow2Image, ext: Uint8Array): Promise<Directory> {
  if (ext.length < 24) throw new BlockError('Invalid bitmaps extension', 'EINVAL');
  const dv = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  const count = dv.getUint32(0);
  const size = Number(dv.getBigUint64(8));
  const offset = Number(dv.getBigUint64(16));
  if (size > 64 * 1024 * 1024 || count > 65535) throw new BlockError('Bitmap directory too large', 'EINVAL');
  const buf = new Uint8Array(size);
  await img.protocol.pread(buf, offset);
  const bv = new DataView(buf.buffer);
  const bitmaps: Bitmap[] = [];
  let off = 0;
  for (let i = 0; i < count && off + 24 <= size; i++) {
    const nameSize = bv.getUint16(off + 18);
    const extra = bv.getUint32(off + 20);
    bitmaps.push({
      tableOffset: Number(bv.getBigUint64(off)),
      tableSize: bv.getUint32(off + 8),
      flags: bv.getUint32(off + 12),
      granularityBits: buf[off + 17]!,
      name: new TextDecoder().decode(buf.subarray(off + 24 + extra, off + 24 + extra + nameSize)),
    });
    off = (off + 24 + extra + nameSize + 7) & ~7;
  }
  return { offset, size, bitmaps };
}

/** qemu-img info's "bitmaps" list. */
export async function listBitmaps(img: Qcow2Image, ext: Uint8Array): Promise<Array<Record<string, unknown>>> {
  const dir = await readDirectory(img, ext);
  return dir.bitmaps.map((b) => {
    const flags: string[] = [];
    if (b.flags & 1) flags.push('in-use');
    if (b.flags & 2) flags.push('auto');
    return { flags, name: b.name, granularity: 2 ** b.granularityBits };
  });
}

/** Every [offset, bytes] the bitmaps occupy: directory, bitmap tables, bitmap data clusters. */
export async function bitmapClusters(img: Qcow2Image, ext: Uint8Array): Promise<Array<[number, number]>> {
  const dir = await readDirectory(img, ext);
  const out: Array<[number, number]> = [];
  if (dir.size) out.push([dir.offset, dir.size]);
  for (const b of dir.bitmaps) {
    if (!b.tableOffset || !b.tableSize) continue;
    out.push([b.tableOffset, b.tableSize * 8]);
    const table = new Uint8Array(b.tableSize * 8);
    await img.protocol.pread(table, b.tableOffset);
    const tv = new DataView(table.buffer);
    for (let i = 0; i < b.tableSize; i++) {
      const o = Number(tv.getBigUint64(i * 8) & 0x00fffffffffffe00n);
      if (o) out.push([o, img.clusterSize]);
    }
  }
  return out;
}
