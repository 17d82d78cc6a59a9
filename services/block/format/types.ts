/**
 * The two layers of the block service, as QEMU's block layer has them:
 *
 *  - a protocol moves bytes at offsets to where they live (a host file, an NBD export,
 *    a Ceph RBD image);
 *  - an image format (raw, qcow2, QED) maps guest-visible bytes onto a protocol, and
 *    may stack on a backing image.
 *
 * Both have the same shape for I/O, so a format opens over any protocol and a backing
 * image is just another BlockImage. Offsets and lengths are byte counts as JS numbers
 * (exact below 2^53, i.e. 8 PiB). Buffers may be views of guest RAM (a Uint8Array over a
 * SharedArrayBuffer): implementations must not keep them after the promise settles.
 *
 * Errors: every failure rejects with a BlockError whose message reads like qemu-img's
 * ("Could not open 'x.qcow2': No such file or directory", "Image is not in qcow2 format")
 * and whose `errno` says what a device should report (EIO, ENOSPC, EROFS, EINVAL...).
 */

export class BlockError extends Error {
  constructor(
    message: string,
    /** A POSIX errno name: 'EIO', 'ENOSPC', 'EROFS', 'EINVAL', 'ENOENT', 'EPERM', 'ENOTSUP'... */
    readonly errno: string = 'EIO',
  ) {
    super(message);
    this.name = 'BlockError';
  }
}

/** Where bytes live: a host file, an NBD export, an RBD image. */
export interface BlockProtocol {
  /** "file", "nbd", "rbd": QEMU's driver name. */
  readonly driver: string;
  /** What a user would call it (a path, an nbd:// URL, rbd:pool/image). */
  readonly filename: string;
  readonly readOnly: boolean;
  /** Current length in bytes. */
  size(): Promise<number>;
  /** Fills all of `buf` from `offset`; bytes past the end read as zeros. */
  pread(buf: Uint8Array, offset: number): Promise<void>;
  /** Writes all of `buf` at `offset`, growing the protocol if it can. */
  pwrite(buf: Uint8Array, offset: number): Promise<void>;
  /** Makes every completed write durable (fsync for files). */
  flush(): Promise<void>;
  /**
   * Asks that writes from now on reach the host in the order pwrite was called, queued
   * without waiting for the ones before (the file protocol's native writer thread). True if
   * so; optional.
   */
  writeInOrder?(): boolean;
  /** Sets the length (grow or shrink). */
  truncate(size: number): Promise<void>;
  /** Deallocates a range; it reads as zeros afterwards. Optional: not all can. */
  discard?(offset: number, length: number): Promise<void>;
  /** Writes zeros efficiently (may deallocate when `unmap`). */
  writeZeroes?(offset: number, length: number, unmap: boolean): Promise<void>;
  /** Bytes the protocol occupies on the host (qemu-img info's "disk size"), if known. */
  allocatedSize?(): Promise<number | undefined>;
  /**
   * Allocation of [offset, offset+length) where the protocol knows it (NBD's base:allocation):
   * merged extents at depth 0 with hostOffset = offset, `data` false for holes, `zero` where the
   * range reads as zeros. Optional: protocols without it are all data.
   */
  blockStatus?(offset: number, length: number): Promise<BlockExtent[]>;
  /** Snapshots the protocol keeps itself (RBD); optional. */
  snapshots?: ProtocolSnapshots;
  /**
   * The host file descriptor, for a protocol over a local file (undefined once closed): a
   * server may send data straight from it (BlockImage.hostMap).
   */
  readonly fd?: number;
  close(): Promise<void>;
}

/** A run of guest bytes where a host file holds them as they read (BlockImage.hostMap). */
export interface HostRun {
  length: number;
  /** The file (a protocol's fd) and where in it the run starts; fd -1: the run reads as zeros. */
  fd: number;
  hostOffset: number;
}

/**
 * Snapshots kept by the storage under a protocol (an RBD image's snapshots). A raw image
 * offers them as its own, as QEMU's raw driver passes snapshot calls to its file node.
 */
export interface ProtocolSnapshots {
  list(): Promise<SnapshotInfo[]>;
  create(name: string): Promise<SnapshotInfo>;
  /** Rolls the protocol's contents (and size) back to the snapshot. */
  apply(nameOrId: string): Promise<void>;
  delete(nameOrId: string): Promise<void>;
  /** The snapshot's contents, read-only. */
  open(nameOrId: string): Promise<BlockProtocol>;
}

/** One extent of BlockImage.blockStatus, as `qemu-img map --output=json` reports it. */
export interface BlockExtent {
  offset: number;
  length: number;
  /**
   * True when the data is in this image or a backing image (not unallocated everywhere).
   * When `present` is given, `data` has qemu-img map's meaning instead: stored data, not a
   * zero cluster.
   */
  data: boolean;
  /** qemu-img map's "present": allocated in this image or a backing image (optional). */
  present?: boolean;
  /** True when the range reads as zeros. */
  zero: boolean;
  /** How deep in the backing chain the data was found: 0 = this image. */
  depth: number;
  /** Host offset in the protocol, when the data is stored there uncompressed. */
  hostOffset?: number;
  compressed?: boolean;
}

export interface SnapshotInfo {
  id: string;
  name: string;
  vmStateSize: number;
  /** Seconds and nanoseconds since the epoch (qemu-img's date-sec/date-nsec). */
  dateSec: number;
  dateNsec: number;
  /** Guest clock at the snapshot, nanoseconds (vm-clock-sec/nsec). */
  vmClockNsec: number;
  /** The virtual size the image had at the snapshot. */
  virtualSize: number;
  icount?: number;
}

/** `qemu-img check` results, with qemu-img's meaning for each count. */
export interface CheckResult {
  filename: string;
  format: string;
  checkErrors: number;
  corruptions: number;
  leaks: number;
  corruptionsFixed: number;
  leaksFixed: number;
  imageEndOffset?: number;
  totalClusters?: number;
  allocatedClusters?: number;
  fragmentedClusters?: number;
  compressedClusters?: number;
  /** Human-readable findings, one per problem, as qemu-img prints them. */
  messages: string[];
}

/** What `qemu-img info` shows; format-specific fields go in `formatSpecific`. */
export interface ImageInfo {
  filename: string;
  format: string;
  virtualSize: number;
  actualSize?: number;
  clusterSize?: number;
  dirty?: boolean;
  encrypted?: boolean;
  backingFilename?: string;
  fullBackingFilename?: string;
  backingFilenameFormat?: string;
  snapshots: SnapshotInfo[];
  /** Shaped like qemu-img's `format-specific` JSON object: { type, data: {...} }. */
  formatSpecific?: { type: string; data: Record<string, unknown> };
}

/** Guest-visible bytes of a disk image, whatever its format. */
export interface BlockImage {
  /** "raw", "qcow2", "qed". */
  readonly format: string;
  readonly protocol: BlockProtocol;
  readonly readOnly: boolean;
  /** Virtual size in bytes (what the guest sees). */
  readonly size: number;
  /** Smallest request granularity worth using (cluster size for sparse formats, 512 for raw). */
  readonly granularity: number;
  readonly backing?: BlockImage;

  /** Fills `buf` from guest offset `offset`. Ranges past `size` are an EINVAL error. */
  read(buf: Uint8Array, offset: number): Promise<void>;
  /** Writes `buf` at guest offset `offset` (EROFS on a read-only image). */
  write(buf: Uint8Array, offset: number): Promise<void>;
  /** Writes back cached metadata in a crash-safe order, then flushes the protocol. */
  flush(): Promise<void>;
  /** Guest discard: the range may read as zeros or as before (as QEMU: unmap if it can). */
  discard(offset: number, length: number): Promise<void>;
  /** The range reads as zeros afterwards; `unmap` lets the format deallocate. */
  writeZeroes(offset: number, length: number, unmap: boolean): Promise<void>;
  /** Allocation map of [offset, offset+length), merged into maximal extents. */
  blockStatus(offset: number, length: number): Promise<BlockExtent[]>;
  /**
   * Where a read of [offset, offset+length) would take its bytes from, when all of them sit
   * plainly in local files or read as zeros: the NBD server sends such runs with sendfile
   * instead of reading them. Null when some part does not (compressed clusters, a protocol
   * that is no local file). The answer holds until the image is next written, so only a
   * read-only user may keep it past the call. Optional.
   */
  hostMap?(offset: number, length: number): Promise<HostRun[] | null>;
  resize(size: number): Promise<void>;
  getInfo(): Promise<ImageInfo>;
  /** Consistency check; repair 'leaks' or 'all' as `qemu-img check -r`. */
  check(repair?: 'leaks' | 'all'): Promise<CheckResult>;

  /**
   * Writes whole clusters compressed (qcow2; `qemu-img convert -c`). `precompressed` is the
   * raw-deflate form computed elsewhere (a worker pool), null when it does not shrink.
   * Optional: formats without compression leave it out.
   */
  writeCompressed?(buf: Uint8Array, offset: number, precompressed?: Uint8Array | null): Promise<void>;

  /** Internal snapshots, for formats that have them (qcow2). */
  snapshots?: {
    list(): Promise<SnapshotInfo[]>;
    /** `icount`: the guest's instruction count to record; -1 for none (QMP's snapshots), default 0 (qemu-img's). */
    create(name: string, opts?: { icount?: number }): Promise<SnapshotInfo>;
    apply(nameOrId: string): Promise<void>;
    delete(nameOrId: string): Promise<void>;
    /** A read-only BlockImage of the snapshot's contents. */
    open(nameOrId: string): Promise<BlockImage>;
  };

  /** Flushes and releases the protocol (and the backing chain). */
  close(): Promise<void>;
}

/** How an image is opened (the -drive / -blockdev options that matter to formats). */
export interface OpenOptions {
  /** Format name, or undefined to probe (as qemu-img does, with raw as the fallback). */
  format?: string;
  readOnly?: boolean;
  /** "writeback" (default), "none", "writethrough", "directsync", "unsafe": QEMU's cache modes. */
  cache?: string;
  /** Open the backing chain (default true); false for `qemu-img info` style inspection. */
  backing?: boolean;
  /**
   * Opened for `qemu-img check` (qemu's BDRV_O_CHECK): leave the repair a format runs on open
   * after an unclean shutdown (QED's need-check bit) to the check itself.
   */
  forCheck?: boolean;
  /** Format-specific options in QEMU's spelling ("lazy-refcounts": "on", ...). */
  options?: Record<string, string>;
}
