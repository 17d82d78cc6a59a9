/**
 * The shared-memory contract between a virtio-pci transport (the machine's hart threads,
 * services/cpu/board/virtio-pci.ts) and the device backend that serves its queues (a
 * service process, e.g. services/block/virtio-blk). Both map the same bytes; the
 * transport owns the register file the driver sees, the backend reads the queue
 * addresses from it, keeps its own progress in it (so a restarted backend resumes where
 * the dead one stopped) and raises interrupts through it.
 *
 * One function's state, at a 64-byte aligned offset (VIRTIO_FN_BYTES long):
 *
 *   Int32 words 0..63        the register file and doorbells (FN below)
 *   byte 256 .. 511          device-specific configuration (virtio-blk's struct), written
 *                            by the backend at attach, read by the driver
 *   byte 512 + QREC*q        queue q's record: registers, backend progress, in-flight map
 *
 * Doorbells are futex words (services/common/futex.ts), which cross processes:
 *   FN.NOTIFY_SEQ  bumped by the transport on a queue notify, a status change or a reset;
 *                  the backend waits on it.
 *   IRQ_SEQ        (of the whole PCI state, at `irqOffset`) bumped by a backend after it
 *                  set ISR bits; the machine waits on it and drives the INTx lines.
 *
 * In-flight tracking (as vhost-user's inflight region): the backend marks a head in
 * `inflight` when it takes it from the available ring, and publishes a completion as
 * (1) write the used element, (2) COMPLETING = head+1, COMPLETING_IDX = used index,
 * (3) store used.idx, (4) clear the inflight mark, (5) COMPLETING = 0. A restarted backend
 * finishes a half-done step from the ring's used.idx, then re-reads and redoes every head
 * still marked: each request completes exactly once.
 */

/** Word indices of a function's register file (Int32). */
export const FN = {
  LOCK: 0,
  DEVICE_FEATURES_LO: 1,
  DEVICE_FEATURES_HI: 2,
  DRIVER_FEATURES_LO: 3,
  DRIVER_FEATURES_HI: 4,
  DEVICE_FEATURE_SELECT: 5,
  DRIVER_FEATURE_SELECT: 6,
  STATUS: 7,
  CONFIG_GENERATION: 8,
  QUEUE_SELECT: 9,
  NUM_QUEUES: 10,
  /** ISR status: bit 0 queue interrupt, bit 1 configuration change. Read-to-clear. */
  ISR: 11,
  NOTIFY_SEQ: 12,
  /** Bumped on every device reset (status 0 written): the backend drops its queue state. */
  RESET_SEQ: 13,
  /** 0: no backend yet; 1: the backend filled features and configuration. */
  BACKEND_READY: 14,
  /** Largest queue size the device offers. */
  QUEUE_MAX: 15,
  /** The virtio device id (2: block). */
  DEVICE_ID: 16,
  /** Bytes of device configuration the driver may read. */
  CONFIG_LEN: 17,
  /** Notifications since the backend last looked, one bit per queue (queues 0..63). */
  NOTIFY_PENDING_LO: 18,
  NOTIFY_PENDING_HI: 19,
  /**
   * The backend copies RESET_SEQ here once it has drained what was in flight and forgotten
   * its queues. Until then a read of the device status is non-zero, so the driver (which
   * waits for 0 after writing 0) does not reuse rings a request may still write.
   */
  RESET_ACK: 20,
  /**
   * A block I/O error the backend met (QEMU's werror/rerror policy): it writes IOERR_INFO,
   * then bumps IOERR_SEQ and the IRQ word; the machine reads them, sends BLOCK_IO_ERROR and,
   * for action stop, stops the VM (run state io-error). IOERR_INFO packs the errno (bits
   * 0..15), write (bit 16: else read), the action (bits 17..18, IOERR_ACTION) and nospace
   * (bit 19).
   */
  IOERR_SEQ: 21,
  IOERR_INFO: 22,
  /** Bumped by the machine on `cont` (then NOTIFY_SEQ): the backend retries the requests an error stopped. */
  IOERR_RESUME: 23,
} as const;

/** IOERR_INFO's action field: what was done with the failed request, as BLOCK_IO_ERROR's `action`. */
export const IOERR_ACTION = ['ignore', 'report', 'stop'] as const;
export type IoErrorAction = (typeof IOERR_ACTION)[number];

export interface IoErrorInfo {
  /** The errno number (os.constants.errno) of the failure. */
  errno: number;
  write: boolean;
  action: IoErrorAction;
  nospace: boolean;
}

export function packIoError(e: IoErrorInfo): number {
  return (e.errno & 0xffff) | (e.write ? 1 << 16 : 0) | (IOERR_ACTION.indexOf(e.action) << 17) | (e.nospace ? 1 << 19 : 0);
}

export function unpackIoError(v: number): IoErrorInfo {
  return { errno: v & 0xffff, write: (v & (1 << 16)) !== 0, action: IOERR_ACTION[(v >> 17) & 3] ?? 'report', nospace: (v & (1 << 19)) !== 0 };
}

/** Word indices inside a queue record (Int32). */
export const Q = {
  SIZE: 0,
  ENABLE: 1,
  DESC_LO: 2,
  DESC_HI: 3,
  DRIVER_LO: 4,
  DRIVER_HI: 5,
  DEVICE_LO: 6,
  DEVICE_HI: 7,
  /** Backend: the next available-ring index to take. */
  LAST_AVAIL: 8,
  /** Backend: head+1 of the completion being published, 0 when none. */
  COMPLETING: 9,
  COMPLETING_IDX: 10,
  /** Backend: the used index it will write next. */
  USED_IDX: 11,
} as const;

export const MAX_QUEUES = 64;
/** Largest queue size a record has in-flight marks for. */
export const MAX_QUEUE_SIZE = 1024;
const QREC_WORDS_BYTES = 64;
export const QREC_BYTES = QREC_WORDS_BYTES + MAX_QUEUE_SIZE;
export const CONFIG_OFFSET = 256;
export const CONFIG_BYTES = 256;
const QUEUES_OFFSET = CONFIG_OFFSET + CONFIG_BYTES;

export const VIRTIO_FN_BYTES = QUEUES_OFFSET + QREC_BYTES * MAX_QUEUES;

/** Device status bits (virtio 1.2, 2.1). */
export const STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

export const ISR_QUEUE = 1;
export const ISR_CONFIG = 2;

/** Views of one function's shared state. */
export class VirtioFnState {
  readonly w: Int32Array;
  readonly config: Uint8Array;
  private readonly queues: { w: Int32Array; inflight: Uint8Array }[] = [];

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly offset: number,
  ) {
    if (offset % 64 !== 0) throw new RangeError('virtio function state must be 64-byte aligned');
    if (offset + VIRTIO_FN_BYTES > buffer.byteLength) throw new RangeError('virtio function state does not fit its buffer');
    this.w = new Int32Array(buffer, offset, 64);
    this.config = new Uint8Array(buffer, offset + CONFIG_OFFSET, CONFIG_BYTES);
    for (let q = 0; q < MAX_QUEUES; q++) {
      const at = offset + QUEUES_OFFSET + QREC_BYTES * q;
      this.queues.push({ w: new Int32Array(buffer, at, QREC_WORDS_BYTES / 4), inflight: new Uint8Array(buffer, at + QREC_WORDS_BYTES, MAX_QUEUE_SIZE) });
    }
  }

  queue(q: number): { w: Int32Array; inflight: Uint8Array } {
    const r = this.queues[q];
    if (!r) throw new RangeError(`no virtqueue ${q}`);
    return r;
  }

  numQueues(): number {
    return Atomics.load(this.w, FN.NUM_QUEUES);
  }

  /** Features the driver accepted (64 bits as a bigint). */
  driverFeatures(): bigint {
    return (BigInt(Atomics.load(this.w, FN.DRIVER_FEATURES_HI) >>> 0) << 32n) | BigInt(Atomics.load(this.w, FN.DRIVER_FEATURES_LO) >>> 0);
  }

  deviceFeatures(): bigint {
    return (BigInt(Atomics.load(this.w, FN.DEVICE_FEATURES_HI) >>> 0) << 32n) | BigInt(Atomics.load(this.w, FN.DEVICE_FEATURES_LO) >>> 0);
  }

  /** A queue's ring addresses (guest-physical). */
  queueAddrs(q: number): { size: number; enabled: boolean; desc: number; driver: number; device: number } {
    const w = this.queue(q).w;
    const a = (lo: number) => (Atomics.load(w, lo + 1) >>> 0) * 2 ** 32 + (Atomics.load(w, lo) >>> 0);
    return { size: Atomics.load(w, Q.SIZE), enabled: Atomics.load(w, Q.ENABLE) !== 0, desc: a(Q.DESC_LO), driver: a(Q.DRIVER_LO), device: a(Q.DEVICE_LO) };
  }
}

/** Feature bits both sides use (virtio 1.2, 6). */
export const F_INDIRECT_DESC = 28;
export const F_EVENT_IDX = 29;
export const F_VERSION_1 = 32;

