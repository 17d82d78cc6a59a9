/**
 * A hart's architectural state in shared memory, so that the machine's main thread and
 * the monitor can read the registers of a paused hart and steer it with flags it polls
 * at block boundaries (no message round trips).
 *
 * Layout of one hart's block (HART_STATE_BYTES, 64-byte aligned):
 *   Int32 words 0..63: control (CTL below)
 *   byte  256: x0..x31 and the sink register (34 x int64)
 *   byte  528: f0..f31 (32 x 64-bit patterns)
 *   byte  784: pc (int64), then the CSR snapshot (SNAP below), written when the hart
 *              pauses or stops.
 */

export const HART_STATE_BYTES = 4096;

/** Int32 word indices of the control area. */
export const CTL = {
  /** Requests to the hart (REQ bits), set by the machine, cleared by the hart. */
  REQUEST: 0,
  /** What the hart is doing (STATE values), written by the hart. */
  STATE: 1,
  /** Interrupt lines raised by devices, in mip bit positions (MSIP, MEIP, SEIP). */
  IRQ: 2,
  /** Futex word a sleeping hart waits on: bump it and wake to rouse the hart. */
  WAKE: 3,
  /** Current privilege level, mirrored for the monitor. */
  PRIV: 4,
  /** HSM: start address (low, high) and opaque for a hart started by another. */
  START_PC_LO: 5,
  START_PC_HI: 6,
  START_ARG_LO: 7,
  START_ARG_HI: 8,
  /** Futex word the machine waits on for STATE changes. */
  STATE_SEQ: 9,
} as const;

export const REQ = {
  PAUSE: 1,
  STEP: 2,
  RESET: 4,
  TERMINATE: 8,
  /** Start from START_PC (HSM hart_start, or the boot hart at power on). */
  START: 16,
} as const;

export const STATE = {
  RUNNING: 0,
  PAUSED: 1,
  WFI: 2,
  /** Not started (secondary harts before HSM start) or stopped. */
  STOPPED: 3,
  EXITED: 4,
} as const;

export const X_OFFSET = 256;
export const F_OFFSET = X_OFFSET + 34 * 8;
export const PC_OFFSET = F_OFFSET + 32 * 8;
export const SNAP_OFFSET = PC_OFFSET + 8;

/** CSRs in the snapshot, in order (int64 each). */
export const SNAP = [
  'mstatus', 'misa', 'medeleg', 'mideleg', 'mie', 'mip', 'mtvec', 'mscratch', 'mepc', 'mcause', 'mtval',
  'sstatus', 'stvec', 'sscratch', 'sepc', 'scause', 'stval', 'satp', 'fcsr', 'instret', 'priv',
  'menvcfg', 'stimecmp', 'mcounteren', 'scounteren',
] as const;

export type SnapName = (typeof SNAP)[number];

/** Read-only view of a hart's registers for the machine and the monitor. */
export class HartStateView {
  readonly ctl: Int32Array;
  readonly x: BigInt64Array;
  readonly f: BigInt64Array;
  private readonly pcArr: BigInt64Array;
  private readonly snap: BigInt64Array;

  constructor(buffer: SharedArrayBuffer, offset: number) {
    this.ctl = new Int32Array(buffer, offset, 64);
    this.x = new BigInt64Array(buffer, offset + X_OFFSET, 34);
    this.f = new BigInt64Array(buffer, offset + F_OFFSET, 32);
    this.pcArr = new BigInt64Array(buffer, offset + PC_OFFSET, 1);
    this.snap = new BigInt64Array(buffer, offset + SNAP_OFFSET, SNAP.length);
  }

  get pc(): bigint {
    return this.pcArr[0]!;
  }

  csr(name: SnapName): bigint {
    return this.snap[SNAP.indexOf(name)]!;
  }

  state(): number {
    return Atomics.load(this.ctl, CTL.STATE);
  }

  /** Shows a hart that has not run yet as it will start: M-mode at `pc`, STOPPED. */
  showReset(pc: number): void {
    this.pcArr[0] = BigInt(pc);
    this.snap[SNAP.indexOf('priv')] = 3n;
    Atomics.store(this.ctl, CTL.STATE, STATE.STOPPED);
  }
}
