/**
 * A qcow2 image (versions 2 and 3): guest offsets map through an in-memory L1 table and
 * cached L2 tables to host clusters, zero clusters, compressed clusters or the backing image.
 *
 * Writes allocate clusters (copying the rest of a partial cluster from where it reads
 * now: backing, compressed, shared), and metadata is ordered for crash safety (see
 * metadata-cache.ts): refcounts before the L2 entries that use them, a new L2 table
 * before the L1 entry that points to it, an L2 entry that drops a cluster before the
 * refcount that frees it. With lazy_refcounts the dirty bit is set instead and refcounts
 * are rebuilt on the next open. Every operation runs under one lock, so requests from
 * several queues never see half-updated tables.
 */
import { dirname, isAbsolute, join } from 'node:path';
import {
  BlockError, type BlockExtent, type BlockImage, type BlockProtocol, type CheckResult, type HostRun, type ImageInfo, type OpenOptions,
  type SnapshotInfo,
} from '../types.js';
import {
  AUTOCLEAR_BITMAPS, COMPAT_LAZY_REFCOUNTS, EXT_BITMAPS, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, parseHeader, probeQcow2, serializeHeader,
  type Qcow2Header,
} from './header.js';
import { MetadataCache } from './metadata-cache.js';
import { Refcounts } from './refcount.js';
import { decodeL2, isZero, Kind, l1Offset, writeCompressed, writeStandard, COPIED_HI, type L2Entry } from './entries.js';
import { compressCluster, decompressCluster } from './compress.js';
import { parseSnapshotTable, type SnapshotEntry } from './snapshot-table.js';
import { Mutex } from '../mutex.js';
import { BitmapTracker, listBitmaps } from './bitmaps.js';
import { zeroRange } from './zero.js';
import { blockStatus } from './status.js';
import { appendHostRun, unallocatedHostRuns } from '../extents.js';

export type OpenBacking = (filename: string, opts: OpenOptions) => Promise<BlockImage>;

/** An allocating write's new clusters, between its steps (see allocPrepare). */
interface Allocation {
  l1Index: number;
  /** Guest offset of the first cluster. */
  start: number;
  hosts: number[];
  /** The clusters' whole bytes. */
  whole: Uint8Array;
}

/** One run of clusters inside one L2 table that read the same way. */
interface Run {
  kind: Kind;
  /** Host offset of the first byte (Normal), else 0. */
  host: number;
  length: number;
  /** Normal and COPIED: writable in place. */
  copied: boolean;
  entry: L2Entry;
}

export class Qcow2Image implements BlockImage {
  readonly format = 'qcow2';
  readonly clusterSize: number;
  readonly clusterBits: number;
  /** log2 of entries per L2 table. */
  readonly l2Bits: number;
  l1: Uint8Array = new Uint8Array(0);
  readonly l2cache: MetadataCache;
  readonly refcounts: Refcounts;
  snapshotList: SnapshotEntry[] = [];
  backing?: BlockImage;
  readonly lock = new Mutex();
  private lazy: boolean;
  private markedDirty = false;
  private autoclearDone = false;
  private lastCompressed: { at: number; data: Uint8Array } | undefined;
  private closed = false;
  /** A snapshot's read-only view sharing this image's protocol. */
  private viewOnly = false;

  private constructor(
    readonly protocol: BlockProtocol,
    public header: Qcow2Header,
    private readonly opts: OpenOptions,
  ) {
    this.clusterBits = header.clusterBits;
    this.clusterSize = 2 ** header.clusterBits;
    this.l2Bits = header.clusterBits - 3;
    // 32 MiB of L2 tables and 4 MiB of refcount blocks by default; QEMU's l2-cache-size and
    // refcount-cache-size options (bytes) override, down to two tables each.
    const tables = (option: string, fallback: number, floor: number) => {
      const v = opts.options?.[option];
      return v !== undefined && Number(v) >= 0 ? Math.max(2, Math.floor(Number(v) / this.clusterSize)) : Math.max(floor, Math.floor(fallback / this.clusterSize));
    };
    this.l2cache = new MetadataCache(protocol, this.clusterSize, tables('l2-cache-size', 32 << 20, 16));
    this.refcounts = new Refcounts(this, header.refcountOrder, tables('refcount-cache-size', 4 << 20, 8));
    const lazyOpt = opts.options?.['lazy-refcounts'];
    this.lazy = lazyOpt === undefined ? (header.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n : lazyOpt === 'on';
    const unsafe = opts.cache === 'unsafe';
    this.l2cache.ordered = this.refcounts.cache.ordered = !this.lazy && !unsafe;
  }

  /** As qemu: the virtual size is whole 512-byte sectors (a header size in between rounds down). */
  get size(): number {
    return Math.floor(this.header.size / 512) * 512;
  }

  get granularity(): number {
    return this.clusterSize;
  }

  get readOnly(): boolean {
    return this.viewOnly || this.protocol.readOnly;
  }

  static probe(head: Uint8Array): number {
    return probeQcow2(head);
  }

  static async open(protocol: BlockProtocol, opts: OpenOptions, openBacking?: OpenBacking): Promise<Qcow2Image> {
    const fileSize = await protocol.size();
    const head = new Uint8Array(512);
    await protocol.pread(head, 0);
    const dv = new DataView(head.buffer);
    if (dv.getUint32(0) !== 0x514649fb) throw new BlockError('Image is not in qcow2 format', 'EINVAL');
    const bits = dv.getUint32(20);
    if (bits < 9 || bits > 21) throw new BlockError(`Unsupported cluster size: 2^${bits}`, 'EINVAL');
    const first = new Uint8Array(2 ** bits);
    await protocol.pread(first, 0);
    const header = parseHeader(first, fileSize);
    if (!protocol.readOnly && header.incompatible & INCOMPAT_CORRUPT) {
      throw new BlockError('qcow2: Image is corrupt; cannot be opened read/write', 'EACCES');
    }
    const img = new Qcow2Image(protocol, header, opts);
    await img.loadTables(fileSize);
    if (header.backingFile && opts.backing !== false && openBacking) {
      img.backing = await openBacking(img.fullBackingFilename()!, {
        format: header.backingFormat, readOnly: true, cache: opts.cache, backing: true,
      });
    }
    if (!protocol.readOnly && header.incompatible & INCOMPAT_DIRTY) {
      // Refcounts may be stale after a crash with lazy_refcounts: rebuild them.
      const { repairRefcounts } = await import('./check.js');
      await repairRefcounts(img);
      header.incompatible &= ~INCOMPAT_DIRTY;
      await img.writeHeader();
      await protocol.flush();
    }
    return img;
  }

  private async loadTables(fileSize: number): Promise<void> {
    const h = this.header;
    const cs = this.clusterSize;
    if (h.l1TableOffset + h.l1Size * 8 > fileSize + cs) {
      throw new BlockError('Active L1 table offset invalid: it points past the end of the file', 'EINVAL');
    }
    this.l1 = new Uint8Array(h.l1Size * 8);
    if (h.l1Size) await this.protocol.pread(this.l1, h.l1TableOffset);
    if (h.refcountTableOffset + h.refcountTableClusters * cs > fileSize + cs) {
      throw new BlockError('Reference count table offset invalid: it points past the end of the file', 'EINVAL');
    }
    await this.refcounts.load(h.refcountTableOffset, h.refcountTableClusters);
    this.fileSize = fileSize;
    // Read-only users (info, check, convert) may look at a damaged image; writers may not.
    if (!this.protocol.readOnly) this.validateMetadata(fileSize);
    if (h.nbSnapshots) {
      const maxBytes = 64 * 1024 * 1024;
      const bytes = Math.min(maxBytes, fileSize - h.snapshotsOffset);
      if (bytes <= 0) throw new BlockError('Snapshot table offset invalid: it points past the end of the file', 'EINVAL');
      const buf = new Uint8Array(bytes);
      await this.protocol.pread(buf, h.snapshotsOffset);
      this.snapshotList = parseSnapshotTable(buf, h.nbSnapshots, cs);
    }
  }

  /** Host file size as last seen (refreshed when a read goes past it). */
  private fileSize = 0;

  /**
   * Refuses tables that point outside the file or into other metadata: reading through them
   * would return garbage, and allocating through them would overwrite live data.
   */
  private validateMetadata(fileSize: number): void {
    const cs = this.clusterSize;
    const h = this.header;
    const fixed: Array<[number, number, string]> = [
      [0, cs, 'qcow2 header'],
      [h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table'],
    ];
    if (h.l1Size) fixed.push([h.l1TableOffset, h.l1Size * 8, 'active L1 table']);
    const overlaps = (o: number, what: string) => {
      for (const [a, n, name] of fixed) {
        if (o < a + n && a < o + cs && name !== what) return name;
      }
      return undefined;
    };
    const seen = new Set<number>();
    this.refcounts.table.forEach((b, i) => {
      if (!b) return;
      if (b >= fileSize) {
        throw new BlockError(`Image is corrupt: refcount block ${i} at offset 0x${b.toString(16)} is past the end of the file`, 'EIO');
      }
      const hit = overlaps(b, 'refcount block');
      if (hit) throw new BlockError(`Image is corrupt: refcount block ${i} at offset 0x${b.toString(16)} overlaps the ${hit}`, 'EIO');
      if (seen.has(b)) throw new BlockError(`Image is corrupt: refcount block ${i} at offset 0x${b.toString(16)} is listed twice (refcount loop)`, 'EIO');
      seen.add(b);
    });
  }

  /** QEMU's overlap check: a guest data write must never land on the image's own tables. */
  private checkOverlap(host: number, length: number): void {
    const h = this.header;
    const cs = this.clusterSize;
    const ranges: Array<[number, number, string]> = [
      [0, cs, 'qcow2 header'],
      [h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table'],
      [h.l1TableOffset, h.l1Size * 8, 'active L1 table'],
    ];
    for (const [a, n, name] of ranges) {
      if (n && host < a + n && a < host + length) {
        throw new BlockError(`qcow2: Preventing invalid write on metadata (overlaps with ${name}); image is corrupt`, 'EIO');
      }
    }
    for (let c = Math.floor(host / cs) * cs; c < host + length; c += cs) {
      if (this.refcounts.isBlock(c)) {
        throw new BlockError('qcow2: Preventing invalid write on metadata (overlaps with refcount block); image is corrupt', 'EIO');
      }
    }
  }

  /** Fails clearly when metadata sends a read past the end of the file. */
  private async checkInFile(host: number, what: string): Promise<void> {
    if (host < this.fileSize) return;
    this.fileSize = await this.protocol.size();
    if (host >= this.fileSize) {
      throw new BlockError(`qcow2: Image is corrupt: ${what} offset 0x${host.toString(16)} is past the end of the file`, 'EIO');
    }
  }

  fullBackingFilename(): string | undefined {
    const b = this.header.backingFile;
    if (!b) return undefined;
    if (isAbsolute(b) || /^[a-z+]+:/.test(b)) return b;
    return join(dirname(this.protocol.filename), b);
  }

  // ---- RefcountHost --------------------------------------------------------------------

  async setRefcountTable(offset: number, clusters: number): Promise<void> {
    this.header.refcountTableOffset = offset;
    this.header.refcountTableClusters = clusters;
    await this.writeHeader();
    await this.protocol.flush();
  }

  async writeHeader(): Promise<void> {
    const buf = serializeHeader(this.header, this.clusterSize);
    // Write what the header, its extensions and the backing name use, in whole sectors
    // (the rest of cluster 0 is ours too, and a 2 MiB write per header update is waste).
    let used = buf.length;
    while (used > 512 && isZero(buf.subarray(used - 512, used))) used -= 512;
    await this.protocol.pwrite(buf.subarray(0, used), 0);
  }

  // ---- mapping -------------------------------------------------------------------------

  l1Entry(index: number): { offset: number; copied: boolean } {
    if (index >= this.header.l1Size) return { offset: 0, copied: false };
    const dv = new DataView(this.l1.buffer, this.l1.byteOffset);
    const hi = dv.getUint32(index * 8);
    const lo = dv.getUint32(index * 8 + 4);
    return { offset: l1Offset(hi, lo), copied: (hi & COPIED_HI) !== 0 };
  }

  /** The longest run from `offset` (at most `max` bytes) inside one L2 table that reads one way. */
  async mapRun(offset: number, max: number): Promise<Run> {
    const cs = this.clusterSize;
    const inCluster = offset % cs;
    const cluster = Math.floor(offset / cs);
    const l2Index = cluster % 2 ** this.l2Bits;
    const l1Index = Math.floor(cluster / 2 ** this.l2Bits);
    const tableLeft = (2 ** this.l2Bits - l2Index) * cs - inCluster;
    const limit = Math.min(max, tableLeft);
    const { offset: l2Offset } = this.l1Entry(l1Index);
    const none: L2Entry = { kind: Kind.Unallocated, offset: 0, copied: false, compressedOffset: 0, compressedBytes: 0 };
    if (!l2Offset) return { kind: Kind.Unallocated, host: 0, length: limit, copied: false, entry: none };
    this.checkMetadataOffset(l2Offset, 'L2 table');
    await this.checkInFile(l2Offset, 'L2 table');
    const table = await this.l2cache.get(l2Offset);
    const dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const first = decodeL2(dv.getUint32(l2Index * 8), dv.getUint32(l2Index * 8 + 4), this.clusterBits);
    let length = Math.min(limit, cs - inCluster);
    if (first.kind !== Kind.Compressed) {
      let i = l2Index + 1;
      while (length < limit) {
        const e = decodeL2(dv.getUint32(i * 8), dv.getUint32(i * 8 + 4), this.clusterBits);
        if (e.kind !== first.kind || e.copied !== first.copied) break;
        if ((first.kind === Kind.Normal || first.offset) && e.offset !== first.offset + (i - l2Index) * cs) break;
        if (first.kind === Kind.Zero && !first.offset && e.offset) break;
        length = Math.min(limit, length + cs);
        i++;
      }
    }
    const host = first.kind === Kind.Normal ? first.offset + inCluster : 0;
    return { kind: first.kind, host, length, copied: first.kind === Kind.Normal && first.copied, entry: first };
  }

  private checkMetadataOffset(offset: number, what: string): void {
    if (offset % this.clusterSize) {
      throw new BlockError(`qcow2: Marking image as corrupt: ${what} offset ${offset.toString(16)} unaligned`, 'EIO');
    }
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
    if (this.header.backingFile && !this.backing) {
      throw new BlockError(`Cannot write to '${this.protocol.filename}': its backing file is not open`, 'EINVAL');
    }
  }

  // ---- read ----------------------------------------------------------------------------

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.checkRange(offset, buf.length);
    await this.lock.read(() => this.readLocked(buf, offset));
  }

  async readLocked(buf: Uint8Array, offset: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const run = await this.mapRun(offset + done, buf.length - done);
      const part = buf.subarray(done, done + run.length);
      await this.readRun(run, part, offset + done);
      done += run.length;
    }
  }

  private async readRun(run: Run, part: Uint8Array, offset: number): Promise<void> {
    switch (run.kind) {
      case Kind.Normal:
        await this.checkDataRun(run, part.length);
        await this.protocol.pread(part, run.host);
        return;
      case Kind.Zero:
        part.fill(0);
        return;
      case Kind.Compressed: {
        const data = await this.compressedCluster(run.entry);
        const at = offset % this.clusterSize;
        part.set(data.subarray(at, at + part.length));
        return;
      }
      default:
        await this.readBacking(part, offset);
    }
  }

  /** A data cluster run's first `length` bytes are where they may be read. */
  private async checkDataRun(run: Run, length: number): Promise<void> {
    if (run.entry.offset % this.clusterSize) {
      throw new BlockError(`qcow2: Image is corrupt: data cluster offset 0x${run.entry.offset.toString(16)} unaligned`, 'EIO');
    }
    await this.checkInFile(run.host + length - 1, 'data cluster');
  }

  async hostMap(offset: number, length: number): Promise<HostRun[] | null> {
    this.checkRange(offset, length);
    const fd = this.protocol.fd;
    if (fd === undefined) return null;
    return this.lock.read(async () => {
      const out: HostRun[] = [];
      for (let done = 0; done < length;) {
        const run = await this.mapRun(offset + done, length - done);
        if (run.kind === Kind.Compressed) return null;
        if (run.kind === Kind.Normal) {
          await this.checkDataRun(run, run.length);
          appendHostRun(out, { length: run.length, fd, hostOffset: run.host });
        } else if (run.kind === Kind.Zero) {
          appendHostRun(out, { length: run.length, fd: -1, hostOffset: 0 });
        } else {
          const parts = await unallocatedHostRuns(this.backing, offset + done, run.length);
          if (!parts) return null;
          for (const p of parts) appendHostRun(out, p);
        }
        done += run.length;
      }
      return out;
    });
  }

  private async readBacking(part: Uint8Array, offset: number): Promise<void> {
    const b = this.backing;
    if (!b || offset >= b.size) {
      part.fill(0);
      return;
    }
    const n = Math.min(part.length, b.size - offset);
    await b.read(n === part.length ? part : part.subarray(0, n), offset);
    if (n < part.length) part.fill(0, n);
  }

  private async compressedCluster(e: L2Entry): Promise<Uint8Array> {
    if (this.lastCompressed?.at === e.compressedOffset) return this.lastCompressed.data;
    const fileSize = await this.protocol.size();
    if (e.compressedOffset >= fileSize) {
      throw new BlockError(`Compressed cluster at ${e.compressedOffset} points past the end of the file`, 'EIO');
    }
    const raw = new Uint8Array(Math.min(e.compressedBytes, fileSize - e.compressedOffset));
    await this.protocol.pread(raw, e.compressedOffset);
    const data = decompressCluster(raw, this.clusterSize, this.header.compressionType);
    this.lastCompressed = { at: e.compressedOffset, data };
    return data;
  }

  // ---- write ---------------------------------------------------------------------------

  /** beforeWrite has run: the header, bitmaps and dirty bit are ready for plain data writes. */
  private writeReady = false;

  /** Enabled persistent bitmaps we keep up to date (undefined when there are none we can). */
  bitmaps?: BitmapTracker;

  /** Everything the first change to an image needs (autoclear bits, bitmaps in_use, the lazy dirty bit). */
  async beforeWrite(): Promise<void> {
    if (this.header.autoclear && !this.autoclearDone) {
      const ext = this.header.extensions.find((e) => e.type === EXT_BITMAPS);
      if (ext && this.header.autoclear & AUTOCLEAR_BITMAPS) this.bitmaps = await BitmapTracker.open(this, ext.data);
      // Autoclear features we do not keep up to date are cleared, as the spec asks; the
      // bitmaps bit stays when the tracker keeps every bitmap consistent.
      const keep = this.bitmaps ? AUTOCLEAR_BITMAPS : 0n;
      if (this.header.autoclear & ~keep) {
        this.header.autoclear &= keep;
        await this.writeHeader();
      }
    }
    this.autoclearDone = true;
    await this.bitmaps?.start();
    if (this.lazy && !this.markedDirty && this.header.version >= 3) {
      this.header.incompatible |= INCOMPAT_DIRTY;
      await this.writeHeader();
      await this.protocol.flush();
      this.markedDirty = true;
    }
    this.writeReady = true;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.dataWritable();
    this.checkRange(offset, buf.length);
    // Fast path: data over clusters this image owns alone changes no metadata, so it may run
    // beside reads and other such writes (the guest orders overlapping requests itself).
    if (this.writeReady && !this.writeThrough && (await this.lock.read(() => this.writeInPlace(buf, offset)))) return;
    if (this.writeThrough) {
      await this.lock.run(async () => {
        await this.writeLocked(buf, offset);
        await this.flushLocked();
      });
      return;
    }
    // Allocating: clusters are allocated under the lock, the data goes out without it (beside
    // other requests), and the L2 entries are set under it again, as QEMU's qcow2 does.
    for (;;) {
      await this.settle(offset, buf.length);
      const started = await this.lock.run(async () => {
        if (this.draining || this.inflightOver(offset, buf.length)) return undefined; // look again
        const allocs = await this.writeStart(buf, offset);
        return { allocs, untrack: this.track(allocs) };
      });
      if (!started) continue;
      const { allocs, untrack } = started;
      try {
        if (allocs.length) {
          const failed = await this.allocsData(allocs);
          await this.lock.run(() => this.allocsLink(allocs, failed));
        }
      } finally {
        untrack();
      }
      return;
    }
  }

  /** cache=writethrough|directsync: a completed write is durable, metadata included. */
  private get writeThrough(): boolean {
    return this.opts.cache === 'writethrough' || this.opts.cache === 'directsync';
  }

  /** Writes `buf` if every cluster it touches is allocated and COPIED; false (nothing written) otherwise. */
  private async writeInPlace(buf: Uint8Array, offset: number): Promise<boolean> {
    const runs: Run[] = [];
    for (let done = 0; done < buf.length;) {
      const run = await this.mapRun(offset + done, buf.length - done);
      if (!run.copied) return false;
      this.checkOverlap(run.host, run.length);
      runs.push(run);
      done += run.length;
    }
    this.bitmaps?.mark(offset, buf.length);
    let done = 0;
    for (const run of runs) {
      await this.protocol.pwrite(buf.subarray(done, done + run.length), run.host);
      done += run.length;
    }
    return true;
  }

  /** A write with the lock held throughout (cache=writethrough, zero.ts): its allocations' data, then their L2 entries. */
  async writeLocked(buf: Uint8Array, offset: number): Promise<void> {
    const allocs = await this.writeStart(buf, offset);
    await this.allocsLink(allocs, await this.allocsData(allocs));
  }

  /**
   * The first step of an allocating write, under the lock: the L2 table made writable, new
   * host clusters counted in, the whole clusters' bytes (partial ones completed from what
   * they read now). Nothing points at the new clusters yet.
   */
  private async allocPrepare(data: Uint8Array, offset: number): Promise<Allocation> {
    const cs = this.clusterSize;
    const start = Math.floor(offset / cs) * cs;
    const end = Math.ceil((offset + data.length) / cs) * cs;
    const n = (end - start) / cs;
    const head = offset - start;
    const l1Index = Math.floor(start / cs / 2 ** this.l2Bits);
    await this.l2ForWrite(l1Index);
    // Cluster by cluster: new refcount blocks sit between data clusters, so a run of
    // contiguous free clusters is not required (contiguous ones are written together).
    const hosts: number[] = [];
    try {
      for (let i = 0; i < n; i++) hosts.push(await this.refcounts.alloc(1));
      let whole: Uint8Array;
      if (head === 0 && data.length === end - start) {
        whole = data;
      } else {
        whole = new Uint8Array(end - start);
        if (head) await this.readLocked(whole.subarray(0, cs), start);
        if ((offset + data.length) % cs && (n > 1 || !head)) await this.readLocked(whole.subarray(whole.length - cs), end - cs);
        whole.set(data, head);
      }
      for (const h of hosts) this.checkOverlap(h, cs);
      return { l1Index, start, hosts, whole };
    } catch (e) {
      // (a backing file that fails the copy-on-write read, say): the new clusters go back
      await this.freeClusters(hosts).catch(() => {});
      throw e;
    }
  }

  /** The data of an allocation, into its new clusters (contiguous ones in one write). */
  private async allocData(a: Allocation): Promise<void> {
    const cs = this.clusterSize;
    const { hosts, whole } = a;
    for (let i = 0; i < hosts.length;) {
      let j = i + 1;
      while (j < hosts.length && hosts[j] === hosts[j - 1]! + cs) j++;
      await this.protocol.pwrite(whole.subarray(i * cs, j * cs), hosts[i]!);
      i = j;
    }
  }

  /** The last step, under the lock: the L2 entries point at the new clusters. */
  private async allocLink(a: Allocation): Promise<void> {
    const table = await this.l2ForWrite(a.l1Index);
    await this.setEntries(table, a.start, a.hosts.length, (i) => ({ offset: a.hosts[i]!, zero: false }));
  }

  // ---- allocating writes in flight -------------------------------------------------------

  /** Allocating writes between their first and last step: guest clusters [first, end). */
  private readonly inflight = new Set<{ first: number; end: number; done: Promise<void> }>();
  /** Operations that wait for every allocating write to finish; none starts meanwhile. */
  private draining = 0;
  private drainEnd: Promise<void> = Promise.resolve();
  private drainWake: () => void = () => {};

  /** The ends of the allocating writes in flight over [offset, +length) (all of them without a range); undefined if none. */
  private inflightOver(offset?: number, length = 0): Promise<void>[] | undefined {
    const cs = this.clusterSize;
    const first = offset === undefined ? 0 : Math.floor(offset / cs);
    const end = offset === undefined ? Infinity : Math.ceil((offset + length) / cs);
    let over: Promise<void>[] | undefined;
    for (const a of this.inflight) if (a.first < end && first < a.end) (over ??= []).push(a.done);
    return over;
  }

  /** Registers a write's allocations in flight (requests over their clusters wait); returns what ends that. */
  private track(allocs: Allocation[]): () => void {
    const cs = this.clusterSize;
    let wake!: () => void;
    const done = new Promise<void>((w) => (wake = w));
    const records = allocs.map((a) => ({ first: a.start / cs, end: a.start / cs + a.hosts.length, done }));
    for (const r of records) this.inflight.add(r);
    return () => {
      for (const r of records) this.inflight.delete(r);
      wake();
    };
  }

  /** Until no allocating write is in flight over the range, nor a drain under way. */
  private async settle(offset: number, length: number): Promise<void> {
    for (;;) {
      const over = this.inflightOver(offset, length);
      if (over) await Promise.all(over);
      else if (this.draining) await this.drainEnd;
      else return;
    }
  }

  /**
   * Runs `fn` under the lock once no allocating write is in flight over [offset, +length)
   * (any at all without a range: snapshots, resize, check, close; new ones wait meanwhile).
   */
  private async settled<T>(fn: () => Promise<T>, offset?: number, length?: number): Promise<T> {
    const whole = offset === undefined;
    if (whole && this.draining++ === 0) this.drainEnd = new Promise((wake) => (this.drainWake = wake));
    try {
      for (;;) {
        const over = this.inflightOver(offset, length);
        if (over) {
          await Promise.all(over);
          continue;
        }
        const r = await this.lock.run(async () => (this.inflightOver(offset, length) ? undefined : { value: await fn() }));
        if (r) return r.value;
      }
    } finally {
      if (whole && --this.draining === 0) this.drainWake();
    }
  }

  /**
   * Under the lock: writes what lands on clusters owned alone, and prepares an allocation
   * for the rest (its data and L2 entries follow: allocsData, allocsLink).
   */
  private async writeStart(buf: Uint8Array, offset: number): Promise<Allocation[]> {
    await this.beforeWrite();
    this.bitmaps?.mark(offset, buf.length);
    const allocs: Allocation[] = [];
    let done = 0;
    try {
      while (done < buf.length) {
        const run = await this.mapRun(offset + done, buf.length - done);
        if (run.copied) {
          this.checkOverlap(run.host, run.length);
          await this.protocol.pwrite(buf.subarray(done, done + run.length), run.host);
        } else {
          allocs.push(await this.allocPrepare(buf.subarray(done, done + run.length), offset + done));
        }
        done += run.length;
      }
    } catch (e) {
      for (const a of allocs) await this.freeClusters(a.hosts);
      throw e;
    }
    return allocs;
  }

  /** The data of allocations, all at once; the first failure, if any. */
  private async allocsData(allocs: Allocation[]): Promise<{ error: unknown } | undefined> {
    let failed: { error: unknown } | undefined;
    await Promise.all(allocs.map((a) => this.allocData(a).catch((error: unknown) => { failed ??= { error }; })));
    return failed;
  }

  /**
   * Under the lock: the allocations' L2 entries; or, when their data failed, none of them
   * linked, their clusters free again, and the failure thrown.
   */
  private async allocsLink(allocs: Allocation[], failed: { error: unknown } | undefined): Promise<void> {
    if (failed) {
      for (const a of allocs) await this.freeClusters(a.hosts);
      throw failed.error;
    }
    for (const a of allocs) await this.allocLink(a);
  }

  /** Clusters allocated for a write that will not link them: free again. */
  private async freeClusters(hosts: number[]): Promise<void> {
    for (const h of hosts) await this.refcounts.free(h, this.clusterSize);
  }

  /**
   * Rewrites `n` L2 entries from guest offset `start` (one L2 table), then drops the
   * references the old entries held. `entry(i)` gives the new host offset (0 = none) and zero flag.
   */
  async setEntries(
    l2Offset: number, start: number, n: number,
    entry: (i: number) => { offset: number; zero: boolean; compressed?: { offset: number; bytes: number } },
  ): Promise<void> {
    const cs = this.clusterSize;
    await this.l2cache.dependOn(this.refcounts.cache);
    const table = await this.l2cache.get(l2Offset);
    const dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const first = Math.floor(start / cs) % 2 ** this.l2Bits;
    const freed: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      const at = (first + i) * 8;
      const old = decodeL2(dv.getUint32(at), dv.getUint32(at + 4), this.clusterBits);
      const e = entry(i);
      if (e.compressed) writeCompressed(dv, at, e.compressed.offset, e.compressed.bytes, this.clusterBits);
      else writeStandard(dv, at, e.offset, e.offset !== 0, e.zero);
      if (old.kind === Kind.Compressed) freed.push([old.compressedOffset, old.compressedBytes]);
      else if (old.offset && old.offset !== e.offset) freed.push([old.offset, cs]);
    }
    this.l2cache.markDirty(l2Offset);
    if (this.lastCompressed) this.lastCompressed = undefined;
    if (freed.length) {
      // A freed cluster may be reused for anything: stop packing compressed data into it.
      const tail = this.compressedTail;
      if (tail && freed.some(([o, b]) => o < tail.end && tail.end - this.clusterSize < o + b)) this.compressedTail = undefined;
      await this.refcounts.cache.dependOn(this.l2cache);
      for (const [o, b] of freed) await this.refcounts.free(o, b);
    }
  }

  /** The L2 table for L1 index `l1Index`, allocated or copied (COW) so it may be changed. */
  async l2ForWrite(l1Index: number): Promise<number> {
    const { offset, copied } = this.l1Entry(l1Index);
    if (offset && copied) return offset;
    if (l1Index >= this.header.l1Size) throw new BlockError('L1 index out of range', 'EIO');
    const fresh = await this.refcounts.alloc(1);
    const buf = new Uint8Array(this.clusterSize);
    if (offset) buf.set(await this.l2cache.get(offset));
    // The dependency first: should the refcount cache be waiting for L2 tables (after a
    // free), that wait is settled before the new table, which needs its refcount first, joins.
    await this.l2cache.dependOn(this.refcounts.cache);
    await this.l2cache.install(fresh, buf);
    await this.l2cache.flushOne(fresh);
    if (this.l2cache.ordered) await this.protocol.flush();
    await this.setL1Entry(l1Index, fresh);
    if (offset) {
      await this.refcounts.cache.dependOn(this.l2cache);
      await this.refcounts.add(offset / this.clusterSize, -1);
    }
    return fresh;
  }

  async setL1Entry(index: number, l2Offset: number, copied = l2Offset !== 0): Promise<void> {
    const dv = new DataView(this.l1.buffer, this.l1.byteOffset);
    writeStandard(dv, index * 8, l2Offset, copied, false);
    await this.protocol.pwrite(this.l1.subarray(index * 8, index * 8 + 8), this.header.l1TableOffset + index * 8);
  }

  /** Writes one whole cluster compressed (convert -c); falls back to a plain write when it does not shrink. */
  writeCompressed(data: Uint8Array, offset: number, precompressed?: Uint8Array | null): Promise<void> {
    return this.writeCompressedCluster(data, offset, precompressed);
  }

  async writeCompressedCluster(data: Uint8Array, offset: number, precompressed?: Uint8Array | null): Promise<void> {
    this.dataWritable();
    if (this.header.compressionType !== 0) {
      throw new BlockError('zstd compression (compression_type=zstd) is not supported by tsemu: cannot write compressed clusters', 'ENOTSUP');
    }
    if (offset % this.clusterSize || (data.length !== this.clusterSize && offset + data.length !== this.size)) {
      throw new BlockError('Compressed writes must cover whole clusters', 'EINVAL');
    }
    let full = data;
    if (data.length < this.clusterSize) {
      full = new Uint8Array(this.clusterSize);
      full.set(data);
    }
    // `precompressed` comes from a compression worker pool; null means "does not shrink".
    const packed = precompressed === undefined ? compressCluster(full) : precompressed ?? undefined;
    if (!packed) return this.write(data, offset);
    await this.settled(async () => {
      await this.beforeWrite();
      this.bitmaps?.mark(offset, data.length);
      const table = await this.l2ForWrite(Math.floor(offset / this.clusterSize / 2 ** this.l2Bits));
      const host = await this.allocBytes(packed.length);
      await this.protocol.pwrite(packed, host);
      await this.setEntries(table, offset, 1, () => ({ offset: 0, zero: false, compressed: { offset: host, bytes: packed.length } }));
    }, offset, data.length);
  }

  /** Where the next compressed cluster may be packed (forgotten whenever clusters are freed). */
  compressedTail: { next: number; end: number } | undefined;

  /** Allocates `bytes` (< a cluster) for compressed data, packing them into a shared cluster. */
  private async allocBytes(bytes: number): Promise<number> {
    // Compressed data never spans host clusters here, so each compressed cluster holds
    // exactly one reference to the one host cluster it lives in.
    const t = this.compressedTail;
    if (t && t.next + bytes <= t.end && (await this.refcounts.get(t.end / this.clusterSize - 1)) < this.refcounts.maxRefcount) {
      const at = t.next;
      t.next = at + bytes;
      await this.refcounts.add(Math.floor(at / this.clusterSize), 1);
      return at;
    }
    const host = await this.refcounts.alloc(1);
    this.compressedTail = { next: host + bytes, end: host + this.clusterSize };
    return host;
  }

  // ---- zeroes, discard -----------------------------------------------------------------

  async writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    this.dataWritable();
    this.checkRange(offset, length);
    await this.settled(async () => {
      await zeroRange(this, offset, length, unmap ? 'zero-unmap' : 'zero');
      if (this.writeThrough) await this.flushLocked();
    }, offset, length);
  }

  async discard(offset: number, length: number): Promise<void> {
    this.dataWritable();
    this.checkRange(offset, length);
    await this.settled(async () => {
      await zeroRange(this, offset, length, 'discard');
      if (this.writeThrough) await this.flushLocked();
    }, offset, length);
  }

  // ---- status, flush, info -------------------------------------------------------------

  async blockStatus(offset: number, length: number): Promise<BlockExtent[]> {
    this.checkRange(offset, length);
    return this.lock.read(() => blockStatus(this, offset, length));
  }

  async flush(): Promise<void> {
    await this.lock.run(() => this.flushLocked());
  }

  async flushLocked(): Promise<void> {
    if (this.readOnly) return;
    await this.l2cache.flush();
    await this.refcounts.flush();
    await this.protocol.flush();
  }

  async resize(size: number): Promise<void> {
    this.writable();
    const { resizeImage } = await import('./resize.js');
    if (this.header.extensions.some((e) => e.type === EXT_BITMAPS) && this.header.autoclear & AUTOCLEAR_BITMAPS) {
      throw new BlockError("Can't resize an image which has bitmaps", 'ENOTSUP');
    }
    await this.settled(() => resizeImage(this, size));
  }

  async getInfo(): Promise<ImageInfo> {
    const h = this.header;
    // Keys in qemu-img's order; "bitmaps" only while the extension is consistent.
    let data: Record<string, unknown>;
    if (h.version >= 3) {
      const ext = h.extensions.find((e) => e.type === EXT_BITMAPS);
      const bitmaps = ext && h.autoclear & AUTOCLEAR_BITMAPS ? await listBitmaps(this, ext.data) : [];
      data = {
        compat: '1.1',
        'compression-type': h.compressionType ? 'zstd' : 'zlib',
        'lazy-refcounts': (h.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n,
        ...(bitmaps.length ? { bitmaps } : {}),
        'refcount-bits': 1 << h.refcountOrder,
        corrupt: (h.incompatible & INCOMPAT_CORRUPT) !== 0n,
        'extended-l2': false,
      };
    } else {
      data = { compat: '0.10', 'compression-type': 'zlib', 'refcount-bits': 16 };
    }
    return {
      filename: this.protocol.filename,
      format: 'qcow2',
      virtualSize: this.size,
      actualSize: await this.protocol.allocatedSize?.(),
      clusterSize: this.clusterSize,
      dirty: (h.incompatible & INCOMPAT_DIRTY) !== 0n,
      encrypted: false,
      backingFilename: h.backingFile,
      fullBackingFilename: this.fullBackingFilename(),
      backingFilenameFormat: h.backingFormat,
      snapshots: this.snapshotInfos(),
      formatSpecific: { type: 'qcow2', data },
    };
  }

  snapshotInfos(): SnapshotInfo[] {
    return this.snapshotList.map((s) => ({
      id: s.id, name: s.name, vmStateSize: s.vmStateSize, dateSec: s.dateSec, dateNsec: s.dateNsec,
      vmClockNsec: s.vmClockNsec, virtualSize: s.diskSize ?? this.size, icount: s.icount,
    }));
  }

  async check(repair?: 'leaks' | 'all'): Promise<CheckResult> {
    const { checkImage } = await import('./check.js');
    return this.settled(() => checkImage(this, repair));
  }

  get snapshots(): NonNullable<BlockImage['snapshots']> {
    const ops = () => import('./snapshot.js');
    return {
      list: async () => this.snapshotInfos(),
      create: async (name, opts) => { this.writable(); const m = await ops(); return this.settled(() => m.createSnapshot(this, name, opts)); },
      apply: async (n) => { this.writable(); const m = await ops(); return this.settled(() => m.applySnapshot(this, n)); },
      delete: async (n) => { this.writable(); const m = await ops(); return this.settled(() => m.deleteSnapshot(this, n)); },
      open: async (n) => (await ops()).openSnapshot(this, n),
    };
  }

  /** A read-only view of this image with another L1 table (a snapshot's). */
  static async view(of: Qcow2Image, l1: Uint8Array, size: number): Promise<Qcow2Image> {
    const header = { ...of.header, size, l1Size: l1.length / 8 };
    const img = new Qcow2Image(of.protocol, header, { ...of.opts, readOnly: true });
    img.l1 = l1;
    img.backing = of.backing;
    img.viewOnly = true;
    return img;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.viewOnly) { this.closed = true; return; }
    await this.settled(async () => {
      if (!this.readOnly) {
        await this.flushLocked();
        await this.bitmaps?.store();
        if (this.markedDirty) {
          this.header.incompatible &= ~INCOMPAT_DIRTY;
          await this.writeHeader();
          await this.protocol.flush();
        }
      }
      this.closed = true;
    });
    await this.backing?.close();
    await this.protocol.close();
  }

  /** Points the header at another backing file (undefined: none), as `qemu-img rebase -u`. */
  async changeBackingFile(filename: string | undefined, format: string | undefined): Promise<void> {
    this.writable();
    await this.settled(async () => {
      this.header.backingFile = filename || undefined;
      this.header.backingFormat = filename ? format : undefined;
      await this.flushLocked();
      await this.writeHeader();
      await this.protocol.flush();
    });
  }

  /** Deallocates every cluster, so all reads go to the backing file (after `qemu-img commit`). */
  async makeEmpty(): Promise<void> {
    this.writable();
    await this.settled(async () => {
      const cs = this.clusterSize;
      const per = 2 ** this.l2Bits;
      for (let i = 0; i < this.header.l1Size; i++) {
        if (!this.l1Entry(i).offset) continue;
        const start = i * per * cs;
        const n = Math.min(per, Math.ceil((this.size - start) / cs));
        if (n <= 0) continue;
        const table = await this.l2ForWrite(i);
        await this.setEntries(table, start, n, () => ({ offset: 0, zero: false }));
      }
      await this.flushLocked();
    });
  }

  /** Marks a changed L1 table size/offset in the header. */
  async setL1Table(offset: number, l1: Uint8Array): Promise<void> {
    this.header.l1TableOffset = offset;
    this.header.l1Size = l1.length / 8;
    this.l1 = l1;
    await this.writeHeader();
  }

}
