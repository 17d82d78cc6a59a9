/**
 * A small QMP client (qemu docs/interop/qmp-spec) for tsemu's monitor or QEMU's own:
 *
 *   const qmp = await QmpClient.connect('unix:/tmp/qmp.sock');   // or 'tcp:HOST:PORT'
 *   await qmp.negotiate();
 *   const status = await qmp.execute('query-status');
 *   qmp.on('event', (e) => console.log(e.event));
 *   await qmp.execute('quit');
 *
 * Commands are matched to replies by an `id` the client adds; a QMP error rejects with
 * QmpCommandError (its class and desc). `send` writes raw text for tests of malformed
 * input; `raw` lists every message the server sent, in order.
 */
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { JsonSplitter, parseJson, toJson, type Json } from './json.js';

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

export interface QmpEventMessage {
  event: string;
  data?: Record<string, Json>;
  timestamp: { seconds: number; microseconds: number };
}

export class QmpCommandError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${errorClass}: ${desc}`);
  }
}

export interface ConnectOptions {
  /** TLS: options for node:tls (ca, servername, rejectUnauthorized...). */
  tls?: ConnectionOptions;
  timeoutMs?: number;
}

export class QmpClient extends EventEmitter {
  greeting!: QmpGreeting;
  /** Every message received, in order (events, replies, the greeting). */
  readonly raw: Record<string, Json>[] = [];
  private readonly splitter = new JsonSplitter({ maxMessage: 256 << 20, maxDepth: 4096 });
  private readonly pending = new Map<string, { resolve: (v: Record<string, Json>) => void; reject: (e: Error) => void }>();
  private readonly waiters: { match: (m: Record<string, Json>) => boolean; resolve: (m: Record<string, Json>) => void }[] = [];
  private nextId = 0;
  private closedError: Error | undefined;

  private constructor(readonly socket: Socket) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      for (const p of this.splitter.push(d)) if ('text' in p) this.onMessage(parseJson(p.text) as Record<string, Json>);
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('QMP connection closed')));
  }

  /** Connects to `unix:PATH` or `tcp:HOST:PORT` (HOST:PORT) and reads the greeting. */
  static async connect(address: string, options: ConnectOptions = {}): Promise<QmpClient> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      let s: Socket;
      const ok = options.tls ? 'secureConnect' : 'connect';
      if (address.startsWith('unix:')) {
        s = options.tls ? tlsConnect({ ...options.tls, path: address.slice(5) }) : createConnection(address.slice(5));
      } else {
        const m = /^(?:tcp:)?(\[[^\]]*\]|[^:]*):(\d+)$/.exec(address);
        if (!m) throw new Error(`bad QMP address '${address}'`);
        const host = m[1]!.replace(/^\[|\]$/g, '');
        s = options.tls ? tlsConnect({ ...options.tls, host, port: Number(m[2]) }) : createConnection(Number(m[2]), host);
      }
      s.once(ok, () => resolve(s));
      s.once('error', reject);
    });
    const c = new QmpClient(sock);
    c.greeting = (await c.waitFor((m) => 'QMP' in m, options.timeoutMs ?? 10000)) as unknown as QmpGreeting;
    return c;
  }

  private onMessage(m: Record<string, Json>): void {
    this.raw.push(m);
    for (let i = 0; i < this.waiters.length; i++) {
      if (this.waiters[i]!.match(m)) {
        this.waiters.splice(i, 1)[0]!.resolve(m);
        i--;
      }
    }
    if ('event' in m) {
      this.emit('event', m as unknown as QmpEventMessage);
      return;
    }
    const id = typeof m.id === 'string' ? m.id : undefined;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (p) {
      this.pending.delete(id!);
      p.resolve(m);
    }
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.emit('close', e);
  }

  /** Resolves with the next message (already received or to come) that matches. */
  waitFor(match: (m: Record<string, Json>) => boolean, timeoutMs = 10000, fromStart = false): Promise<Record<string, Json>> {
    if (fromStart) {
      const seen = this.raw.find(match);
      if (seen) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const w = { match, resolve };
      this.waiters.push(w);
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no matching QMP message in ${timeoutMs} ms`));
      }, timeoutMs);
      t.unref();
      const done = w.resolve;
      w.resolve = (m) => {
        clearTimeout(t);
        done(m);
      };
    });
  }

  /** Waits for an event by name (one already received counts when `fromStart`). */
  async event(name: string, timeoutMs = 10000, fromStart = false): Promise<QmpEventMessage> {
    return (await this.waitFor((m) => m.event === name, timeoutMs, fromStart)) as unknown as QmpEventMessage;
  }

  /** Sends a command and resolves with the whole reply message (return or error). */
  request(execute: string, args?: Record<string, unknown>, timeoutMs = 30000): Promise<Record<string, Json>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `c${++this.nextId}`;
    const msg: Record<string, unknown> = { execute, id };
    if (args) msg.arguments = args;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${execute}: no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      t.unref();
      this.pending.set(id, {
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.socket.write(`${toJson(msg)}\n`);
    });
  }

  /** Runs a command; resolves with its `return`, rejects with QmpCommandError. */
  async execute<T = Json>(execute: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    const r = await this.request(execute, args, timeoutMs);
    if ('error' in r) {
      const e = r.error as { class: string; desc: string };
      throw new QmpCommandError(e.class, e.desc);
    }
    return r.return as T;
  }

  /** qmp_capabilities: leaves negotiation mode. */
  async negotiate(enable?: string[]): Promise<void> {
    await this.execute('qmp_capabilities', enable ? { enable } : undefined);
  }

  /** human-monitor-command: an HMP command line's output. */
  hmp(commandLine: string): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine });
  }

  /** Writes text as is (for malformed input). */
  send(text: string): void {
    this.socket.write(text);
  }

  close(): void {
    this.socket.destroy();
  }
}
