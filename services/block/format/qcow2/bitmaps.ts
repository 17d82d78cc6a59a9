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

const IN_USE = 1;
const AUTO = 2;
const EXTRA_DATA_COMPATIBLE = 4;

interface Tracked {
  /** Offset of this bitmap's directory entry in the file. */
  entryAt: number;
  flags: number;
  tableOffset: number;
  table: bigint[];
  granularityBits: number;
  bits: Uint8Array;
}

/**
 * Keeps enabled ("auto") persistent dirty bitmaps up to date, as the spec asks of any writer:
 * on the first write each is loaded and flagged in_use on disk; writes set its bits in
 * memory; on close the bits are stored (new data clusters allocated as needed), the
 * bitmap table rewritten, and in_use cleared. A crash leaves in_use set, which tells qemu
 * the bitmap is inconsistent: honest, and what qemu itself leaves behind.
 */
export class BitmapTracker {
  private tracked: Tracked[] = [];
  private started = false;

  private constructor(private readonly img: Qcow2Image, private readonly dir: Directory, private readonly entryOffsets: number[]) {}

  /** A tracker if every bitmap in the extension is one we can keep up to date, else undefined. */
  static async open(img: Qcow2Image, ext: Uint8Array): Promise<BitmapTracker | undefined> {
    const dir = await readDirectory(img, ext);
    const buf = new Uint8Array(dir.size);
    await img.protocol.pread(buf, dir.offset);
    const bv = new DataView(buf.buffer);
    const offsets: number[] = [];
    let off = 0;
    for (const b of dir.bitmaps) {
      offsets.push(dir.offset + off);
      const type = buf[off + 16];
      const extra = bv.getUint32(off + 20);
      if (type !== 1 || b.flags & IN_USE || (extra && !(b.flags & EXTRA_DATA_COMPATIBLE))) return undefined;
      if (b.granularityBits < 9 || b.granularityBits > 31) return undefined;
      off = (off + 24 + extra + bv.getUint16(off + 18) + 7) & ~7;
    }
    return new BitmapTracker(img, dir, offsets);
  }

  private async setFlags(t: Tracked, flags: number): Promise<void> {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, flags);
    await this.img.protocol.pwrite(b, t.entryAt + 12);
    t.flags = flags;
  }

  /** Loads the enabled bitmaps and marks them in_use on disk (before the first guest write lands). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const cs = this.img.clusterSize;
    for (let i = 0; i < this.dir.bitmaps.length; i++) {
      const b = this.dir.bitmaps[i]!;
      if (!(b.flags & AUTO)) continue;
      const bytes = Math.ceil(this.img.size / 2 ** b.granularityBits / 8);
      const bits = new Uint8Array(b.tableSize * cs);
      const tbuf = new Uint8Array(b.tableSize * 8);
      await this.img.protocol.pread(tbuf, b.tableOffset);
      const tv = new DataView(tbuf.buffer);
      const table: bigint[] = [];
      for (let j = 0; j < b.tableSize; j++) {
        const e = tv.getBigUint64(j * 8);
        table.push(e);
        const o = Number(e & 0x00fffffffffffe00n);
        if (o) await this.img.protocol.pread(bits.subarray(j * cs, (j + 1) * cs), o);
        else if (e & 1n) bits.fill(0xff, j * cs, (j + 1) * cs);
      }
      const t: Tracked = { entryAt: this.entryOffsets[i]!, flags: b.flags, tableOffset: b.tableOffset, table, granularityBits: b.granularityBits, bits: bits.subarray(0, Math.max(bytes, 0)) };
      this.tracked.push(t);
      await this.setFlags(t, b.flags | IN_USE);
    }
    if (this.tracked.length) await this.img.protocol.flush();
  }

  /** Records a change to guest bytes [offset, offset+length). */
  mark(offset: number, length: number): void {
    if (!length) return;
    for (const t of this.tracked) {
      const g = 2 ** t.granularityBits;
      const first = Math.floor(offset / g);
      const last = Math.floor((offset + length - 1) / g);
      for (let bit = first; bit <= last; bit++) t.bits[bit >> 3]! |= 1 << (bit & 7);
    }
  }

  /** Every bit set (after a snapshot switch, when everything may have changed). */
  markAll(): void {
    this.mark(0, this.img.size);
  }

  /** Stores the bitmaps and clears in_use. Runs under the image lock, before the final flush. */
  async store(): Promise<void> {
    const cs = this.img.clusterSize;
    const { isZero } = await import('./entries.js');
    for (const t of this.tracked) {
      const padded = new Uint8Array(t.table.length * cs);
      padded.set(t.bits);
      for (let j = 0; j < t.table.length; j++) {
        const chunk = padded.subarray(j * cs, (j + 1) * cs);
        let o = Number(t.table[j]! & 0x00fffffffffffe00n);
        if (!o && isZero(chunk) && !(t.table[j]! & 1n)) continue;
        if (!o) {
          o = await this.img.refcounts.alloc(1);
          await this.img.flushLocked();
          t.table[j] = BigInt(o);
        }
        await this.img.protocol.pwrite(chunk, o);
      }
      const tbuf = new Uint8Array(t.table.length * 8);
      const tv = new DataView(tbuf.buffer);
      t.table.forEach((e, j) => tv.setBigUint64(j * 8, e));
      await this.img.protocol.flush();
      await this.img.protocol.pwrite(tbuf, t.tableOffset);
      await this.img.protocol.flush();
      await this.setFlags(t, t.flags & ~IN_USE);
    }
    this.tracked = [];
    this.started = false;
  }
}
