/**
 * A QED image (qemu docs/interop/qed_spec.txt): guest offsets map through an L1 table held
 * in memory and cached L2 tables to data clusters, zero clusters (entry 1) or the backing
 * image (entry 0).
 *
 * QED keeps no free-space map: clusters are allocated by growing the file, and a cluster no
 * table points to is leaked. So writes never drop a cluster (zeroing an allocated one writes
 * zeros in place, a discard changes nothing), and the order of writes is what keeps the
 * image consistent: new data before the L2 entry naming it (flushed first when it holds
 * copy-on-write data from the backing file, which a crash must not lose), a new L2 table
 * before the L1 entry naming it. Before the first allocation the header's need-check bit is
 * set; a clean flush or close clears it, and a read-write open of an image that still has it
 * runs the consistency check (check.ts), as qemu does.
 *
 * Concurrency: reads, and writes into clusters that are already allocated, change no table
 * and run side by side under the shared lock; everything that allocates or changes a table
 * runs alone (the lock's exclusive side), so requests from several queues never see a
 * half-updated table or allocate the same cluster.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { Mutex } from '../mutex.js';
import { appendExtent, unallocatedExtents } from '../extents.js';
import {
  BlockError, type BlockExtent, type BlockImage, type BlockProtocol, type CheckResult, type ImageInfo, type OpenOptions,
} from '../types.js';
import {
  clusterOffsetValid, F_BACKING_FILE, F_BACKING_FORMAT_NO_PROBE, F_NEED_CHECK, HEADER_BYTES, imageSizeValid, parseHeader,
  probeQed, QED_MAGIC, serializeHeader, tableEntries, tableOffsetValid, UNALLOCATED, validateLayout, ZERO_CLUSTER, type QedHeader,
} from './header.js';
import { getEntry, setEntry, TableCache } from './table-cache.js';

export type OpenBacking = (filename: string, opts: OpenOptions) => Promise<BlockImage>;

export enum Kind { Unallocated, Zero, Data }

/** A run of clusters inside one L2 table that read the same way. */
export interface Run {
  kind: Kind;
  /** Host offset of the run's first byte (Data), else 0. */
  host: number;
  length: number;
}

/** What `qemu-img check` found, and the repairs allowed (see check.ts). */
export type RepairMode = 'none' | 'open' | 'leaks' | 'all';

export class QedImage implements BlockImage {
  readonly format = 'qed';
  readonly clusterSize: number;
  /** Entries per table. */
  readonly entries: number;
  readonly tableBytes: number;
  readonly l1: Uint8Array;
  readonly tables: TableCache;
  readonly lock = new Mutex();
  backing?: BlockImage;
  /**
   * The end of the last whole cluster: where the next allocation goes. (qemu rounds the file
   * length down to whole clusters too; a partial cluster at the end is overwritten.)
   */
  fileSize: number;
  /** First clusters of the L2 tables the L1 table names, to keep data writes off them. */
  private readonly tableStarts = new Set<number>();
  private closed = false;

  private constructor(
    readonly protocol: BlockProtocol,
    readonly header: QedHeader,
    /** The backing file name as the header has it. */
    public backingFile: string | undefined,
    fileSize: number,
    private readonly opts: OpenOptions,
  ) {
    this.clusterSize = header.clusterSize;
    this.entries = tableEntries(header.clusterSize, header.tableSize);
    this.tableBytes = header.clusterSize * header.tableSize;
    this.fileSize = fileSize;
    this.l1 = new Uint8Array(this.tableBytes);
    // 32 MiB of L2 tables (qemu's QED keeps 50, whatever their size), at least two.
    this.tables = new TableCache(protocol, this.tableBytes, Math.max(2, Math.floor((32 << 20) / this.tableBytes)));
  }

  get size(): number {
    return this.header.imageSize;
  }

  get granularity(): number {
    return this.clusterSize;
  }

  get readOnly(): boolean {
    return this.protocol.readOnly;
  }

  static probe(head: Uint8Array): number {
    return probeQed(head);
  }

  static async open(protocol: BlockProtocol, opts: OpenOptions, openBacking?: OpenBacking): Promise<QedImage> {
    const head = new Uint8Array(HEADER_BYTES);
    await protocol.pread(head, 0);
    const header = parseHeader(head);
    const fileSize = Math.floor((await protocol.size()) / header.clusterSize) * header.clusterSize;
    validateLayout(header, fileSize);
    let backingFile: string | undefined;
    if (header.features & F_BACKING_FILE) {
      const name = new Uint8Array(header.backingFilenameSize);
      await protocol.pread(name, header.backingFilenameOffset);
      backingFile = new TextDecoder().decode(name);
    }
    const img = new QedImage(protocol, header, backingFile, fileSize, opts);
    await protocol.pread(img.l1, header.l1TableOffset);
    img.noteTables();
    const writable = !protocol.readOnly;
    try {
      if (backingFile && opts.backing !== false && openBacking) {
        img.backing = await openBacking(img.fullBackingFilename()!, {
          format: header.features & F_BACKING_FORMAT_NO_PROBE ? 'raw' : undefined, readOnly: true, cache: opts.cache, backing: true,
        });
      }
      if (writable && header.autoclearFeatures) {
        // No autoclear feature is defined: clear them all, as the spec asks of a program that does not know them.
        header.autoclearFeatures = 0n;
        await img.writeHeader();
        await protocol.flush();
      }
      // Left by a writer that did not close cleanly: check and repair before anything is written.
      // Read-only users may look at the image as it is (data recovery), and `check` looks itself.
      if (writable && header.features & F_NEED_CHECK && !opts.forCheck) {
        const { checkImage } = await import('./check.js');
        await checkImage(img, 'open');
      }
    } catch (e) {
      await img.backing?.close().catch(() => {});
      throw e;
    }
    return img;
  }

  fullBackingFilename(): string | undefined {
    const b = this.backingFile;
    if (!b) return undefined;
    if (isAbsolute(b) || /^[a-z+]+:/.test(b)) return b;
    return join(dirname(this.protocol.filename), b);
  }

  // ---- tables ------------------------------------------------------------------------

  l1Entry(index: number): number {
    return getEntry(this.l1, index);
  }

  /** Rebuilds the set of L2 table positions from the L1 table (valid entries only). */
  noteTables(): void {
    this.tableStarts.clear();
    for (let i = 0; i < this.entries; i++) {
      const t = this.l1Entry(i);
      if (t && tableOffsetValid(this.header, this.fileSize, t)) this.tableStarts.add(t / this.clusterSize);
    }
  }

  /** Points L1 entry `index` at `table` (0: none) and writes it. */
  async setL1Entry(index: number, table: number): Promise<void> {
    const old = this.l1Entry(index);
    if (old) this.tableStarts.delete(old / this.clusterSize);
    setEntry(this.l1, index, table);
    if (table) this.tableStarts.add(table / this.clusterSize);
    await this.tables.writeEntries(this.header.l1TableOffset, this.l1, index, 1);
  }

  /** The L2 table L1 entry `index` names, checked to lie inside the file; undefined when unallocated. */
  async l2Table(index: number): Promise<{ offset: number; table: Uint8Array } | undefined> {
    const offset = this.l1Entry(index);
    if (offset === UNALLOCATED) return undefined;
    if (!tableOffsetValid(this.header, this.fileSize, offset)) {
      throw new BlockError(`QED: Image is corrupt: L2 table offset 0x${offset.toString(16)} is invalid (unaligned or past the end of the file)`, 'EIO');
    }
    return { offset, table: await this.tables.get(offset) };
  }

  /** Reserves `n` clusters at the end of the file. */
  allocClusters(n: number): number {
    const at = this.fileSize;
    this.fileSize += n * this.clusterSize;
    return at;
  }

  async writeHeader(): Promise<void> {
    await this.protocol.pwrite(serializeHeader(this.header), 0);
  }

  /** Sets the need-check bit, durably, before the first change that could leave the image inconsistent. */
  async markNeedCheck(): Promise<void> {
    if (this.header.features & F_NEED_CHECK) return;
    this.header.features |= F_NEED_CHECK;
    await this.writeHeader();
    await this.protocol.flush();
  }

  /** Clears the need-check bit once everything before it is durable (the caller has flushed). */
  async clearNeedCheck(): Promise<void> {
    if (!(this.header.features & F_NEED_CHECK)) return;
    this.header.features &= ~F_NEED_CHECK;
    await this.writeHeader();
  }

  // ---- mapping -----------------------------------------------------------------------

  /** The longest run from `offset` (at most `max` bytes) inside one L2 table that reads one way. */
  async mapRun(offset: number, max: number): Promise<Run> {
    const cs = this.clusterSize;
    const inCluster = offset % cs;
    const cluster = Math.floor(offset / cs);
    const l2Index = cluster % this.entries;
    const limit = Math.min(max, (this.entries - l2Index) * cs - inCluster);
    const l2 = await this.l2Table(Math.floor(cluster / this.entries));
    if (!l2) return { kind: Kind.Unallocated, host: 0, length: limit };
    const first = getEntry(l2.table, l2Index);
    const kind = this.kindOf(first);
    let length = Math.min(limit, cs - inCluster);
    for (let i = l2Index + 1; length < limit; i++) {
      const e = getEntry(l2.table, i);
      if (kind === Kind.Data ? e !== first + (i - l2Index) * cs || !clusterOffsetValid(this.header, this.fileSize, e) : this.kindOf(e) !== kind) break;
      length = Math.min(limit, length + cs);
    }
    return { kind, host: kind === Kind.Data ? first + inCluster : 0, length };
  }

  private kindOf(entry: number): Kind {
    if (entry === UNALLOCATED) return Kind.Unallocated;
    if (entry === ZERO_CLUSTER) return Kind.Zero;
    if (!clusterOffsetValid(this.header, this.fileSize, entry)) {
      throw new BlockError(`QED: Image is corrupt: data cluster offset 0x${entry.toString(16)} is invalid (unaligned or past the end of the file)`, 'EIO');
    }
    return Kind.Data;
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new BlockError(`Request [${offset}, +${length}) is outside the image (size ${this.size})`, 'EINVAL');
    }
  }

  private writable(): void {
    if (this.readOnly) throw new BlockError(`Image '${this.protocol.filename}' is read-only`, 'EROFS');
    if (this.closed) throw new BlockError(`Image '${this.protocol.filename}' is closed`, 'EBADF');
  }

  /** Guest data may change only with the backing file open: copy-on-write reads from it. */
  private dataWritable(): void {
    this.writable();
    if (this.backingFile && !this.backing) {
      throw new BlockError(`Cannot write to '${this.protocol.filename}': its backing file is not open`, 'EINVAL');
    }
  }

  /** QEMU's overlap check: a guest data write must never land on the header or a table. */
  private checkOverlap(host: number, length: number): void {
    const cs = this.clusterSize;
    const h = this.header;
    const hit = (what: string) => new BlockError(`QED: Preventing invalid write on metadata (overlaps with ${what}); image is corrupt`, 'EIO');
    if (host < h.headerSize * cs) throw hit('the header');
    if (host < h.l1TableOffset + this.tableBytes && h.l1TableOffset < host + length) throw hit('the L1 table');
    for (let c = Math.floor(host / cs); c < Math.ceil((host + length) / cs); c++) {
      for (let j = 0; j < h.tableSize; j++) if (this.tableStarts.has(c - j)) throw hit('an L2 table');
    }
  }

  // ---- read --------------------------------------------------------------------------

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.checkRange(offset, buf.length);
    await this.lock.read(() => this.readLocked(buf, offset));
  }

  private async readLocked(buf: Uint8Array, offset: number): Promise<void> {
    for (let done = 0; done < buf.length;) {
      const run = await this.mapRun(offset + done, buf.length - done);
      const part = buf.subarray(done, done + run.length);
      if (run.kind === Kind.Data) await this.protocol.pread(part, run.host);
      else if (run.kind === Kind.Zero) part.fill(0);
      else await this.readBacking(part, offset + done);
      done += run.length;
    }
  }

  /** What an unallocated range reads: the backing image, zeros past its end or without one. */
  private async readBacking(part: Uint8Array, offset: number): Promise<void> {
    const b = this.backing;
    const n = b ? Math.max(0, Math.min(part.length, b.size - offset)) : 0;
    if (n) await b!.read(n === part.length ? part : part.subarray(0, n), offset);
    if (n < part.length) part.fill(0, n);
  }

  // ---- write -------------------------------------------------------------------------

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.dataWritable();
    this.checkRange(offset, buf.length);
    // Fast path: over allocated clusters a write changes no table, so it may run beside
    // reads and other such writes (the guest orders overlapping requests itself).
    if (!this.writeThrough && (await this.lock.read(() => this.writeInPlace(buf, offset)))) return;
    await this.lock.run(async () => {
      await this.writeLocked(buf, offset);
      if (this.writeThrough) await this.protocol.flush();
    });
  }

  /** cache=writethrough|directsync: a completed write is durable, tables included. */
  private get writeThrough(): boolean {
    return this.opts.cache === 'writethrough' || this.opts.cache === 'directsync';
  }

  /** Writes `buf` if every cluster it touches is allocated; false (nothing written) otherwise. */
  private async writeInPlace(buf: Uint8Array, offset: number): Promise<boolean> {
    const runs: Run[] = [];
    for (let done = 0; done < buf.length;) {
      const run = await this.mapRun(offset + done, buf.length - done);
      if (run.kind !== Kind.Data) return false;
      this.checkOverlap(run.host, run.length);
      runs.push(run);
      done += run.length;
    }
    let done = 0;
    for (const run of runs) {
      await this.protocol.pwrite(buf.subarray(done, done + run.length), run.host);
      done += run.length;
    }
    return true;
  }

  private async writeLocked(buf: Uint8Array, offset: number): Promise<void> {
    for (let done = 0; done < buf.length;) {
      const run = await this.mapRun(offset + done, buf.length - done);
      const part = buf.subarray(done, done + run.length);
      if (run.kind === Kind.Data) {
        this.checkOverlap(run.host, run.length);
        await this.protocol.pwrite(part, run.host);
      } else {
        await this.allocWrite(part, offset + done, run.kind);
      }
      done += run.length;
    }
  }

  /**
   * Writes `data` at guest `offset` into new clusters at the end of the file (one L2 table's
   * worth at most), filling the partial first and last clusters from what they read now
   * (`kind`: zeros, or the backing image), then points the L2 entries at them.
   */
  private async allocWrite(data: Uint8Array, offset: number, kind: Kind): Promise<void> {
    const cs = this.clusterSize;
    const start = Math.floor(offset / cs) * cs;
    const end = Math.ceil((offset + data.length) / cs) * cs;
    const n = (end - start) / cs;
    await this.markNeedCheck();
    let whole = data;
    let fromBacking = false;
    if (start !== offset || end !== offset + data.length) {
      whole = new Uint8Array(end - start);
      whole.set(data, offset - start);
      if (kind === Kind.Unallocated) {
        const tail = offset + data.length;
        if (offset > start) await this.readBacking(whole.subarray(0, offset - start), start);
        if (tail < end) await this.readBacking(whole.subarray(tail - start), tail);
        fromBacking = this.backing !== undefined && start < this.backing.size;
      }
    }
    const host = this.allocClusters(n);
    await this.protocol.pwrite(whole, host);
    // Backing data copied into the new clusters is not the guest's unflushed write: a crash
    // must not leave the L2 entry pointing at clusters that lost it.
    if (fromBacking) await this.protocol.flush();
    await this.setEntries(start, n, (i) => host + i * cs);
  }

  /**
   * Sets the L2 entries of `n` clusters from guest offset `start` (inside one L2 table) to
   * `value(i)`, allocating the table first when there is none.
   */
  async setEntries(start: number, n: number, value: (i: number) => number): Promise<void> {
    const cluster = Math.floor(start / this.clusterSize);
    const l1Index = Math.floor(cluster / this.entries);
    const first = cluster % this.entries;
    const l2 = await this.l2Table(l1Index);
    if (l2) {
      for (let i = 0; i < n; i++) setEntry(l2.table, first + i, value(i));
      await this.tables.writeEntries(l2.offset, l2.table, first, n);
      return;
    }
    await this.markNeedCheck();
    const table = new Uint8Array(this.tableBytes);
    for (let i = 0; i < n; i++) setEntry(table, first + i, value(i));
    const at = this.allocClusters(this.header.tableSize);
    // A table that did not reach the disk before its L1 entry reads as zeros (all
    // unallocated) or lies past the end of the file, which the check on open clears.
    await this.protocol.pwrite(table, at);
    this.tables.install(at, table);
    await this.setL1Entry(l1Index, at);
  }

  // ---- zeroes, discard ---------------------------------------------------------------

  /**
   * Allocated clusters get zeros written in place (dropping them would leak them); other
   * whole clusters become zero clusters. A partial cluster that does not read as zeros
   * already is written (copy-on-write) like any other write.
   */
  async writeZeroes(offset: number, length: number, _unmap: boolean): Promise<void> {
    this.dataWritable();
    this.checkRange(offset, length);
    await this.lock.run(async () => {
      const cs = this.clusterSize;
      for (let done = 0; done < length;) {
        const pos = offset + done;
        const run = await this.mapRun(pos, length - done);
        if (run.kind === Kind.Data) {
          await this.writeZeroBytes(run.host, run.length);
        } else if (run.kind === Kind.Unallocated) {
          // Partial clusters need zeros written only where the backing file shows through.
          const end = pos + run.length;
          const a = Math.min(end, Math.ceil(pos / cs) * cs);
          const e = Math.max(a, Math.floor(end / cs) * cs);
          const partial = async (from: number, to: number) => {
            if (to > from && this.backing && from < this.backing.size) await this.allocWrite(new Uint8Array(to - from), from, run.kind);
          };
          await partial(pos, a);
          if (e > a) await this.setEntries(a, (e - a) / cs, () => ZERO_CLUSTER);
          await partial(e, end);
        }
        done += run.length;
      }
      if (this.writeThrough) await this.protocol.flush();
    });
  }

  private async writeZeroBytes(host: number, length: number): Promise<void> {
    this.checkOverlap(host, length);
    const chunk = new Uint8Array(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += chunk.length) {
      const n = Math.min(chunk.length, length - done);
      await this.protocol.pwrite(n === chunk.length ? chunk : chunk.subarray(0, n), host + done);
    }
  }

  /** A no-op, as in qemu: QED cannot give a cluster back, so unmapping one would only leak it. */
  async discard(offset: number, length: number): Promise<void> {
    this.dataWritable();
    this.checkRange(offset, length);
  }

  // ---- status, flush, info -----------------------------------------------------------

  async blockStatus(offset: number, length: number): Promise<BlockExtent[]> {
    this.checkRange(offset, length);
    return this.lock.read(async () => {
      const out: BlockExtent[] = [];
      for (let done = 0; done < length;) {
        const at = offset + done;
        const run = await this.mapRun(at, length - done);
        if (run.kind === Kind.Unallocated) {
          for (const e of await unallocatedExtents(this.backing, at, run.length)) appendExtent(out, e);
        } else if (run.kind === Kind.Zero) {
          appendExtent(out, { offset: at, length: run.length, data: false, present: true, zero: true, depth: 0 });
        } else {
          appendExtent(out, { offset: at, length: run.length, data: true, present: true, zero: false, depth: 0, hostOffset: run.host });
        }
        done += run.length;
      }
      return out;
    });
  }

  /** Makes everything durable; then the image is consistent on disk, and the need-check bit goes. */
  async flush(): Promise<void> {
    if (this.readOnly || this.closed) return;
    await this.lock.run(async () => {
      await this.protocol.flush();
      // Not flushed again: should this header write be lost, the next open only checks.
      await this.clearNeedCheck();
    });
  }

  /** Grows the image (qemu's QED cannot shrink: no cluster can be given back). */
  async resize(size: number): Promise<void> {
    this.writable();
    await this.lock.run(async () => {
      if (!imageSizeValid(size, this.clusterSize, this.header.tableSize)) throw new BlockError('Invalid image size specified', 'EINVAL');
      if (size < this.size) throw new BlockError('Shrinking images is currently not supported', 'ENOTSUP');
      this.header.imageSize = size;
      await this.writeHeader();
      await this.protocol.flush();
    });
  }

  async getInfo(): Promise<ImageInfo> {
    // As qemu-img: no format-specific data, and the need-check bit is not the dirty flag.
    return {
      filename: this.protocol.filename,
      format: 'qed',
      virtualSize: this.size,
      actualSize: await this.protocol.allocatedSize?.(),
      clusterSize: this.clusterSize,
      dirty: false,
      backingFilename: this.backingFile,
      fullBackingFilename: this.fullBackingFilename(),
      backingFilenameFormat: this.header.features & F_BACKING_FORMAT_NO_PROBE && this.backingFile ? 'raw' : undefined,
      snapshots: [],
    };
  }

  async check(repair?: 'leaks' | 'all'): Promise<CheckResult> {
    if (repair) this.writable();
    const { checkImage } = await import('./check.js');
    return this.lock.run(() => checkImage(this, repair ?? 'none'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.lock.run(async () => {
      if (!this.readOnly) {
        await this.protocol.flush();
        if (this.header.features & F_NEED_CHECK) {
          await this.clearNeedCheck();
          await this.protocol.flush();
        }
      }
      this.closed = true;
    });
    await this.backing?.close();
    await this.protocol.close();
  }

  // ---- tsemu-img rebase and commit ---------------------------------------------------

  /** Points the header at another backing file (undefined: none), as `qemu-img rebase -u`. */
  async changeBackingFile(filename: string | undefined, format: string | undefined): Promise<void> {
    this.writable();
    await this.lock.run(async () => {
      const name = new TextEncoder().encode(filename ?? '');
      if (HEADER_BYTES + name.length > this.header.headerSize * this.clusterSize) {
        throw new BlockError('Backing file name too long for the QED header', 'ENOSPC');
      }
      const h = this.header;
      h.features &= ~(F_BACKING_FILE | F_BACKING_FORMAT_NO_PROBE);
      if (filename) h.features |= F_BACKING_FILE;
      if (filename && format === 'raw') h.features |= F_BACKING_FORMAT_NO_PROBE;
      h.backingFilenameOffset = HEADER_BYTES;
      h.backingFilenameSize = name.length;
      await this.protocol.flush();
      const buf = new Uint8Array(HEADER_BYTES + name.length);
      buf.set(serializeHeader(h));
      buf.set(name, HEADER_BYTES);
      await this.protocol.pwrite(buf, 0);
      await this.protocol.flush();
      this.backingFile = filename || undefined;
    });
  }

  /** Drops every cluster, so all reads go to the backing file (after `qemu-img commit`). */
  async makeEmpty(): Promise<void> {
    this.writable();
    await this.lock.run(async () => {
      await this.markNeedCheck();
      this.l1.fill(0);
      this.tableStarts.clear();
      await this.protocol.pwrite(this.l1, this.header.l1TableOffset);
      await this.protocol.flush();
      this.tables.clear();
      const end = Math.max(this.header.headerSize * this.clusterSize, this.header.l1TableOffset + this.tableBytes);
      await this.protocol.truncate(end);
      this.fileSize = end;
      await this.protocol.flush();
      await this.clearNeedCheck();
      await this.protocol.flush();
    });
  }
}
