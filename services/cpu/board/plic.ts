/**
 * The SiFive PLIC (RISC-V Platform-Level Interrupt Controller, riscv-plic-spec 1.0.0)
 * as QEMU's virt board maps it at 0xc000000:
 *
 *   0x000000 + 4*id           source priority, ids 1..95 (id 0 does not exist)
 *   0x001000 + 4*w            pending bits, sources 32w..32w+31 (read-only)
 *   0x002000 + 0x80*ctx + 4*w enable bits of context ctx
 *   0x200000 + 0x1000*ctx     priority threshold of context ctx
 *   0x200004 + 0x1000*ctx     claim (read) / complete (write)
 *
 * Two contexts per hart, as QEMU virt: context 2h is hart h's M-mode (drives MEIP),
 * context 2h+1 its S-mode (drives SEIP). Priorities and thresholds are 3 bits (0..7),
 * WARL by masking, as QEMU's virt PLIC (VIRT_PLIC_NUM_PRIORITIES 7) keeps them.
 *
 * Sources are level-triggered, through the spec's gateway: the first assertion of a
 * level sets the pending bit; a level that drops again does not retract it; while a
 * claimed interrupt is in service no new request is forwarded; on completion a level
 * still asserted becomes pending again. A claim returns the pending, enabled source of
 * the highest priority above the context's threshold (ties: the lowest id), as QEMU does
 * (the spec lets a claim ignore the threshold; Linux never relies on either). A
 * completion of a source not enabled for the context is ignored, as the spec says.
 *
 * The register file lives in shared memory: every hart thread (and any device backend
 * thread) has its own Plic over the same words, and each access runs under a spinlock
 * word taken with Atomics.compareExchange. The interrupt outputs are the MEIP/SEIP bits
 * of each hart's ctl[CTL.IRQ]; a line that goes up also bumps ctl[CTL.WAKE] and wakes a
 * hart sleeping in WFI (after the lock is released).
 */
import type { MmioDevice } from '../bus.js';
import { wake } from '../../common/futex.js';
import { CTL } from '../hart/state.js';
import { MIP_MEIP, MIP_SEIP } from '../hart/csr.js';

export const PLIC_BASE = 0xc000000;
/** QEMU virt's PLIC window (room for 512 harts' contexts). */
export const PLIC_SIZE = 0x600000;
/** The highest source id (riscv,ndev). Sources are 1..PLIC_NDEV. */
export const PLIC_NDEV = 95;
/** Priorities and thresholds keep these bits. */
export const PLIC_PRIORITY_MASK = 7;

const WORDS = (PLIC_NDEV + 1 + 31) >> 5; // 3 words of source bits (ids 0..95)

// Shared Int32 word indices
const LOCK = 0;
const PRIORITY = 4; // PLIC_NDEV + 1 words, by id
const PENDING = PRIORITY + PLIC_NDEV + 1;
/** Claimed and not yet completed: the gateway holds back new requests. */
const IN_SERVICE = PENDING + WORDS;
/** The current input level of each source. */
const LEVEL = IN_SERVICE + WORDS;
const CONTEXTS = LEVEL + WORDS;
/** Per context: WORDS enable words, then the threshold. */
const CTX_WORDS = WORDS + 1;
const CTX_THRESHOLD = WORDS;

const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x200000;
const CONTEXT_STRIDE = 0x1000;

export class Plic implements MmioDevice {
  readonly name = 'plic';
  readonly widths = [4] as const;
  private readonly s: Int32Array;
  private readonly contexts: number;
  private readonly ctls: Int32Array[];
  /** Harts whose line went up during the current access, woken after unlocking. */
  private readonly toWake: Int32Array;
  private nWake = 0;

  /** Shared bytes the register file of a PLIC with `harts` harts takes. */
  static bytesFor(harts: number): number {
    return Math.ceil(((CONTEXTS + CTX_WORDS * 2 * harts) * 4) / 64) * 64;
  }

  constructor(
    shared: SharedArrayBuffer,
    offset: number,
    readonly harts: number,
    hartCtl: (h: number) => Int32Array,
    init: boolean,
  ) {
    if (!Number.isInteger(harts) || harts < 1) throw new RangeError(`invalid hart count ${harts}`);
    if (offset % 4 !== 0) throw new RangeError('the PLIC state must be 4-byte aligned');
    this.s = new Int32Array(shared, offset, Plic.bytesFor(harts) / 4);
    this.contexts = 2 * harts;
    this.ctls = Array.from({ length: harts }, (_, h) => hartCtl(h));
    this.toWake = new Int32Array(2 * harts);
    if (init) {
      this.s.fill(0);
      for (const ctl of this.ctls) Atomics.and(ctl, CTL.IRQ, ~(MIP_MEIP | MIP_SEIP));
    }
  }

  /**
   * Sets the input level of interrupt source `source` (1..95). Any thread may call it;
   * a device calls it with its current level whenever that may have changed.
   */
  setLevel(source: number, level: boolean | number): void {
    if (!Number.isInteger(source) || source < 1 || source > PLIC_NDEV) throw new RangeError(`no PLIC source ${source}`);
    const w = source >> 5;
    const bit = 1 << (source & 31);
    const on = level !== false && level !== 0;
    // Fast path: the level is what it was (devices re-send their level on every access).
    if (((Atomics.load(this.s, LEVEL + w) & bit) !== 0) === on) return;
    this.lock();
    try {
      const s = this.s;
      if (on) {
        s[LEVEL + w] |= bit;
        // the gateway forwards a request unless one is pending or in service
        if ((s[PENDING + w]! & bit) === 0 && (s[IN_SERVICE + w]! & bit) === 0) {
          s[PENDING + w] |= bit;
          this.update();
        }
      } else {
        s[LEVEL + w] &= ~bit;
      }
    } finally {
      this.unlock();
      this.wakeHarts();
    }
  }

  /**
   * Back to the power-on state: priorities, enables and thresholds zero, nothing in
   * service. The input levels are wires, not PLIC state: one still asserted is pending
   * again, as the gateway sees it anew.
   */
  reset(): void {
    this.lock();
    try {
      const s = this.s;
      s.fill(0, LOCK + 1, LEVEL);
      s.fill(0, CONTEXTS);
      for (let w = 0; w < WORDS; w++) s[PENDING + w] = s[LEVEL + w]!;
      this.update();
    } finally {
      this.unlock();
      this.wakeHarts();
    }
  }

  /** A `(level) => void` line for a device's interrupt output. */
  line(source: number): (level: boolean) => void {
    return (level) => this.setLevel(source, level);
  }

  read(off: number, size: number): number {
    if (size !== 4 || (off & 3) !== 0) return 0;
    this.lock();
    try {
      const s = this.s;
      if (off < 0x1000) {
        const id = off >> 2;
        return id >= 1 && id <= PLIC_NDEV ? s[PRIORITY + id]! : 0;
      }
      if (off < ENABLE_BASE) {
        const w = (off - 0x1000) >> 2;
        return w < WORDS ? s[PENDING + w]! >>> 0 : 0;
      }
      if (off < CONTEXT_BASE) {
        const ctx = Math.floor((off - ENABLE_BASE) / ENABLE_STRIDE);
        const w = ((off - ENABLE_BASE) % ENABLE_STRIDE) >> 2;
        return ctx < this.contexts && w < WORDS ? s[CONTEXTS + CTX_WORDS * ctx + w]! >>> 0 : 0;
      }
      const ctx = Math.floor((off - CONTEXT_BASE) / CONTEXT_STRIDE);
      if (ctx >= this.contexts) return 0;
      const reg = (off - CONTEXT_BASE) % CONTEXT_STRIDE;
      if (reg === 0) return s[CONTEXTS + CTX_WORDS * ctx + CTX_THRESHOLD]!;
      if (reg === 4) return this.claim(ctx);
      return 0;
    } finally {
      this.unlock();
      this.wakeHarts();
    }
  }

  write(off: number, size: number, value: number | bigint): void {
    if (size !== 4 || (off & 3) !== 0) return;
    const v = Number(BigInt.asUintN(32, BigInt(value))) | 0;
    this.lock();
    try {
      const s = this.s;
      if (off < 0x1000) {
        const id = off >> 2;
        if (id < 1 || id > PLIC_NDEV) return;
        s[PRIORITY + id] = v & PLIC_PRIORITY_MASK;
        this.update();
        return;
      }
      if (off < ENABLE_BASE) return; // pending bits are read-only
      if (off < CONTEXT_BASE) {
        const ctx = Math.floor((off - ENABLE_BASE) / ENABLE_STRIDE);
        const w = ((off - ENABLE_BASE) % ENABLE_STRIDE) >> 2;
        if (ctx >= this.contexts || w >= WORDS) return;
        s[CONTEXTS + CTX_WORDS * ctx + w] = w === 0 ? v & ~1 : v; // source 0 does not exist
        this.update();
        return;
      }
      const ctx = Math.floor((off - CONTEXT_BASE) / CONTEXT_STRIDE);
      if (ctx >= this.contexts) return;
      const reg = (off - CONTEXT_BASE) % CONTEXT_STRIDE;
      if (reg === 0) {
        s[CONTEXTS + CTX_WORDS * ctx + CTX_THRESHOLD] = v & PLIC_PRIORITY_MASK;
        this.update();
      } else if (reg === 4) {
        this.complete(ctx, v >>> 0);
      }
    } finally {
      this.unlock();
      this.wakeHarts();
    }
  }

  private lock(): void {
    while (Atomics.compareExchange(this.s, LOCK, 0, 1) !== 0) {
      // another thread is inside a register access: a few instructions
    }
  }

  private unlock(): void {
    Atomics.store(this.s, LOCK, 0);
  }

  /** The source context `ctx` would claim now (0: none). Lock held. */
  private best(ctx: number): number {
    const s = this.s;
    const base = CONTEXTS + CTX_WORDS * ctx;
    let bestPrio = s[base + CTX_THRESHOLD]!;
    let bestId = 0;
    for (let w = 0; w < WORDS; w++) {
      let bits = s[PENDING + w]! & s[base + w]!;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const id = (w << 5) | b;
        const p = s[PRIORITY + id]!;
        // ascending ids and a strict comparison: ties go to the lowest id
        if (p > bestPrio) {
          bestPrio = p;
          bestId = id;
        }
      }
    }
    return bestId;
  }

  private claim(ctx: number): number {
    const id = this.best(ctx);
    if (id !== 0) {
      const w = id >> 5;
      const bit = 1 << (id & 31);
      this.s[PENDING + w] &= ~bit;
      this.s[IN_SERVICE + w] |= bit;
      this.update();
    }
    return id;
  }

  private complete(ctx: number, id: number): void {
    if (id < 1 || id > PLIC_NDEV) return;
    const s = this.s;
    const w = id >> 5;
    const bit = 1 << (id & 31);
    if ((s[CONTEXTS + CTX_WORDS * ctx + w]! & bit) === 0) return; // not enabled here: ignored
    s[IN_SERVICE + w] &= ~bit;
    // the gateway forwards a level that is still asserted
    if ((s[LEVEL + w]! & bit) !== 0) s[PENDING + w] |= bit;
    this.update();
  }

  /** Drives every context's MEIP/SEIP from the state. Lock held. */
  private update(): void {
    for (let ctx = 0; ctx < this.contexts; ctx++) {
      const h = ctx >> 1;
      const bit = (ctx & 1) === 0 ? MIP_MEIP : MIP_SEIP;
      const ctl = this.ctls[h]!;
      const want = this.best(ctx) !== 0;
      const has = (Atomics.load(ctl, CTL.IRQ) & bit) !== 0;
      if (want === has) continue;
      if (want) {
        const old = Atomics.or(ctl, CTL.IRQ, bit);
        if ((old & bit) === 0) {
          Atomics.add(ctl, CTL.WAKE, 1);
          this.toWake[this.nWake++] = h;
        }
      } else {
        Atomics.and(ctl, CTL.IRQ, ~bit);
      }
    }
  }

  /** Wakes the harts whose line went up, outside the lock (a syscall each). */
  private wakeHarts(): void {
    // nWake is this object's own (one per thread), so no lock is needed here
    while (this.nWake > 0) {
      const h = this.toWake[--this.nWake]!;
      wake(this.ctls[h]!, CTL.WAKE);
    }
  }
}
