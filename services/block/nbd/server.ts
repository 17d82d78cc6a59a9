/**
 * An NBD server for BlockImages (what tsemu-nbd runs): fixed newstyle negotiation with
 * NBD_OPT_GO/INFO/EXPORT_NAME/LIST/ABORT/STRUCTURED_REPLY/SET_META_CONTEXT/LIST_META_CONTEXT,
 * then many requests at once per client: structured replies (sparse reads send holes as
 * NBD_REPLY_TYPE_OFFSET_HOLE), base:allocation block status, trim, write zeroes (fast zero
 * is refused with NBD_ENOTSUP, as the spec allows), flush and FUA.
 *
 * Clients share one BlockImage per export, so a flush on any connection covers writes from
 * all of them: multi-conn is advertised whenever several clients may connect. Bad requests get the error the spec names
 * (NBD_EINVAL, NBD_EPERM, NBD_ENOSPC...); a broken stream (bad magic, an oversized write
 * payload, an option that cannot be answered) is a hard disconnect. A write is only given
 * to the image once its whole payload has arrived, so a client that vanishes mid-request
 * leaves nothing half-done. With TLS credentials the server is FORCEDTLS: a client must
 * NBD_OPT_STARTTLS before anything else.
 *
 * On a read-only export of an image that can say where its bytes lie in host files
 * (BlockImage.hostMap: raw files, qcow2 data clusters, raw backing files), replies in the
 * transmission phase go out through a native SocketWriter (not over TLS; TSEMU_NBD_WRITER=0
 * turns it off): a thread of the connection's own sends them in order, reads straight from
 * the page cache with sendfile, so the event loop neither reads data nor copies it nor waits
 * for room in the socket. A host read error there comes after the reply header has gone, so
 * it ends the connection instead of being an NBD error reply. Other exports keep Node's
 * stream: their data is in JavaScript buffers anyway, and the writer would only copy it again.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { native, type NativeSocketWriter, type SocketWriterEvent } from '../../common/native.js';
import { BlockError, type BlockImage, type HostRun } from '../format/types.js';
import { BufferPool } from './buffer-pool.js';
import { WireReader } from './reader.js';
import * as W from './wire.js';

export interface Export {
  name: string;
  description?: string;
  image: BlockImage;
  readOnly: boolean;
  /**
   * Advertise NBD_FLAG_CAN_MULTI_CONN. Safe for any export here (connections share one
   * BlockImage, so a flush covers all), but only useful when several clients may connect:
   * qemu-nbd sets it when -e allows more than one, so do we.
   */
  multiConn: boolean;
}

/** Requests one client may have in flight before the server stops reading from it. */
const MAX_IN_FLIGHT = 64;
const MAX_PAYLOAD = W.DEFAULT_MAX_PAYLOAD;
/** Reply bytes queued for a client before the server stops reading its requests. */
const MAX_QUEUED = 64 << 20;
/** Option data we read whole; longer known options are refused with NBD_REP_ERR_TOO_BIG. */
const MAX_OPTION = 64 << 10;
const HANDSHAKE_TIMEOUT_MS = 60_000;
/**
 * The send buffer a SocketWriter asks for on a unix socket (the kernel caps it at
 * net.core.wmem_max): room for many replies between the peer's reads. TCP keeps its autotuning.
 */
const UNIX_SNDBUF = 4 << 20;
const NO_BYTES = new Uint8Array(0);
const ALLOCATION_ID = 1;

class Disconnect extends Error {}

interface Request {
  flags: number;
  type: number;
  hi: number;
  lo: number;
  offset: number;
  length: number;
  /** Write payload (pooled). */
  buf: Buffer | null;
}

/** Server-side TLS (qemu-nbd --tls-creds): every client must STARTTLS first (FORCEDTLS). */
export interface ServerTls {
  context: SecureContext;
  /** Require and check a client certificate against the CA. */
  verifyPeer: boolean;
}

export class NbdServer {
  readonly pool = new BufferPool();
  /** Each session and the promise that settles when it has ended. */
  private readonly sessions = new Map<Session, Promise<void>>();

  constructor(
    readonly exports: Export[],
    readonly tls?: ServerTls,
  ) {}

  find(name: string): Export | undefined {
    return this.exports.find((e) => e.name === name);
  }

  /** Serves one connected client; resolves when it has gone. */
  serve(sock: Socket): Promise<void> {
    const s = new Session(this, sock);
    const done = s.run().finally(() => this.sessions.delete(s));
    this.sessions.set(s, done);
    return done;
  }

  get clients(): number {
    return this.sessions.size;
  }

  /**
   * Ends every session (server shutdown); resolves once none of them can touch an image any
   * more (a writer thread may be sending from an image's file until then).
   */
  async closeAll(): Promise<void> {
    const ending = [...this.sessions.values()];
    for (const s of this.sessions.keys()) s.drop();
    await Promise.all(ending);
  }
}

function transmissionFlags(e: Export, structured: boolean): number {
  let f = W.FLAG_HAS_FLAGS | W.FLAG_SEND_FLUSH | W.FLAG_SEND_FUA | W.FLAG_SEND_CACHE;
  if (e.multiConn) f |= W.FLAG_CAN_MULTI_CONN;
  if (e.readOnly) f |= W.FLAG_READ_ONLY;
  else f |= W.FLAG_SEND_TRIM | W.FLAG_SEND_WRITE_ZEROES | W.FLAG_SEND_FAST_ZERO;
  if (structured) f |= W.FLAG_SEND_DF;
  return f;
}

/** The command flags each command may carry. */
function allowedFlags(type: number): number {
  switch (type) {
    case W.CMD_READ: return W.CMD_FLAG_FUA | W.CMD_FLAG_DF;
    case W.CMD_WRITE: case W.CMD_TRIM: case W.CMD_FLUSH: case W.CMD_CACHE: return W.CMD_FLAG_FUA;
    case W.CMD_WRITE_ZEROES: return W.CMD_FLAG_FUA | W.CMD_FLAG_NO_HOLE | W.CMD_FLAG_FAST_ZERO;
    case W.CMD_BLOCK_STATUS: return W.CMD_FLAG_FUA | W.CMD_FLAG_REQ_ONE;
    default: return 0;
  }
}

/** A simple reply header (error 0: success). */
function simpleReply(req: Request, error = 0): Buffer {
  const h = Buffer.allocUnsafe(W.SIMPLE_REPLY_SIZE);
  W.encodeSimpleReply(h, 0, error, req.hi, req.lo);
  return h;
}

/** An NBD_REPLY_TYPE_OFFSET_DATA chunk header for `length` bytes at `offset` (the data follows). */
function dataChunk(req: Request, flags: number, offset: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(W.STRUCTURED_REPLY_SIZE + 8);
  W.encodeChunkHeader(h, 0, flags, W.REPLY_TYPE_OFFSET_DATA, req.hi, req.lo, length + 8);
  W.putU64(h, 20, offset);
  return h;
}

/** An NBD_REPLY_TYPE_OFFSET_HOLE chunk: `length` bytes of zeros at `offset`. */
function holeChunk(req: Request, flags: number, offset: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(W.STRUCTURED_REPLY_SIZE + 12);
  W.encodeChunkHeader(h, 0, flags, W.REPLY_TYPE_OFFSET_HOLE, req.hi, req.lo, 12);
  W.putU64(h, 20, offset);
  h.writeUInt32BE(length, 28);
  return h;
}

class Session {
  private reader = new WireReader();
  private tlsDone = false;
  private structured = false;
  private noZeroes = false;
  /** Export name the meta context was selected for, or null for none. */
  private metaExport: string | null = null;
  private exp: Export | null = null;
  private inFlight = 0;
  private stalled = false;
  private disconnecting = false;
  private gone = false;
  private corked = false;
  /** Sends the replies once the transmission phase has begun, when the addon allows. */
  private writer: NativeSocketWriter | null = null;
  /** True while a writer's thread runs (until its 'closed' event). */
  private writerRunning = false;
  /** NBD_CMD_DISC: close once the writer has sent everything. */
  private closeWhenSent = false;
  private finished!: () => void;

  constructor(
    private readonly server: NbdServer,
    private sock: Socket,
  ) {}

  private listen(sock: Socket): void {
    const reader = this.reader;
    sock.setNoDelay(true);
    sock.on('data', (c: Buffer) => reader.push(c));
    sock.on('error', () => this.drop());
    sock.on('close', () => this.drop());
    sock.on('drain', this.unstall);
  }

  /** Acknowledges NBD_OPT_STARTTLS; the rest of the session runs over TLS. */
  private async startTls(ack: Buffer): Promise<void> {
    const tls = this.server.tls!;
    const raw = this.sock;
    if (this.reader.buffered) throw new Disconnect('data after NBD_OPT_STARTTLS');
    // The ACK must be on the wire, in clear, before the socket changes hands.
    if (this.corked) {
      this.corked = false;
      raw.uncork();
    }
    await new Promise<void>((resolve, reject) => raw.write(ack, (e) => (e ? reject(e) : resolve())));
    raw.removeAllListeners('data');
    raw.removeAllListeners('drain');
    const secure = new TLSSocket(raw, { isServer: true, secureContext: tls.context, requestCert: tls.verifyPeer, rejectUnauthorized: tls.verifyPeer });
    this.reader.close(new Disconnect());
    this.reader = new WireReader();
    this.sock = secure;
    this.listen(secure);
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', resolve);
      secure.once('error', reject);
      secure.once('close', () => reject(new Disconnect('closed during the TLS handshake')));
    });
    this.tlsDone = true;
  }

  async run(): Promise<void> {
    const done = new Promise<void>((r) => (this.finished = r));
    this.listen(this.sock);
    const timer = setTimeout(() => this.drop(), HANDSHAKE_TIMEOUT_MS);
    try {
      const entered = await this.handshake();
      clearTimeout(timer);
      if (entered) {
        await this.startWriter();
        this.nextRequest();
      } else this.drop();
    } catch {
      clearTimeout(timer);
      this.drop();
    }
    return done;
  }

  /** Hard disconnect (or the client went away). */
  drop(): void {
    this.writer?.close();
    if (this.gone) return;
    this.gone = true;
    this.reader.close(new Disconnect());
    this.sock.destroy();
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.gone && this.inFlight === 0 && !this.writerRunning) this.finished?.();
  }

  /** Hands the socket's output to a native SocketWriter, where one can take it. */
  private async startWriter(): Promise<void> {
    if (this.server.tls || process.env.TSEMU_NBD_WRITER === '0') return;
    if (!this.exp!.readOnly || !this.exp!.image.hostMap) return;
    let Writer;
    try {
      Writer = native().SocketWriter;
    } catch {
      return; // no addon: Node's stream does it all
    }
    if (!Writer) return;
    // What the handshake wrote must be on the wire before another writer takes over.
    await new Promise<void>((resolve) => this.sock.write(NO_BYTES, () => resolve()));
    // The fd only now, from a socket still open: a closed one's number may be another file's.
    if (this.gone || this.sock.destroyed) return;
    const fd = (this.sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return;
    const unix = typeof this.sock.remotePort !== 'number';
    this.writer = new Writer(fd, this.onWriterEvent, unix ? UNIX_SNDBUF : 0);
    this.writerRunning = true;
  }

  private readonly onWriterEvent = (kind: SocketWriterEvent): void => {
    if (kind === 'closed') {
      this.writerRunning = false;
      this.maybeFinish();
    } else if (kind === 'error') {
      this.drop();
    } else if (this.closeWhenSent) {
      if (this.writer!.queued) this.writer!.notifyBelow(0);
      else this.drop();
    } else {
      this.unstall();
    }
  };

  /** Bytes (or their cost) queued for the client and not yet sent. */
  private pending(): number {
    if (this.writer) return this.writer.queued;
    return this.sock.writableLength;
  }

  /** True when the server must stop reading requests for now; the writer then says when to go on. */
  private mustWait(): boolean {
    if (this.inFlight >= MAX_IN_FLIGHT) return true;
    if (this.pending() <= MAX_QUEUED) return false;
    this.writer?.notifyBelow(MAX_QUEUED);
    return true;
  }

  // --- Handshake. ---

  private write(b: Uint8Array, cb?: () => void): void {
    if (this.gone) {
      cb?.();
      return;
    }
    if (this.writer) {
      // The writer copies the bytes: the buffer is free again at once.
      this.writer.send(b);
      cb?.();
      return;
    }
    if (!this.corked) {
      // Replies finished in one tick leave in one writev.
      const sock = this.sock;
      this.corked = true;
      sock.cork();
      process.nextTick(() => {
        if (this.sock === sock) this.corked = false;
        if (sock.writableCorked) sock.uncork();
      });
    }
    this.sock.write(b, cb ? () => cb() : undefined);
  }

  private reply(option: number, type: number, data?: Uint8Array): void {
    this.write(W.encodeOptionReply(option, type, data));
  }

  private error(option: number, type: number, msg: string): void {
    this.reply(option, type, Buffer.from(msg, 'utf8'));
  }

  /** Option haggling; true when the transmission phase was entered. */
  private async handshake(): Promise<boolean> {
    const hello = Buffer.allocUnsafe(18);
    hello.writeBigUInt64BE(W.NBDMAGIC, 0);
    hello.writeBigUInt64BE(W.IHAVEOPT, 8);
    hello.writeUInt16BE(W.FLAG_FIXED_NEWSTYLE | W.FLAG_NO_ZEROES, 16);
    this.write(hello);
    const cflags = (await this.reader.read(4)).readUInt32BE(0);
    if (cflags & ~(W.FLAG_C_FIXED_NEWSTYLE | W.FLAG_C_NO_ZEROES)) return false;
    this.noZeroes = !!(cflags & W.FLAG_C_NO_ZEROES);
    for (;;) {
      const h = await this.reader.read(W.OPTION_HEADER_SIZE);
      if (h.readBigUInt64BE(0) !== W.IHAVEOPT) return false;
      const option = h.readUInt32BE(8);
      const len = h.readUInt32BE(12);
      const known = [W.OPT_EXPORT_NAME, W.OPT_ABORT, W.OPT_LIST, W.OPT_STARTTLS, W.OPT_INFO, W.OPT_GO,
        W.OPT_STRUCTURED_REPLY, W.OPT_LIST_META_CONTEXT, W.OPT_SET_META_CONTEXT].includes(option);
      if (option === W.OPT_EXPORT_NAME && len > W.MAX_STRING) return false;
      if (!known || len > MAX_OPTION) {
        await this.reader.discard(len);
        if (this.server.tls && !this.tlsDone) {
          this.error(option, W.REP_ERR_TLS_REQD, 'TLS negotiation required before this option');
          continue;
        }
        if (option === W.OPT_SET_META_CONTEXT) this.metaExport = null;
        if (!known) this.error(option, W.REP_ERR_UNSUP, `Unsupported option ${option}`);
        else this.error(option, W.REP_ERR_TOO_BIG, 'Option data too long');
        continue;
      }
      const data = len ? await this.reader.read(len) : Buffer.alloc(0);
      if (this.server.tls && !this.tlsDone) {
        // FORCEDTLS: nothing but STARTTLS and ABORT before TLS.
        if (option === W.OPT_STARTTLS) {
          if (len) {
            this.error(option, W.REP_ERR_INVALID, 'NBD_OPT_STARTTLS takes no data');
            continue;
          }
          await this.startTls(W.encodeOptionReply(option, W.REP_ACK));
          continue;
        }
        if (option === W.OPT_EXPORT_NAME) return false;
        if (option !== W.OPT_ABORT) {
          this.error(option, W.REP_ERR_TLS_REQD, 'TLS negotiation required before this option');
          continue;
        }
      }
      switch (option) {
        case W.OPT_EXPORT_NAME: {
          const e = this.server.find(data.toString('utf8'));
          if (!e) return false;
          const b = Buffer.alloc(this.noZeroes ? 10 : 134);
          W.putU64(b, 0, e.image.size);
          b.writeUInt16BE(transmissionFlags(e, this.structured), 8);
          this.write(b);
          return this.enter(e, data.toString('utf8'));
        }
        case W.OPT_ABORT:
          this.reply(option, W.REP_ACK);
          await new Promise<void>((r) => this.sock.end(r));
          return false;
        case W.OPT_LIST:
          if (len) {
            this.error(option, W.REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
            break;
          }
          for (const e of this.server.exports) {
            const name = W.lengthPrefixed(e.name);
            this.reply(option, W.REP_SERVER, e.description ? Buffer.concat([name, Buffer.from(e.description, 'utf8')]) : name);
          }
          this.reply(option, W.REP_ACK);
          break;
        case W.OPT_STARTTLS:
          if (this.tlsDone) this.error(option, W.REP_ERR_INVALID, 'TLS is already negotiated');
          else this.error(option, W.REP_ERR_POLICY, 'TLS is not configured on this server');
          break;
        case W.OPT_STRUCTURED_REPLY:
          if (len) this.error(option, W.REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
          else if (this.structured) this.error(option, W.REP_ERR_INVALID, 'structured replies already negotiated');
          else {
            this.structured = true;
            this.reply(option, W.REP_ACK);
          }
          break;
        case W.OPT_INFO:
        case W.OPT_GO: {
          const e = this.infoOrGo(option, data);
          if (e && option === W.OPT_GO) return this.enter(e, e.name);
          break;
        }
        case W.OPT_LIST_META_CONTEXT:
        case W.OPT_SET_META_CONTEXT:
          this.metaContext(option, data);
          break;
      }
    }
  }

  private enter(e: Export, name: string): boolean {
    this.exp = e;
    if (this.metaExport !== name) this.metaExport = null;
    return true;
  }

  private infoOrGo(option: number, d: Buffer): Export | null {
    if (d.length < 6) return this.invalid(option, 'option data too short');
    const nameLen = d.readUInt32BE(0);
    if (nameLen > d.length - 6) return this.invalid(option, 'export name length is past the option data');
    const name = d.toString('utf8', 4, 4 + nameLen);
    const n = d.readUInt16BE(4 + nameLen);
    if (d.length !== 4 + nameLen + 2 + 2 * n) return this.invalid(option, 'information request list does not match the option length');
    const infos = new Set<number>();
    for (let i = 0; i < n; i++) infos.add(d.readUInt16BE(6 + nameLen + 2 * i));
    const e = this.server.find(name);
    if (!e) {
      this.error(option, W.REP_ERR_UNKNOWN, `export '${name}' not present`);
      return null;
    }
    const ex = Buffer.allocUnsafe(12);
    ex.writeUInt16BE(W.INFO_EXPORT, 0);
    W.putU64(ex, 2, e.image.size);
    ex.writeUInt16BE(transmissionFlags(e, this.structured), 10);
    this.reply(option, W.REP_INFO, ex);
    if (infos.has(W.INFO_NAME)) this.reply(option, W.REP_INFO, Buffer.concat([Buffer.from([0, W.INFO_NAME]), Buffer.from(e.name, 'utf8')]));
    if (infos.has(W.INFO_DESCRIPTION) && e.description) {
      this.reply(option, W.REP_INFO, Buffer.concat([Buffer.from([0, W.INFO_DESCRIPTION]), Buffer.from(e.description, 'utf8')]));
    }
    const bs = Buffer.allocUnsafe(14);
    bs.writeUInt16BE(W.INFO_BLOCK_SIZE, 0);
    bs.writeUInt32BE(1, 2);
    bs.writeUInt32BE(Math.max(4096, Math.min(e.image.granularity, 2 << 20)), 6);
    bs.writeUInt32BE(MAX_PAYLOAD, 10);
    this.reply(option, W.REP_INFO, bs);
    this.reply(option, W.REP_ACK);
    return e;
  }

  private invalid(option: number, msg: string): null {
    this.error(option, W.REP_ERR_INVALID, msg);
    return null;
  }

  private metaContext(option: number, d: Buffer): void {
    const set = option === W.OPT_SET_META_CONTEXT;
    if (set) this.metaExport = null;
    if (!this.structured) return void this.invalid(option, 'structured replies must be negotiated first');
    let at = 0;
    const str = (): string | null => {
      if (at + 4 > d.length) return null;
      const n = d.readUInt32BE(at);
      if (n > d.length - at - 4) return null;
      const s = d.toString('utf8', at + 4, at + 4 + n);
      at += 4 + n;
      return s;
    };
    const name = str();
    if (name === null || at + 4 > d.length) return void this.invalid(option, 'malformed meta context request');
    const count = d.readUInt32BE(at);
    at += 4;
    const queries: string[] = [];
    for (let i = 0; i < count; i++) {
      const q = str();
      if (q === null) return void this.invalid(option, 'malformed meta context query');
      queries.push(q);
    }
    if (at !== d.length) return void this.invalid(option, 'trailing data after the meta context queries');
    if (!this.server.find(name)) return void this.error(option, W.REP_ERR_UNKNOWN, `export '${name}' not present`);
    const matches = (q: string) => q === W.BASE_ALLOCATION || (!set && q === 'base:');
    const selected = set ? queries.some((q) => q === W.BASE_ALLOCATION) : count === 0 || queries.some(matches);
    if (selected) {
      const b = Buffer.allocUnsafe(4 + W.BASE_ALLOCATION.length);
      b.writeUInt32BE(set ? ALLOCATION_ID : 0, 0);
      b.write(W.BASE_ALLOCATION, 4, 'utf8');
      this.reply(option, W.REP_META_CONTEXT, b);
      if (set) this.metaExport = name;
    }
    this.reply(option, W.REP_ACK);
  }

  // --- Transmission. ---

  private nextRequest(): void {
    if (this.gone || this.disconnecting || this.stalled) return;
    // A client that sends requests but reads no replies must not make the server queue
    // without bound: stop reading while many requests run or much is waiting to be sent.
    if (this.mustWait()) {
      this.stalled = true;
      this.sock.pause();
      return;
    }
    this.reader.want(W.REQUEST_SIZE, this.onRequest);
  }

  /** A request finished or the socket drained: read again if we had stopped. */
  private readonly unstall = (): void => {
    if (!this.stalled || this.gone) return;
    if (this.mustWait()) return;
    this.stalled = false;
    this.sock.resume();
    this.nextRequest();
  };

  private readonly onRequest = (b: Buffer, at: number): void => {
    if (b.readUInt32BE(at) !== W.REQUEST_MAGIC) return this.drop();
    const offset = W.getU64(b, at + 16);
    const req: Request = {
      flags: b.readUInt16BE(at + 4),
      type: b.readUInt16BE(at + 6),
      hi: b.readUInt32BE(at + 8),
      lo: b.readUInt32BE(at + 12),
      offset,
      length: b.readUInt32BE(at + 24),
      buf: null,
    };
    if (req.type === W.CMD_DISC) {
      this.disconnecting = true;
      if (this.inFlight === 0) this.endAfterDisc();
      return;
    }
    if (req.type === W.CMD_WRITE) {
      // The payload must be read to stay in step, even for a request that will fail.
      if (req.length > MAX_PAYLOAD) return this.drop();
      const buf = this.server.pool.get(req.length);
      req.buf = buf;
      this.reader.fill(req.length === buf.length ? buf : buf.subarray(0, req.length), () => {
        this.inFlight++;
        void this.handle(req);
        this.nextRequest();
      });
      return;
    }
    this.inFlight++;
    void this.handle(req);
    this.nextRequest();
  };

  private endAfterDisc(): void {
    if (this.writer) {
      this.closeWhenSent = true;
      this.writer.notifyBelow(0);
      return;
    }
    // Replies flushed, then close: no waiting on the client's side of the shutdown.
    const sock = this.sock;
    sock.end(() => sock.destroy());
    this.gone = true;
    this.reader.close(new Disconnect());
    this.maybeFinish();
  }

  private async handle(req: Request): Promise<void> {
    try {
      await this.execute(req);
    } catch (e) {
      const err = e instanceof BlockError ? e : new BlockError((e as Error).message ?? String(e), 'EIO');
      this.sendError(req, W.errnoToWire(err.errno), err.message);
    } finally {
      if (req.buf) this.server.pool.put(req.buf);
      this.inFlight--;
      this.unstall();
      if (this.disconnecting && this.inFlight === 0 && !this.gone) this.endAfterDisc();
      this.maybeFinish();
    }
  }

  private fail(errno: string, msg: string): never {
    throw new BlockError(msg, errno);
  }

  private async execute(req: Request): Promise<void> {
    const e = this.exp!;
    const img = e.image;
    const { type, flags, offset, length } = req;
    if (flags & ~allowedFlags(type)) this.fail('EINVAL', `invalid flags 0x${flags.toString(16)} for command ${type}`);
    const inside = offset + length <= img.size;
    const writes = type === W.CMD_WRITE || type === W.CMD_TRIM || type === W.CMD_WRITE_ZEROES;
    if (writes && e.readOnly) this.fail('EPERM', 'export is read-only');
    switch (type) {
      case W.CMD_READ:
        if (!inside) this.fail('EINVAL', 'read past the end of the export');
        if (length > MAX_PAYLOAD) this.fail(this.structured ? 'EOVERFLOW' : 'EINVAL', `read of ${length} bytes is too large`);
        return this.read(req);
      case W.CMD_WRITE:
        if (!inside) this.fail('ENOSPC', 'write past the end of the export');
        await img.write(req.buf!.subarray(0, length), offset);
        if (flags & W.CMD_FLAG_FUA) await img.flush();
        return this.sendOk(req);
      case W.CMD_FLUSH:
        await img.flush();
        return this.sendOk(req);
      case W.CMD_TRIM:
        if (!inside) this.fail('EINVAL', 'trim past the end of the export');
        if (length) await img.discard(offset, length);
        if (flags & W.CMD_FLAG_FUA) await img.flush();
        return this.sendOk(req);
      case W.CMD_WRITE_ZEROES:
        if (!inside) this.fail('ENOSPC', 'write zeroes past the end of the export');
        if (flags & W.CMD_FLAG_FAST_ZERO) this.fail('ENOTSUP', 'fast zero is not supported');
        if (length) await img.writeZeroes(offset, length, !(flags & W.CMD_FLAG_NO_HOLE));
        if (flags & W.CMD_FLAG_FUA) await img.flush();
        return this.sendOk(req);
      case W.CMD_CACHE:
        if (!inside) this.fail('EINVAL', 'cache past the end of the export');
        return this.sendOk(req);
      case W.CMD_BLOCK_STATUS:
        if (this.metaExport === null) this.fail('EINVAL', 'no metadata context was selected');
        if (!inside || length === 0) this.fail('EINVAL', 'block status outside the export');
        return this.blockStatus(req);
      default:
        this.fail('EINVAL', `unknown command ${type}`);
    }
  }

  private sendOk(req: Request): void {
    this.write(simpleReply(req));
  }

  private sendError(req: Request, code: number, msg: string): void {
    if (!this.structured) return this.write(simpleReply(req, code));
    const text = Buffer.from(msg.slice(0, 1024), 'utf8').subarray(0, W.MAX_STRING);
    const h = Buffer.allocUnsafe(W.STRUCTURED_REPLY_SIZE + 6 + text.length);
    W.encodeChunkHeader(h, 0, W.REPLY_FLAG_DONE, W.REPLY_TYPE_ERROR, req.hi, req.lo, 6 + text.length);
    h.writeUInt32BE(code, 20);
    h.writeUInt16BE(text.length, 24);
    text.copy(h, 26);
    this.write(h);
  }

  private async read(req: Request): Promise<void> {
    const img = this.exp!.image;
    const { offset, length } = req;
    if (this.writer && this.exp!.readOnly && img.hostMap && length) {
      const runs = await img.hostMap(offset, length);
      if (runs) return this.sendRuns(req, runs);
    }
    const buf = this.server.pool.get(length);
    const data = length === buf.length ? buf : buf.subarray(0, length);
    const release = () => this.server.pool.put(buf);
    try {
      if (!this.structured) {
        await img.read(data, offset);
        this.write(simpleReply(req));
        if (length) this.write(data, release);
        else release();
        return;
      }
      // Sparse: zero ranges go as holes, unless the client asked for one chunk (DF).
      const extents = length && !(req.flags & W.CMD_FLAG_DF) ? await img.blockStatus(offset, length) : [];
      const holes = extents.some((x) => x.zero);
      if (!holes) {
        if (!length) {
          const h = Buffer.allocUnsafe(W.STRUCTURED_REPLY_SIZE);
          W.encodeChunkHeader(h, 0, W.REPLY_FLAG_DONE, W.REPLY_TYPE_NONE, req.hi, req.lo, 0);
          this.write(h);
          release();
          return;
        }
        await img.read(data, offset);
        this.write(dataChunk(req, W.REPLY_FLAG_DONE, offset, length));
        this.write(data, release);
        return;
      }
      await Promise.all(extents.filter((x) => !x.zero).map((x) => img.read(data.subarray(x.offset - offset, x.offset - offset + x.length), x.offset)));
      const parts = extents.filter((x) => x.length > 0);
      parts.forEach((x, i) => {
        const done = i === parts.length - 1 ? W.REPLY_FLAG_DONE : 0;
        if (x.zero) {
          this.write(holeChunk(req, done, x.offset, x.length), done ? release : undefined);
        } else {
          this.write(dataChunk(req, done, x.offset, x.length));
          this.write(data.subarray(x.offset - offset, x.offset - offset + x.length), done ? release : undefined);
        }
      });
    } catch (e) {
      release();
      throw e;
    }
  }

  /** A read reply whose data the writer takes from host files (sendfile) or sends as zeros. */
  private sendRuns(req: Request, runs: HostRun[]): void {
    if (this.gone) return;
    const w = this.writer!;
    if (!this.structured || req.flags & W.CMD_FLAG_DF) {
      // One reply, zero runs as zero bytes.
      const h = this.structured ? dataChunk(req, W.REPLY_FLAG_DONE, req.offset, req.length) : simpleReply(req);
      runs.forEach((r, i) => w.send(i ? NO_BYTES : h, r.fd, r.hostOffset, r.length));
      return;
    }
    // Structured: runs of data as OFFSET_DATA chunks, zeros as OFFSET_HOLE, the last one DONE.
    let at = req.offset;
    for (let i = 0; i < runs.length;) {
      const first = runs[i]!;
      let j = i + 1;
      let length = first.length;
      if (first.fd !== -1) {
        for (; j < runs.length && runs[j]!.fd !== -1; j++) length += runs[j]!.length;
      }
      const done = j === runs.length ? W.REPLY_FLAG_DONE : 0;
      if (first.fd === -1) {
        w.send(holeChunk(req, done, at, length));
      } else {
        const h = dataChunk(req, done, at, length);
        for (let k = i; k < j; k++) w.send(k === i ? h : NO_BYTES, runs[k]!.fd, runs[k]!.hostOffset, runs[k]!.length);
      }
      at += length;
      i = j;
    }
  }

  private async blockStatus(req: Request): Promise<void> {
    const img = this.exp!.image;
    const extents = await img.blockStatus(req.offset, req.length);
    const out: number[] = [];
    for (const x of extents) {
      const f = (x.data ? 0 : W.STATE_HOLE) | (x.zero ? W.STATE_ZERO : 0);
      const n = out.length;
      if (n && out[n - 1] === f) out[n - 2]! += x.length;
      else out.push(x.length, f);
      if (req.flags & W.CMD_FLAG_REQ_ONE || out.length >= 2 * W.MAX_EXTENTS) break;
    }
    if (out.length === 0) out.push(req.length, 0);
    if (req.flags & W.CMD_FLAG_REQ_ONE) out[0] = Math.min(out[0]!, req.length);
    const count = Math.min(out.length / 2, W.MAX_EXTENTS);
    const h = Buffer.allocUnsafe(W.STRUCTURED_REPLY_SIZE + 4 + 8 * count);
    W.encodeChunkHeader(h, 0, W.REPLY_FLAG_DONE, W.REPLY_TYPE_BLOCK_STATUS, req.hi, req.lo, 4 + 8 * count);
    h.writeUInt32BE(ALLOCATION_ID, 20);
    for (let i = 0; i < count; i++) {
      h.writeUInt32BE(out[2 * i]!, 24 + 8 * i);
      h.writeUInt32BE(out[2 * i + 1]!, 28 + 8 * i);
    }
    this.write(h);
  }
}
