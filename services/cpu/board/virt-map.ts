/**
 * The memory map of QEMU's riscv64 `virt` machine, as each hart thread builds it over
 * the shared RAM and machine block.
 */
import { AddressSpace, Ram } from '../bus.js';
import { BootRom, ROM_BASE, ROM_SIZE } from './boot-rom.js';
import { Clint, CLINT_BASE, CLINT_SIZE } from './clint.js';
import type { MachineState } from './machine-state.js';
import { SifiveTest, TEST_BASE, TEST_SIZE } from './sifive-test.js';
import { Uart16550, UART0_BASE, UART0_IRQ, UART0_SIZE } from './uart.js';
import { Plic, PLIC_BASE, PLIC_SIZE } from './plic.js';
import { GoldfishRtc, RTC_BASE, RTC_IRQ, RTC_SIZE } from './goldfish-rtc.js';
import { buildPci, type PciBoardConfig } from './pci/board.js';

export const DRAM_BASE = 0x80000000;

export interface BoardConfig {
  harts: number;
  ramSize: number;
  /** Reset-vector ROM contents. */
  rom: Uint8Array;
  /** The PCIe host bridge's shared state and the functions on its bus. */
  pci: PciBoardConfig;
}

/** The board's devices over the machine block; `init` (main thread, once) resets their state. */
export interface BoardDevices {
  plic: Plic;
  uart: Uart16550;
  rtc: GoldfishRtc;
  clint: Clint;
}

export function boardDevices(m: MachineState, init: boolean): BoardDevices {
  const ctls = Array.from({ length: m.nharts }, (_, h) => new Int32Array(m.buffer, m.hartStateOffset(h), 64));
  const plic = new Plic(m.buffer, m.plicOffset, m.nharts, (h) => ctls[h]!, init);
  const uart = new Uart16550(m.buffer, m.uartOffset, m.consoleOut, m.consoleIn, (l) => plic.setLevel(UART0_IRQ, l), init);
  const rtc = new GoldfishRtc(m.buffer, m.rtcOffset, (l) => plic.setLevel(RTC_IRQ, l), init);
  const clint = new Clint(m, (h) => ctls[h]!);
  return { plic, uart, rtc, clint };
}

export function buildAddressSpace(ram: SharedArrayBuffer, m: MachineState, cfg: BoardConfig): AddressSpace {
  const space = new AddressSpace(new Ram(ram, DRAM_BASE, cfg.ramSize));
  const d = boardDevices(m, false);
  space.map({ base: ROM_BASE, size: ROM_SIZE, device: new BootRom(cfg.rom), executable: true });
  space.map({ base: TEST_BASE, size: TEST_SIZE, device: new SifiveTest(m) });
  space.map({ base: RTC_BASE, size: RTC_SIZE, device: d.rtc });
  space.map({ base: CLINT_BASE, size: CLINT_SIZE, device: d.clint });
  space.map({ base: PLIC_BASE, size: PLIC_SIZE, device: d.plic });
  space.map({ base: UART0_BASE, size: UART0_SIZE, device: d.uart });
  buildPci(cfg.pci, d.plic, false).host.mapInto(space);
  return space;
}
