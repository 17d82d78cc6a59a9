/**
 * The serial console on the host side: bytes the guest's UART sends come out of the
 * machine's console-out ring and go to the -serial backend; keyboard bytes go into the
 * console-in ring. On stdio it is multiplexed as QEMU's mon:stdio is: Ctrl-A X quits,
 * Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H lists the keys.
 */
import { writeSync } from 'node:fs';
import type { ByteRing } from '../common/ring.js';

export type SerialBackend = 'stdio' | 'null';

export class Console {
  private stopped = false;
  private escape = false;
  private rawMode = false;
  private readonly onData = (chunk: Buffer) => this.input(chunk);

  constructor(
    private readonly out: ByteRing,
    private readonly inp: ByteRing,
    private readonly backend: SerialBackend,
    private readonly onQuit: () => void,
    /** Called after bytes were put into the console-in ring (raises the UART's interrupt). */
    private readonly onInput: () => void = () => {},
  ) {}

  start(): void {
    void this.pump();
    if (this.backend === 'stdio' && process.stdin.readable) {
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        this.rawMode = true;
      }
      process.stdin.on('data', this.onData);
      process.stdin.on('error', () => {});
      process.stdin.resume();
    }
  }

  /** Writes whatever the guest sent, now (used before exit). */
  drain(): void {
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = this.out.pop(buf);
      if (n === 0) return;
      if (this.backend === 'stdio') this.write(buf.subarray(0, n));
    }
  }

  stop(): void {
    this.stopped = true;
    this.drain();
    if (this.backend === 'stdio') {
      process.stdin.off('data', this.onData);
      if (this.rawMode) process.stdin.setRawMode(false);
      process.stdin.pause();
      process.stdin.unref?.();
    }
  }

  private write(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      try {
        off += writeSync(1, b, off, b.length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        return; // stdout gone: drop output rather than stall the guest
      }
    }
  }

  private async pump(): Promise<void> {
    const buf = new Uint8Array(4096);
    while (!this.stopped) {
      const n = this.out.pop(buf);
      if (n > 0) {
        if (this.backend === 'stdio') this.write(buf.subarray(0, n));
        continue;
      }
      await this.out.waitReadableAsync(200);
    }
  }

  private input(chunk: Buffer): void {
    const keep: number[] = [];
    for (const c of chunk) {
      if (this.escape) {
        this.escape = false;
        const k = String.fromCharCode(c).toLowerCase();
        if (k === 'x') {
          this.write(new TextEncoder().encode('QEMU: Terminated\r\n'));
          this.onQuit();
          return;
        }
        if (c === 0x01) keep.push(0x01);
        else if (k === 'h') {
          this.write(new TextEncoder().encode('\r\nC-a h    print this help\r\nC-a x    exit emulator\r\nC-a C-a  sends C-a\r\n'));
        }
        continue;
      }
      if (c === 0x01) {
        this.escape = true;
        continue;
      }
      keep.push(c);
    }
    if (keep.length) {
      this.inp.push(Uint8Array.from(keep));
      this.onInput();
    }
  }
}
