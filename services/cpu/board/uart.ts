/**
 * ns16550a UART (QEMU virt's UART0 at 0x10000000). The register file is small enough to
 * keep per hart thread; what crosses threads are the bytes: transmitted bytes go into the
 * machine's console-out ring (drained by the main thread to the chosen -serial backend),
 * received bytes come from the console-in ring.
 */
import type { MmioDevice } from '../bus.js';
import type { ByteRing } from '../../common/ring.js';

export const UART0_BASE = 0x10000000;
export const UART0_SIZE = 0x100;

const LSR_DR = 0x01;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

export class Uart16550 implements MmioDevice {
  readonly name = 'uart0';
  readonly widths = [1] as const;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fcr = 0;
  private readonly one = new Uint8Array(1);

  constructor(
    private readonly tx: ByteRing,
    private readonly rx: ByteRing,
  ) {}

  read(off: number): number {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (off) {
      case 0:
        if (dlab) return this.dll;
        return this.rx.pop(this.one) === 1 ? this.one[0]! : 0;
      case 1: return dlab ? this.dlm : this.ier;
      case 2: // IIR: FIFOs enabled bits when FCR enabled them; no interrupt pending
        return ((this.fcr & 1) !== 0 ? 0xc0 : 0) | 0x01;
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: return LSR_THRE | LSR_TEMT | (this.rx.readable() > 0 ? LSR_DR : 0);
      case 6: return 0xb0; // MSR: DCD, DSR, CTS
      case 7: return this.scr;
    }
    return 0;
  }

  write(off: number, _size: number, value: number | bigint): void {
    const v = Number(value) & 0xff;
    const dlab = (this.lcr & 0x80) !== 0;
    switch (off) {
      case 0:
        if (dlab) this.dll = v;
        else {
          this.one[0] = v;
          // back-pressure: wait for the host side to drain rather than drop output
          while (this.tx.push(this.one) === 0) this.tx.waitWritable(1, 100);
        }
        return;
      case 1: if (dlab) this.dlm = v; else this.ier = v & 0x0f; return;
      case 2: this.fcr = v; return;
      case 3: this.lcr = v; return;
      case 4: this.mcr = v & 0x1f; return;
      case 7: this.scr = v; return;
    }
  }
}
