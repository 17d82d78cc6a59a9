/**
 * The sifive_test / syscon device at 0x100000 (QEMU virt): a 32-bit write of 0x5555
 * powers off with status 0, (code << 16) | 0x3333 exits with `code`, 0x7777 resets.
 * The write reaches the machine's main thread through the shared control block.
 */
import type { MmioDevice } from '../bus.js';
import { wake } from '../../common/futex.js';
import { MCTL, type MachineState } from './machine-state.js';

export const TEST_BASE = 0x100000;
export const TEST_SIZE = 0x1000;

export const EXIT_POWEROFF = 1;
export const EXIT_RESET = 2;

export class SifiveTest implements MmioDevice {
  readonly name = 'sifive_test';
  readonly widths = [4] as const;

  constructor(private readonly m: MachineState) {}

  read(): number {
    return 0;
  }

  write(off: number, _size: number, value: number | bigint): void {
    if (off !== 0) return;
    const v = Number(value) >>> 0;
    const kind = v & 0xffff;
    if (kind === 0x5555) this.request(EXIT_POWEROFF, 0);
    else if (kind === 0x3333) this.request(EXIT_POWEROFF, v >>> 16);
    else if (kind === 0x7777) this.request(EXIT_RESET, 0);
  }

  private request(kind: number, code: number): void {
    Atomics.store(this.m.ctl, MCTL.EXIT_CODE, code);
    Atomics.compareExchange(this.m.ctl, MCTL.EXIT_REQ, 0, kind);
    Atomics.add(this.m.ctl, MCTL.MAIN_WAKE, 1);
    wake(this.m.ctl, MCTL.MAIN_WAKE);
  }
}
