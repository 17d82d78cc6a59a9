/**
 * The PCIe host bridge of QEMU's riscv64 virt machine ("gpex", pci-host-ecam-generic):
 * one root bus (bus 0) whose configuration space is the ECAM window at 0x30000000, and
 * three windows through which the harts reach the functions' BARs, mapped 1:1 as QEMU's
 * device tree says (`ranges`):
 *
 *   I/O        CPU 0x03000000, 64 KiB      -> PCI I/O 0x0
 *   MMIO       CPU 0x40000000, 1 GiB       -> PCI memory 0x40000000 (32-bit BARs)
 *   high MMIO  CPU 0x400000000, 16 GiB     -> PCI memory 0x400000000 (64-bit BARs)
 *
 * ECAM (PCI Express base spec, 7.2.2): byte (bus << 20 | device << 15 | function << 12 |
 * register). Configuration reads of a function that does not exist return all ones,
 * which is how Linux's scan tells an empty slot.
 *
 * Legacy interrupts: INTA#..INTD# of the device in slot `d` reach PLIC sources 32..35
 * after the standard swizzle, source 32 + ((d + pin - 1) mod 4), as QEMU virt wires
 * them and as the `interrupt-map` of the device tree says.
 */
import type { AddressSpace, MmioDevice } from '../../bus.js';
import type { FdtNode } from '../fdt.js';
import type { VirtTree } from '../virt-dt.js';
import { PciFunction } from './config-space.js';

export const PCIE_PIO_BASE = 0x03000000;
export const PCIE_PIO_SIZE = 0x10000;
export const PCIE_ECAM_BASE = 0x30000000;
export const PCIE_ECAM_SIZE = 0x10000000;
export const PCIE_MMIO_BASE = 0x40000000;
export const PCIE_MMIO_SIZE = 0x40000000;
export const PCIE_MMIO_HIGH_BASE = 0x400000000;
export const PCIE_MMIO_HIGH_SIZE = 0x400000000;
/** PLIC source of INTA# after the swizzle for slot 0; INTB#..INTD# follow. */
export const PCIE_IRQ_BASE = 32;
export const PCIE_IRQ_COUNT = 4;

/** The PLIC source a function's pin (1..4) reaches from slot `slot`. */
export function intxIrq(slot: number, pin: number): number {
  return PCIE_IRQ_BASE + ((slot + pin - 1) % PCIE_IRQ_COUNT);
}

/** Bus 0: functions by device/function number (devfn = slot << 3 | function). */
export class PcieHost {
  private readonly fns = new Map<number, PciFunction>();
  private readonly list: PciFunction[] = [];

  add(slot: number, fn: number, f: PciFunction): void {
    const devfn = (slot << 3) | fn;
    if (slot < 0 || slot > 31 || fn < 0 || fn > 7) throw new RangeError(`no PCI slot ${slot}.${fn}`);
    if (this.fns.has(devfn)) throw new Error(`PCI slot ${slot}.${fn} is taken`);
    this.fns.set(devfn, f);
    this.list.push(f);
  }

  functionAt(slot: number, fn = 0): PciFunction | undefined {
    return this.fns.get((slot << 3) | fn);
  }

  /** The ECAM window. */
  readonly ecam: MmioDevice = {
    name: 'pcie-ecam',
    widths: [1, 2, 4],
    read: (off, size) => {
      const f = off >>> 20 === 0 ? this.fns.get((off >>> 12) & 0xff) : undefined;
      if (!f) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
      return f.readConfig(off & 0xfff, size);
    },
    write: (off, size, value) => {
      const f = off >>> 20 === 0 ? this.fns.get((off >>> 12) & 0xff) : undefined;
      f?.writeConfig(off & 0xfff, size, Number(value));
    },
  };

  /** A window of CPU addresses onto PCI memory (or I/O) space at `pciBase`. */
  window(name: string, io: boolean, pciBase: number): MmioDevice {
    const find = (addr: number) => {
      for (let i = 0; i < this.list.length; i++) {
        const hit = this.list[i]!.barAt(io, addr);
        if (hit) return hit;
      }
      return undefined;
    };
    return {
      name,
      widths: [1, 2, 4],
      read: (off, size) => {
        const addr = pciBase + off;
        const b = find(addr);
        // nothing decodes there: a master abort reads all ones
        if (!b || addr + size > b.base + b.spec.size) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
        return b.spec.device.read(addr - b.base, size);
      },
      write: (off, size, value) => {
        const addr = pciBase + off;
        const b = find(addr);
        if (b && addr + size <= b.base + b.spec.size) b.spec.device.write(addr - b.base, size, value);
      },
    };
  }

  /** Maps the ECAM and the three windows into a hart's address space. */
  mapInto(space: AddressSpace): void {
    space.map({ base: PCIE_ECAM_BASE, size: PCIE_ECAM_SIZE, device: this.ecam });
    space.map({ base: PCIE_PIO_BASE, size: PCIE_PIO_SIZE, device: this.window('pcie-pio', true, 0) });
    space.map({ base: PCIE_MMIO_BASE, size: PCIE_MMIO_SIZE, device: this.window('pcie-mmio', false, PCIE_MMIO_BASE) });
    space.map({ base: PCIE_MMIO_HIGH_BASE, size: PCIE_MMIO_HIGH_SIZE, device: this.window('pcie-mmio-high', false, PCIE_MMIO_HIGH_BASE) });
  }
}

/**
 * The host bridge's node on /soc, as QEMU virt writes it (create_fdt_pcie): Linux's
 * pci-host-generic driver binds to "pci-host-ecam-generic".
 */
export function addPcieHostNode(vt: VirtTree): FdtNode {
  const n = vt.soc.child(`pci@${PCIE_ECAM_BASE.toString(16)}`);
  const plic = vt.plic.phandle();
  // interrupt-map: for each slot (0..3, repeating) and pin, child unit address (3 cells),
  // child pin, PLIC phandle, PLIC source (the PLIC has #address-cells 0)
  const map: number[] = [];
  for (let slot = 0; slot < PCIE_IRQ_COUNT; slot++) {
    for (let pin = 1; pin <= PCIE_IRQ_COUNT; pin++) map.push(slot << 11, 0, 0, pin, plic, intxIrq(slot, pin));
  }
  n.u32('interrupt-map-mask', 0x1800, 0, 0, 7);
  n.u32('interrupt-map', ...map);
  n.u32('ranges',
    0x01000000, 0, 0, 0, PCIE_PIO_BASE, 0, PCIE_PIO_SIZE,
    0x02000000, 0, PCIE_MMIO_BASE, 0, PCIE_MMIO_BASE, 0, PCIE_MMIO_SIZE,
    0x03000000, PCIE_MMIO_HIGH_BASE / 2 ** 32, 0, PCIE_MMIO_HIGH_BASE / 2 ** 32, 0, PCIE_MMIO_HIGH_SIZE / 2 ** 32, 0);
  n.reg([PCIE_ECAM_BASE, PCIE_ECAM_SIZE]);
  n.empty('dma-coherent');
  n.u32('bus-range', 0, 0xff);
  n.u32('linux,pci-domain', 0);
  n.string('device_type', 'pci');
  n.string('compatible', 'pci-host-ecam-generic');
  n.u32('#size-cells', 2);
  n.u32('#interrupt-cells', 1);
  n.u32('#address-cells', 3);
  return n;
}

/** The host bridge function at 00:00.0 (QEMU's gpex-root: Red Hat 1b36:0008). */
export const HOST_BRIDGE_SPEC = {
  vendorId: 0x1b36,
  deviceId: 0x0008,
  revision: 0,
  classCode: 0x060000,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
  interruptPin: 0,
  bars: [],
};
