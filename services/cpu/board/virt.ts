/**
 * The `virt` machine on the main thread: guest RAM and the machine block in shared
 * memory, images loaded as QEMU loads them, one worker thread per hart, the console
 * pumped between the UART's rings and the host, and run control (stop, cont, reset,
 * power off) through the flags the harts poll.
 */
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SharedMemory } from '../../common/shm.js';
import { wait, waitAsync, wake } from '../../common/futex.js';
import { logger } from '../../common/log.js';
import { buildResetVector } from './boot-rom.js';
import { MachineState, MCTL, MAX_HARTS } from './machine-state.js';
import { DRAM_BASE, type BoardConfig } from './virt-map.js';
import { EXIT_RESET } from './sifive-test.js';
import { CTL, REQ, STATE, HartStateView } from '../hart/state.js';
import { ImageError, isElf, parseElf } from '../boot/elf.js';
import type { MachineControl, RunState } from '../machine-service.js';
import type { HartWorkerData } from '../hart-worker.js';

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
  startPaused: boolean;
  noReboot: boolean;
}

/** How the run ended. */
export interface ExitInfo {
  code: number;
  reason: 'poweroff' | 'quit' | 'error';
}

export class VirtMachine implements MachineControl {
  readonly name: string;
  readonly harts: number;
  private readonly ram: SharedMemory;
  private readonly block: SharedMemory;
  readonly state: MachineState;
  private workers: Worker[] = [];
  private rs: RunState = 'prelaunch';
  private readonly config: BoardConfig;
  private readonly resetPc = 0x1000;
  private exitWaiter: ((e: ExitInfo) => void) | undefined;
  private exited = false;
  readonly views: HartStateView[];

  constructor(private readonly opts: VirtOptions) {
    if (!Number.isInteger(opts.harts) || opts.harts < 1) throw new ImageError(`invalid number of CPUs: ${opts.harts}`);
    if (opts.harts > MAX_HARTS) throw new ImageError(`Invalid SMP CPUs ${opts.harts}. The max CPUs supported by machine 'virt' is ${MAX_HARTS}`);
    if (opts.ramSize < 1 << 20 || opts.ramSize % 4096 !== 0) throw new ImageError(`invalid RAM size ${opts.ramSize}`);
    this.name = opts.name;
    this.harts = opts.harts;
    this.ram = SharedMemory.create(opts.ramSize);
    this.block = SharedMemory.create(MachineState.bytesFor(opts.harts));
    this.state = new MachineState(this.block.buffer, opts.harts, true);
    this.views = Array.from({ length: opts.harts }, (_, h) => new HartStateView(this.block.buffer, this.state.hartStateOffset(h)));
    const entry = this.loadImages();
    this.config = { harts: opts.harts, ramSize: opts.ramSize, rom: buildResetVector(BigInt(entry), 0n) };
  }

  /** Loads -bios/-kernel/-initrd into RAM; returns where the harts jump from the ROM. */
  private loadImages(): number {
    const ramEnd = DRAM_BASE + this.opts.ramSize;
    const u8 = new Uint8Array(this.ram.buffer);
    const place = (addr: number, data: Uint8Array, memsz: number, what: string) => {
      if (addr < DRAM_BASE || addr + memsz > ramEnd) {
        throw new ImageError(`${what} does not fit in RAM (0x${addr.toString(16)}..0x${(addr + memsz).toString(16)}; RAM is 0x${DRAM_BASE.toString(16)}..0x${ramEnd.toString(16)})`);
      }
      u8.set(data, addr - DRAM_BASE);
      u8.fill(0, addr - DRAM_BASE + data.length, addr - DRAM_BASE + memsz);
    };
    const read = (path: string, what: string): Uint8Array => {
      try {
        return new Uint8Array(readFileSync(path));
      } catch (e) {
        throw new ImageError(`could not load ${what} '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`);
      }
    };
    if (this.opts.bios !== 'none') {
      throw new ImageError(`-bios ${this.opts.bios}: firmware loading comes with the machine issue; use -bios none`);
    }
    if (!this.opts.kernel) throw new ImageError('-bios none needs -kernel');
    const k = read(this.opts.kernel, 'kernel');
    if (k.length === 0) throw new ImageError(`kernel '${this.opts.kernel}' is empty`);
    let entry = DRAM_BASE;
    if (isElf(k)) {
      const elf = parseElf(k, `kernel '${this.opts.kernel}'`);
      for (const s of elf.segments) place(s.paddr, s.data, s.memsz, `kernel '${this.opts.kernel}'`);
      entry = elf.entry;
    } else {
      place(DRAM_BASE, k, k.length, `kernel '${this.opts.kernel}'`);
    }
    if (this.opts.initrd) {
      const rd = read(this.opts.initrd, 'initrd');
      // QEMU puts the initrd high in the first 256 MiB (or half of RAM), page aligned
      const top = Math.min(ramEnd, DRAM_BASE + 256 * 1024 * 1024);
      const start = Math.floor((top - rd.length) / 4096) * 4096 - 4096 * 256;
      place(start, rd, rd.length, `initrd '${this.opts.initrd}'`);
    }
    return entry;
  }

  start(): void {
    const workerUrl = new URL('../hart-worker.js', import.meta.url);
    for (let h = 0; h < this.harts; h++) {
      const ctl = this.views[h]!.ctl;
      if (this.opts.startPaused) Atomics.store(ctl, CTL.REQUEST, REQ.PAUSE);
      const data: HartWorkerData = { hartId: h, ram: this.ram.buffer, machine: this.block.buffer, config: this.config, resetPc: this.resetPc };
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
          this.reset();
          continue;
        }
        this.finish({ code, reason: 'poweroff' });
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

  quit(code = 0): void {
    this.finish({ code, reason: 'quit' });
  }

  private finish(e: ExitInfo): void {
    if (this.exited) return;
    this.exited = true;
    this.rs = 'shutdown';
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
  }

  runState(): RunState {
    return this.rs;
  }

  /** Pauses every hart and the guest clock; returns when all have stopped. */
  stop(): void {
    if (this.rs !== 'running') return;
    this.state.pauseClock();
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
    this.rs = 'paused';
  }

  cont(): void {
    if (this.rs !== 'paused' && this.rs !== 'prelaunch') return;
    this.state.resumeClock();
    for (const v of this.views) {
      Atomics.and(v.ctl, CTL.REQUEST, ~REQ.PAUSE);
      wake(v.ctl, CTL.REQUEST);
    }
    this.rs = 'running';
  }

  reset(): void {
    for (const v of this.views) {
      Atomics.or(v.ctl, CTL.REQUEST, REQ.RESET);
      Atomics.add(v.ctl, CTL.WAKE, 1);
      wake(v.ctl, CTL.WAKE);
    }
  }
}
