/**
 * ns16550a UART (QEMU virt's UART0 at 0x10000000, PLIC source 10).
 *
 * The register file lives in shared memory (UART_STATE_BYTES at an offset of the
 * machine block) so every hart thread and the main thread see one UART; accesses run
 * under a small spinlock. Transmitted bytes go into the machine's console-out ring
 * (drained by the main thread to the -serial backend); received bytes come from the
 * console-in ring, and the main thread calls `rxArrived()` after filling it so the
 * receive interrupt rises. Transmission is instantaneous: THR is always empty again by
 * the time the guest looks, which raises the THR-empty interrupt when it is enabled.
 */
import type { MmioDevice } from '../bus.js';
import type { ByteRing } from '../../common/ring.js';

export const UART0_BASE = 0x10000000;
export const UART0_SIZE = 0x100;
export const UART0_IRQ = 10;
export const UART_STATE_BYTES = 64;

const LSR_DR = 0x01;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const IER_RDI = 0x01;
const IER_THRI = 0x02;

// shared words
const LOCK = 0;
const IER = 1;
const LCR = 2;
const MCR = 3;
const SCR = 4;
const DLL = 5;
const DLM = 6;
const FCR = 7;
/** THR-empty interrupt latched (cleared by reading IIR while it is the cause, or by a write to THR). */
const THRI_PENDING = 8;

export class Uart16550 implements MmioDevice {
  readonly name = 'uart0';
  readonly widths = [1] as const;
  private readonly s: Int32Array;
  private readonly one = new Uint8Array(1);

  constructor(
    shared: SharedArrayBuffer,
    offset: number,
    private readonly tx: ByteRing,
    private readonly rx: ByteRing,
    private readonly irq: (level: boolean) => void = () => {},
    init = false,
  ) {
    this.s = new Int32Array(shared, offset, UART_STATE_BYTES / 4);
    if (init) this.s.fill(0);
  }

  private lock(): void {
    while (Atomics.compareExchange(this.s, LOCK, 0, 1) !== 0) {
      // contention is brief: another hart is inside a register access
    }
  }

  private unlock(): void {
    Atomics.store(this.s, LOCK, 0);
  }

  /** Recomputes the interrupt line (called with the lock held). */
  private update(): void {
    const ier = this.s[IER]!;
    const level = ((ier & IER_RDI) !== 0 && this.rx.readable() > 0) || ((ier & IER_THRI) !== 0 && this.s[THRI_PENDING] !== 0);
    this.irq(level);
  }

  /** The host put bytes into the console-in ring. */
  rxArrived(): void {
    this.lock();
    try {
      this.update();
    } finally {
      this.unlock();
    }
  }

  read(off: number): number {
    this.lock();
    try {
      const s = this.s;
      const dlab = (s[LCR]! & 0x80) !== 0;
      switch (off) {
        case 0: {
          if (dlab) return s[DLL]!;
          const v = this.rx.pop(this.one) === 1 ? this.one[0]! : 0;
          this.update();
          return v;
        }
        case 1: return dlab ? s[DLM]! : s[IER]!;
        case 2: {
          const fifo = (s[FCR]! & 1) !== 0 ? 0xc0 : 0;
          const ier = s[IER]!;
          if ((ier & IER_RDI) !== 0 && this.rx.readable() > 0) return fifo | 0x04;
          if ((ier & IER_THRI) !== 0 && s[THRI_PENDING] !== 0) {
            s[THRI_PENDING] = 0;
            this.update();
            return fifo | 0x02;
          }
          return fifo | 0x01;
        }
        case 3: return s[LCR]!;
        case 4: return s[MCR]!;
        case 5: return LSR_THRE | LSR_TEMT | (this.rx.readable() > 0 ? LSR_DR : 0);
        case 6: return (s[MCR]! & 0x10) !== 0 ? ((s[MCR]! & 0x0c) << 4) | ((s[MCR]! & 0x03) << 4) : 0xb0;
        case 7: return s[SCR]!;
      }
      return 0;
    } finally {
      this.unlock();
    }
  }

  write(off: number, _size: number, value: number | bigint): void {
    const v = Number(value) & 0xff;
    this.lock();
    try {
      const s = this.s;
      const dlab = (s[LCR]! & 0x80) !== 0;
      switch (off) {
        case 0:
          if (dlab) {
            s[DLL] = v;
            return;
          }
          this.one[0] = v;
          // back-pressure: wait for the host side to drain rather than drop output
          while (this.tx.push(this.one) === 0) this.tx.waitWritable(1, 100);
          s[THRI_PENDING] = 1; // sent at once: THR empty again
          this.update();
          return;
        case 1:
          if (dlab) {
            s[DLM] = v;
            return;
          }
          // enabling the THR-empty interrupt while THR is empty raises it
          if ((v & IER_THRI) !== 0 && (s[IER]! & IER_THRI) === 0) s[THRI_PENDING] = 1;
          s[IER] = v & 0x0f;
          this.update();
          return;
        case 2: s[FCR] = v & 0xc9; return;
        case 3: s[LCR] = v; return;
        case 4: s[MCR] = v & 0x1f; return;
        case 7: s[SCR] = v; return;
      }
    } finally {
      this.unlock();
    }
  }
}
