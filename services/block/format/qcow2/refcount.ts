/**
 * qcow2 reference counts: a refcount table of refcount block offsets, each block an array
 * of 2^refcount_order-bit counts (1 to 64 bits; sub-byte widths packed from the low bit,
 * wider ones big-endian). Cluster allocation lives here because it is a search for
 * refcount 0 plus the bookkeeping that keeps refcounts describing themselves:
 *   - a missing refcount block is placed at the first free cluster of the range it covers
 *     (so it counts itself);
 *   - a full refcount table moves to a new, larger one, written before the header points to it.
 */
import { BlockError, type BlockProtocol } from '../types.js';
import { MetadataCache } from './metadata-cache.js';
import { MAX_REFTABLE_BYTES } from './header.js';

export interface RefcountHost {
  readonly protocol: BlockProtocol;
  readonly clusterBits: number;
  /** Persists a new refcount table location in the header. */
  setRefcountTable(offset: number, clusters: number): Promise<void>;
}

export class Refcounts {
  readonly cache: MetadataCache;
  readonly bits: number;
  /** Refcount entries per block, as a power of two. */
  readonly blockBits: number;
  readonly maxRefcount: number;
  table: number[] = [];
  tableOffset = 0;
  tableClusters = 0;
  /** Lowest cluster index that may be free (an allocation hint). */
  private freeHint = 0;
  /** One past the highest cluster allocated in this session (its data may not be written yet). */
  private highWater = 0;
  private readonly clusterSize: number;

  constructor(
    private readonly host: RefcountHost,
    refcountOrder: number,
    cacheTables: number,
  ) {
    this.bits = 1 << refcountOrder;
    this.clusterSize = 2 ** host.clusterBits;
    this.blockBits = host.clusterBits + 3 - refcountOrder;
    this.maxRefcount = this.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
    this.cache = new MetadataCache(host.protocol, this.clusterSize, cacheTables);
  }

  async load(tableOffset: number, tableClusters: number): Promise<void> {
    const buf = new Uint8Array(tableClusters * this.clusterSize);
    await this.host.protocol.pread(buf, tableOffset);
    const dv = new DataView(buf.buffer);
    const table: number[] = [];
    for (let i = 0; i < buf.length / 8; i++) {
      const hi = dv.getUint32(i * 8);
      const lo = dv.getUint32(i * 8 + 4);
      table.push((hi & 0x00ffffff) * 2 ** 32 + (lo & ~(this.clusterSize - 1) >>> 0));
    }
    this.table = table;
    this.tableOffset = tableOffset;
    this.tableClusters = tableClusters;
    this.blocks = new Set(table.filter((b) => b));
  }

  private blocks = new Set<number>();

  /** Whether a refcount block lives at host offset `offset`. */
  isBlock(offset: number): boolean {
    return this.blocks.has(offset);
  }

  private static readEntry(block: Uint8Array, i: number, bits: number): number {
    switch (bits) {
      case 1: case 2: case 4: {
        const perByte = 8 / bits;
        return (block[Math.floor(i / perByte)]! >> ((i % perByte) * bits)) & ((1 << bits) - 1);
      }
      case 8: return block[i]!;
      case 16: return (block[i * 2]! << 8) | block[i * 2 + 1]!;
      case 32: return new DataView(block.buffer, block.byteOffset).getUint32(i * 4);
      default: {
        const v = new DataView(block.buffer, block.byteOffset).getBigUint64(i * 8);
        return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
      }
    }
  }

  private static writeEntry(block: Uint8Array, i: number, bits: number, v: number): void {
    switch (bits) {
      case 1: case 2: case 4: {
        const perByte = 8 / bits;
        const shift = (i % perByte) * bits;
        const at = Math.floor(i / perByte);
        block[at] = (block[at]! & ~(((1 << bits) - 1) << shift)) | (v << shift);
        return;
      }
      case 8: block[i] = v; return;
      case 16: block[i * 2] = v >> 8; block[i * 2 + 1] = v & 0xff; return;
      case 32: new DataView(block.buffer, block.byteOffset).setUint32(i * 4, v); return;
      default: new DataView(block.buffer, block.byteOffset).setBigUint64(i * 8, BigInt(v));
    }
  }

  /** Refcount of cluster `index` (0 when its block does not exist). */
  async get(index: number): Promise<number> {
    const t = Math.floor(index / 2 ** this.blockBits);
    const blockOffset = this.table[t] ?? 0;
    if (!blockOffset) return 0;
    const block = await this.cache.get(blockOffset);
    return Refcounts.readEntry(block, index % 2 ** this.blockBits, this.bits);
  }

  /** Sets the refcount of cluster `index`; its block must exist (see ensureBlock). */
  async set(index: number, value: number): Promise<void> {
    if (value < 0 || value > this.maxRefcount) {
      throw new BlockError(`Refcount of cluster ${index} would be ${value}: out of range for ${this.bits}-bit refcounts`, 'ERANGE');
    }
    await this.ensureBlock(index);
    const t = Math.floor(index / 2 ** this.blockBits);
    const blockOffset = this.table[t]!;
    const block = await this.cache.get(blockOffset);
    Refcounts.writeEntry(block, index % 2 ** this.blockBits, this.bits, value);
    this.cache.markDirty(blockOffset);
    if (value === 0 && index < this.freeHint) this.freeHint = index;
  }

  async add(index: number, delta: number): Promise<number> {
    const v = (await this.get(index)) + delta;
    if (v < 0) throw new BlockError(`Refcount of cluster ${index} would drop below zero: image is corrupt`, 'EIO');
    await this.set(index, v);
    return v;
  }

  /**
   * Makes sure cluster `index` has a refcount block. Returns the cluster index of a block it
   * created (which then has refcount 1), or -1.
   */
  async ensureBlock(index: number, avoidUntil = index + 1): Promise<number> {
    const t = Math.floor(index / 2 ** this.blockBits);
    if (t < this.table.length && this.table[t]) return -1;
    if (t >= this.table.length) await this.growTable(t + 1, avoidUntil);
    if (this.table[t]) return -1; // growth placed one here
    // No block: every cluster in this range has refcount 0. The block goes at the range's
    // first cluster and counts itself.
    const first = t * 2 ** this.blockBits;
    const blockIndex = first === index ? first + 1 : first;
    if (Math.floor(blockIndex / 2 ** this.blockBits) !== t) throw new BlockError('Refcount block cannot cover itself', 'EIO');
    await this.writeNewBlock(t, blockIndex, [blockIndex]);
    return blockIndex;
  }

  private async writeNewBlock(t: number, blockIndex: number, selfCounted: number[]): Promise<void> {
    const block = new Uint8Array(this.clusterSize);
    for (const c of selfCounted) Refcounts.writeEntry(block, c % 2 ** this.blockBits, this.bits, 1);
    const offset = blockIndex * this.clusterSize;
    // The block is on disk before the table entry that points to it.
    await this.host.protocol.pwrite(block, offset);
    if (this.cache.ordered) await this.host.protocol.flush();
    this.table[t] = offset;
    this.blocks.add(offset);
    const entry = new Uint8Array(8);
    new DataView(entry.buffer).setBigUint64(0, BigInt(offset));
    await this.host.protocol.pwrite(entry, this.tableOffset + t * 8);
  }

  /** Moves the refcount table to a larger one holding at least `entries` entries. */
  private async growTable(entries: number, avoidUntil: number): Promise<void> {
    const perCluster = this.clusterSize / 8;
    let want = Math.max(entries, Math.ceil(this.table.length * 1.5), perCluster);
    for (;;) {
      const clusters = Math.ceil(want / perCluster);
      if (clusters * this.clusterSize > MAX_REFTABLE_BYTES) {
        throw new BlockError('Refcount table would exceed the maximum size: image too large for its cluster size', 'EFBIG');
      }
      // The new table goes at the end of the file (past anything being allocated), and
      // right after it a refcount block for each range it touches that has none yet. Ranges
      // with a block get their counts through the cache, flushed before the header moves.
      const per = 2 ** this.blockBits;
      const start = Math.max(await this.endCluster(), avoidUntil, this.highWater);
      const hasBlock = (t: number) => t < this.table.length && this.table[t] !== 0;
      let nBlocks = 0;
      let fresh: number[] = [];
      for (let i = 0; i < 64; i++) {
        fresh = [];
        for (let t = Math.floor(start / per); t <= Math.floor((start + clusters + nBlocks - 1) / per); t++) if (!hasBlock(t)) fresh.push(t);
        if (fresh.length === nBlocks) break;
        nBlocks = fresh.length;
      }
      if (fresh.length !== nBlocks) throw new BlockError('Cannot place the refcount table', 'EIO');
      const maxT = Math.max(entries - 1, Math.floor((start + clusters + nBlocks - 1) / per));
      if (maxT >= clusters * perCluster) { want = maxT + 1; continue; }
      const newTable = new Array<number>(clusters * perCluster).fill(0);
      for (let i = 0; i < this.table.length; i++) newTable[i] = this.table[i]!;
      fresh.forEach((t, i) => { newTable[t] = (start + clusters + i) * this.clusterSize; });
      // Blocks first, then the table, then the header (each step flushed).
      const newBlocks = new Map<number, Uint8Array>(fresh.map((t) => [t, new Uint8Array(this.clusterSize)]));
      for (let c = start; c < start + clusters + nBlocks; c++) {
        const t = Math.floor(c / per);
        const nb = newBlocks.get(t);
        if (nb) Refcounts.writeEntry(nb, c % per, this.bits, 1);
        else await this.set(c, 1);
      }
      for (const [t, block] of newBlocks) await this.host.protocol.pwrite(block, newTable[t]!);
      this.highWater = Math.max(this.highWater, start + clusters + nBlocks);
      const tbuf = new Uint8Array(clusters * this.clusterSize);
      const dv = new DataView(tbuf.buffer);
      newTable.forEach((v, i) => dv.setBigUint64(i * 8, BigInt(v)));
      await this.cache.flush();
      await this.host.protocol.pwrite(tbuf, start * this.clusterSize);
      await this.host.protocol.flush();
      const oldOffset = this.tableOffset;
      const oldClusters = this.tableClusters;
      await this.host.setRefcountTable(start * this.clusterSize, clusters);
      this.table = newTable;
      this.blocks = new Set(newTable.filter((b) => b));
      this.tableOffset = start * this.clusterSize;
      this.tableClusters = clusters;
      for (let i = 0; i < oldClusters; i++) await this.add(oldOffset / this.clusterSize + i, -1);
      return;
    }
  }

  /** One past the last cluster that has a refcount block covering it and a nonzero count, or the file end. */
  async endCluster(): Promise<number> {
    return Math.ceil((await this.host.protocol.size()) / this.clusterSize);
  }

  /** Allocates `n` contiguous clusters (refcount 1 each); returns the host offset. */
  async alloc(n: number): Promise<number> {
    for (;;) {
      let start = this.freeHint;
      let run = 0;
      let c = start;
      while (run < n) {
        const rc = await this.get(c);
        if (rc === 0) { if (run === 0) start = c; run++; }
        else run = 0;
        c++;
      }
      const hintWasStart = n === 1 || start === this.freeHint;
      let restart = false;
      for (let i = start; i < start + n; i++) {
        const made = await this.ensureBlock(i, start + n);
        if (made >= start && made < start + n) { restart = true; break; }
      }
      if (restart) continue;
      for (let i = start; i < start + n; i++) await this.set(i, 1);
      if (hintWasStart) this.freeHint = start + n;
      this.highWater = Math.max(this.highWater, start + n);
      return start * this.clusterSize;
    }
  }

  /** Drops one reference from each cluster of [offset, offset+bytes). */
  async free(offset: number, bytes: number): Promise<void> {
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.ceil((offset + bytes) / this.clusterSize);
    for (let c = first; c < last; c++) await this.add(c, -1);
  }

  /** Writes back dirty refcount blocks (the refcount table is written through). */
  flush(): Promise<void> {
    return this.cache.flush();
  }
}
