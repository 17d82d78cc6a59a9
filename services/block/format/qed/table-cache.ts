/**
 * QED tables in memory: the L1 table (always loaded) and a bounded cache of L2 tables. The
 * cache writes through: a changed entry goes to the file at once, under the image's
 * exclusive lock, so a cached table never differs from the file and eviction is free. Reads
 * of the same table by concurrent requests share one load.
 */
import type { BlockProtocol } from '../types.js';

/** Entry `i` of a table: a byte offset (0 unallocated, 1 zero cluster). Values past 2^53 come out inexact, and invalid. */
export function getEntry(table: Uint8Array, i: number): number {
  const dv = new DataView(table.buffer, table.byteOffset + i * 8, 8);
  return dv.getUint32(4, true) * 2 ** 32 + dv.getUint32(0, true);
}

export function setEntry(table: Uint8Array, i: number, value: number): void {
  const dv = new DataView(table.buffer, table.byteOffset + i * 8, 8);
  dv.setUint32(0, value % 2 ** 32, true);
  dv.setUint32(4, Math.floor(value / 2 ** 32), true);
}

export class TableCache {
  private readonly tables = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly protocol: BlockProtocol,
    readonly tableBytes: number,
    /** How many L2 tables to keep. */
    private readonly capacity: number,
  ) {}

  /** The L2 table at `offset` (the caller has checked that it lies inside the file). */
  get(offset: number): Promise<Uint8Array> {
    let t = this.tables.get(offset);
    if (t) {
      // Most recently used last.
      this.tables.delete(offset);
      this.tables.set(offset, t);
      return t;
    }
    t = (async () => {
      const buf = new Uint8Array(this.tableBytes);
      await this.protocol.pread(buf, offset);
      return buf;
    })();
    this.tables.set(offset, t);
    t.catch(() => { if (this.tables.get(offset) === t) this.tables.delete(offset); });
    this.evict();
    return t;
  }

  /** A table just written at `offset` (new, or moved there). */
  install(offset: number, table: Uint8Array): void {
    this.tables.delete(offset);
    this.tables.set(offset, Promise.resolve(table));
    this.evict();
  }

  /** Writes entries [first, first+n) of `table` (as changed in memory) to the file at `offset`. */
  async writeEntries(offset: number, table: Uint8Array, first: number, n: number): Promise<void> {
    await this.protocol.pwrite(table.subarray(first * 8, (first + n) * 8), offset + first * 8);
  }

  drop(offset: number): void {
    this.tables.delete(offset);
  }

  clear(): void {
    this.tables.clear();
  }

  private evict(): void {
    while (this.tables.size > this.capacity) {
      const oldest = this.tables.keys().next().value as number;
      this.tables.delete(oldest);
    }
  }
}
