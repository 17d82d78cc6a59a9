/**
 * One NBD client connection: fixed newstyle negotiation (STARTTLS when asked, structured
 * replies, the base:allocation meta context, NBD_OPT_GO with NBD_INFO_BLOCK_SIZE, falling
 * back to NBD_OPT_EXPORT_NAME on old servers, and oldstyle servers' fixed greeting), then the transmission phase with many
 * requests in flight, each named by a cookie (slot, tag).
 *
 * The server is not trusted: every reply is checked against the request it names (magic,
 * cookie, chunk type for the command, offsets inside the request, no overlap with earlier
 * chunks, lengths within limits). Data is only ever written into the caller's buffer after
 * the chunk header that places it has passed those checks. A violation is a hard disconnect:
 * the requests in flight are handed back to the owner (protocol/nbd.ts), which retries them
 * after a reconnect or fails them with EIO.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlockError } from '../format/types.js';
import { WireReader } from './reader.js';
import { describeAddress, type NbdTarget } from './uri.js';
import * as W from './wire.js';

/** Requests in flight on one connection; more wait in a queue. */
export const MAX_IN_FLIGHT = 64;
/** The largest option reply or error chunk we accept (names and messages are <= 4 KiB). */
const MAX_OPTION_REPLY = 64 << 10;
const CONNECT_TIMEOUT_MS = 30_000;

/** One extent of NBD_CMD_BLOCK_STATUS for base:allocation. */
export interface NbdExtent {
  length: number;
  flags: number;
}

/** A request as the owner builds it; the connection fills in the reply state. */
export class NbdRequest {
  /** Cookie: slot index (low half) and a tag that changes each time the slot is reused. */
  slot = -1;
  tag = 0;
  /** Bytes of a read covered by data/hole chunks so far, and their ranges when more than one. */
  covered = 0;
  ranges: number[] | null = null;
  error: BlockError | null = null;
  extents: NbdExtent[] | null = null;
  /** Connections this request was in flight on when they were lost (protocol/nbd.ts resends it). */
  losses = 0;

  constructor(
    readonly type: number,
    readonly flags: number,
    readonly offset: number,
    readonly length: number,
    /** Write payload, or read destination (exactly `length` bytes). */
    readonly buf: Uint8Array | null,
    readonly resolve: (r: NbdRequest) => void,
    readonly reject: (e: BlockError) => void,
  ) {}

  reset(): void {
    this.slot = -1;
    this.covered = 0;
    this.ranges = null;
    this.error = null;
    this.extents = null;
  }
}

export interface Negotiated {
  info: W.ExportInfo;
  structured: boolean;
  /** The base:allocation context id, or null when the server has none. */
  allocationContext: number | null;
}

function protocolError(msg: string): BlockError {
  return new BlockError(`NBD protocol error: ${msg}`, 'EIO');
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export class NbdConnection {
  /** Called once when the connection ends (by the server, an error, or a protocol violation) with the requests it still held. */
  onLost: (requests: NbdRequest[], err: BlockError) => void = () => {};
  private readonly slots: (NbdRequest | null)[] = new Array(MAX_IN_FLIGHT).fill(null);
  private readonly free: number[] = [];
  private readonly queue: NbdRequest[] = [];
  private tags = 1;
  private inFlight = 0;
  private corked = false;
  private lost = false;
  private closing = false;
  private drained: (() => void) | null = null;
  /** Reply being parsed. */
  private cur: NbdRequest | null = null;
  private chunkFlags = 0;
  private chunkType = 0;
  private chunkLength = 0;

  private constructor(
    private readonly sock: Socket,
    private readonly reader: WireReader,
    readonly negotiated: Negotiated,
  ) {
    for (let i = MAX_IN_FLIGHT - 1; i >= 0; i--) this.free.push(i);
  }

  get info(): W.ExportInfo {
    return this.negotiated.info;
  }

  /** Connects, negotiates, and enters the transmission phase. */
  static async open(target: NbdTarget): Promise<NbdConnection> {
    const useTls = !!target.tls;
    const reader = new WireReader();
    // Plain sockets read through `onread` (no per-read allocation, payloads straight into
    // their destination); a socket that is upgraded to TLS is read through 'data' events.
    const opts = target.address.type === 'unix' ? { path: target.address.path } : { host: target.address.host, port: target.address.port };
    const raw = netConnect(useTls ? opts : { ...opts, onread: reader.socketOnRead() });
    raw.setNoDelay(true);
    let sock: Socket = raw;
    const where = describeAddress(target.address);
    let failure: Error | null = null;
    const onError = (e: Error) => {
      failure ??= e;
      reader.close(e);
    };
    const onClose = () => reader.close(failure ?? new Error('Connection closed by the server'));
    raw.on('error', onError);
    raw.on('close', onClose);
    if (useTls) raw.on('data', (c: Buffer) => reader.push(c));
    const timer = setTimeout(() => raw.destroy(new Error('timed out')), CONNECT_TIMEOUT_MS);
    try {
      await new Promise<void>((resolve, reject) => {
        raw.once('connect', resolve);
        raw.once('error', reject);
      });
      const hs = new Handshake(reader, raw, target);
      const negotiated = await hs.run(async () => {
        // STARTTLS was acknowledged: everything from here goes through TLS.
        if (reader.buffered) throw protocolError('data after the STARTTLS reply');
        raw.removeAllListeners('data');
        const tls = await upgrade(raw, target);
        sock = tls;
        const tlsReader = new WireReader();
        tls.on('data', (c: Buffer) => tlsReader.push(c));
        tls.on('error', (e) => {
          failure ??= e;
          tlsReader.close(e);
        });
        tls.on('close', () => tlsReader.close(failure ?? new Error('Connection closed by the server')));
        return { reader: tlsReader, sock: tls };
      });
      clearTimeout(timer);
      const r = hs.reader;
      raw.removeListener('error', onError);
      raw.removeListener('close', onClose);
      const conn = new NbdConnection(sock, r, negotiated);
      conn.attach();
      return conn;
    } catch (e) {
      clearTimeout(timer);
      sock.destroy();
      raw.destroy();
      if (e instanceof BlockError) throw e;
      const err = e as NodeJS.ErrnoException;
      const code = typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code) ? err.code : 'EIO';
      throw new BlockError(`Failed to connect to '${where}': ${err.message}`, code);
    }
  }

  private attach(): void {
    this.sock.on('error', (e) => this.lose(new BlockError(`NBD connection failed: ${e.message}`, 'EIO')));
    this.sock.on('close', () => this.lose(new BlockError('NBD server closed the connection', 'EIO')));
    this.nextReply();
  }

  /** Queues a request; it settles through its resolve/reject (or comes back via onLost). */
  submit(req: NbdRequest): void {
    if (this.lost) {
      this.onLost([req], new BlockError('NBD connection is closed', 'EIO'));
      return;
    }
    const slot = this.free.pop();
    if (slot === undefined) {
      this.queue.push(req);
      return;
    }
    this.send(req, slot);
  }

  private send(req: NbdRequest, slot: number): void {
    req.reset();
    req.slot = slot;
    req.tag = this.tags = (this.tags + 1) >>> 0 || 1;
    this.slots[slot] = req;
    this.inFlight++;
    const h = Buffer.allocUnsafe(W.REQUEST_SIZE);
    W.encodeRequest(h, 0, req.flags, req.type, req.tag, slot, req.offset, req.length);
    if (!this.corked) {
      // Requests issued in one tick leave in one writev.
      this.corked = true;
      this.sock.cork();
      process.nextTick(() => {
        this.corked = false;
        this.sock.uncork();
      });
    }
    this.sock.write(h);
    if (req.type === W.CMD_WRITE) this.sock.write(req.buf!);
  }

  private complete(req: NbdRequest): void {
    this.slots[req.slot] = null;
    this.inFlight--;
    const next = this.queue.shift();
    if (next) this.send(next, req.slot);
    else this.free.push(req.slot);
    if (req.error) req.reject(req.error);
    else req.resolve(req);
    if (this.inFlight === 0 && this.drained) this.drained();
  }

  /** Hard disconnect: hands every unfinished request back to the owner. */
  private lose(err: BlockError): void {
    if (this.lost) return;
    this.lost = true;
    this.reader.close(err);
    this.sock.destroy();
    const pending: NbdRequest[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r) pending.push(r);
      this.slots[i] = null;
    }
    pending.push(...this.queue.splice(0));
    this.inFlight = 0;
    this.drained?.();
    if (!this.closing || pending.length) this.onLost(pending, err);
  }

  private violation(msg: string): void {
    this.lose(protocolError(msg));
  }

  /** Soft disconnect: waits for requests in flight, sends NBD_CMD_DISC, closes. */
  async close(): Promise<void> {
    if (this.lost) return;
    this.closing = true;
    if (this.inFlight || this.queue.length) await new Promise<void>((r) => (this.drained = r));
    if (this.lost) return;
    const h = Buffer.allocUnsafe(W.REQUEST_SIZE);
    W.encodeRequest(h, 0, 0, W.CMD_DISC, 0, 0, 0, 0);
    this.lost = true;
    await new Promise<void>((resolve) => {
      this.sock.end(h, () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    this.reader.close();
    this.sock.destroy();
  }

  // --- Reply parsing: a state machine driven by the reader's callbacks. ---

  private nextReply(): void {
    this.cur = null;
    this.reader.want(W.SIMPLE_REPLY_SIZE, this.onReplyHeader);
  }

  private lookup(b: Buffer, at: number): NbdRequest | null {
    const tag = b.readUInt32BE(at);
    const slot = b.readUInt32BE(at + 4);
    const req = slot < MAX_IN_FLIGHT ? this.slots[slot] : null;
    if (!req || req.tag !== tag) {
      this.violation(`reply with an unknown cookie 0x${tag.toString(16).padStart(8, '0')}${slot.toString(16).padStart(8, '0')}`);
      return null;
    }
    return req;
  }

  private readonly onReplyHeader = (b: Buffer, at: number): void => {
    const magic = b.readUInt32BE(at);
    if (magic === W.SIMPLE_REPLY_MAGIC) {
      const error = b.readUInt32BE(at + 4);
      const req = this.lookup(b, at + 8);
      if (!req) return;
      this.cur = req;
      if (error) {
        req.error = nbdError(error, '');
        this.complete(req);
        this.nextReply();
      } else if (req.type === W.CMD_READ) {
        if (this.negotiated.structured) return this.violation('simple reply with data to a read after structured replies were negotiated');
        req.covered = req.length;
        this.reader.fill(req.buf!, this.onSimpleReadDone);
      } else if (req.type === W.CMD_BLOCK_STATUS) {
        this.violation('simple reply to a block status request');
      } else {
        this.complete(req);
        this.nextReply();
      }
    } else if (magic === W.STRUCTURED_REPLY_MAGIC) {
      if (!this.negotiated.structured) return this.violation('structured reply without negotiation');
      this.chunkFlags = b.readUInt16BE(at + 4);
      this.chunkType = b.readUInt16BE(at + 6);
      const req = this.lookup(b, at + 8);
      if (!req) return;
      this.cur = req;
      this.reader.want(4, this.onChunkLength);
    } else {
      this.violation(`reply magic 0x${magic.toString(16)}`);
    }
  };

  private readonly onSimpleReadDone = (): void => {
    this.complete(this.cur!);
    this.nextReply();
  };

  private readonly onChunkLength = (b: Buffer, at: number): void => {
    const len = b.readUInt32BE(at);
    const req = this.cur!;
    const type = this.chunkType;
    this.chunkLength = len;
    if (type & W.REPLY_TYPE_IS_ERROR) {
      const min = type === W.REPLY_TYPE_ERROR_OFFSET ? 14 : 6;
      if (len < min || len > MAX_OPTION_REPLY) return this.violation(`error chunk of ${len} bytes`);
      return this.reader.want(len, this.onErrorChunk);
    }
    switch (type) {
      case W.REPLY_TYPE_NONE:
        if (len !== 0) return this.violation(`NBD_REPLY_TYPE_NONE with ${len} bytes`);
        if (!(this.chunkFlags & W.REPLY_FLAG_DONE)) return this.violation('NBD_REPLY_TYPE_NONE without the done flag');
        return this.endChunk();
      case W.REPLY_TYPE_OFFSET_DATA:
        if (req.type !== W.CMD_READ) return this.violation('data chunk for a request that is not a read');
        if (len < 9 || len - 8 > req.length) return this.violation(`data chunk of ${len} bytes for a read of ${req.length}`);
        return this.reader.want(8, this.onDataOffset);
      case W.REPLY_TYPE_OFFSET_HOLE:
        if (req.type !== W.CMD_READ) return this.violation('hole chunk for a request that is not a read');
        if (len !== 12) return this.violation(`hole chunk of ${len} bytes`);
        return this.reader.want(12, this.onHole);
      case W.REPLY_TYPE_BLOCK_STATUS:
        if (req.type !== W.CMD_BLOCK_STATUS) return this.violation('block status chunk for another request');
        if (len < 12 || (len - 4) % 8 !== 0 || len > 4 + 8 * W.MAX_EXTENTS) return this.violation(`block status chunk of ${len} bytes`);
        if (req.extents) return this.violation('two block status chunks for one context');
        if (len <= 64 << 10) return this.reader.want(len, this.onBlockStatus);
        {
          const payload = Buffer.allocUnsafe(len);
          return this.reader.fill(payload, () => this.onBlockStatus(payload, 0));
        }
      default:
        return this.violation(`unknown structured reply type ${type}`);
    }
  };

  /** Checks that [off, off+n) lies in the request and overlaps no earlier chunk; records it. */
  private place(req: NbdRequest, off: number, n: number): boolean {
    if (off < req.offset || off + n > req.offset + req.length) {
      this.violation(`chunk [${off}, +${n}) outside the read [${req.offset}, +${req.length})`);
      return false;
    }
    const a = off - req.offset;
    const b = a + n;
    if (req.covered === 0) {
      req.ranges = null;
      req.covered = n;
      if (n < req.length) req.ranges = [a, b];
      return true;
    }
    const r = req.ranges!;
    for (let i = 0; i < r.length; i += 2) {
      if (a < r[i + 1]! && r[i]! < b) {
        this.violation(`chunk [${off}, +${n}) overlaps an earlier chunk of the same read`);
        return false;
      }
    }
    r.push(a, b);
    req.covered += n;
    return true;
  }

  private readonly onDataOffset = (b: Buffer, at: number): void => {
    const req = this.cur!;
    const off = W.getU64(b, at);
    const n = this.chunkLength - 8;
    if (!this.place(req, off, n)) return;
    const start = off - req.offset;
    this.reader.fill(req.buf!.subarray(start, start + n), this.onDataDone);
  };

  private readonly onDataDone = (): void => this.endChunk();

  private readonly onHole = (b: Buffer, at: number): void => {
    const req = this.cur!;
    const off = W.getU64(b, at);
    const n = b.readUInt32BE(at + 8);
    if (n === 0) return this.violation('hole chunk of length 0');
    if (!this.place(req, off, n)) return;
    req.buf!.fill(0, off - req.offset, off - req.offset + n);
    this.endChunk();
  };

  private readonly onBlockStatus = (b: Buffer, at: number): void => {
    const req = this.cur!;
    const ctx = b.readUInt32BE(at);
    if (ctx !== this.negotiated.allocationContext) return this.violation(`block status for unknown context ${ctx}`);
    const count = (this.chunkLength - 4) / 8;
    const extents: NbdExtent[] = [];
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const length = b.readUInt32BE(at + 4 + 8 * i);
      const flags = b.readUInt32BE(at + 8 + 8 * i);
      if (length === 0) return this.violation('block status extent of length 0');
      if (sum >= req.length) return this.violation('block status extents past the requested range');
      if (req.flags & W.CMD_FLAG_REQ_ONE && length > req.length) return this.violation('block status extent longer than asked');
      sum += length;
      extents.push({ length, flags });
    }
    req.extents = extents;
    this.endChunk();
  };

  private readonly onErrorChunk = (b: Buffer, at: number): void => {
    const req = this.cur!;
    const len = this.chunkLength;
    const code = b.readUInt32BE(at);
    const msgLen = b.readUInt16BE(at + 4);
    const fixed = this.chunkType === W.REPLY_TYPE_ERROR_OFFSET ? 14 : 6;
    if (code === 0) return this.violation('error chunk with error 0');
    if (msgLen > len - fixed) return this.violation('error chunk message longer than the chunk');
    const msg = b.toString('utf8', at + 6, at + 6 + msgLen);
    if (this.chunkType === W.REPLY_TYPE_ERROR_OFFSET) {
      const off = W.getU64(b, at + 6 + msgLen);
      if (off < req.offset || off >= req.offset + Math.max(req.length, 1)) return this.violation('error offset outside the request');
    }
    req.error ??= nbdError(code, msg);
    this.endChunk();
  };

  private endChunk(): void {
    const req = this.cur!;
    if (!(this.chunkFlags & W.REPLY_FLAG_DONE)) return this.nextReply();
    if (!req.error) {
      if (req.type === W.CMD_READ && req.covered !== req.length) {
        return this.violation(`read reply covers ${req.covered} of ${req.length} bytes`);
      }
      if (req.type === W.CMD_BLOCK_STATUS && !req.extents) return this.violation('block status reply without extents');
    }
    this.complete(req);
    this.nextReply();
  }

  destroy(): void {
    this.closing = true;
    this.lose(new BlockError('NBD connection closed', 'EIO'));
  }
}

function nbdError(code: number, msg: string): BlockError {
  const errno = W.errnoFromWire(code);
  const text: Record<string, string> = {
    EPERM: 'Operation not permitted', EIO: 'Input/output error', ENOMEM: 'Cannot allocate memory', EINVAL: 'Invalid argument',
    ENOSPC: 'No space left on device', EOVERFLOW: 'Value too large for defined data type', ENOTSUP: 'Operation not supported',
    ESHUTDOWN: 'Cannot send after transport endpoint shutdown',
  };
  return new BlockError(msg ? `NBD server error: ${msg}` : `NBD server error: ${text[errno] ?? errno}`, errno);
}

async function upgrade(raw: Socket, target: NbdTarget): Promise<TLSSocket> {
  const t = target.tls!;
  const read = (name: string, required: boolean): Buffer | undefined => {
    if (!t.dir) return undefined;
    try {
      return readFileSync(join(t.dir, name));
    } catch (e) {
      if (required) throw new BlockError(`Unable to access credentials ${join(t.dir, name)}: ${(e as Error).message}`, 'EINVAL');
      return undefined;
    }
  };
  const host = target.address.type === 'inet' ? target.address.host : undefined;
  const servername = t.hostname ?? (host && !/^[\d.:]+$/.test(host) ? host : undefined);
  // node:tls loads only for nbds: (a few ms of every tsemu-img start otherwise)
  const { connect: tlsConnect } = await import('node:tls');
  const tls = tlsConnect({
    socket: raw,
    ca: read('ca-cert.pem', t.verifyPeer),
    cert: read('client-cert.pem', false),
    key: read('client-key.pem', false),
    servername,
    rejectUnauthorized: t.verifyPeer,
    // Over a unix socket with no tls-hostname there is no name to check: the chain is.
    ...(servername ? {} : { checkServerIdentity: () => undefined }),
  });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', (e) => reject(new BlockError(`TLS handshake failed: ${e.message}`, 'EIO')));
  });
  tls.setNoDelay(true);
  return tls;
}

/** The option haggling, step by step. */
class Handshake {
  constructor(
    public reader: WireReader,
    private sock: Socket,
    private readonly target: NbdTarget,
  ) {}

  private send(option: number, data?: Uint8Array): void {
    this.sock.write(W.encodeOption(option, data));
  }

  /** One option reply: its type and data (checked against the option it answers). */
  private async reply(option: number): Promise<{ type: number; data: Buffer }> {
    const h = await this.reader.read(W.OPTION_REPLY_HEADER_SIZE);
    if (h.readBigUInt64BE(0) !== W.OPTION_REPLY_MAGIC) throw protocolError('bad option reply magic');
    if (h.readUInt32BE(8) !== option) throw protocolError(`reply to option ${h.readUInt32BE(8)} when ${option} was sent`);
    const type = h.readUInt32BE(12);
    const len = h.readUInt32BE(16);
    if (len > MAX_OPTION_REPLY) throw protocolError(`option reply of ${len} bytes`);
    const data = len ? await this.reader.read(len) : Buffer.alloc(0);
    return { type, data };
  }

  private failed(option: string, r: { type: number; data: Buffer }): BlockError {
    const detail = r.data.length ? `: ${r.data.toString('utf8')}` : '';
    return new BlockError(`${option}: ${W.optionReplyName(r.type)}${detail}`, r.type === W.REP_ERR_UNKNOWN ? 'ENOENT' : 'EIO');
  }

  async run(startTls: () => Promise<{ reader: WireReader; sock: Socket }>): Promise<Negotiated> {
    const greet = await this.reader.read(16);
    if (greet.readBigUInt64BE(0) !== W.NBDMAGIC) throw protocolError('not an NBD server (bad magic)');
    const second = greet.readBigUInt64BE(8);
    if (second === W.CLISERV_MAGIC) {
      // Oldstyle: no options, no export names, no TLS; size and flags follow at once.
      if (this.target.tls) throw new BlockError('Server uses oldstyle negotiation, which cannot do TLS', 'ENOTSUP');
      const b = await this.reader.read(12);
      await this.reader.discard(124);
      return { info: checkInfo({ size: W.getU64(b, 0), flags: b.readUInt32BE(8) & 0xffff, minBlock: 1, preferredBlock: 4096, maxPayload: W.DEFAULT_MAX_PAYLOAD }), structured: false, allocationContext: null };
    }
    if (second !== W.IHAVEOPT) throw protocolError('bad newstyle magic');
    const hflags = (await this.reader.read(2)).readUInt16BE(0);
    const fixed = !!(hflags & W.FLAG_FIXED_NEWSTYLE);
    const noZeroes = !!(hflags & W.FLAG_NO_ZEROES);
    const cflags = Buffer.allocUnsafe(4);
    cflags.writeUInt32BE((fixed ? W.FLAG_C_FIXED_NEWSTYLE : 0) | (noZeroes ? W.FLAG_C_NO_ZEROES : 0));
    this.sock.write(cflags);
    const name = this.target.exportName;
    if (!fixed) {
      if (this.target.tls) throw new BlockError('Server does not support STARTTLS', 'ENOTSUP');
      return { info: await this.exportName(name, noZeroes), structured: false, allocationContext: null };
    }
    if (this.target.tls) {
      this.send(W.OPT_STARTTLS);
      const r = await this.reply(W.OPT_STARTTLS);
      if (r.type !== W.REP_ACK) throw new BlockError(`Server does not support STARTTLS (${W.optionReplyName(r.type)})`, 'ENOTSUP');
      const up = await startTls();
      this.reader = up.reader;
      this.sock = up.sock;
    }
    this.send(W.OPT_STRUCTURED_REPLY);
    let r = await this.reply(W.OPT_STRUCTURED_REPLY);
    if (r.type === W.REP_ERR_TLS_REQD) throw new BlockError('Server requires TLS, but no TLS credentials were given (use nbds:// or tls-creds=DIR)', 'EPERM');
    const structured = r.type === W.REP_ACK;
    if (!structured && !(r.type & W.REP_FLAG_ERROR)) throw protocolError(`unexpected reply ${r.type} to NBD_OPT_STRUCTURED_REPLY`);
    let allocationContext: number | null = null;
    if (structured) {
      this.send(W.OPT_SET_META_CONTEXT, W.encodeMetaContextData(name, [W.BASE_ALLOCATION]));
      for (;;) {
        r = await this.reply(W.OPT_SET_META_CONTEXT);
        if (r.type === W.REP_META_CONTEXT) {
          if (r.data.length < 4) throw protocolError('short NBD_REP_META_CONTEXT');
          if (r.data.toString('utf8', 4) === W.BASE_ALLOCATION) allocationContext = r.data.readUInt32BE(0);
          continue;
        }
        if (r.type === W.REP_ACK) break;
        if (r.type & W.REP_FLAG_ERROR) {
          if (r.type === W.REP_ERR_UNKNOWN) throw this.failed(`Requested export '${name}' not available`, r);
          allocationContext = null;
          break;
        }
        throw protocolError(`unexpected reply ${r.type} to NBD_OPT_SET_META_CONTEXT`);
      }
    }
    this.send(W.OPT_GO, W.encodeGoData(name, [W.INFO_BLOCK_SIZE]));
    let size = -1;
    let flags = 0;
    let minBlock = 1;
    let preferredBlock = 4096;
    let maxPayload = W.DEFAULT_MAX_PAYLOAD;
    let blockSizesAdvertised = false;
    for (;;) {
      r = await this.reply(W.OPT_GO);
      if (r.type === W.REP_INFO) {
        if (r.data.length < 2) throw protocolError('short NBD_REP_INFO');
        const kind = r.data.readUInt16BE(0);
        if (kind === W.INFO_EXPORT) {
          if (r.data.length !== 12) throw protocolError('NBD_INFO_EXPORT of the wrong length');
          size = W.getU64(r.data, 2);
          flags = r.data.readUInt16BE(10);
        } else if (kind === W.INFO_BLOCK_SIZE) {
          if (r.data.length !== 14) throw protocolError('NBD_INFO_BLOCK_SIZE of the wrong length');
          minBlock = r.data.readUInt32BE(2);
          preferredBlock = r.data.readUInt32BE(6);
          maxPayload = r.data.readUInt32BE(10);
          blockSizesAdvertised = true;
          if (!isPow2(minBlock) || minBlock > 65536 || !isPow2(preferredBlock) || preferredBlock < minBlock || maxPayload < minBlock) {
            throw protocolError(`invalid block sizes ${minBlock}/${preferredBlock}/${maxPayload}`);
          }
        }
        continue;
      }
      if (r.type === W.REP_ACK) break;
      if (r.type === W.REP_ERR_UNSUP) {
        // An old server: NBD_OPT_EXPORT_NAME, without errors or block sizes.
        return { info: await this.exportName(name, noZeroes), structured, allocationContext };
      }
      if (r.type === W.REP_ERR_TLS_REQD) throw new BlockError('Server requires TLS, but no TLS credentials were given (use nbds:// or tls-creds=DIR)', 'EPERM');
      if (r.type & W.REP_FLAG_ERROR) throw this.failed(`Requested export '${name}' not available`, r);
      throw protocolError(`unexpected reply ${r.type} to NBD_OPT_GO`);
    }
    if (size < 0) throw protocolError('NBD_OPT_GO succeeded without NBD_INFO_EXPORT');
    return { info: checkInfo({ size, flags, minBlock, preferredBlock, maxPayload, blockSizesAdvertised }), structured, allocationContext };
  }

  private async exportName(name: string, noZeroes: boolean): Promise<W.ExportInfo> {
    this.sock.write(W.encodeOption(W.OPT_EXPORT_NAME, Buffer.from(name, 'utf8')));
    const b = await this.reader.read(10).catch(() => {
      throw new BlockError(`Requested export '${name}' not available (the server closed the connection)`, 'ENOENT');
    });
    if (!noZeroes) await this.reader.discard(124);
    return checkInfo({ size: W.getU64(b, 0), flags: b.readUInt16BE(8), minBlock: 1, preferredBlock: 4096, maxPayload: W.DEFAULT_MAX_PAYLOAD });
  }
}

function checkInfo(info: W.ExportInfo): W.ExportInfo {
  if (!Number.isSafeInteger(info.size) || info.size > Number.MAX_SAFE_INTEGER) throw protocolError(`export size ${info.size} is too large`);
  if (!(info.flags & W.FLAG_HAS_FLAGS)) info.flags = W.FLAG_HAS_FLAGS;
  return info;
}
