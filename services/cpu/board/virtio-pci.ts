/**
 * The virtio-pci modern transport (virtio 1.2, 4.1) on the machine's hart threads: a PCI
 * function whose BAR 4 (64-bit, prefetchable, 16 KiB, as QEMU lays it out) holds
 *
 *   0x0000  common configuration (4.1.4.3): features, status, queue registers
 *   0x1000  ISR status (4.1.4.5): read-to-clear, lowers INTx
 *   0x2000  device-specific configuration (virtio-blk's struct), filled by the backend
 *   0x3000  notifications (4.1.4.4): queue q at 0x3000 + 4q (notify_off_multiplier 4)
 *
 * and the vendor capabilities that point at them, plus VIRTIO_PCI_CAP_PCI_CFG (an access
 * window into the BAR through configuration space). Interrupts are INTx only (no MSI-X
 * until the machine has an AIA): the ISR bits drive the pin through the PLIC.
 *
 * The register file is shared memory (services/common/virtio/pci-state.ts): the backend,
 * in a service process, reads the queue addresses from it, and learns of notifications,
 * status changes and resets through the NOTIFY_SEQ futex word. It raises interrupts by
 * setting ISR bits and bumping the PCI state's IRQ word; the machine's main thread then
 * calls `syncIntx` (the backend does not touch the PLIC, which is the machine's).
 */
import type { MmioDevice } from '../bus.js';
import { wake } from '../../common/futex.js';
import {
  FN, ISR_QUEUE, MAX_QUEUES, MAX_QUEUE_SIZE, Q, STATUS, VirtioFnState, F_VERSION_1, unpackIoError, type IoErrorInfo,
} from '../../common/virtio/pci-state.js';
import { PCI_COMMAND_INTX_DISABLE, PciFunction, type CapabilitySpec, type PciFunctionSpec } from './pci/config-space.js';

export const VIRTIO_PCI_VENDOR = 0x1af4;
export const VIRTIO_BAR = 4;
export const VIRTIO_BAR_SIZE = 0x4000;
const COMMON = 0x0000;
const ISR = 0x1000;
const DEVICE = 0x2000;
const NOTIFY = 0x3000;
const REGION = 0x1000;
export const NOTIFY_MULTIPLIER = 4;

const CAP_COMMON = 1;
const CAP_NOTIFY = 2;
const CAP_ISR = 3;
const CAP_DEVICE = 4;
const CAP_PCI_CFG = 5;

/** Device kinds the transport knows: virtio device id and PCI class. */
export const VIRTIO_DEVICES = {
  'virtio-blk': { deviceId: 2, classCode: 0x010000 },
  'virtio-net': { deviceId: 1, classCode: 0x020000 },
} as const;
export type VirtioKind = keyof typeof VIRTIO_DEVICES;

export interface VirtioPciFunctionConfig {
  kind: VirtioKind;
  /** QEMU's id=. */
  id: string;
  slot: number;
  /** Offsets of this function's PCI configuration and virtio state in the PCI state buffer. */
  pciOffset: number;
  stateOffset: number;
  numQueues: number;
  queueSize: number;
}

function vendorCap(type: number, offset: number, length: number, extra = 0): Uint8Array {
  const b = new Uint8Array(16 + extra);
  const d = new DataView(b.buffer);
  b[2] = b.length; // cap_len
  b[3] = type;
  b[4] = VIRTIO_BAR;
  d.setUint32(8, offset, true);
  d.setUint32(12, length, true);
  return b;
}

export class VirtioPciTransport {
  readonly fn: PciFunction;
  readonly st: VirtioFnState;
  private readonly w: Int32Array;
  /** The PCI_CFG capability's position in configuration space (its window's fields). */
  private pciCfgCap = 0;
  private ioErrorSeen = 0;

  constructor(
    shared: SharedArrayBuffer,
    readonly cfg: VirtioPciFunctionConfig,
    /** This function's INTx line (the PLIC source after the swizzle). */
    private readonly line: (level: boolean) => void,
    init: boolean,
  ) {
    if (cfg.numQueues < 1 || cfg.numQueues > MAX_QUEUES) throw new RangeError(`virtio: ${cfg.numQueues} queues (1..${MAX_QUEUES})`);
    if (cfg.queueSize < 2 || cfg.queueSize > MAX_QUEUE_SIZE || (cfg.queueSize & (cfg.queueSize - 1)) !== 0) throw new RangeError(`virtio: queue size ${cfg.queueSize}`);
    this.st = new VirtioFnState(shared, cfg.stateOffset);
    this.w = this.st.w;
    this.ioErrorSeen = Atomics.load(this.w, FN.IOERR_SEQ);
    const kind = VIRTIO_DEVICES[cfg.kind];
    const notify = vendorCap(CAP_NOTIFY, NOTIFY, REGION, 4);
    new DataView(notify.buffer).setUint32(16, NOTIFY_MULTIPLIER, true);
    const pciCfg = vendorCap(CAP_PCI_CFG, 0, 0, 4);
    pciCfg[4] = 0;
    const pciCfgWritable = new Uint8Array(16);
    pciCfgWritable[4] = 0xff;
    pciCfgWritable.fill(0xff, 8, 16);
    const caps: CapabilitySpec[] = [
      { id: 9, bytes: vendorCap(CAP_COMMON, COMMON, REGION) },
      { id: 9, bytes: vendorCap(CAP_ISR, ISR, REGION) },
      { id: 9, bytes: vendorCap(CAP_DEVICE, DEVICE, REGION) },
      { id: 9, bytes: notify },
      {
        id: 9,
        bytes: pciCfg,
        writable: pciCfgWritable,
        dynamic: { from: 16, to: 20, read: (_o, size) => this.pciCfgAccess(size), write: (_o, size, v) => this.pciCfgAccess(size, v) },
      },
    ];
    const spec: PciFunctionSpec = {
      vendorId: VIRTIO_PCI_VENDOR,
      deviceId: 0x1040 + kind.deviceId,
      revision: 1,
      classCode: kind.classCode,
      subsystemVendorId: VIRTIO_PCI_VENDOR,
      subsystemId: 0x1100,
      interruptPin: 1,
      bars: [{ index: VIRTIO_BAR, size: VIRTIO_BAR_SIZE, kind: 'mem64', prefetchable: true, device: this.bar }],
      capabilities: caps,
    };
    this.fn = new PciFunction(shared, cfg.pciOffset, spec, init);
    this.fn.interruptStatus = () => Atomics.load(this.w, FN.ISR) !== 0;
    // the PCI_CFG capability is the last: find its offset by walking the list
    let at = this.fn.config[0x34]!;
    while (at !== 0 && this.fn.config[at + 1] !== 0) at = this.fn.config[at + 1]!;
    this.pciCfgCap = at;
    if (init) {
      new Uint8Array(shared, cfg.stateOffset, 512).fill(0);
      Atomics.store(this.w, FN.NUM_QUEUES, cfg.numQueues);
      Atomics.store(this.w, FN.QUEUE_MAX, cfg.queueSize);
      Atomics.store(this.w, FN.DEVICE_ID, kind.deviceId);
      for (let q = 0; q < MAX_QUEUES; q++) {
        const r = this.st.queue(q);
        r.w.fill(0);
        r.inflight.fill(0);
        r.w[Q.SIZE] = q < cfg.numQueues ? cfg.queueSize : 0;
      }
    }
  }

  /** The BAR's contents. */
  readonly bar: MmioDevice = {
    name: 'virtio-pci',
    widths: [1, 2, 4],
    read: (off, size) => {
      if (off < ISR) return this.lockedRead(off, size);
      if (off < DEVICE) return off === ISR ? this.readIsr() : 0;
      if (off < NOTIFY) return this.readDeviceConfig(off - DEVICE, size);
      return 0;
    },
    write: (off, size, value) => {
      const v = Number(value) >>> 0;
      if (off < ISR) this.lockedWrite(off, size, v);
      else if (off >= NOTIFY && off < NOTIFY + REGION) this.notify((off - NOTIFY) / NOTIFY_MULTIPLIER);
      // ISR is read-only; virtio-blk's configuration has nothing we let the driver write
    },
  };

  private lock(): void {
    while (Atomics.compareExchange(this.w, FN.LOCK, 0, 1) !== 0) {
      // another hart is inside a register access
    }
  }

  private unlock(): void {
    Atomics.store(this.w, FN.LOCK, 0);
  }

  private lockedRead(off: number, size: number): number {
    this.lock();
    try {
      // registers are read at their natural width; other widths get the bytes they cover
      let v = 0;
      for (let i = 0; i < size; i++) {
        const [start, width] = field(off + i);
        if (width === 0) continue;
        const fv = this.readCommon(start, width);
        v |= ((fv >>> (8 * (off + i - start))) & 0xff) << (8 * i);
      }
      return v >>> 0;
    } finally {
      this.unlock();
    }
  }

  private lockedWrite(off: number, size: number, v: number): void {
    const [start, width] = field(off);
    if (start !== off || width !== size) return; // the driver must use the natural width
    let wakeBackend = false;
    this.lock();
    try {
      wakeBackend = this.writeCommon(off, v);
    } finally {
      this.unlock();
    }
    if (wakeBackend) this.kick();
  }

  private selected(): { w: Int32Array } | undefined {
    const sel = this.w[FN.QUEUE_SELECT]!;
    return sel < this.cfg.numQueues ? this.st.queue(sel) : undefined;
  }

  private readCommon(off: number, _width: number): number {
    const w = this.w;
    const q = this.selected();
    switch (off) {
      case 0x00: return w[FN.DEVICE_FEATURE_SELECT]!;
      case 0x04: {
        const s = w[FN.DEVICE_FEATURE_SELECT];
        return s === 0 ? Atomics.load(w, FN.DEVICE_FEATURES_LO) : s === 1 ? Atomics.load(w, FN.DEVICE_FEATURES_HI) : 0;
      }
      case 0x08: return w[FN.DRIVER_FEATURE_SELECT]!;
      case 0x0c: {
        const s = w[FN.DRIVER_FEATURE_SELECT];
        return s === 0 ? w[FN.DRIVER_FEATURES_LO]! : s === 1 ? w[FN.DRIVER_FEATURES_HI]! : 0;
      }
      case 0x10: return 0xffff; // config_msix_vector: NO_VECTOR (no MSI-X)
      case 0x12: return this.cfg.numQueues;
      case 0x14: {
        // after a reset, 0 only once the backend has drained and forgotten its queues
        const resetting = Atomics.load(w, FN.BACKEND_READY) !== 0 && Atomics.load(w, FN.RESET_ACK) !== Atomics.load(w, FN.RESET_SEQ);
        return resetting ? STATUS.DEVICE_NEEDS_RESET : Atomics.load(w, FN.STATUS) & 0xff;
      }
      case 0x15: return Atomics.load(w, FN.CONFIG_GENERATION) & 0xff;
      case 0x16: return w[FN.QUEUE_SELECT]!;
      case 0x18: return q ? q.w[Q.SIZE]! : 0;
      case 0x1a: return 0xffff; // queue_msix_vector: NO_VECTOR
      case 0x1c: return q ? q.w[Q.ENABLE]! : 0;
      case 0x1e: return q ? w[FN.QUEUE_SELECT]! : 0; // queue_notify_off: the queue index
      case 0x20: return q ? q.w[Q.DESC_LO]! >>> 0 : 0;
      case 0x24: return q ? q.w[Q.DESC_HI]! >>> 0 : 0;
      case 0x28: return q ? q.w[Q.DRIVER_LO]! >>> 0 : 0;
      case 0x2c: return q ? q.w[Q.DRIVER_HI]! >>> 0 : 0;
      case 0x30: return q ? q.w[Q.DEVICE_LO]! >>> 0 : 0;
      case 0x34: return q ? q.w[Q.DEVICE_HI]! >>> 0 : 0;
      case 0x38: return q ? w[FN.QUEUE_SELECT]! : 0; // queue_notify_data
      default: return 0;
    }
  }

  /** Returns whether the backend should look (status, enable). Lock held. */
  private writeCommon(off: number, v: number): boolean {
    const w = this.w;
    const status = Atomics.load(w, FN.STATUS);
    const q = this.selected();
    const queueWritable = q !== undefined && q.w[Q.ENABLE] === 0;
    switch (off) {
      case 0x00: w[FN.DEVICE_FEATURE_SELECT] = v; return false;
      case 0x08: w[FN.DRIVER_FEATURE_SELECT] = v; return false;
      case 0x0c:
        if (status & STATUS.FEATURES_OK) return false;
        if (w[FN.DRIVER_FEATURE_SELECT] === 0) w[FN.DRIVER_FEATURES_LO] = v;
        else if (w[FN.DRIVER_FEATURE_SELECT] === 1) w[FN.DRIVER_FEATURES_HI] = v;
        return false;
      case 0x14: return this.writeStatus(v & 0xff);
      case 0x16: w[FN.QUEUE_SELECT] = v & 0xffff; return false;
      case 0x18:
        if (queueWritable && v >= 1 && v <= w[FN.QUEUE_MAX]!) q.w[Q.SIZE] = v;
        return false;
      case 0x1c:
        if (q && v === 1 && q.w[Q.ENABLE] === 0) {
          Atomics.store(q.w, Q.ENABLE, 1);
          return true;
        }
        return false;
      case 0x20: case 0x24: case 0x28: case 0x2c: case 0x30: case 0x34:
        if (queueWritable) q.w[Q.DESC_LO + ((off - 0x20) >> 2)] = v | 0;
        return false;
      default:
        return false; // msix vectors (no MSI-X), read-only registers
    }
  }

  private writeStatus(v: number): boolean {
    const w = this.w;
    if (v === 0) {
      this.resetRegisters();
      return true;
    }
    if (v & STATUS.FEATURES_OK) {
      const drv = this.st.driverFeatures();
      const dev = this.st.deviceFeatures();
      // features the device did not offer, or a driver without VERSION_1: refuse FEATURES_OK
      if ((drv & ~dev) !== 0n || (drv & (1n << BigInt(F_VERSION_1))) === 0n) v &= ~STATUS.FEATURES_OK;
    }
    Atomics.store(w, FN.STATUS, v);
    return true;
  }

  /** Device reset (status 0): driver-visible registers to their reset values. Lock held. */
  private resetRegisters(): void {
    const w = this.w;
    Atomics.store(w, FN.STATUS, 0);
    w[FN.DRIVER_FEATURES_LO] = 0;
    w[FN.DRIVER_FEATURES_HI] = 0;
    w[FN.DEVICE_FEATURE_SELECT] = 0;
    w[FN.DRIVER_FEATURE_SELECT] = 0;
    w[FN.QUEUE_SELECT] = 0;
    for (let i = 0; i < this.cfg.numQueues; i++) {
      const r = this.st.queue(i).w;
      Atomics.store(r, Q.ENABLE, 0);
      r[Q.SIZE] = w[FN.QUEUE_MAX]!;
      for (let k = Q.DESC_LO; k <= Q.DEVICE_HI; k++) r[k] = 0;
    }
    Atomics.store(w, FN.ISR, 0);
    Atomics.add(w, FN.RESET_SEQ, 1);
    this.line(false);
  }

  /** Machine reset: the device as after power-on (the backend sees a device reset). */
  reset(): void {
    this.lock();
    try {
      this.resetRegisters();
    } finally {
      this.unlock();
    }
    this.fn.reset();
    this.kick();
  }

  private readIsr(): number {
    this.lock();
    try {
      const v = Atomics.exchange(this.w, FN.ISR, 0);
      this.line(false);
      return v & 0xff;
    } finally {
      this.unlock();
    }
  }

  private readDeviceConfig(off: number, size: number): number {
    const len = Atomics.load(this.w, FN.CONFIG_LEN);
    if (off + size > len) return 0;
    const c = this.st.config;
    let v = 0;
    for (let i = 0; i < size; i++) v |= c[off + i]! << (8 * i);
    return v >>> 0;
  }

  private notify(q: number): void {
    if (!Number.isInteger(q) || q >= this.cfg.numQueues) return;
    Atomics.or(this.w, q < 32 ? FN.NOTIFY_PENDING_LO : FN.NOTIFY_PENDING_HI, 1 << (q & 31));
    this.kick();
  }

  /**
   * The block I/O error the backend reported since the last call (pci-state.ts, IOERR), or
   * undefined. Errors reported faster than the machine looks are told as the latest one.
   */
  takeIoError(): IoErrorInfo | undefined {
    const seq = Atomics.load(this.w, FN.IOERR_SEQ);
    if (seq === this.ioErrorSeen) return undefined;
    this.ioErrorSeen = seq;
    return unpackIoError(Atomics.load(this.w, FN.IOERR_INFO));
  }

  /** After `cont`: the backend tries again what an I/O error stopped. */
  resumeAfterIoError(): void {
    Atomics.add(this.w, FN.IOERR_RESUME, 1);
    this.kick();
  }

  /** Wakes the backend. */
  private kick(): void {
    Atomics.add(this.w, FN.NOTIFY_SEQ, 1);
    wake(this.w, FN.NOTIFY_SEQ);
  }

  /**
   * Drives the INTx line from the ISR bits (the main thread calls this when a backend
   * bumped the IRQ word). Under the lock, so it orders with an ISR read on a hart.
   */
  syncIntx(): void {
    this.lock();
    try {
      const level = Atomics.load(this.w, FN.ISR) !== 0 && (this.fn.command() & PCI_COMMAND_INTX_DISABLE) === 0;
      this.line(level);
    } finally {
      this.unlock();
    }
  }

  /** VIRTIO_PCI_CAP_PCI_CFG: an access of `size` bytes at the window's bar/offset. */
  private pciCfgAccess(size: number, value?: number): number {
    const c = this.fn.config;
    const at = this.pciCfgCap;
    const bar = c[at + 4]!;
    const d = new DataView(c.buffer, c.byteOffset + at, 20);
    const off = d.getUint32(8, true);
    const len = d.getUint32(12, true);
    if (bar !== VIRTIO_BAR || !(len === 1 || len === 2 || len === 4) || off % len !== 0 || off + len > VIRTIO_BAR_SIZE || size < len) return 0;
    if (value === undefined) return Number(this.bar.read(off, len));
    this.bar.write(off, len, value & (len === 4 ? 0xffffffff : (1 << (8 * len)) - 1));
    return 0;
  }
}

/** The common configuration register containing byte `off`: [start, width] ([x, 0]: none). */
function field(off: number): [number, number] {
  if (off < 0x10) return [off & ~3, 4];
  if (off < 0x14) return [off & ~1, 2];
  if (off < 0x16) return [off, 1];
  if (off < 0x20) return [off & ~1, 2];
  if (off < 0x38) return [off & ~3, 4];
  if (off < 0x3c) return [off & ~1, 2];
  return [off, 0];
}

export { ISR_QUEUE };
