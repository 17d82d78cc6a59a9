/**
 * The `virt` machine on the main thread: guest RAM and the machine block in shared
 * memory, images loaded as QEMU loads them, one worker thread per hart, the console
 * pumped between the UART's rings and the host, and run control (stop, cont, reset,
 * power off) through the flags the harts poll.
 */
import { Worker } from 'node:worker_threads';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SharedMemory } from '../../common/shm.js';
import { wait, waitAsync, wake } from '../../common/futex.js';
import { logger } from '../../common/log.js';
import { buildResetVector } from './boot-rom.js';
import { MachineState, MCTL, MAX_HARTS, TIMEBASE_HZ } from './machine-state.js';
import { boardDevices, DRAM_BASE, type BoardConfig, type BoardDevices } from './virt-map.js';
import { buildVirtDeviceTree } from './virt-dt.js';
import { randomBytes } from 'node:crypto';
import { EXIT_RESET } from './sifive-test.js';
import { CTL, REQ, STATE, SNAP, HartStateView } from '../hart/state.js';
import type { Registers } from '../../../proto/gen/machine.js';
import { ImageError, isElf, parseElf } from '../boot/elf.js';
import type { MachineControl, RunState } from '../machine-service.js';
import type { HartWorkerData } from '../hart-worker.js';
import { codeTrackBytes } from '../../common/guest-memory.js';
import { buildPci, planPci, type PciBoardConfig, type PciDeviceRequest, type PciDevices } from './pci/board.js';
import { addPcieHostNode } from './pci/host.js';
import type { IoErrorInfo } from '../../common/virtio/pci-state.js';
import { strerror } from '../../common/errno.js';

const log = logger('cpu');

export interface VirtOptions {
  name: string;
  harts: number;
  ramSize: number;
  /** 'none' or a firmware path (OpenSBI fw_dynamic comes with the machine issue). */
  bios: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  /** A device tree blob to use instead of the one tsemu builds. */
  dtb?: string;
  startPaused: boolean;
  noReboot: boolean;
  /** Functions on the PCIe root bus besides the host bridge (virtio-blk-pci, ...). */
  pciDevices?: readonly PciDeviceRequest[];
}

/** How the run ended. */
export interface ExitInfo {
  code: number;
  reason: 'poweroff' | 'quit' | 'error';
}

/** A run-control event for the monitor, in QMP's names (STOP, RESUME, RESET, SHUTDOWN). */
export type MachineEventListener = (event: string, data?: Record<string, unknown>) => void;

export class VirtMachine implements MachineControl {
  readonly name: string;
  readonly harts: number;
  private readonly ram: SharedMemory;
  private readonly block: SharedMemory;
  /** Which RAM pages hold decoded code, and their write generations (hart.ts). */
  readonly codeTrack: SharedMemory;
  readonly state: MachineState;
  private workers: Worker[] = [];
  private rs: RunState = 'prelaunch';
  private readonly config: BoardConfig;
  private readonly resetPc = 0x1000;
  private exitWaiter: ((e: ExitInfo) => void) | undefined;
  private exited = false;
  readonly views: HartStateView[];
  /** What loadImages put in RAM: put back on reset, as QEMU's ROM reset does. */
  private readonly images: { addr: number; data: Uint8Array; memsz: number }[] = [];
  /** The board's devices as the main thread sees them (console input, device backends). */
  readonly devices: BoardDevices;
  /** Run-control events for the monitor (machine-service.ts). */
  private readonly listeners = new Set<MachineEventListener>();
  /** The PCIe host bridge and its functions' shared state (mapped by device services too). */
  readonly pciMemory: SharedMemory;
  readonly pciConfig: PciBoardConfig;
  readonly pci: PciDevices;

  constructor(private readonly opts: VirtOptions) {
    if (!Number.isInteger(opts.harts) || opts.harts < 1) throw new ImageError(`invalid number of CPUs: ${opts.harts}`);
    if (opts.harts > MAX_HARTS) throw new ImageError(`Invalid SMP CPUs ${opts.harts}. The max CPUs supported by machine 'virt' is ${MAX_HARTS}`);
    if (opts.ramSize < 1 << 20 || opts.ramSize % 4096 !== 0) throw new ImageError(`invalid RAM size ${opts.ramSize}`);
    this.name = opts.name;
    this.harts = opts.harts;
    this.ram = SharedMemory.create(opts.ramSize);
    this.block = SharedMemory.create(MachineState.bytesFor(opts.harts));
    this.codeTrack = SharedMemory.create(codeTrackBytes(opts.ramSize));
    this.state = new MachineState(this.block.buffer, opts.harts, true);
    this.devices = boardDevices(this.state, true);
    const plan = planPci(opts.pciDevices ?? []);
    this.pciMemory = SharedMemory.create(plan.bytes);
    this.pciConfig = { buffer: this.pciMemory.buffer, irqOffset: plan.irqOffset, hostOffset: plan.hostOffset, functions: plan.functions };
    this.pci = buildPci(this.pciConfig, this.devices.plic, true);
    this.views = Array.from({ length: opts.harts }, (_, h) => new HartStateView(this.block.buffer, this.state.hartStateOffset(h)));
    this.config = { harts: opts.harts, ramSize: opts.ramSize, rom: this.loadImages(), pci: this.pciConfig };
  }

  /**
   * Loads firmware, kernel, initrd and device tree into RAM as QEMU's virt does, and
   * returns the reset vector ROM: it jumps to the firmware (OpenSBI fw_dynamic, told
   * where the kernel is) or, with -bios none, straight to the kernel in M-mode.
   */
  private loadImages(): Uint8Array {
    const ramEnd = DRAM_BASE + this.opts.ramSize;
    const u8 = new Uint8Array(this.ram.buffer);
    const place = (addr: number, data: Uint8Array, memsz: number, what: string) => {
      if (addr < DRAM_BASE || addr + memsz > ramEnd) {
        throw new ImageError(`${what} does not fit in RAM (0x${addr.toString(16)}..0x${(addr + memsz).toString(16)}; RAM is 0x${DRAM_BASE.toString(16)}..0x${ramEnd.toString(16)})`);
      }
      u8.set(data, addr - DRAM_BASE);
      u8.fill(0, addr - DRAM_BASE + data.length, addr - DRAM_BASE + memsz);
      this.images.push({ addr, data, memsz });
    };
    const read = (path: string, what: string): Uint8Array => {
      let b: Uint8Array;
      try {
        b = new Uint8Array(readFileSync(path));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new ImageError(`could not load ${what} '${path}': ${code === 'ENOENT' ? 'No such file or directory' : code === 'EISDIR' ? 'Is a directory' : (e as Error).message}`);
      }
      if (b.length === 0) throw new ImageError(`${what} '${path}' is empty`);
      return b;
    };
    /** Loads an ELF by its physical addresses or a flat image at `at`; returns [entry, end]. */
    const loadImage = (path: string, what: string, at: number): [number, number] => {
      const b = read(path, what);
      if (isElf(b)) {
        const elf = parseElf(b, `${what} '${path}'`);
        let end = 0;
        for (const s of elf.segments) {
          place(s.paddr, s.data, s.memsz, `${what} '${path}'`);
          end = Math.max(end, s.paddr + s.memsz);
        }
        return [elf.entry, end];
      }
      const img = linuxImageInfo(b);
      if (img === 'compressed') {
        throw new ImageError(`${what} '${path}' is compressed (gzip or EFI zboot): give tsemu the uncompressed Image`);
      }
      const size = img ? Math.max(img.imageSize, b.length) : b.length;
      place(at, b, size, `${what} '${path}'`);
      return [at, at + size];
    };

    let firmware: string | undefined;
    if (this.opts.bios === 'default') firmware = findDefaultFirmware();
    else if (this.opts.bios !== 'none') firmware = this.opts.bios;
    if (this.opts.bios === 'none' && !this.opts.kernel) throw new ImageError('-bios none needs -kernel');

    let fwEnd = DRAM_BASE;
    let fwEntry = DRAM_BASE;
    if (firmware) [fwEntry, fwEnd] = loadImage(firmware, 'firmware', DRAM_BASE);

    // with firmware, the kernel goes at the next 2 MiB boundary (QEMU: riscv_calc_kernel_start_addr)
    const kernelStart = firmware ? Math.ceil(fwEnd / 0x200000) * 0x200000 : DRAM_BASE;
    let kernelEntry = 0;
    let kernelEnd = fwEnd;
    if (this.opts.kernel) [kernelEntry, kernelEnd] = loadImage(this.opts.kernel, 'kernel', kernelStart);

    let initrd: { start: number; end: number } | undefined;
    if (this.opts.initrd) {
      if (!this.opts.kernel) throw new ImageError('-initrd needs -kernel');
      const rd = read(this.opts.initrd, 'initrd');
      // QEMU: half way into RAM below 256 MiB of RAM, else 128 MiB above the kernel
      const start = Math.max(kernelEnd, kernelStart + (this.opts.ramSize < 256 * 2 ** 20 ? this.opts.ramSize / 2 : 128 * 2 ** 20));
      const aligned = Math.ceil(start / 4096) * 4096;
      place(aligned, rd, rd.length, `initrd '${this.opts.initrd}'`);
      initrd = { start: aligned, end: aligned + rd.length };
    }

    // device tree: ours, or -dtb FILE, at the top of RAM (QEMU: below 3 GiB, 2 MiB aligned)
    const dtb = this.opts.dtb
      ? read(this.opts.dtb, 'device tree')
      : buildVirtDeviceTree({
          harts: this.opts.harts,
          ramBase: DRAM_BASE,
          ramSize: this.opts.ramSize,
          isa: ISA_STRING,
          mmuType: MMU_TYPE,
          bootargs: this.opts.append,
          initrd,
          timebaseHz: TIMEBASE_HZ,
          rngSeed: randomBytes(32),
          extraNodes: [addPcieHostNode],
        });
    let fdtAddr = 0;
    {
      const top = Math.min(ramEnd, DRAM_BASE + 3 * 2 ** 30);
      fdtAddr = Math.floor((top - dtb.length) / 0x200000) * 0x200000;
      if (fdtAddr < kernelEnd) fdtAddr = Math.ceil((top - dtb.length - 4096) / 8) * 8;
      place(fdtAddr, dtb, dtb.length, 'device tree');
    }

    if (firmware) {
      return buildResetVector(BigInt(fwEntry), BigInt(fdtAddr), {
        nextAddr: BigInt(this.opts.kernel ? kernelEntry : 0),
        nextMode: 1,
      });
    }
    return buildResetVector(BigInt(kernelEntry), BigInt(fdtAddr));
  }

  start(): void {
    const workerUrl = new URL('../hart-worker.js', import.meta.url);
    for (let h = 0; h < this.harts; h++) {
      const ctl = this.views[h]!.ctl;
      // what the monitor sees before the worker is up; only the hart itself reports PAUSED
      this.views[h]!.showReset(this.resetPc);
      if (this.opts.startPaused) Atomics.store(ctl, CTL.REQUEST, REQ.PAUSE);
      const data: HartWorkerData = { hartId: h, ram: this.ram.buffer, machine: this.block.buffer, config: this.config, resetPc: this.resetPc, codeTrack: this.codeTrack.buffer };
      const w = new Worker(fileURLToPath(workerUrl), { workerData: data, name: `hart${h}` });
      w.on('message', (msg: { kind: string; hartId: number; message?: string }) => {
        if (msg.kind === 'error') {
          log.error(`hart ${msg.hartId} stopped on an internal error: ${msg.message}`);
          this.finish({ code: 1, reason: 'error' });
        }
      });
      w.on('error', (e) => {
        log.error(`hart ${h} worker failed`, e);
        this.finish({ code: 1, reason: 'error' });
      });
      this.workers.push(w);
    }
    this.rs = this.opts.startPaused ? 'prelaunch' : 'running';
    if (this.opts.startPaused) this.state.pauseClock();
    void this.watchDevices();
    void this.watchPciInterrupts();
  }

  /** Shared objects a device service maps: guest RAM and the harts' code tracking. */
  sharedMemory(): { ram: SharedMemory; codeTrack: SharedMemory; pci: SharedMemory } {
    return { ram: this.ram, codeTrack: this.codeTrack, pci: this.pciMemory };
  }

  /**
   * Drives the PCI functions' INTx lines when a device backend (another process, which
   * does not touch the PLIC) has set ISR bits and bumped the IRQ word.
   */
  private async watchPciInterrupts(): Promise<void> {
    const word = this.pci.irqWord;
    if (this.pci.virtio.length === 0) return;
    while (!this.exited) {
      const seen = Atomics.load(word, 0);
      for (const v of this.pci.virtio) {
        v.syncIntx();
        const e = v.takeIoError();
        if (e) this.ioError(v.cfg.id, e);
      }
      await waitAsync(word, 0, seen, 1000);
    }
  }

  /** Serves device requests to the main thread (power off, reset) until the end. */
  private async watchDevices(): Promise<void> {
    const ctl = this.state.ctl;
    while (!this.exited) {
      const seen = Atomics.load(ctl, MCTL.MAIN_WAKE);
      const req = Atomics.load(ctl, MCTL.EXIT_REQ);
      if (req !== 0) {
        const code = Atomics.load(ctl, MCTL.EXIT_CODE);
        if (req === EXIT_RESET && !this.opts.noReboot) {
          Atomics.store(ctl, MCTL.EXIT_REQ, 0);
          this.reset('guest-reset');
          continue;
        }
        this.finish({ code, reason: 'poweroff' }, req === EXIT_RESET ? 'guest-reset' : 'guest-shutdown');
        return;
      }
      await waitAsync(ctl, MCTL.MAIN_WAKE, seen, 1000);
    }
  }

  /** Resolves when the guest powers off or the machine is quit. */
  waitForExit(): Promise<ExitInfo> {
    return new Promise((res) => {
      this.exitWaiter = res;
    });
  }

  /** Ends the run; `why` is SHUTDOWN's reason in QMP (host-qmp-quit, host-signal...). */
  quit(code = 0, why = 'host-ui'): void {
    this.finish({ code, reason: 'quit' }, why);
  }

  onEvent(listener: MachineEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** QMP's names of the block devices by PCI function id: BLOCK_IO_ERROR's device and node-name. */
  readonly blockNames = new Map<string, { device: string; nodeName?: string }>();

  /**
   * A block backend's I/O error (its werror/rerror policy applied): BLOCK_IO_ERROR, and for
   * action stop the VM stops with run state io-error, as QEMU's does, until `cont`.
   */
  private ioError(id: string, e: IoErrorInfo): void {
    const names = this.blockNames.get(id) ?? { device: id };
    const data: Record<string, unknown> = { device: names.device };
    if (names.nodeName) data['node-name'] = names.nodeName;
    Object.assign(data, { operation: e.write ? 'write' : 'read', action: e.action, nospace: e.nospace, reason: strerror(e.errno) });
    this.emit('BLOCK_IO_ERROR', data);
    if (e.action === 'stop' && this.rs === 'running') {
      this.pause();
      this.rs = 'io-error';
      this.emit('STOP');
    }
  }

  /** Tells the monitor's clients: the board's STOP, RESUME..., a device frontend's BLOCK_IO_ERROR. */
  emit(event: string, data?: Record<string, unknown>): void {
    for (const l of this.listeners) l(event, data);
  }

  private finish(e: ExitInfo, why = 'host-error'): void {
    if (this.exited) return;
    this.exited = true;
    this.rs = 'shutdown';
    this.emit('SHUTDOWN', { guest: why.startsWith('guest'), reason: why });
    for (const v of this.views) {
      Atomics.or(v.ctl, CTL.REQUEST, REQ.TERMINATE);
      Atomics.add(v.ctl, CTL.WAKE, 1);
      wake(v.ctl, CTL.WAKE);
      wake(v.ctl, CTL.REQUEST);
    }
    this.exitWaiter?.(e);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
    this.ram.close();
    this.block.close();
    this.codeTrack.close();
    this.pciMemory.close();
  }

  runState(): RunState {
    return this.rs;
  }

  /** Pauses every hart and the guest clock; returns when all have stopped. */
  stop(): void {
    if (this.rs !== 'running') return;
    this.pause();
    this.emit('STOP');
  }

  cont(): void {
    if (this.rs !== 'paused' && this.rs !== 'prelaunch' && this.rs !== 'io-error') return;
    this.resume();
    this.emit('RESUME');
    // requests an I/O error stopped are tried again (even after a plain stop, as QEMU's)
    for (const v of this.pci.virtio) v.resumeAfterIoError();
  }

  private pause(): void {
    for (const v of this.views) {
      Atomics.or(v.ctl, CTL.REQUEST, REQ.PAUSE);
      Atomics.add(v.ctl, CTL.WAKE, 1);
      wake(v.ctl, CTL.WAKE);
    }
    for (const v of this.views) {
      for (let i = 0; i < 200; i++) {
        const st = Atomics.load(v.ctl, CTL.STATE);
        if (st === STATE.PAUSED || st === STATE.EXITED || st === STATE.STOPPED) break;
        const seq = Atomics.load(v.ctl, CTL.STATE_SEQ);
        wait(v.ctl, CTL.STATE_SEQ, seq, 10);
      }
    }
    // The clock stops once no hart runs: a hart still on its way to the pause must not
    // read a frozen time older than one it has already read (time never goes back).
    this.state.pauseClock();
    this.rs = 'paused';
  }

  private resume(): void {
    this.state.resumeClock();
    for (const v of this.views) {
      Atomics.and(v.ctl, CTL.REQUEST, ~REQ.PAUSE);
      wake(v.ctl, CTL.REQUEST);
    }
    this.rs = 'running';
  }

  registers(hart: number): Registers {
    const v = this.views[hart]!;
    const hex = (b: bigint) => `0x${BigInt.asUintN(64, b).toString(16)}`;
    const csrs: Record<string, string> = {};
    for (const n of SNAP) csrs[n] = hex(v.csr(n));
    let st = v.state();
    if (st === STATE.STOPPED && this.rs === 'prelaunch') st = STATE.PAUSED;
    const names = ['running', 'paused', 'wfi', 'stopped', 'exited'];
    return {
      hart,
      pc: hex(v.pc),
      x: Array.from(v.x.subarray(0, 32), hex),
      f: Array.from(v.f, hex),
      csrs,
      priv: Number(v.csr('priv')),
      state: names[st] ?? String(st),
    };
  }

  async step(hart: number, count: number): Promise<Registers> {
    const ctl = this.views[hart]!.ctl;
    // the hart must be in its pause loop (a worker may still be starting)
    while (!this.exited) {
      const seq = Atomics.load(ctl, CTL.STATE_SEQ);
      if (Atomics.load(ctl, CTL.STATE) === STATE.PAUSED) break;
      await waitAsync(ctl, CTL.STATE_SEQ, seq, 50);
    }
    for (let i = 0; i < count; i++) {
      const seq = Atomics.load(ctl, CTL.STATE_SEQ);
      Atomics.or(ctl, CTL.REQUEST, REQ.STEP);
      wake(ctl, CTL.REQUEST);
      while (Atomics.load(ctl, CTL.STATE_SEQ) === seq && !this.exited) await waitAsync(ctl, CTL.STATE_SEQ, seq, 100);
    }
    return this.registers(hart);
  }

  /**
   * System reset: harts stop, the loaded images go back into RAM, devices return to
   * their reset state, and every hart starts again at the reset vector.
   */
  reset(why = 'host-qmp-system-reset'): void {
    if (this.exited) return;
    const wasRunning = this.rs === 'running';
    if (wasRunning) this.pause();
    const u8 = new Uint8Array(this.ram.buffer);
    for (const im of this.images) {
      u8.set(im.data, im.addr - DRAM_BASE);
      u8.fill(0, im.addr - DRAM_BASE + im.data.length, im.addr - DRAM_BASE + im.memsz);
    }
    this.devices.plic.reset();
    this.devices.rtc.reset();
    this.pci.bridge.reset();
    for (const v of this.pci.virtio) v.reset();
    this.state.mtimecmp.fill(0xffffffffffffffffn);
    for (const v of this.views) {
      Atomics.store(v.ctl, CTL.IRQ, 0);
      Atomics.or(v.ctl, CTL.REQUEST, REQ.RESET);
      wake(v.ctl, CTL.REQUEST);
    }
    // A paused machine stays paused, as QEMU's does; its harts reset at once (hart.ts).
    if (wasRunning) this.resume();
    this.emit('RESET', { guest: why.startsWith('guest'), reason: why });
  }

  /** Guest-physical memory for the monitor: RAM and the boot ROM; undefined elsewhere. */
  readPhysical(addr: number, size: number): Uint8Array | undefined {
    if (addr >= DRAM_BASE && addr + size <= DRAM_BASE + this.opts.ramSize) {
      return new Uint8Array(this.ram.buffer, addr - DRAM_BASE, size).slice();
    }
    const rom = this.config.rom;
    if (addr >= this.resetPc && addr + size <= this.resetPc + rom.length) {
      return rom.slice(addr - this.resetPc, addr - this.resetPc + size);
    }
    return undefined;
  }

  /** The RAM size, for the monitor's memory tree. */
  get ramSize(): number {
    return this.opts.ramSize;
  }

}

/**
 * The ISA the harts implement, as the device tree advertises it: exactly what hart.ts
 * executes (Zihpm counters read 0; Svpbmt's bits are accepted, memory has no types here).
 */
export const ISA_STRING = 'rv64imafdc_zicbom_zicboz_zicntr_zicond_zicsr_zifencei_zihpm_zba_zbb_zbs_sstc_svpbmt';
/**
 * Sv39, Sv48 and Sv57 are implemented; the tree offers Sv48 because Sv57 kernel addresses
 * (0xff60...) are beyond the 2^53 the hart keeps addresses exact in (see hart.ts).
 */
export const MMU_TYPE = 'riscv,sv48';

/** Where Debian keeps OpenSBI's generic fw_dynamic (package opensbi, or qemu-system-data's copy). */
export const FIRMWARE_PATHS = [
  '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin',
  '/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin',
];

function findDefaultFirmware(): string {
  for (const p of FIRMWARE_PATHS) if (existsSync(p)) return p;
  throw new ImageError(`no default firmware: install Debian's opensbi package (looked in ${FIRMWARE_PATHS.join(', ')}), or use -bios FILE or -bios none`);
}

/**
 * The RISC-V Linux Image header (Documentation/arch/riscv/boot-image-header.rst):
 * magic "RISCV\0\0\0" at 0x30 and "RSC\x05" at 0x38, image_size at 0x10.
 * Returns undefined for a flat binary that is not an Image, 'compressed' for gzip/zboot.
 */
export function linuxImageInfo(b: Uint8Array): { imageSize: number } | 'compressed' | undefined {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'compressed';
  if (b.length >= 8 && b[0] === 0x4d && b[1] === 0x5a && String.fromCharCode(...b.subarray(4, 8)) === 'zimg') return 'compressed';
  if (b.length < 64) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = String.fromCharCode(...b.subarray(0x30, 0x35));
  if (magic !== 'RISCV' || dv.getUint32(0x38, true) !== 0x05435352) return undefined;
  return { imageSize: Number(dv.getBigUint64(0x10, true)) };
}
