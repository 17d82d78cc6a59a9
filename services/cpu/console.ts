/**
 * The serial console on the host side: bytes the guest's UART sends come out of the
 * machine's console-out ring and go to the -serial backend; keyboard bytes go into the
 * console-in ring. On stdio it is multiplexed as QEMU's mon:stdio is: Ctrl-A X quits,
 * Ctrl-A C switches between the guest's console and the HMP monitor (the monitor
 * service, reached over a socket), Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H lists the keys.
 */
import { writeSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { ByteRing } from '../common/ring.js';

/** A socket -serial backend: QEMU's unix:PATH[,server[,wait=off]] and tcp:HOST:PORT[,...]. */
export interface SocketSerial {
  kind: 'socket';
  path?: string;
  host?: string;
  port?: number;
  /** Listen (server) or connect (client). */
  server: boolean;
  /** Server: hold the guest until the first client connects (QEMU's default with server). */
  wait: boolean;
}

export type SerialBackend = 'stdio' | 'null' | SocketSerial;

/** Parses -serial's value; throws with a message for what tsemu does not take. */
export function parseSerial(spec: string): SerialBackend {
  if (spec === 'stdio' || spec === 'mon:stdio') return 'stdio';
  if (spec === 'null' || spec === 'none') return 'null';
  const m = /^(unix|tcp):(.*)$/.exec(spec);
  if (!m) throw new Error(`-serial ${spec}: tsemu takes stdio, mon:stdio, null, unix:PATH[,server][,wait=off] or tcp:HOST:PORT[,server][,wait=off]`);
  const [addr, ...opts] = m[2]!.split(',');
  let server = false;
  let wait = true;
  for (const o of opts) {
    if (o === 'server' || o === 'server=on') server = true;
    else if (o === 'server=off') server = false;
    else if (o === 'nowait' || o === 'wait=off') wait = false;
    else if (o === 'wait=on') wait = true;
    else throw new Error(`-serial ${spec}: unknown option '${o}'`);
  }
  if (m[1] === 'unix') {
    if (!addr) throw new Error(`-serial ${spec}: unix: needs a path`);
    return { kind: 'socket', path: addr, server, wait: server && wait };
  }
  const hp = /^(.*):(\d+)$/.exec(addr ?? '');
  if (!hp) throw new Error(`-serial ${spec}: tcp: needs HOST:PORT`);
  return { kind: 'socket', host: hp[1] || '127.0.0.1', port: Number(hp[2]), server, wait: server && wait };
}

export class Console {
  private stopped = false;
  private escape = false;
  private rawMode = false;
  private readonly onData = (chunk: Buffer) => this.input(chunk);
  private readonly buf = new Uint8Array(4096);
  private server: Server | undefined;
  private client: Socket | undefined;
  /** Ctrl-A C: keyboard to the monitor instead of the guest. */
  private toMonitor = false;
  private monitorSock: Socket | undefined;
  private monitorOpening: Promise<Socket> | undefined;

  constructor(
    private readonly out: ByteRing,
    private readonly inp: ByteRing,
    private readonly backend: SerialBackend,
    private readonly onQuit: () => void,
    /** Called after bytes were put into the console-in ring (raises the UART's interrupt). */
    private readonly onInput: () => void = () => {},
    /** Connects to the HMP monitor (started on first use); undefined: no monitor. */
    private readonly openMonitor?: () => Promise<Socket>,
  ) {}

  /** -monitor stdio: start with the keyboard on the monitor. */
  async focusMonitor(): Promise<void> {
    if (!this.openMonitor || this.toMonitor) return;
    this.toMonitor = true;
    try {
      await this.monitor();
    } catch (e) {
      this.toMonitor = false;
      this.write(new TextEncoder().encode(`\r\ntsemu: no monitor: ${(e as Error).message}\r\n`));
    }
  }

  private monitor(): Promise<Socket> {
    if (this.monitorSock && !this.monitorSock.destroyed) return Promise.resolve(this.monitorSock);
    this.monitorOpening ??= this.openMonitor!().then(
      (sock) => {
        this.monitorSock = sock;
        this.monitorOpening = undefined;
        sock.on('data', (d: Buffer) => this.write(new Uint8Array(d)));
        sock.on('error', () => {});
        sock.on('close', () => {
          if (this.monitorSock === sock) this.monitorSock = undefined;
          this.toMonitor = false;
        });
        return sock;
      },
      (e: unknown) => {
        this.monitorOpening = undefined;
        throw e;
      },
    );
    return this.monitorOpening;
  }

  /** Opens the backend; with a waiting server, resolves when the first client is there. */
  async open(): Promise<void> {
    const b = this.backend;
    if (typeof b !== 'object') return;
    const attach = (sock: Socket) => {
      this.client?.destroy();
      this.client = sock;
      sock.on('data', (d: Buffer) => {
        this.inp.push(new Uint8Array(d));
        this.onInput();
      });
      sock.on('error', () => {});
      sock.on('close', () => {
        if (this.client === sock) this.client = undefined;
      });
    };
    if (!b.server) {
      await new Promise<void>((res, rej) => {
        const sock = b.path ? createConnection(b.path) : createConnection(b.port!, b.host);
        sock.once('connect', () => {
          attach(sock);
          res();
        });
        sock.once('error', (e) => rej(new Error(`-serial: cannot connect to ${b.path ?? `${b.host}:${b.port}`}: ${e.message}`)));
      });
      return;
    }
    const server = createServer(attach);
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', (e) => rej(new Error(`-serial: cannot listen on ${b.path ?? `${b.host}:${b.port}`}: ${e.message}`)));
      if (b.path) server.listen(b.path, () => res());
      else server.listen(b.port!, b.host, () => res());
    });
    if (b.wait) {
      process.stderr.write(`tsemu: -serial: waiting for connection on ${b.path ? `unix:${b.path}` : `tcp:${b.host}:${b.port}`},server\n`);
      await new Promise<void>((res) => server.once('connection', () => res()));
    }
  }

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
    const buf = this.buf;
    for (;;) {
      const n = this.out.pop(buf);
      if (n === 0) return;
      this.emit(buf.subarray(0, n));
    }
  }

  private emit(b: Uint8Array): void {
    if (this.backend === 'stdio') this.write(b);
    else if (this.client) this.client.write(Buffer.from(b));
  }

  stop(): void {
    this.stopped = true;
    this.drain();
    this.monitorSock?.destroy();
    this.client?.end();
    this.client = undefined;
    if (this.server) {
      this.server.close();
      const b = this.backend;
      if (typeof b === 'object' && b.path) {
        try {
          unlinkSync(b.path);
        } catch {
          // already gone
        }
      }
      this.server = undefined;
    }
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
    while (!this.stopped) {
      this.drain();
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
        else if (k === 'c' && this.openMonitor) {
          this.flushKeys(keep);
          keep.length = 0;
          if (this.toMonitor) this.toMonitor = false;
          else void this.focusMonitor().then(() => this.monitorSock?.write('\r'));
        } else if (k === 'h') {
          this.write(new TextEncoder().encode(`\r\nC-a h    print this help\r\nC-a x    exit emulator\r\n${this.openMonitor ? 'C-a c    switch between console and monitor\r\n' : ''}C-a C-a  sends C-a\r\n`));
        }
        continue;
      }
      if (c === 0x01) {
        this.escape = true;
        continue;
      }
      keep.push(c);
    }
    this.flushKeys(keep);
  }

  private flushKeys(keep: number[]): void {
    if (!keep.length) return;
    if (this.toMonitor) {
      this.monitorSock?.write(Uint8Array.from(keep));
      return;
    }
    this.inp.push(Uint8Array.from(keep));
    this.onInput();
  }
}
