/**
 * The QED consistency check (the spec's "Consistency checking"; `qemu-img check`): every
 * cluster past the header is referenced once, by the L1 table, an L2 table or an L2 entry;
 * offsets are aligned and inside the file; tables fit in the file. The scan and its counts
 * follow qemu's (L1 order, allocated and fragmented counts per L2 table).
 *
 * Repairs, by mode:
 *  - 'open' (a read-write open found the need-check bit, as qemu does then): entries that
 *    point outside the file are cleared, and leaked clusters at the end of the file cut off;
 *  - 'leaks': leaked clusters are reclaimed: clusters from the end of the file move into the
 *    holes (copied, flushed, then the entry that names them updated) and the file shrinks.
 *    qemu cannot do this (QED has no free-space map), so qemu-img check keeps reporting them;
 *  - 'all': entries outside the file are cleared, a cluster or table referenced twice gets
 *    a copy of its own for each further reference, then leaks are reclaimed.
 * Every repair runs with the need-check bit set, so a repair cut short is checked again on the
 * next open; the bit is cleared when no corruption is left.
 */
import type { CheckResult } from '../types.js';
import { clusterOffsetValid, tableOffsetValid, UNALLOCATED, ZERO_CLUSTER } from './header.js';
import type { QedImage, RepairMode } from './image.js';
import { getEntry, setEntry } from './table-cache.js';

/** Which clusters the tables reference; grows as repairs append copies. */
class ClusterMap {
  used: Uint8Array;

  constructor(n: number) {
    this.used = new Uint8Array(n);
  }

  has(c: number): boolean {
    return this.used[c] === 1;
  }

  set(c: number): void {
    if (c >= this.used.length) {
      const u = new Uint8Array(Math.max(c + 1, this.used.length * 2));
      u.set(this.used);
      this.used = u;
    }
    this.used[c] = 1;
  }
}

export async function checkImage(img: QedImage, mode: RepairMode): Promise<CheckResult> {
  const h = img.header;
  const cs = img.clusterSize;
  const res: CheckResult = {
    filename: img.protocol.filename, format: 'qed', checkErrors: 0, corruptions: 0, leaks: 0, corruptionsFixed: 0, leaksFixed: 0,
    totalClusters: Math.ceil(img.size / cs), allocatedClusters: 0, fragmentedClusters: 0, compressedClusters: 0, messages: [],
  };
  const fixOffsets = mode === 'open' || mode === 'all';
  const relocate = mode === 'all';
  // Offsets are judged against the file as it was: copies appended below are no excuse for an entry past its end.
  const fileSize = img.fileSize;
  const map = new ClusterMap(fileSize / cs);
  /** Marks `n` clusters from `offset`; returns how many were referenced already. */
  const mark = (offset: number, n: number) => {
    let dups = 0;
    for (let c = offset / cs; c < offset / cs + n; c++) {
      if (map.has(c)) dups++;
      map.set(c);
    }
    return dups;
  };
  const anyMarked = (offset: number, n: number) => {
    for (let c = offset / cs; c < offset / cs + n; c++) if (map.has(c)) return true;
    return false;
  };
  /** Copies `n` clusters to the end of the file for a reference of their own (durable before it is used). */
  const copy = async (from: number, n: number) => {
    await img.markNeedCheck();
    const buf = new Uint8Array(n * cs);
    await img.protocol.pread(buf, from);
    const to = img.allocClusters(n);
    await img.protocol.pwrite(buf, to);
    await img.protocol.flush();
    mark(to, n);
    return to;
  };

  mark(h.l1TableOffset, h.tableSize);
  for (let i = 0; i < img.entries; i++) {
    let t = img.l1Entry(i);
    if (t === UNALLOCATED) continue;
    if (!tableOffsetValid(h, fileSize, t)) {
      if (fixOffsets) {
        await img.markNeedCheck();
        await img.setL1Entry(i, 0);
        res.corruptionsFixed++;
      } else res.corruptions++;
      continue;
    }
    if (relocate && anyMarked(t, h.tableSize)) {
      const to = await copy(t, h.tableSize);
      await img.setL1Entry(i, to);
      res.corruptionsFixed++;
      t = to;
    } else {
      const dups = mark(t, h.tableSize);
      // A table that shares clusters is not read: what it names may be anything.
      if (dups) { res.corruptions += dups; continue; }
    }
    let table: Uint8Array;
    try {
      table = await img.tables.get(t);
    } catch {
      res.checkErrors++;
      continue;
    }
    let last = 0;
    let changed = false;
    for (let j = 0; j < img.entries; j++) {
      const e = getEntry(table, j);
      if (e === UNALLOCATED || e === ZERO_CLUSTER) continue;
      res.allocatedClusters!++;
      if (last && last + cs !== e) res.fragmentedClusters!++;
      last = e;
      if (!clusterOffsetValid(h, fileSize, e)) {
        if (fixOffsets) {
          setEntry(table, j, UNALLOCATED);
          changed = true;
          res.corruptionsFixed++;
        } else res.corruptions++;
        continue;
      }
      if (map.has(e / cs)) {
        if (relocate) {
          setEntry(table, j, await copy(e, 1));
          changed = true;
          res.corruptionsFixed++;
        } else res.corruptions++;
        continue;
      }
      map.set(e / cs);
    }
    if (changed) {
      await img.markNeedCheck();
      await img.tables.writeEntries(t, table, 0, img.entries);
    }
  }
  // As qemu: leaks only count when the whole image could be scanned.
  if (res.checkErrors) return res;
  for (let c = h.headerSize; c < img.fileSize / cs; c++) if (!map.has(c)) res.leaks++;
  if (mode !== 'none' && res.leaks && !res.corruptions) {
    res.leaksFixed = mode === 'open' ? await cutLeakedTail(img, map) : await reclaimLeaks(img);
  }
  if (mode !== 'none' && !res.corruptions) {
    await img.protocol.flush();
    await img.clearNeedCheck();
    await img.protocol.flush();
  }
  return res;
}

/** Shortens the file to its last referenced cluster; returns the clusters dropped. */
async function cutLeakedTail(img: QedImage, map: ClusterMap): Promise<number> {
  const cs = img.clusterSize;
  let end = img.fileSize / cs;
  while (end > img.header.headerSize && !map.has(end - 1)) end--;
  return truncateTo(img, end);
}

async function truncateTo(img: QedImage, end: number): Promise<number> {
  const cs = img.clusterSize;
  const dropped = img.fileSize / cs - end;
  if (dropped <= 0) return 0;
  await img.markNeedCheck();
  await img.protocol.flush();
  await img.protocol.truncate(end * cs);
  img.fileSize = end * cs;
  return dropped;
}

/** Owner of a cluster, for reclaiming: the L1 table, an L2 table (by L1 index) or a data cluster (by guest cluster). */
const FREE = 0;
const FIXED = -Infinity;
const tableOwner = (l1Index: number) => -(l1Index + 1);
const dataOwner = (guestCluster: number) => guestCluster + 1;

/** A data cluster to move: from and to are cluster numbers. */
interface Move {
  from: number;
  to: number;
  guest: number;
}

/**
 * Fills holes with the clusters at the end of the file, last first, then shortens the file.
 * The image is sound here (no corruption left), so each cluster has exactly one owner.
 */
async function reclaimLeaks(img: QedImage): Promise<number> {
  const cs = img.clusterSize;
  const ts = img.header.tableSize;
  const first = img.header.headerSize;
  let end = img.fileSize / cs;
  // Room for the data a table move sends to the end of the file for a while.
  const owner = new Float64Array(end + ts);
  for (let c = 0; c < ts; c++) owner[img.header.l1TableOffset / cs + c] = FIXED;
  for (let i = 0; i < img.entries; i++) {
    const t = img.l1Entry(i);
    if (t === UNALLOCATED) continue;
    for (let c = 0; c < ts; c++) owner[t / cs + c] = tableOwner(i);
    const table = await img.tables.get(t);
    for (let j = 0; j < img.entries; j++) {
      const e = getEntry(table, j);
      if (e !== UNALLOCATED && e !== ZERO_CLUSTER) owner[e / cs] = dataOwner(i * img.entries + j);
    }
  }
  const free = () => owner.subarray(first, end).reduce((n, o) => n + (o === FREE ? 1 : 0), 0);
  const before = free();
  const batch: Move[] = [];
  let hole = first;
  for (;;) {
    while (end > first && owner[end - 1] === FREE) end--;
    if (end <= first) break;
    const o = owner[end - 1]!;
    if (o === FIXED) break;
    if (o > 0) {
      while (hole < end - 1 && owner[hole] !== FREE) hole++;
      if (hole >= end - 1) break;
      batch.push({ from: end - 1, to: hole, guest: o - 1 });
      owner[hole] = o;
      owner[end - 1] = FREE;
      if (batch.length >= 256) await moveData(img, batch);
      continue;
    }
    // An L2 table: it needs table_size clusters in a row below it. Where holes are single,
    // the data clusters beside one go to the end of the file first (the loop brings them back
    // into the holes the table leaves).
    const l1Index = -o - 1;
    const start = img.l1Entry(l1Index) / cs;
    const spot = tableSpot(owner, first, start, ts);
    if (spot < 0) break;
    await moveData(img, batch);
    for (let c = spot; c < spot + ts; c++) {
      if (owner[c] === FREE) continue;
      batch.push({ from: c, to: end, guest: owner[c]! - 1 });
      owner[end++] = owner[c]!;
      owner[c] = FREE;
    }
    img.fileSize = Math.max(img.fileSize, end * cs);
    await moveData(img, batch);
    await moveTable(img, l1Index, start * cs, spot * cs);
    owner.fill(o, spot, spot + ts);
    owner.fill(FREE, start, start + ts);
  }
  await moveData(img, batch);
  await img.protocol.flush();
  await truncateTo(img, end);
  return before - free();
}

/**
 * Where an L2 table of `ts` clusters ending the file may go, below `limit`: the first run of
 * free clusters, else the window with the most free clusters that holds only data clusters
 * besides (they can move); -1 when there is none.
 */
function tableSpot(owner: Float64Array, first: number, limit: number, ts: number): number {
  let best = -1;
  let bestFree = 0;
  for (let w = first; w + ts <= limit; w++) {
    let free = 0;
    let movable = true;
    for (let c = w; c < w + ts && movable; c++) {
      if (owner[c] === FREE) free++;
      else if (owner[c]! < 0) movable = false;
    }
    if (!movable || free <= bestFree) continue;
    if (free === ts) return w;
    [best, bestFree] = [w, free];
  }
  return best;
}

/** Copies the clusters, makes them durable, then points their L2 entries at the copies. */
async function moveData(img: QedImage, batch: Move[]): Promise<void> {
  if (!batch.length) return;
  const cs = img.clusterSize;
  await img.markNeedCheck();
  const buf = new Uint8Array(cs);
  for (const m of batch) {
    await img.protocol.pread(buf, m.from * cs);
    await img.protocol.pwrite(buf, m.to * cs);
  }
  await img.protocol.flush();
  for (const m of batch) {
    const l1Index = Math.floor(m.guest / img.entries);
    const j = m.guest % img.entries;
    const t = img.l1Entry(l1Index);
    const table = await img.tables.get(t);
    setEntry(table, j, m.to * cs);
    await img.tables.writeEntries(t, table, j, 1);
  }
  await img.protocol.flush();
  batch.length = 0;
}

async function moveTable(img: QedImage, l1Index: number, from: number, to: number): Promise<void> {
  await img.markNeedCheck();
  const table = await img.tables.get(from);
  await img.protocol.pwrite(table, to);
  await img.protocol.flush();
  img.tables.drop(from);
  img.tables.install(to, table);
  await img.setL1Entry(l1Index, to);
  await img.protocol.flush();
}
