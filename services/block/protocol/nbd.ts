/**
 * The `nbd` protocol: an image's bytes in an NBD export (nbd://, nbd+unix://, nbds://, QEMU's
 * nbd:HOST:PORT; see nbd/uri.ts). One connection (nbd/client.ts) carries many requests at
 * once; this layer shapes requests to what the server advertised (reads and writes split at
 * its maximum payload, unaligned requests widened to its minimum block), maps the export's
 * flags to BlockProtocol (read-only, flush, trim, write zeroes, block status), and keeps the
 * export reachable: after the server drops, requests wait up to `reconnect-delay` seconds
 * for a new connection and are sent again there, else fail with EIO, as QEMU's nbd driver
 * does; reconnecting goes on in the background until close.
 */
import { BlockError, type BlockExtent, type BlockProtocol } from '../format/types.js';
import { NbdConnection, NbdRequest } from '../nbd/client.js';
import { isNbdFilename, parseNbdFilename, type NbdTarget } from '../nbd/uri.js';
import * as W from '../nbd/wire.js';
import { registerProtocol, type ProtocolOpenOptions } from './registry.js';

/** The most one request moves, whatever the server allows (the spec's safe default). */
const MAX_REQUEST = 32 << 20;
/** Trim and block status cover at most INT_MAX bytes (aligned down) a request, as QEMU's do. */
const MAX_EFFECT = 0x7fffffff;
/** Write zeroes: at most this much a request, or the server's maximum if less (as QEMU). */
const MAX_ZEROES = 32 << 20;
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2000;
/** A request lost with its connection more often than this fails instead of being sent again. */
const MAX_LOSSES = 3;

type State = 'up' | 'waiting' | 'down' | 'closed';

export class NbdProtocol implements BlockProtocol {
  readonly driver = 'nbd';
  private state: State = 'up';
  private parked: NbdRequest[] = [];
  private deadline: NodeJS.Timeout | undefined;
  private reconnecting = false;
  private lastError: BlockError | null = null;
  private rmw: Promise<void> = Promise.resolve();
  private readonly info: W.ExportInfo;
  private readonly maxIo: number;
  /** The longest block status request (see the constructor), trim, and write zeroes. */
  private readonly maxStatus: number;
  private readonly maxTrim: number;
  private readonly maxZeroes: number;

  private constructor(
    readonly filename: string,
    private readonly target: NbdTarget,
    private conn: NbdConnection,
    private readonly forceReadOnly: boolean,
  ) {
    this.info = conn.info;
    const min = this.info.minBlock;
    /** A request length cap: `bytes` aligned down to the minimum block, and at least one block. */
    const cap = (bytes: number) => Math.max(min, Math.floor(bytes / min) * min);
    this.maxIo = cap(Math.min(this.info.maxPayload, MAX_REQUEST));
    // The spec lets a client ask for block status past the server's maximum block size (no
    // payload moves) but lets the server refuse such a request with EINVAL or EOVERFLOW. QEMU
    // asks for up to INT_MAX regardless; we stay inside an advertised maximum, which costs a
    // request per maximum (e.g. 32 per GiB against qemu-nbd's 32 MiB) and never a refusal.
    const statusCap = this.info.blockSizesAdvertised ? Math.min(this.info.maxPayload, MAX_EFFECT) : MAX_EFFECT;
    this.maxStatus = cap(statusCap);
    // Trim up to INT_MAX (QEMU's max_pdiscard); write zeroes up to the server's maximum block
    // size and at most 32 MiB (its max_pwrite_zeroes): a server may refuse longer ones.
    this.maxTrim = cap(MAX_EFFECT);
    this.maxZeroes = cap(Math.min(MAX_ZEROES, this.info.maxPayload));
    this.watch(conn);
  }

  static async open(filename: string, opts: ProtocolOpenOptions = {}): Promise<NbdProtocol> {
    const target = parseNbdFilename(filename, opts.options);
    try {
      return new NbdProtocol(filename, target, await NbdConnection.open(target), !!opts.readOnly);
    } catch (e) {
      const err = e as BlockError;
      if (err.message.startsWith('Could not open')) throw err;
      throw new BlockError(`Could not open '${filename}': ${err.message}`, err.errno ?? 'EIO');
    }
  }

  get readOnly(): boolean {
    return this.forceReadOnly || !!(this.info.flags & W.FLAG_READ_ONLY);
  }

  private watch(conn: NbdConnection): void {
    conn.onLost = (reqs, err) => this.lost(reqs, err);
  }

  // --- Requests, reconnects. ---

  private run(type: number, flags: number, offset: number, length: number, buf: Uint8Array | null): Promise<NbdRequest> {
    return new Promise((resolve, reject) => this.issue(new NbdRequest(type, flags, offset, length, buf, resolve, reject)));
  }

  private issue(req: NbdRequest): void {
    switch (this.state) {
      case 'up': return this.conn.submit(req);
      case 'waiting': this.parked.push(req); return;
      case 'down': return req.reject(this.connectionError());
      case 'closed': return req.reject(new BlockError(`'${this.filename}' is closed`, 'EBADF'));
    }
  }

  private connectionError(): BlockError {
    return new BlockError(`NBD connection to '${this.filename}' lost${this.lastError ? `: ${this.lastError.message}` : ''}`, 'EIO');
  }

  private lost(reqs: NbdRequest[], err: BlockError): void {
    if (this.state === 'closed') {
      for (const r of reqs) r.reject(new BlockError(`'${this.filename}' is closed`, 'EBADF'));
      return;
    }
    this.lastError = err;
    if (this.state === 'up') {
      if (this.target.reconnectDelay > 0) {
        this.state = 'waiting';
        this.deadline = setTimeout(() => this.giveUp(), this.target.reconnectDelay * 1000);
      } else this.state = 'down';
    }
    for (const r of reqs) {
      // A request every connection drops (a server that dies on it) would otherwise go
      // round for ever, each loss restarting the reconnect delay.
      if (++r.losses > MAX_LOSSES) r.reject(new BlockError(`NBD connection to '${this.filename}' lost ${r.losses} times while a request was in flight: ${err.message}`, 'EIO'));
      else if (this.state === 'waiting') this.parked.push(r);
      else r.reject(this.connectionError());
    }
    void this.reconnect();
  }

  /** The reconnect delay passed: what waits fails, later requests fail at once. */
  private giveUp(): void {
    if (this.state !== 'waiting') return;
    this.state = 'down';
    const err = this.connectionError();
    for (const r of this.parked.splice(0)) r.reject(err);
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    let wait = RECONNECT_MIN_MS;
    try {
      while (this.state === 'waiting' || this.state === 'down') {
        // While requests wait, the timer keeps the process alive; a background retry does not.
        await new Promise((r) => {
          const timer = setTimeout(r, wait);
          if (this.state === 'down') timer.unref();
        });
        wait = Math.min(wait * 2, RECONNECT_MAX_MS);
        if (this.closed) return;
        let conn: NbdConnection;
        try {
          conn = await NbdConnection.open(this.target);
        } catch (e) {
          this.lastError = e as BlockError;
          continue;
        }
        if (this.closed) return conn.destroy();
        const change = this.changed(conn.info);
        if (change) {
          // A different export behind the same name, or one that would refuse the requests
          // as this client splits them (waiting ones are split already): refuse it rather
          // than mix data or fail them one by one.
          this.lastError = new BlockError(`export changed on reconnect (${change})`, 'EIO');
          conn.destroy();
          continue;
        }
        this.conn = conn;
        this.watch(conn);
        this.state = 'up';
        clearTimeout(this.deadline);
        for (const r of this.parked.splice(0)) conn.submit(r);
      }
    } finally {
      this.reconnecting = false;
    }
  }

  /**
   * What makes a reconnected export unfit to stand in for the first one, or '' if nothing:
   * another size, a larger minimum block, a maximum block size below the requests this
   * client makes (its caps come from the first connection), or read-only where it wrote.
   */
  private changed(info: W.ExportInfo): string {
    const was = this.info;
    if (info.size !== was.size) return `size ${info.size}, was ${was.size}`;
    if (info.minBlock > was.minBlock) return `minimum block size ${info.minBlock}, was ${was.minBlock}`;
    const longest = Math.max(this.maxIo, this.maxZeroes, was.blockSizesAdvertised ? this.maxStatus : 0);
    if (info.maxPayload < longest) return `maximum block size ${info.maxPayload}, was ${was.maxPayload}`;
    if (!this.readOnly && (info.flags & W.FLAG_READ_ONLY) !== 0) return 'read-only now';
    return '';
  }

  /** The state, read afresh (TypeScript narrows `this.state` across awaits otherwise). */
  private get closed(): boolean {
    return this.state === 'closed';
  }

  private check(write: boolean): void {
    if (this.state === 'closed') throw new BlockError(`'${this.filename}' is closed`, 'EBADF');
    if (write && this.readOnly) throw new BlockError(`'${this.filename}' is read-only`, 'EROFS');
  }

  // --- BlockProtocol. ---

  async size(): Promise<number> {
    this.check(false);
    return this.info.size;
  }

  async pread(buf: Uint8Array, offset: number): Promise<void> {
    this.check(false);
    const size = this.info.size;
    let len = buf.length;
    if (offset >= size) {
      buf.fill(0);
      return;
    }
    if (offset + len > size) {
      buf.fill(0, size - offset);
      len = size - offset;
    }
    const min = this.info.minBlock;
    if (min > 1 && (offset % min !== 0 || len % min !== 0)) return this.bounceRead(buf.subarray(0, len), offset);
    await this.readAligned(len === buf.length ? buf : buf.subarray(0, len), offset);
  }

  private async readAligned(buf: Uint8Array, offset: number): Promise<void> {
    const max = this.maxIo;
    if (buf.length <= max) {
      await this.run(W.CMD_READ, 0, offset, buf.length, buf);
      return;
    }
    const parts: Promise<NbdRequest>[] = [];
    for (let done = 0; done < buf.length; done += max) {
      const n = Math.min(max, buf.length - done);
      parts.push(this.run(W.CMD_READ, 0, offset + done, n, buf.subarray(done, done + n)));
    }
    await Promise.all(parts);
  }

  /** The aligned range around [offset, offset+n), clipped to the export. */
  private widen(offset: number, n: number): [number, number] {
    const min = this.info.minBlock;
    const a = Math.floor(offset / min) * min;
    const b = Math.min(Math.ceil((offset + n) / min) * min, this.info.size);
    return [a, b];
  }

  private async bounceRead(buf: Uint8Array, offset: number): Promise<void> {
    const [a, b] = this.widen(offset, buf.length);
    const tmp = new Uint8Array(b - a);
    await this.readAligned(tmp, a);
    buf.set(tmp.subarray(offset - a, offset - a + buf.length));
  }

  async pwrite(buf: Uint8Array, offset: number): Promise<void> {
    this.check(true);
    if (offset + buf.length > this.info.size) {
      throw new BlockError(`Cannot write past the end of NBD export '${this.filename}' (size ${this.info.size})`, 'ENOSPC');
    }
    const min = this.info.minBlock;
    if (min > 1 && (offset % min !== 0 || buf.length % min !== 0)) return this.readModifyWrite(offset, buf.length, (tmp, at) => tmp.set(buf, at));
    await this.writeAligned(buf, offset);
  }

  private async writeAligned(buf: Uint8Array, offset: number): Promise<void> {
    const max = this.maxIo;
    if (buf.length <= max) {
      await this.run(W.CMD_WRITE, 0, offset, buf.length, buf);
      return;
    }
    const parts: Promise<NbdRequest>[] = [];
    for (let done = 0; done < buf.length; done += max) {
      const n = Math.min(max, buf.length - done);
      parts.push(this.run(W.CMD_WRITE, 0, offset + done, n, buf.subarray(done, done + n)));
    }
    await Promise.all(parts);
  }

  /**
   * A write smaller than the server's minimum block: read the blocks around it, patch, write
   * back. These are serialized among themselves (two patches of one block must not race).
   */
  private readModifyWrite(offset: number, n: number, patch: (tmp: Uint8Array, at: number) => void): Promise<void> {
    const step = this.rmw.then(async () => {
      const [a, b] = this.widen(offset, n);
      const tmp = new Uint8Array(b - a);
      await this.readAligned(tmp, a);
      patch(tmp, offset - a);
      await this.writeAligned(tmp, a);
    });
    this.rmw = step.catch(() => {});
    return step;
  }

  async flush(): Promise<void> {
    this.check(false);
    if (this.info.flags & W.FLAG_SEND_FLUSH && !this.readOnly) await this.run(W.CMD_FLUSH, 0, 0, 0, null);
  }

  /**
   * An export's size is the server's: growing fails; shrinking is accepted and changes
   * nothing, as QEMU's nbd driver does for inexact truncation (so qcow2 can be created on an
   * export, whose tail then goes unused).
   */
  async truncate(size: number): Promise<void> {
    this.check(true);
    if (size > this.info.size) throw new BlockError('Cannot grow NBD nodes', 'ENOTSUP');
  }

  /** Runs an effect-only command over [offset, offset+length) in pieces the wire can carry. */
  private async effect(type: number, flags: number, offset: number, length: number): Promise<void> {
    const parts: Promise<NbdRequest>[] = [];
    const most = type === W.CMD_WRITE_ZEROES ? this.maxZeroes : this.maxTrim;
    for (let done = 0; done < length; done += most) {
      parts.push(this.run(type, flags, offset + done, Math.min(most, length - done), null));
    }
    await Promise.all(parts);
  }

  async discard(offset: number, length: number): Promise<void> {
    this.check(true);
    if (!(this.info.flags & W.FLAG_SEND_TRIM)) return;
    // A hint: only whole blocks are discarded.
    const min = this.info.minBlock;
    const a = Math.ceil(offset / min) * min;
    const b = Math.floor(Math.min(offset + length, this.info.size) / min) * min;
    if (b > a) await this.effect(W.CMD_TRIM, 0, a, b - a);
  }

  async writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    this.check(true);
    if (offset + length > this.info.size) {
      throw new BlockError(`Cannot write past the end of NBD export '${this.filename}' (size ${this.info.size})`, 'ENOSPC');
    }
    if (!(this.info.flags & W.FLAG_SEND_WRITE_ZEROES)) {
      const chunk = new Uint8Array(Math.min(length, this.maxIo));
      for (let done = 0; done < length; done += chunk.length) {
        const n = Math.min(chunk.length, length - done);
        await this.pwrite(n === chunk.length ? chunk : chunk.subarray(0, n), offset + done);
      }
      return;
    }
    const min = this.info.minBlock;
    const a = Math.ceil(offset / min) * min;
    const b = Math.floor((offset + length) / min) * min;
    const zero = (at: number, n: number) => this.readModifyWrite(at, n, (tmp, x) => tmp.fill(0, x, x + n));
    if (b <= a) return zero(offset, length);
    const parts: Promise<void>[] = [this.effect(W.CMD_WRITE_ZEROES, unmap ? 0 : W.CMD_FLAG_NO_HOLE, a, b - a)];
    if (a > offset) parts.push(zero(offset, a - offset));
    if (offset + length > b) parts.push(zero(b, offset + length - b));
    await Promise.all(parts);
  }

  /** base:allocation as BlockExtents (holes are not data; zero where the server says so). */
  async blockStatus(offset: number, length: number): Promise<BlockExtent[]> {
    this.check(false);
    const end = Math.min(offset + length, this.info.size);
    const out: BlockExtent[] = [];
    const add = (at: number, n: number, data: boolean, zero: boolean) => {
      const last = out[out.length - 1];
      if (last && last.data === data && last.zero === zero && last.offset + last.length === at) last.length += n;
      else out.push({ offset: at, length: n, data, zero, present: true, depth: 0, hostOffset: at });
    };
    if (this.conn.negotiated.allocationContext === null) {
      if (end > offset) add(offset, end - offset, true, false);
      return out;
    }
    const min = this.info.minBlock;
    let pos = offset;
    while (pos < end) {
      const a = Math.floor(pos / min) * min;
      const n = Math.min(end - a, this.maxStatus);
      const req = await this.run(W.CMD_BLOCK_STATUS, 0, a, n, null);
      let at = a;
      for (const e of req.extents!) {
        const stop = Math.min(at + e.length, end);
        if (stop > pos) add(Math.max(at, pos), stop - Math.max(at, pos), !(e.flags & W.STATE_HOLE), !!(e.flags & W.STATE_ZERO));
        at = stop;
        if (at >= end) break;
      }
      if (at <= pos) throw new BlockError('NBD server made no progress on block status', 'EIO');
      pos = at;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.state = 'closed';
    clearTimeout(this.deadline);
    const err = new BlockError(`'${this.filename}' is closed`, 'EBADF');
    for (const r of this.parked.splice(0)) r.reject(err);
    if (wasUp) await this.conn.close();
    else this.conn.destroy();
  }
}

registerProtocol({
  name: 'nbd',
  claims: isNbdFilename,
  open: (filename, opts) => NbdProtocol.open(filename, opts),
});
