/**
 * The machine's shared block: everything harts (worker threads) and the machine's main
 * thread share besides guest RAM. One SharedArrayBuffer, laid out here:
 *
 *   Int32 words 0..63      machine control (MCTL)
 *   byte 256               clock: epoch and pause bookkeeping (Float64)
 *   byte 512               CLINT mtimecmp, one u64 per hart (MAX_HARTS)
 *   byte 512 + 8*MAX_HARTS  hart state blocks (hart/state.ts), one per hart
 *   then                   console rings: guest->host bytes, host->guest bytes
 */
import { ByteRing } from '../../common/ring.js';
import { HART_STATE_BYTES } from '../hart/state.js';
import { UART_STATE_BYTES } from './uart.js';
import { Plic } from './plic.js';
import { RTC_STATE_BYTES } from './goldfish-rtc.js';

export const MAX_HARTS = 64;
/** QEMU virt's timebase: 10 MHz. */
export const TIMEBASE_HZ = 10_000_000;

export const MCTL = {
  /** Set by a device that ends the run: 1 = power off / exit, 2 = reset. */
  EXIT_REQ: 0,
  EXIT_CODE: 1,
  /** Futex word the main thread waits on for device requests. */
  MAIN_WAKE: 2,
  NHARTS: 3,
  /** 1 while the machine is paused (the guest clock stands still). */
  PAUSED: 4,
} as const;

const CLOCK_OFFSET = 256;
const MTIMECMP_OFFSET = 512;
const HARTS_OFFSET = MTIMECMP_OFFSET + 8 * MAX_HARTS;
const TX_RING = 1 << 16;
const RX_RING = 1 << 12;

export class MachineState {
  readonly ctl: Int32Array;
  /** [epochMs, pausedTotalMs, pausedAtMs] */
  readonly clock: Float64Array;
  readonly mtimecmp: BigUint64Array;
  readonly consoleOut: ByteRing;
  readonly consoleIn: ByteRing;
  readonly hartsOffset = HARTS_OFFSET;

  /** Device register files that live here, after the rings (64-byte aligned). */
  readonly uartOffset: number;
  readonly rtcOffset: number;
  readonly plicOffset: number;

  static bytesFor(nharts: number): number {
    return HARTS_OFFSET + HART_STATE_BYTES * nharts + ByteRing.bytesFor(TX_RING) + ByteRing.bytesFor(RX_RING) +
      align64(UART_STATE_BYTES) + align64(RTC_STATE_BYTES) + align64(Plic.bytesFor(nharts)) + 64;
  }

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly nharts: number,
    init = false,
  ) {
    this.ctl = new Int32Array(buffer, 0, 64);
    this.clock = new Float64Array(buffer, CLOCK_OFFSET, 4);
    this.mtimecmp = new BigUint64Array(buffer, MTIMECMP_OFFSET, MAX_HARTS);
    const ringsAt = HARTS_OFFSET + HART_STATE_BYTES * nharts;
    this.consoleOut = new ByteRing(buffer, ringsAt, TX_RING, init);
    this.consoleIn = new ByteRing(buffer, ringsAt + ByteRing.bytesFor(TX_RING), RX_RING, init);
    this.uartOffset = ringsAt + ByteRing.bytesFor(TX_RING) + ByteRing.bytesFor(RX_RING);
    this.rtcOffset = this.uartOffset + align64(UART_STATE_BYTES);
    this.plicOffset = this.rtcOffset + align64(RTC_STATE_BYTES);
    if (init) {
      this.ctl[MCTL.NHARTS] = nharts;
      this.clock[0] = performance.timeOrigin + performance.now();
      this.clock[1] = 0;
      this.mtimecmp.fill(0xffffffffffffffffn);
    }
  }

  hartStateOffset(hartId: number): number {
    return HARTS_OFFSET + HART_STATE_BYTES * hartId;
  }

  /** Machine time in timebase ticks; stands still while paused. */
  mtime(): number {
    const c = this.clock;
    const now = Atomics.load(this.ctl, MCTL.PAUSED) ? c[2]! : performance.timeOrigin + performance.now();
    return Math.floor((now - c[0]! - c[1]!) * (TIMEBASE_HZ / 1000));
  }

  pauseClock(): void {
    this.clock[2] = performance.timeOrigin + performance.now();
    Atomics.store(this.ctl, MCTL.PAUSED, 1);
  }

  resumeClock(): void {
    if (!Atomics.load(this.ctl, MCTL.PAUSED)) return;
    this.clock[1] = this.clock[1]! + (performance.timeOrigin + performance.now() - this.clock[2]!);
    Atomics.store(this.ctl, MCTL.PAUSED, 0);
  }
}

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}
