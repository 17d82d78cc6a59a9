/**
 * The qcow2 snapshot table: one variable-length entry per internal snapshot (L1 copy,
 * id, name, dates, VM state size, extra data). Extra data we do not know is kept and
 * written back unchanged.
 */
import { BlockError } from '../types.js';

export interface SnapshotEntry {
  l1TableOffset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSec: number;
  dateNsec: number;
  vmClockNsec: number;
  vmStateSize: number;
  /** Virtual disk size at the snapshot (extra data, v3), else undefined. */
  diskSize?: number;
  icount?: number;
  /** Extra data beyond the fields above, kept as is. */
  extraTail: Uint8Array;
}

const align8 = (n: number) => (n + 7) & ~7;

export function parseSnapshotTable(buf: Uint8Array, count: number, clusterSize: number): SnapshotEntry[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: SnapshotEntry[] = [];
  let off = 0;
  const dec = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (off + 40 > buf.length) throw new BlockError('Snapshot table is truncated', 'EINVAL');
    const idSize = dv.getUint16(off + 12);
    const nameSize = dv.getUint16(off + 14);
    const extraSize = dv.getUint32(off + 36);
    if (extraSize > 1024) throw new BlockError('Too much extra metadata in snapshot table entry', 'EINVAL');
    const extraAt = off + 40;
    if (extraAt + extraSize + idSize + nameSize > buf.length) throw new BlockError('Snapshot table is truncated', 'EINVAL');
    const l1TableOffset = Number(dv.getBigUint64(off));
    if (l1TableOffset % clusterSize) throw new BlockError('Snapshot L1 table offset invalid', 'EINVAL');
    const e: SnapshotEntry = {
      l1TableOffset,
      l1Size: dv.getUint32(off + 8),
      dateSec: dv.getUint32(off + 16),
      dateNsec: dv.getUint32(off + 20),
      vmClockNsec: Number(dv.getBigUint64(off + 24)),
      vmStateSize: dv.getUint32(off + 32),
      id: dec.decode(buf.subarray(extraAt + extraSize, extraAt + extraSize + idSize)),
      name: dec.decode(buf.subarray(extraAt + extraSize + idSize, extraAt + extraSize + idSize + nameSize)),
      extraTail: new Uint8Array(0),
    };
    if (extraSize >= 8) e.vmStateSize = Number(dv.getBigUint64(extraAt));
    if (extraSize >= 16) e.diskSize = Number(dv.getBigUint64(extraAt + 8));
    if (extraSize >= 24) e.icount = Number(dv.getBigInt64(extraAt + 16));
    if (extraSize > 24) e.extraTail = buf.slice(extraAt + 24, extraAt + extraSize);
    out.push(e);
    off = align8(extraAt + extraSize + idSize + nameSize);
  }
  return out;
}

export function tableBytes(entries: SnapshotEntry[], version: number): number {
  const enc = new TextEncoder();
  return entries.reduce((n, e) => n + align8(40 + extraSize(e, version) + enc.encode(e.id).length + enc.encode(e.name).length), 0);
}

function extraSize(e: SnapshotEntry, version: number): number {
  return version >= 3 ? 24 + e.extraTail.length : 16;
}

export function serializeSnapshotTable(entries: SnapshotEntry[], version: number): Uint8Array {
  const buf = new Uint8Array(tableBytes(entries, version));
  const dv = new DataView(buf.buffer);
  const enc = new TextEncoder();
  let off = 0;
  for (const e of entries) {
    const id = enc.encode(e.id);
    const name = enc.encode(e.name);
    const extra = extraSize(e, version);
    dv.setBigUint64(off, BigInt(e.l1TableOffset));
    dv.setUint32(off + 8, e.l1Size);
    dv.setUint16(off + 12, id.length);
    dv.setUint16(off + 14, name.length);
    dv.setUint32(off + 16, e.dateSec);
    dv.setUint32(off + 20, e.dateNsec);
    dv.setBigUint64(off + 24, BigInt(e.vmClockNsec));
    dv.setUint32(off + 32, Math.min(e.vmStateSize, 0xffffffff));
    dv.setUint32(off + 36, extra);
    dv.setBigUint64(off + 40, BigInt(e.vmStateSize));
    dv.setBigUint64(off + 48, BigInt(e.diskSize ?? 0));
    if (extra >= 24) {
      dv.setBigInt64(off + 56, BigInt(e.icount ?? -1));
      buf.set(e.extraTail, off + 64);
    }
    buf.set(id, off + 40 + extra);
    buf.set(name, off + 40 + extra + id.length);
    off = align8(off + 40 + extra + id.length + name.length);
  }
  return buf;
}
