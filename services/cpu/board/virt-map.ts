/**
 * The memory map of QEMU's riscv64 `virt` machine, as each hart thread builds it over
 * the shared RAM and machine block.
 */
import { AddressSpace, Ram } from '../bus.js';
import { CTL } from '../hart/state.js';
import { BootRom, ROM_BASE, ROM_SIZE } from './boot-rom.js';
import { Clint, CLINT_BASE, CLINT_SIZE } from './clint.js';
import type { MachineState } from './machine-state.js';
import { SifiveTest, TEST_BASE, TEST_SIZE } from './sifive-test.js';
import { Uart16550, UART0_BASE, UART0_SIZE } from './uart.js';

export const DRAM_BASE = 0x80000000;

export interface BoardConfig {
  harts: number;
  ramSize: number;
  /** Reset-vector ROM contents. */
  rom: Uint8Array;
}

export function buildAddressSpace(ram: SharedArrayBuffer, m: MachineState, cfg: BoardConfig): AddressSpace {
  const space = new AddressSpace(new Ram(ram, DRAM_BASE, cfg.ramSize));
  const ctlOf = (h: number) => new Int32Array(m.buffer, m.hartStateOffset(h), 64);
  const ctls = Array.from({ length: cfg.harts }, (_, h) => ctlOf(h));
  space.map({ base: ROM_BASE, size: ROM_SIZE, device: new BootRom(cfg.rom), executable: true });
  space.map({ base: TEST_BASE, size: TEST_SIZE, device: new SifiveTest(m) });
  space.map({ base: CLINT_BASE, size: CLINT_SIZE, device: new Clint(m, (h) => ctls[h]!) });
  space.map({ base: UART0_BASE, size: UART0_SIZE, device: new Uart16550(m.buffer, m.uartOffset, m.consoleOut, m.consoleIn) });
  void CTL;
  return space;
}
