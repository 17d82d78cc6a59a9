/**
 * The boot ROM at 0x1000 (QEMU virt's "mrom"): the reset vector every hart starts at.
 * Like QEMU's, it loads a0 = mhartid, a1 = the device tree's address, a2 = the
 * fw_dynamic_info block, and jumps to the firmware (or the kernel with -bios none).
 */
import type { MmioDevice } from '../bus.js';

export const ROM_BASE = 0x1000;
export const ROM_SIZE = 0xf000;

/** fw_dynamic_info (OpenSBI's include/sbi/fw_dynamic.h): magic, version, next_addr, next_mode, options, boot_hart. */
export interface FwDynamicInfo {
  nextAddr: bigint;
  /** 1 = S-mode */
  nextMode: number;
  bootHart?: bigint;
}

export function buildResetVector(startAddr: bigint, fdtAddr: bigint, fw?: FwDynamicInfo): Uint8Array {
  const words = [
    0x00000297, // auipc t0, 0
    0x02828613, // addi  a2, t0, 40     (fw_dynamic_info)
    0xf1402573, // csrr  a0, mhartid
    0x0202b583, // ld    a1, 32(t0)     (fdt)
    0x0182b283, // ld    t0, 24(t0)     (start)
    0x00028067, // jr    t0
  ];
  const rom = new Uint8Array(0x28 + 48);
  const dv = new DataView(rom.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w, true));
  dv.setBigUint64(0x18, BigInt.asUintN(64, startAddr), true);
  dv.setBigUint64(0x20, BigInt.asUintN(64, fdtAddr), true);
  if (fw) {
    dv.setBigUint64(0x28, 0x4942534fn, true); // "OSBI"
    dv.setBigUint64(0x30, 2n, true); // version
    dv.setBigUint64(0x38, fw.nextAddr, true);
    dv.setBigUint64(0x40, BigInt(fw.nextMode), true);
    dv.setBigUint64(0x48, 0n, true); // options
    dv.setBigUint64(0x50, fw.bootHart ?? 0xffffffffffffffffn, true); // boot hart: any (lottery)
  }
  return rom;
}

export class BootRom implements MmioDevice {
  readonly name = 'mrom';
  readonly widths = [1, 2, 4, 8] as const;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  read(off: number, size: number): number | bigint {
    if (off + size > this.bytes.length) return size === 8 ? 0n : 0;
    switch (size) {
      case 1: return this.view.getUint8(off);
      case 2: return this.view.getUint16(off, true);
      case 4: return this.view.getUint32(off, true);
      default: return this.view.getBigUint64(off, true);
    }
  }

  write(): void {
    // ROM: writes are ignored, as on the real board
  }
}
