/**
 * CLINT (SiFive core-local interruptor, ACLINT MSWI + MTIMER layout), as QEMU virt maps it
 * at 0x2000000: msip per hart at 0x0000 + 4*hart, mtimecmp at 0x4000 + 8*hart, mtime at
 * 0xbff8. mtimecmp lives in the machine's shared block; each hart compares it with the
 * shared clock itself, so a timer never needs a thread to fire it. An msip write raises
 * or clears MSIP on the target hart and wakes it.
 */
import type { MmioDevice } from '../bus.js';
import { wake } from '../../common/futex.js';
import { CTL } from '../hart/state.js';
import { MIP_MSIP } from '../hart/csr.js';
import type { MachineState } from './machine-state.js';

export const CLINT_BASE = 0x2000000;
export const CLINT_SIZE = 0x10000;

export class Clint implements MmioDevice {
  readonly name = 'clint';
  readonly widths = [4, 8] as const;

  constructor(
    private readonly m: MachineState,
    private readonly hartCtl: (hart: number) => Int32Array,
  ) {}

  read(off: number, size: number): number | bigint {
    const n = this.m.nharts;
    if (off < 0x4000) {
      const h = off >> 2;
      if (h >= n || size !== 4) return 0;
      return (Atomics.load(this.hartCtl(h), CTL.IRQ) & MIP_MSIP) !== 0 ? 1 : 0;
    }
    if (off >= 0x4000 && off < 0x4000 + 8 * n) {
      const h = (off - 0x4000) >> 3;
      const v = this.m.mtimecmp[h]!;
      if (size === 8) return v;
      return (off & 4) !== 0 ? Number(v >> 32n) : Number(v & 0xffffffffn);
    }
    if (off >= 0xbff8 && off < 0xc000) {
      const t = BigInt(this.m.mtime());
      if (size === 8) return t;
      return (off & 4) !== 0 ? Number(t >> 32n) : Number(t & 0xffffffffn);
    }
    return 0;
  }

  write(off: number, size: number, value: number | bigint): void {
    const n = this.m.nharts;
    if (off < 0x4000) {
      const h = off >> 2;
      if (h >= n || size !== 4) return;
      const ctl = this.hartCtl(h);
      if ((Number(value) & 1) !== 0) Atomics.or(ctl, CTL.IRQ, MIP_MSIP);
      else Atomics.and(ctl, CTL.IRQ, ~MIP_MSIP);
      Atomics.add(ctl, CTL.WAKE, 1);
      wake(ctl, CTL.WAKE);
      return;
    }
    if (off >= 0x4000 && off < 0x4000 + 8 * n) {
      const h = (off - 0x4000) >> 3;
      const cur = this.m.mtimecmp[h]!;
      let v: bigint;
      if (size === 8) v = BigInt.asUintN(64, BigInt(value));
      else if ((off & 4) !== 0) v = (BigInt(Number(value) >>> 0) << 32n) | (cur & 0xffffffffn);
      else v = (cur & ~0xffffffffn) | BigInt(Number(value) >>> 0);
      this.m.mtimecmp[h] = v;
      // a sleeping hart must recompute its deadline
      const ctl = this.hartCtl(h);
      Atomics.add(ctl, CTL.WAKE, 1);
      wake(ctl, CTL.WAKE);
      return;
    }
    // mtime is read-only here: the shared clock is the machine's
  }
}
