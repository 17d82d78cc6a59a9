/**
 * Internal snapshots: a snapshot is a copy of the L1 table plus one more reference on
 * every L2 table and data cluster it reaches, so later writes copy before they change.
 * Each operation orders its steps so a crash leaves leaks at worst:
 *   create: references first, then the snapshot table that uses them;
 *   delete: the snapshot table without the entry first, then the references dropped;
 *   apply:  the snapshot's references taken, its L1 copied in, the old tree's dropped.
 */
import { BlockError, type BlockImage, type SnapshotInfo } from '../types.js';
import { COPIED_HI, Kind, decodeL2, l1Offset } from './entries.js';
import { Qcow2Image } from './image.js';
import { serializeSnapshotTable, type SnapshotEntry } from './snapshot-table.js';

/** Adds `delta` to the refcount of every L2 table and data cluster under `l1`, and sets COPIED flags to match. */
export async function adjustTree(img: Qcow2Image, l1: Uint8Array, delta: number): Promise<void> {
  const cs = img.clusterSize;
  if (delta < 0) img.compressedTail = undefined;
  const l1v = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  if (delta > 0) await img.l2cache.dependOn(img.refcounts.cache);
  else if (delta < 0) await img.refcounts.cache.dependOn(img.l2cache);
  for (let i = 0; i < l1.length / 8; i++) {
    const l2 = l1Offset(l1v.getUint32(i * 8), l1v.getUint32(i * 8 + 4));
    if (!l2) continue;
    const table = await img.l2cache.get(l2);
    const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    let changed = false;
    for (let j = 0; j < cs / 8; j++) {
      const hi = tv.getUint32(j * 8);
      const lo = tv.getUint32(j * 8 + 4);
      const e = decodeL2(hi, lo, img.clusterBits);
      if (e.kind === Kind.Compressed) {
        if (delta) {
          const start = e.compressedOffset - (e.compressedOffset % 512);
          const last = Math.floor((start + e.compressedBytes + (e.compressedOffset % 512) - 1) / cs);
          for (let c = Math.floor(start / cs); c <= last; c++) await img.refcounts.add(c, delta);
        }
        continue;
      }
      if (!e.offset) continue;
      const rc = delta ? await img.refcounts.add(e.offset / cs, delta) : await img.refcounts.get(e.offset / cs);
      const want = rc === 1;
      if (want !== e.copied) {
        tv.setUint32(j * 8, want ? (hi | COPIED_HI) >>> 0 : (hi & ~COPIED_HI) >>> 0);
        changed = true;
      }
    }
    const l2rc = delta ? await img.refcounts.add(l2 / cs, delta) : await img.refcounts.get(l2 / cs);
    if (l2rc === 0) img.l2cache.drop(l2);
    else if (changed) img.l2cache.markDirty(l2);
    const hi = l1v.getUint32(i * 8);
    l1v.setUint32(i * 8, l2rc === 1 ? (hi | COPIED_HI) >>> 0 : (hi & ~COPIED_HI) >>> 0);
  }
}

/** Refuses, before anything changes, a tree whose refcounts one more reference would overflow. */
async function checkHeadroom(img: Qcow2Image, l1: Uint8Array, what: string): Promise<void> {
  const cs = img.clusterSize;
  const max = img.refcounts.maxRefcount;
  const l1v = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  const full = async (offset: number) => (await img.refcounts.get(Math.floor(offset / cs))) >= max;
  for (let i = 0; i < l1.length / 8; i++) {
    const l2 = l1Offset(l1v.getUint32(i * 8), l1v.getUint32(i * 8 + 4));
    if (!l2) continue;
    let overflow = await full(l2);
    const table = await img.l2cache.get(l2);
    const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    for (let j = 0; j < cs / 8 && !overflow; j++) {
      const e = decodeL2(tv.getUint32(j * 8), tv.getUint32(j * 8 + 4), img.clusterBits);
      if (e.kind === Kind.Compressed) overflow = await full(e.compressedOffset);
      else if (e.offset) overflow = await full(e.offset);
    }
    if (overflow) {
      throw new BlockError(`${what}: a refcount would exceed ${max} (refcount_bits=${img.refcounts.bits}): Numerical result out of range`, 'ERANGE');
    }
  }
}

function find(img: Qcow2Image, nameOrId: string): number {
  let i = img.snapshotList.findIndex((s) => s.id === nameOrId);
  if (i < 0) i = img.snapshotList.findIndex((s) => s.name === nameOrId);
  return i;
}

async function writeSnapshotTable(img: Qcow2Image, list: SnapshotEntry[]): Promise<void> {
  const h = img.header;
  const oldOffset = h.snapshotsOffset;
  const oldBytes = img.snapshotList.length ? serializeSnapshotTable(img.snapshotList, h.version).length : 0;
  let offset = 0;
  if (list.length) {
    const buf = serializeSnapshotTable(list, h.version);
    offset = await img.refcounts.alloc(Math.ceil(buf.length / img.clusterSize));
    await img.flushLocked();
    await img.protocol.pwrite(buf, offset);
    await img.protocol.flush();
  }
  h.nbSnapshots = list.length;
  h.snapshotsOffset = offset;
  await img.writeHeader();
  await img.protocol.flush();
  img.snapshotList = list;
  if (oldBytes) {
    await img.refcounts.free(oldOffset, oldBytes);
  }
}

function l1Bytes(img: Qcow2Image): number {
  return Math.ceil(img.l1.length / img.clusterSize) * img.clusterSize;
}

/**
 * Writes the active L1 table after the refcounts and L2 tables its COPIED flags describe.
 * (No order makes a flag change and a refcount change atomic: a crash in between leaves
 * OFLAG_COPIED mismatches, harmless and fixed by `check -r all`, as with qemu.)
 */
async function writeL1(img: Qcow2Image): Promise<void> {
  await img.flushLocked();
  if (img.l1.length) await img.protocol.pwrite(img.l1, img.header.l1TableOffset);
}

export async function createSnapshot(img: Qcow2Image, name: string, opts: { icount?: number } = {}): Promise<SnapshotInfo> {
  // As qemu-img: names need not be unique (ids are); lookups take the first match.
  if (!name) throw new BlockError(`Could not create snapshot '${name}': Invalid argument`, 'EINVAL');
  await checkHeadroom(img, img.l1, `Could not create snapshot '${name}'`);
  await img.beforeWrite();
  await img.flushLocked();
  // References first: the active tree gains one; COPIED flags drop accordingly.
  await adjustTree(img, img.l1, +1);
  await writeL1(img);
  const copy = img.l1.slice();
  const l1Offset = copy.length ? await img.refcounts.alloc(Math.max(1, l1Bytes(img) / img.clusterSize)) : 0;
  await img.flushLocked();
  if (copy.length) await img.protocol.pwrite(copy, l1Offset);
  const now = Date.now();
  const ids = img.snapshotList.map((s) => Number(s.id)).filter((n) => Number.isFinite(n));
  const entry: SnapshotEntry = {
    l1TableOffset: l1Offset, l1Size: copy.length / 8, id: String(Math.max(0, ...ids) + 1), name,
    dateSec: Math.floor(now / 1000), dateNsec: (now % 1000) * 1e6, vmClockNsec: 0, vmStateSize: 0,
    diskSize: img.size, icount: opts.icount ?? 0, extraTail: new Uint8Array(0),
  };
  await img.protocol.flush();
  await writeSnapshotTable(img, [...img.snapshotList, entry]);
  await img.flushLocked();
  return img.snapshotInfos().at(-1)!;
}

export async function deleteSnapshot(img: Qcow2Image, nameOrId: string): Promise<void> {
  const i = find(img, nameOrId);
  if (i < 0) throw new BlockError(`Could not delete snapshot '${nameOrId}': snapshot not found`, 'ENOENT');
  const s = img.snapshotList[i]!;
  await img.beforeWrite();
  await img.flushLocked();
  await writeSnapshotTable(img, img.snapshotList.filter((_, j) => j !== i));
  if (s.l1Size) {
    const l1 = new Uint8Array(s.l1Size * 8);
    await img.protocol.pread(l1, s.l1TableOffset);
    await adjustTree(img, l1, -1);
    await img.refcounts.free(s.l1TableOffset, s.l1Size * 8);
  }
  await adjustTree(img, img.l1, 0);
  await writeL1(img);
  await img.flushLocked();
}

export async function applySnapshot(img: Qcow2Image, nameOrId: string): Promise<void> {
  const i = find(img, nameOrId);
  if (i < 0) throw new BlockError(`Could not apply snapshot '${nameOrId}': Failed to load snapshot: No such file or directory`, 'ENOENT');
  const s = img.snapshotList[i]!;
  await img.beforeWrite();
  // Every guest byte may change: enabled dirty bitmaps must say so.
  img.bitmaps?.markAll();
  await img.flushLocked();
  const snapL1 = new Uint8Array(s.l1Size * 8);
  if (s.l1Size) await img.protocol.pread(snapL1, s.l1TableOffset);
  await checkHeadroom(img, snapL1, `Could not apply snapshot '${nameOrId}'`);
  await adjustTree(img, snapL1.slice(), +1);
  await img.flushLocked();
  const old = img.l1.slice();
  if (s.l1Size > img.header.l1Size) {
    const { growL1 } = await import('./resize.js');
    await growL1(img, s.l1Size);
  }
  const fresh = new Uint8Array(img.l1.length);
  fresh.set(snapL1);
  img.l1 = fresh;
  await writeL1(img);
  if (s.diskSize !== undefined && s.diskSize !== img.size) {
    img.header.size = s.diskSize;
    await img.writeHeader();
  }
  await img.protocol.flush();
  await adjustTree(img, old, -1);
  await adjustTree(img, img.l1, 0);
  await writeL1(img);
  await img.flushLocked();
}

export async function openSnapshot(img: Qcow2Image, nameOrId: string): Promise<BlockImage> {
  const i = find(img, nameOrId);
  if (i < 0) throw new BlockError(`Failed to load snapshot: Can't find snapshot`, 'ENOENT');
  const s = img.snapshotList[i]!;
  await img.flush();
  const l1 = new Uint8Array(s.l1Size * 8);
  if (s.l1Size) await img.protocol.pread(l1, s.l1TableOffset);
  return Qcow2Image.view(img, l1, s.diskSize ?? img.size);
}

