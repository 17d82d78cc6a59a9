/**
 * The goldfish RTC (Android's emulator clock, compatible "google,goldfish-rtc"), as QEMU's
 * virt board maps it at 0x101000 on PLIC source 11. Linux's rtc-goldfish driver uses it.
 * Every register is 32 bits:
 *
 *   0x00 TIME_LOW         R: the time (ns since the epoch), low half; latches the high half
 *                         W: replaces the low half of the time
 *   0x04 TIME_HIGH        R: the high half latched by the last TIME_LOW read
 *                         W: replaces the high half of the time
 *   0x08 ALARM_LOW        R/W: alarm low half; a write arms the alarm (one already due
 *                         fires at once)
 *   0x0c ALARM_HIGH       R/W: alarm high half
 *   0x10 IRQ_ENABLED      R/W: bit 0 lets a fired alarm raise the interrupt
 *   0x14 CLEAR_ALARM      W: disarms the alarm
 *   0x18 ALARM_STATUS     R: 1 while the alarm is armed
 *   0x1c CLEAR_INTERRUPT  W: lowers the interrupt
 *
 * The time is the host's wall clock plus an offset the guest sets by writing TIME_*.
 * The state lives in shared memory (RTC_STATE_BYTES) under a spinlock, so each hart
 * thread can have its own GoldfishRtc. An alarm fires when someone looks: on any register
 * access, on `poll()`, and in time from `watchAlarms()`, which one thread with an event
 * loop (the machine's main thread) runs: it sleeps on a futex word that every arming
 * bumps, or until the next deadline.
 */
import type { MmioDevice } from '../bus.js';
import { waitAsync, wake } from '../../common/futex.js';

export const RTC_BASE = 0x101000;
export const RTC_SIZE = 0x1000;
export const RTC_IRQ = 11;
export const RTC_STATE_BYTES = 64;

const REG = {
  TIME_LOW: 0x00,
  TIME_HIGH: 0x04,
  ALARM_LOW: 0x08,
  ALARM_HIGH: 0x0c,
  IRQ_ENABLED: 0x10,
  CLEAR_ALARM: 0x14,
  ALARM_STATUS: 0x18,
  CLEAR_INTERRUPT: 0x1c,
} as const;

// shared Int32 words
const LOCK = 0;
/** Futex word: bumped whenever the alarm deadline may have changed. */
const SEQ = 1;
const ALARM_RUNNING = 2;
const IRQ_PENDING = 3;
const IRQ_ENABLED = 4;
const TIME_HIGH_LATCH = 5;
// shared BigInt64 slots, from byte 32
const OFFSET_NS = 0;
const ALARM_NS = 1;

const MASK64 = (1n << 64n) - 1n;
/** The longest single sleep of the alarm watcher, so that it never sleeps unboundedly. */
const MAX_SLEEP_MS = 60_000;

/** The host's wall clock in ns since the epoch (microsecond resolution). */
export function hostClockNs(): bigint {
  return BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

export class GoldfishRtc implements MmioDevice {
  readonly name = 'goldfish-rtc';
  readonly widths = [4] as const;
  private readonly s: Int32Array;
  private readonly t: BigInt64Array;
  private wakeWatcher = false;

  constructor(
    shared: SharedArrayBuffer,
    offset: number,
    /** Drives the interrupt line (PLIC source 11). */
    private readonly raise: (level: boolean) => void,
    init = false,
    /** The host clock, ns since the epoch (tests give a fake one). */
    private readonly clock: () => bigint = hostClockNs,
  ) {
    if (offset % 8 !== 0) throw new RangeError('the RTC state must be 8-byte aligned');
    this.s = new Int32Array(shared, offset, 8);
    this.t = new BigInt64Array(shared, offset + 32, 2);
    if (init) {
      new Int32Array(shared, offset, RTC_STATE_BYTES / 4).fill(0);
    }
  }

  read(off: number, size: number): number {
    if (size !== 4) return 0;
    this.lock();
    try {
      const now = this.guestNow();
      this.expire(now);
      const s = this.s;
      switch (off) {
        case REG.TIME_LOW:
          s[TIME_HIGH_LATCH] = Number(now >> 32n) | 0;
          return Number(now & 0xffffffffn);
        case REG.TIME_HIGH:
          return s[TIME_HIGH_LATCH]! >>> 0;
        case REG.ALARM_LOW:
          return Number(BigInt.asUintN(32, this.t[ALARM_NS]!));
        case REG.ALARM_HIGH:
          return Number(BigInt.asUintN(64, this.t[ALARM_NS]!) >> 32n);
        case REG.IRQ_ENABLED:
          return s[IRQ_ENABLED]!;
        case REG.ALARM_STATUS:
          return s[ALARM_RUNNING]!;
      }
      return 0;
    } finally {
      this.unlock();
    }
  }

  write(off: number, size: number, value: number | bigint): void {
    if (size !== 4) return;
    const v = BigInt.asUintN(32, BigInt(value));
    this.lock();
    try {
      const s = this.s;
      const now = this.guestNow();
      this.expire(now);
      switch (off) {
        case REG.TIME_LOW:
        case REG.TIME_HIGH: {
          // replace one half of the current time; the other half keeps running
          const shift = off === REG.TIME_LOW ? 0n : 32n;
          const want = (now & ~(0xffffffffn << shift) & MASK64) | (v << shift);
          this.t[OFFSET_NS] = BigInt.asIntN(64, this.t[OFFSET_NS]! + want - now);
          this.expire(want);
          this.wakeWatcher = true;
          break;
        }
        case REG.ALARM_LOW: {
          const a = (BigInt.asUintN(64, this.t[ALARM_NS]!) & ~0xffffffffn) | v;
          this.t[ALARM_NS] = BigInt.asIntN(64, a);
          s[ALARM_RUNNING] = 1;
          this.expire(now);
          this.wakeWatcher = true;
          break;
        }
        case REG.ALARM_HIGH: {
          const a = (BigInt.asUintN(64, this.t[ALARM_NS]!) & 0xffffffffn) | (v << 32n);
          this.t[ALARM_NS] = BigInt.asIntN(64, a);
          break;
        }
        case REG.IRQ_ENABLED:
          s[IRQ_ENABLED] = Number(v & 1n);
          this.update();
          break;
        case REG.CLEAR_ALARM:
          s[ALARM_RUNNING] = 0;
          this.wakeWatcher = true;
          break;
        case REG.CLEAR_INTERRUPT:
          s[IRQ_PENDING] = 0;
          this.update();
          break;
      }
    } finally {
      this.unlock();
      this.notifyWatcher();
    }
  }

  /**
   * Machine reset: the alarm disarmed, the interrupt cleared and disabled, the line
   * down. The time (and the offset the guest set) runs on, as a battery-backed clock's.
   */
  reset(): void {
    this.lock();
    try {
      this.s[ALARM_RUNNING] = 0;
      this.s[IRQ_PENDING] = 0;
      this.s[IRQ_ENABLED] = 0;
      this.s[TIME_HIGH_LATCH] = 0;
      this.t[ALARM_NS] = 0n;
      this.update();
      this.wakeWatcher = true;
    } finally {
      this.unlock();
      this.notifyWatcher();
    }
  }

  /**
   * Fires the alarm if it is due; returns the ms until it is (undefined when no alarm
   * is armed).
   */
  poll(): number | undefined {
    this.lock();
    try {
      const now = this.guestNow();
      this.expire(now);
      if (this.s[ALARM_RUNNING] === 0) return undefined;
      const left = BigInt.asUintN(64, this.t[ALARM_NS]!) - now;
      return Math.max(0, Number(left) / 1e6);
    } finally {
      this.unlock();
    }
  }

  /**
   * Fires alarms in time, from a thread with an event loop (the main thread). Returns a
   * function that stops the watcher.
   */
  watchAlarms(): () => void {
    let stopped = false;
    const loop = async () => {
      while (!stopped) {
        const seq = Atomics.load(this.s, SEQ);
        const left = this.poll();
        const ms = left === undefined ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(1, Math.ceil(left)));
        await waitAsync(this.s, SEQ, seq, ms);
      }
    };
    void loop();
    return () => {
      stopped = true;
      Atomics.add(this.s, SEQ, 1);
      wake(this.s, SEQ);
    };
  }

  private guestNow(): bigint {
    return BigInt.asUintN(64, this.clock() + this.t[OFFSET_NS]!);
  }

  /** The alarm fires once the time reaches it. Lock held. */
  private expire(now: bigint): void {
    if (this.s[ALARM_RUNNING] !== 0 && now >= BigInt.asUintN(64, this.t[ALARM_NS]!)) {
      this.s[ALARM_RUNNING] = 0;
      this.s[IRQ_PENDING] = 1;
      this.update();
    }
  }

  /** Lock held: the line is up while a fired alarm is pending and enabled. */
  private update(): void {
    this.raise(this.s[IRQ_PENDING] !== 0 && this.s[IRQ_ENABLED] !== 0);
  }

  private notifyWatcher(): void {
    if (!this.wakeWatcher) return;
    this.wakeWatcher = false;
    Atomics.add(this.s, SEQ, 1);
    wake(this.s, SEQ);
  }

  private lock(): void {
    while (Atomics.compareExchange(this.s, LOCK, 0, 1) !== 0) {
      // another thread is inside a register access
    }
  }

  private unlock(): void {
    Atomics.store(this.s, LOCK, 0);
  }
}
