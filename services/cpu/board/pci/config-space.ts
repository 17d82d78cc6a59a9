/**
 * A PCI function's configuration space (PCI Local Bus 3.0, ch. 6: the type 0 header and
 * the capability list), held in shared memory so every hart thread sees one function.
 *
 * What a function is comes from its `PciFunctionSpec`, which every thread builds alike:
 * the read-only identity bytes are written once (`init`), and the write masks (which
 * bits software may change) are per-thread constants computed from the spec. BARs are
 * sized the standard way: the bits below the BAR's size are read-only zeros, so writing
 * all ones and reading back gives ~(size - 1) plus the type bits. Accesses are 1, 2 or 4
 * bytes at their natural alignment, under a spinlock word, as the other shared devices.
 *
 * Not modelled: the expansion ROM BAR (reads 0), BIST, parity and SERR reporting, the
 * status register's error bits (read 0), PCI Express and extended capabilities (config
 * bytes 256..4095 read 0, so Linux sees a conventional function).
 */
import type { MmioDevice } from '../../bus.js';

export interface BarSpec {
  /** BAR number 0..5 (a 64-bit BAR takes this one and the next). */
  index: number;
  /** A power of two: at least 16 for memory, 4 for I/O. */
  size: number;
  kind: 'mem32' | 'mem64' | 'io';
  prefetchable?: boolean;
  /** What answers inside the BAR, at offsets from its base. */
  device: MmioDevice;
}

/** A capability structure in the list (its first two bytes, id and next, are set here). */
export interface CapabilitySpec {
  id: number;
  /** The whole structure, id and next included (placeholders). */
  bytes: Uint8Array;
  /** Bits software may write, per byte (default none). */
  writable?: Uint8Array;
  /** Reads of these bytes are answered by `read` instead of the stored bytes. */
  dynamic?: { from: number; to: number; read(off: number, size: number): number; write(off: number, size: number, value: number): void };
}

export interface PciFunctionSpec {
  vendorId: number;
  deviceId: number;
  revision: number;
  /** Base class, subclass, programming interface as one 24-bit value (0x060000: host bridge). */
  classCode: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 0 for none, 1..4 for INTA#..INTD#. */
  interruptPin: number;
  bars: BarSpec[];
  capabilities?: CapabilitySpec[];
}

export const PCI_CONFIG_BYTES = 256;
/** Shared bytes a function takes: a lock word, then its 256 configuration bytes. */
export const PCI_FN_BYTES = 64 + PCI_CONFIG_BYTES;

export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_IO = 1;
export const PCI_COMMAND_MEMORY = 2;
export const PCI_COMMAND_MASTER = 4;
export const PCI_COMMAND_INTX_DISABLE = 0x400;
export const PCI_STATUS = 0x06;
export const PCI_STATUS_INTERRUPT = 0x08;
export const PCI_STATUS_CAP_LIST = 0x10;
const CAP_START = 0x40;

export interface DecodedBar {
  spec: BarSpec;
  /** Bus address the BAR holds now. */
  base: number;
}

export class PciFunction {
  private readonly lockWord: Int32Array;
  readonly config: Uint8Array;
  private readonly dv: DataView;
  private readonly wmask = new Uint8Array(PCI_CONFIG_BYTES);
  private readonly dynamic: NonNullable<CapabilitySpec['dynamic']>[] = [];
  /** INTx status (the status register's bit 3) comes from here when set. */
  interruptStatus: () => boolean = () => false;

  constructor(
    shared: SharedArrayBuffer,
    offset: number,
    readonly spec: PciFunctionSpec,
    init: boolean,
  ) {
    if (offset % 64 !== 0) throw new RangeError('PCI function state must be 64-byte aligned');
    this.lockWord = new Int32Array(shared, offset, 1);
    this.config = new Uint8Array(shared, offset + 64, PCI_CONFIG_BYTES);
    this.dv = new DataView(shared, offset + 64, PCI_CONFIG_BYTES);
    const img = new Uint8Array(PCI_CONFIG_BYTES);
    const d = new DataView(img.buffer);
    d.setUint16(0x00, spec.vendorId, true);
    d.setUint16(0x02, spec.deviceId, true);
    img[0x08] = spec.revision;
    img[0x09] = spec.classCode & 0xff;
    img[0x0a] = (spec.classCode >> 8) & 0xff;
    img[0x0b] = (spec.classCode >> 16) & 0xff;
    img[0x0e] = 0; // header type 0, single function
    d.setUint16(0x2c, spec.subsystemVendorId ?? 0, true);
    d.setUint16(0x2e, spec.subsystemId ?? 0, true);
    img[0x3d] = spec.interruptPin;
    // command: I/O, memory, bus master, parity, SERR, INTx disable
    this.wmask[0x04] = 0x47;
    this.wmask[0x05] = 0x05;
    this.wmask[0x0c] = 0xff; // cache line size
    this.wmask[0x0d] = 0xff; // latency timer
    this.wmask[0x3c] = 0xff; // interrupt line
    for (const b of spec.bars) {
      if (b.size < (b.kind === 'io' ? 4 : 16) || (b.size & (b.size - 1)) !== 0) throw new RangeError(`BAR ${b.index}: size ${b.size} is not a power of two`);
      const at = 0x10 + 4 * b.index;
      const low = b.kind === 'io' ? 1 : (b.kind === 'mem64' ? 4 : 0) | (b.prefetchable ? 8 : 0);
      img[at] = low;
      const mask = b.size >= 2 ** 32 ? 0 : (~(b.size - 1) & (b.kind === 'io' ? ~3 : ~15)) >>> 0;
      new DataView(this.wmask.buffer).setUint32(at, mask, true);
      if (b.kind === 'mem64') new DataView(this.wmask.buffer).setUint32(at + 4, b.size > 2 ** 32 ? (~(b.size / 2 ** 32 - 1)) >>> 0 : 0xffffffff, true);
    }
    const caps = spec.capabilities ?? [];
    let at = CAP_START;
    let prevNext = 0x34;
    for (const c of caps) {
      img[prevNext] = at;
      img.set(c.bytes, at);
      img[at] = c.id;
      img[at + 1] = 0;
      if (c.writable) this.wmask.set(c.writable, at);
      if (c.dynamic) this.dynamic.push({ from: at + c.dynamic.from, to: at + c.dynamic.to, read: (o, s) => c.dynamic!.read(o - at, s), write: (o, s, v) => c.dynamic!.write(o - at, s, v) });
      prevNext = at + 1;
      at = (at + c.bytes.length + 3) & ~3;
      if (at > PCI_CONFIG_BYTES) throw new RangeError('capabilities do not fit in configuration space');
    }
    if (caps.length > 0) img[PCI_STATUS] = PCI_STATUS_CAP_LIST;
    if (init) {
      this.config.set(img);
      Atomics.store(this.lockWord, 0, 0);
    }
  }

  private lock(): void {
    while (Atomics.compareExchange(this.lockWord, 0, 0, 1) !== 0) {
      // another hart is inside a configuration access
    }
  }

  private unlock(): void {
    Atomics.store(this.lockWord, 0, 0);
  }

  /** Back to power-on: command, BARs and the writable bytes cleared. */
  reset(): void {
    this.lock();
    try {
      for (let i = 0; i < PCI_CONFIG_BYTES; i++) if (this.wmask[i]) this.config[i]! &= ~this.wmask[i]!;
    } finally {
      this.unlock();
    }
  }

  readConfig(off: number, size: number): number {
    if (off + size > PCI_CONFIG_BYTES || off % size !== 0) return 0;
    for (const d of this.dynamic) if (off >= d.from && off < d.to) return d.read(off, size);
    this.lock();
    let v: number;
    try {
      v = size === 1 ? this.config[off]! : size === 2 ? this.dv.getUint16(off, true) : this.dv.getUint32(off, true);
    } finally {
      this.unlock();
    }
    // the INTx status bit is live
    if (off <= PCI_STATUS && off + size > PCI_STATUS && this.interruptStatus()) v |= PCI_STATUS_INTERRUPT << ((PCI_STATUS - off) * 8);
    return v >>> 0;
  }

  writeConfig(off: number, size: number, value: number): void {
    if (off + size > PCI_CONFIG_BYTES || off % size !== 0) return;
    for (const d of this.dynamic) {
      if (off >= d.from && off < d.to) {
        d.write(off, size, value >>> 0);
        return;
      }
    }
    this.lock();
    try {
      for (let i = 0; i < size; i++) {
        const m = this.wmask[off + i]!;
        if (m === 0) continue;
        const b = (value >>> (8 * i)) & 0xff;
        this.config[off + i] = (this.config[off + i]! & ~m) | (b & m);
      }
    } finally {
      this.unlock();
    }
  }

  command(): number {
    return this.dv.getUint16(PCI_COMMAND, true);
  }

  /**
   * The BAR that decodes bus address `addr` now (its space enabled in the command
   * register), or undefined. Allocation-free: the result object is reused.
   */
  barAt(io: boolean, addr: number): DecodedBar | undefined {
    const cmd = this.dv.getUint16(PCI_COMMAND, true);
    if (!(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY))) return undefined;
    const bars = this.spec.bars;
    for (let i = 0; i < bars.length; i++) {
      const b = bars[i]!;
      if ((b.kind === 'io') !== io) continue;
      const at = 0x10 + 4 * b.index;
      const lo = (this.dv.getUint32(at, true) & (io ? ~3 : ~15)) >>> 0;
      const hi = b.kind === 'mem64' ? this.dv.getUint32(at + 4, true) : 0;
      const base = hi * 2 ** 32 + lo;
      if (base !== 0 && addr >= base && addr < base + b.size) {
        this.hit.spec = b;
        this.hit.base = base;
        return this.hit;
      }
    }
    return undefined;
  }

  private readonly hit: DecodedBar = { spec: undefined as unknown as BarSpec, base: 0 };
}
