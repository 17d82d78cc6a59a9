/**
 * `qemu-img check` for qcow2: count every reference to every host cluster (header, L1
 * tables, L2 tables, data and compressed clusters of the active image and of every
 * snapshot, refcount table and blocks, snapshot table, bitmaps), compare with the stored
 * refcounts, and check the COPIED flags. Refcounts above the references are leaks;
 * below them, corruptions. `-r leaks` lowers leaked counts, `-r all` also raises short
 * ones and fixes COPIED flags.
 */
import { BlockError, type CheckResult } from '../types.js';
import { Kind, decodeL2, l1Offset, COPIED_HI } from './entries.js';
import { EXT_BITMAPS } from './header.js';
import { tableBytes } from './snapshot-table.js';
import type { Qcow2Image } from './image.js';
import { bitmapClusters } from './bitmaps.js';

interface Tally {
  refs: Map<number, number>;
  fileClusters: number;
  messages: string[];
  corruptions: number;
  allocated: number;
  fragmented: number;
  compressed: number;
}

function inc(t: Tally, img: Qcow2Image, offset: number, bytes: number): void {
  const cs = img.clusterSize;
  const first = Math.floor(offset / cs);
  const last = Math.floor((offset + Math.max(bytes, 1) - 1) / cs);
  for (let c = first; c <= last; c++) t.refs.set(c, (t.refs.get(c) ?? 0) + 1);
}

/** Counts an L1 table and everything below it. `active` also gathers fragmentation statistics. */
async function walkL1(img: Qcow2Image, t: Tally, l1: Uint8Array, active: boolean): Promise<void> {
  const cs = img.clusterSize;
  const dv = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  for (let i = 0; i < l1.length / 8; i++) {
    // As qemu-img counts it: contiguity is judged within one L2 table.
    let nextContiguous = 0;
    const hi = dv.getUint32(i * 8);
    const lo = dv.getUint32(i * 8 + 4);
    const l2 = l1Offset(hi, lo);
    if (!l2) continue;
    if (l2 % cs) {
      t.messages.push(`ERROR l2_offset=${l2.toString(16)}: Table is not cluster aligned; L1 entry corrupted`);
      t.corruptions++;
      continue;
    }
    if (l2 >= t.fileClusters * cs) {
      t.messages.push(`ERROR l2_offset=${l2.toString(16)}: L2 table is outside the image file`);
      t.corruptions++;
      continue;
    }
    inc(t, img, l2, cs);
    const table = new Uint8Array(cs);
    await img.protocol.pread(table, l2);
    const tv = new DataView(table.buffer);
    for (let j = 0; j < cs / 8; j++) {
      const e = decodeL2(tv.getUint32(j * 8), tv.getUint32(j * 8 + 4), img.clusterBits);
      if (e.kind === Kind.Compressed) {
        const start = e.compressedOffset - (e.compressedOffset % 512);
        const bytes = e.compressedBytes + (e.compressedOffset % 512);
        if (start >= t.fileClusters * cs) {
          t.messages.push(`ERROR compressed cluster at ${e.compressedOffset.toString(16)} is outside the image file`);
          t.corruptions++;
          continue;
        }
        inc(t, img, start, bytes);
        if (active) { t.allocated++; t.compressed++; t.fragmented++; }
        continue;
      }
      if (!e.offset) continue;
      if (e.offset % cs) {
        t.messages.push(`ERROR offset=${e.offset.toString(16)}: Cluster is not properly aligned; L2 entry corrupted.`);
        t.corruptions++;
        continue;
      }
      if (e.offset >= t.fileClusters * cs) {
        t.messages.push(`ERROR offset=${e.offset.toString(16)}: Data cluster is outside the image file`);
        t.corruptions++;
        continue;
      }
      inc(t, img, e.offset, cs);
      if (active) {
        t.allocated++;
        if (nextContiguous && e.offset !== nextContiguous) t.fragmented++;
        nextContiguous = e.offset + cs;
      }
    }
  }
}

async function tally(img: Qcow2Image): Promise<Tally> {
  const cs = img.clusterSize;
  const h = img.header;
  const fileSize = await img.protocol.size();
  const t: Tally = { refs: new Map(), fileClusters: Math.ceil(fileSize / cs), messages: [], corruptions: 0, allocated: 0, fragmented: 0, compressed: 0 };
  inc(t, img, 0, cs);
  if (h.l1Size) inc(t, img, h.l1TableOffset, h.l1Size * 8);
  await walkL1(img, t, img.l1, true);
  inc(t, img, h.refcountTableOffset, h.refcountTableClusters * cs);
  for (const b of img.refcounts.table) if (b) inc(t, img, b, cs);
  if (h.nbSnapshots) inc(t, img, h.snapshotsOffset, tableBytes(img.snapshotList, h.version));
  for (const s of img.snapshotList) {
    if (!s.l1Size) continue;
    inc(t, img, s.l1TableOffset, s.l1Size * 8);
    const l1 = new Uint8Array(s.l1Size * 8);
    await img.protocol.pread(l1, s.l1TableOffset);
    await walkL1(img, t, l1, false);
  }
  const bitmaps = h.extensions.find((e) => e.type === EXT_BITMAPS);
  if (bitmaps) for (const [o, n] of await bitmapClusters(img, bitmaps.data)) inc(t, img, o, n);
  return t;
}

function maxCluster(t: Tally): number {
  let m = t.fileClusters;
  for (const c of t.refs.keys()) if (c > m) m = c;
  return m;
}

export async function checkImage(img: Qcow2Image, repair?: 'leaks' | 'all'): Promise<CheckResult> {
  const cs = img.clusterSize;
  // The walk reads tables from the file: cached changes go there first.
  await img.flushLocked();
  let t = await tally(img);
  const res: CheckResult = {
    filename: img.protocol.filename, format: 'qcow2', checkErrors: 0, corruptions: t.corruptions, leaks: 0,
    corruptionsFixed: 0, leaksFixed: 0, messages: t.messages,
  };
  const limit = maxCluster(t);
  let highest = -1;
  const fixes: Array<[number, number]> = [];
  for (let c = 0; c < limit + 1; c++) {
    const ref = t.refs.get(c) ?? 0;
    const rc = c < t.fileClusters || ref ? await img.refcounts.get(c) : 0;
    if (rc || ref) highest = c;
    if (rc === ref) continue;
    if (rc > ref) {
      res.leaks++;
      res.messages.push(`${repair ? 'Repairing' : 'Leaked'} cluster ${c} refcount=${rc} reference=${ref}`);
      if (repair) fixes.push([c, ref]);
    } else {
      res.corruptions++;
      res.messages.push(`${repair === 'all' ? 'Repairing' : 'ERROR'} cluster ${c} refcount=${rc} reference=${ref}`);
      if (repair === 'all') fixes.push([c, ref]);
    }
  }
  if (fixes.length && !img.readOnly) {
    // A fix inside a range with no refcount block would need the refcount structure
    // rebuilt (a new block could land on a cluster in use): refuse before writing anything.
    const per = 2 ** img.refcounts.blockBits;
    const missing = fixes.find(([c, v]) => v > 0 && !img.refcounts.table[Math.floor(c / per)]);
    if (missing) {
      throw new BlockError(
        `Cannot repair: cluster ${missing[0]} is in use but no refcount block covers it (rebuilding the refcount structure is not supported by tsemu)`, 'ENOTSUP');
    }
    for (const [c, v] of fixes) await img.refcounts.set(c, Math.min(v, img.refcounts.maxRefcount));
    await img.flushLocked();
  }
  // COPIED flags of the active image.
  const copied = await checkCopied(img, repair === 'all' && !img.readOnly);
  res.messages.push(...copied.messages);
  res.corruptions += copied.errors;
  if (repair === 'all') res.corruptionsFixed += copied.fixed;
  if (fixes.length && !img.readOnly) {
    // Recount after repair: what is left is what could not be fixed.
    t = await tally(img);
    let left = 0;
    let leaks = 0;
    for (const [c, ref] of t.refs) { const rc = await img.refcounts.get(c); if (rc < ref) left++; }
    for (let c = 0; c < t.fileClusters; c++) { const rc = await img.refcounts.get(c); if (rc > (t.refs.get(c) ?? 0)) leaks++; }
    res.leaksFixed = Math.max(0, res.leaks - leaks);
    if (repair === 'all') res.corruptionsFixed = Math.max(0, res.corruptions - left - t.corruptions);
  }
  res.imageEndOffset = (highest + 1) * cs;
  res.totalClusters = Math.ceil(img.size / cs);
  res.allocatedClusters = t.allocated;
  res.fragmentedClusters = t.fragmented;
  res.compressedClusters = t.compressed;
  return res;
}

async function checkCopied(img: Qcow2Image, fix: boolean): Promise<{ messages: string[]; errors: number; fixed: number }> {
  const out = { messages: [] as string[], errors: 0, fixed: 0 };
  const cs = img.clusterSize;
  const dv = new DataView(img.l1.buffer, img.l1.byteOffset, img.l1.byteLength);
  for (let i = 0; i < img.header.l1Size; i++) {
    const hi = dv.getUint32(i * 8);
    const lo = dv.getUint32(i * 8 + 4);
    const l2 = l1Offset(hi, lo);
    if (!l2 || l2 % cs) continue;
    const rc = await img.refcounts.get(l2 / cs);
    const flag = (hi & COPIED_HI) !== 0;
    if ((rc === 1) !== flag) {
      out.errors++;
      out.messages.push(`${fix ? 'Repairing' : 'ERROR'} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${(hi >>> 0).toString(16)}${(lo >>> 0).toString(16).padStart(8, '0')} refcount=${rc}`);
      if (fix) { await img.setL1Entry(i, l2, rc === 1); out.fixed++; }
    }
    if (rc !== 1) continue;
    const table = await img.l2cache.get(l2);
    const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    let changed = false;
    for (let j = 0; j < cs / 8; j++) {
      const eh = tv.getUint32(j * 8);
      const e = decodeL2(eh, tv.getUint32(j * 8 + 4), img.clusterBits);
      if (e.kind === Kind.Compressed || !e.offset || e.offset % cs) continue;
      const drc = await img.refcounts.get(e.offset / cs);
      if ((drc === 1) !== e.copied) {
        out.errors++;
        out.messages.push(`${fix ? 'Repairing' : 'ERROR'} OFLAG_COPIED data cluster: l2_entry=${(eh >>> 0).toString(16)}${(tv.getUint32(j * 8 + 4) >>> 0).toString(16).padStart(8, '0')} refcount=${drc}`);
        if (fix) {
          const t2 = await img.l2cache.get(l2);
          const v2 = new DataView(t2.buffer, t2.byteOffset, t2.byteLength);
          v2.setUint32(j * 8, drc === 1 ? (eh | COPIED_HI) >>> 0 : eh & ~COPIED_HI);
          img.l2cache.markDirty(l2);
          changed = true;
          out.fixed++;
        }
      }
    }
    if (changed) await img.flushLocked();
  }
  return out;
}

/** Makes stored refcounts equal the references (after a crash with lazy refcounts). */
export async function repairRefcounts(img: Qcow2Image): Promise<void> {
  for (let pass = 0; pass < 4; pass++) {
    const t = await tally(img);
    let changed = false;
    const limit = maxCluster(t);
    for (let c = 0; c <= limit; c++) {
      const ref = t.refs.get(c) ?? 0;
      if ((await img.refcounts.get(c)) !== ref) {
        await img.refcounts.set(c, ref);
        changed = true;
      }
    }
    await img.flushLocked();
    if (!changed) break;
  }
  await checkCopied(img, true);
}
