/**
 * A push parser for an NBD byte stream, shared by client and server. The consumer says what
 * it wants next, and the reader calls back when it has arrived:
 *
 *   want(n, cb)     n bytes of a header, handed over contiguous (valid during the call only)
 *   fill(dest, cb)  a payload straight into `dest` (a read's destination, a write's buffer)
 *   skip(n, cb)     bytes to throw away (an unknown option's data)
 *
 * Bytes come either from `push(chunk)` ('data' events, TLS) or, on plain sockets, through
 * `socketOnRead()`: net.Socket's `onread` option with a buffer generator, so the kernel
 * copies into one reusable scratch buffer and never allocates per read, and a large payload
 * is read by the kernel directly into its destination (no copy at all in JavaScript).
 */

/** The largest header `want` accepts (bigger things go through fill). */
export const MAX_WANT = 64 << 10;
const SCRATCH = 256 << 10;
/** Below this, a payload is read into scratch and copied (fewer syscalls for small reads). */
const DIRECT_MIN = 16 << 10;
/**
 * How much one read into scratch may take: enough for many small replies or requests at once,
 * while the start of a large payload that follows a header (copied out of scratch, not read
 * straight into its destination) stays small.
 */
const SCRATCH_READ = 64 << 10;

const IDLE = 0;
const HEADER = 1;
const FILL = 2;
const SKIP = 3;

export type HeaderCallback = (buf: Buffer, at: number) => void;
export type DoneCallback = () => void;

export class WireReader {
  private scratch = Buffer.allocUnsafe(SCRATCH);
  private start = 0;
  private end = 0;
  private mode = IDLE;
  private need = 0;
  private dest: Uint8Array = this.scratch;
  private pos = 0;
  private onHeader: HeaderCallback | null = null;
  private onDone: DoneCallback | null = null;
  /** The destination window last handed to the socket for a direct read. */
  private window: Uint8Array | null = null;
  private busy = false;
  private closed = false;
  private pendingReject: ((e: Error) => void) | null = null;

  /** Asks for `n` (<= MAX_WANT) header bytes. */
  want(n: number, cb: HeaderCallback): void {
    if (n > MAX_WANT) throw new RangeError(`header of ${n} bytes is too large`);
    this.mode = HEADER;
    this.need = n;
    this.onHeader = cb;
    this.kick();
  }

  /** Asks for all of `dest` to be filled. */
  fill(dest: Uint8Array, cb: DoneCallback): void {
    this.mode = FILL;
    this.dest = dest;
    this.pos = 0;
    this.need = dest.length;
    this.onDone = cb;
    if (this.need === 0) {
      this.mode = IDLE;
      cb();
      return;
    }
    this.kick();
  }

  /** Discards `n` bytes. */
  skip(n: number, cb: DoneCallback): void {
    this.mode = SKIP;
    this.need = n;
    this.pos = 0;
    this.onDone = cb;
    this.kick();
  }

  /** Stops all delivery (the connection is gone); a pending read() rejects with `err`. */
  close(err: Error = new Error('connection closed')): void {
    if (this.closed) return;
    this.closed = true;
    const reject = this.pendingReject;
    this.pendingReject = null;
    this.mode = IDLE;
    this.onHeader = null;
    this.onDone = null;
    this.dest = this.scratch;
    this.window = null;
    reject?.(err);
  }

  /** Bytes for 'data'-event streams. */
  push(chunk: Buffer): void {
    if (this.closed) return;
    const room = this.scratch.length - this.end;
    if (chunk.length > room) {
      if (this.start > 0) this.compact();
      if (chunk.length > this.scratch.length - this.end) {
        const bigger = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.end + chunk.length));
        this.scratch.copy(bigger, 0, 0, this.end);
        this.scratch = bigger;
      }
    }
    // A payload that the chunk covers goes from the chunk to its destination directly.
    if (this.start === this.end && this.mode === FILL) {
      const n = Math.min(chunk.length, this.need - this.pos);
      this.dest.set(n === chunk.length ? chunk : chunk.subarray(0, n), this.pos);
      this.pos += n;
      if (n === chunk.length && this.pos < this.need) return;
      chunk = chunk.subarray(n);
      if (this.pos === this.need) this.finishFill();
    }
    chunk.copy(this.scratch, this.end);
    this.end += chunk.length;
    this.kick();
  }

  /** net.Socket's `onread` option for this reader. */
  socketOnRead(): { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean } {
    return {
      buffer: () => this.nextBuffer(),
      callback: (n, buf) => {
        this.received(n, buf);
        return true;
      },
    };
  }

  private nextBuffer(): Uint8Array {
    if (this.closed) return this.scratch;
    if (this.mode === FILL && this.start === this.end && this.need - this.pos >= DIRECT_MIN) {
      this.window = this.dest.subarray(this.pos, this.need);
      return this.window;
    }
    this.window = null;
    if (this.start === this.end) this.start = this.end = 0;
    else if (this.scratch.length - this.end < MAX_WANT) this.compact();
    return this.scratch.subarray(this.end, Math.min(this.scratch.length, this.end + Math.max(SCRATCH_READ, this.need)));
  }

  private received(n: number, buf: Uint8Array): void {
    if (this.closed) return;
    if (buf === this.window && this.window !== null) {
      this.window = null;
      this.pos += n;
      if (this.pos === this.need) this.finishFill();
      this.kick();
      return;
    }
    this.end += n;
    this.kick();
  }

  private compact(): void {
    this.scratch.copy(this.scratch, 0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }

  private finishFill(): void {
    const cb = this.onDone!;
    this.mode = IDLE;
    this.dest = this.scratch;
    this.onDone = null;
    cb();
  }

  /** Delivers what the buffered bytes satisfy; callbacks set the next expectation. */
  private kick(): void {
    if (this.busy) return;
    this.busy = true;
    try {
      for (;;) {
        if (this.closed) return;
        const avail = this.end - this.start;
        if (this.mode === HEADER) {
          if (avail < this.need) return;
          const at = this.start;
          this.start += this.need;
          this.mode = IDLE;
          const cb = this.onHeader!;
          this.onHeader = null;
          cb(this.scratch, at);
        } else if (this.mode === FILL) {
          const n = Math.min(avail, this.need - this.pos);
          if (n > 0) {
            this.dest.set(this.scratch.subarray(this.start, this.start + n), this.pos);
            this.start += n;
            this.pos += n;
          }
          if (this.pos < this.need) return;
          this.finishFill();
        } else if (this.mode === SKIP) {
          const n = Math.min(avail, this.need - this.pos);
          this.start += n;
          this.pos += n;
          if (this.pos < this.need) return;
          const cb = this.onDone!;
          this.mode = IDLE;
          this.onDone = null;
          cb();
        } else return;
      }
    } finally {
      this.busy = false;
    }
  }

  /** For the handshake: the next `n` bytes as their own Buffer. */
  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'));
      this.pendingReject = reject;
      const done = (b: Buffer) => {
        this.pendingReject = null;
        resolve(b);
      };
      if (n <= MAX_WANT) this.want(n, (b, at) => done(Buffer.from(b.subarray(at, at + n))));
      else {
        const out = Buffer.allocUnsafe(n);
        this.fill(out, () => done(out));
      }
    });
  }

  /** For the handshake: discards `n` bytes. */
  discard(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'));
      this.pendingReject = reject;
      this.skip(n, () => {
        this.pendingReject = null;
        resolve();
      });
    });
  }

  /** Bytes received but not yet asked for (a TLS upgrade must find none). */
  get buffered(): number {
    return this.end - this.start;
  }
}
