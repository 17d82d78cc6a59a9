/**
 * Single-producer single-consumer rings in shared memory: console bytes, events and
 * completions between a hart thread, the machine's main thread and service processes.
 *
 * Layout at `offset` in a SharedArrayBuffer (offset a multiple of 64):
 *   word  0: head, bytes ever written (free-running u32), written by the producer only
 *   word 16: tail, bytes ever read (free-running u32), written by the consumer only
 *   word 32: consumer is waiting for data (count of waiters)
 *   word 48: producer is waiting for space
 *   byte 256..: data, `capacity` bytes, a power of two
 * Head and tail sit on their own cache lines. Waits use futexes (futex.ts), so the
 * two ends may be in different processes; a side that wakes the other only makes the
 * wake syscall when the other has said it waits.
 */
import { wait, waitAsync, wake, type FutexResult } from './futex.js';

const HEAD = 0;
const TAIL = 16;
const READER_WAITS = 32;
const WRITER_WAITS = 48;
const HEADER_BYTES = 256;

export class ByteRing {
  /** Bytes of shared memory a ring of `capacity` bytes needs. */
  static bytesFor(capacity: number): number {
    ByteRing.checkCapacity(capacity);
    return HEADER_BYTES + capacity;
  }

  private static checkCapacity(capacity: number): void {
    if (!Number.isInteger(capacity) || capacity < 16 || capacity > 2 ** 30 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two from 16 to 2^30, not ${capacity}`);
    }
  }

  readonly capacity: number;
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;
  private readonly mask: number;

  /** Views a ring at `offset`; `init` zeroes its header (only the creator does that). */
  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number, init = false) {
    ByteRing.checkCapacity(capacity);
    if (offset % 64 !== 0) throw new RangeError('ring offset must be a multiple of 64');
    if (offset + HEADER_BYTES + capacity > buffer.byteLength) throw new RangeError('ring does not fit in the buffer');
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.ctl = new Int32Array(buffer, offset, HEADER_BYTES / 4);
    this.data = new Uint8Array(buffer, offset + HEADER_BYTES, capacity);
    if (init) this.ctl.fill(0);
  }

  /** Bytes ready to read. */
  readable(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) >>> 0;
  }

  /** Bytes that can be written now. */
  writable(): number {
    return this.capacity - this.readable();
  }

  /** Writes as much of `src` as fits; returns the count written. */
  push(src: Uint8Array): number {
    const head = Atomics.load(this.ctl, HEAD) >>> 0;
    const tail = Atomics.load(this.ctl, TAIL) >>> 0;
    const n = Math.min(src.length, this.capacity - ((head - tail) >>> 0));
    if (n === 0) return 0;
    this.copyIn(head, src.subarray(0, n));
    this.publishHead((head + n) >>> 0);
    return n;
  }

  /** Writes all of `src` or nothing; returns whether it was written. */
  pushAll(src: Uint8Array): boolean {
    const head = Atomics.load(this.ctl, HEAD) >>> 0;
    const tail = Atomics.load(this.ctl, TAIL) >>> 0;
    if (src.length > this.capacity - ((head - tail) >>> 0)) return false;
    this.copyIn(head, src);
    this.publishHead((head + src.length) >>> 0);
    return true;
  }

  /** Reads up to `dst.length` bytes into `dst`; returns the count read. */
  pop(dst: Uint8Array): number {
    const n = this.peek(dst);
    if (n > 0) this.consume(n);
    return n;
  }

  /** Copies up to `dst.length` readable bytes without consuming them. */
  peek(dst: Uint8Array, skip = 0): number {
    const tail = Atomics.load(this.ctl, TAIL) >>> 0;
    const head = Atomics.load(this.ctl, HEAD) >>> 0;
    const avail = ((head - tail) >>> 0) - skip;
    const n = Math.max(0, Math.min(dst.length, avail));
    const start = (tail + skip) & this.mask;
    const first = Math.min(n, this.capacity - start);
    dst.set(this.data.subarray(start, start + first), 0);
    if (n > first) dst.set(this.data.subarray(0, n - first), first);
    return n;
  }

  /** Marks `n` readable bytes as read, and wakes a producer waiting for space. */
  consume(n: number): void {
    const tail = Atomics.load(this.ctl, TAIL) >>> 0;
    Atomics.store(this.ctl, TAIL, (tail + n) | 0);
    if (Atomics.load(this.ctl, WRITER_WAITS) !== 0) wake(this.ctl, TAIL);
  }

  /** Blocks this thread until something is readable or the timeout passes. */
  waitReadable(timeoutMs?: number): boolean {
    return this.block(READER_WAITS, HEAD, () => this.readable() > 0, timeoutMs, false) as boolean;
  }

  /** Resolves when something is readable (true) or the timeout passes (false). */
  waitReadableAsync(timeoutMs?: number): Promise<boolean> {
    return this.block(READER_WAITS, HEAD, () => this.readable() > 0, timeoutMs, true) as Promise<boolean>;
  }

  /** Blocks this thread until `n` bytes can be written or the timeout passes. */
  waitWritable(n: number, timeoutMs?: number): boolean {
    return this.block(WRITER_WAITS, TAIL, () => this.writable() >= n, timeoutMs, false) as boolean;
  }

  waitWritableAsync(n: number, timeoutMs?: number): Promise<boolean> {
    return this.block(WRITER_WAITS, TAIL, () => this.writable() >= n, timeoutMs, true) as Promise<boolean>;
  }

  private copyIn(head: number, src: Uint8Array): void {
    const start = head & this.mask;
    const first = Math.min(src.length, this.capacity - start);
    this.data.set(src.subarray(0, first), start);
    if (src.length > first) this.data.set(src.subarray(first), 0);
  }

  private publishHead(head: number): void {
    Atomics.store(this.ctl, HEAD, head | 0);
    if (Atomics.load(this.ctl, READER_WAITS) !== 0) wake(this.ctl, HEAD);
  }

  // Announce the wait, re-check (the other side may have moved before it saw the
  // announcement), then sleep on the word the other side changes.
  private block(
    flag: number,
    word: number,
    ready: () => boolean,
    timeoutMs: number | undefined,
    async: boolean,
  ): boolean | Promise<boolean> {
    if (ready()) return async ? Promise.resolve(true) : true;
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const left = () => (deadline === Infinity ? undefined : Math.max(0, deadline - Date.now()));
    const once = (): FutexResult | Promise<FutexResult> => {
      const seen = Atomics.load(this.ctl, word);
      if (ready()) return 'not-equal';
      return async ? waitAsync(this.ctl, word, seen, left()) : wait(this.ctl, word, seen, left());
    };
    Atomics.add(this.ctl, flag, 1);
    if (!async) {
      try {
        for (;;) {
          once();
          if (ready()) return true;
          if (Date.now() >= deadline) return false;
        }
      } finally {
        Atomics.sub(this.ctl, flag, 1);
      }
    }
    return (async () => {
      try {
        for (;;) {
          await once();
          if (ready()) return true;
          if (Date.now() >= deadline) return false;
        }
      } finally {
        Atomics.sub(this.ctl, flag, 1);
      }
    })();
  }
}

/**
 * Whole messages over a ByteRing: each is a u32 length then its bytes. A message is
 * written entirely or not at all, so the consumer never sees half of one.
 */
export class MessageRing {
  readonly bytes: ByteRing;
  private readonly lenBuf = new Uint8Array(4);
  private readonly lenView = new DataView(this.lenBuf.buffer);

  static bytesFor(capacity: number): number {
    return ByteRing.bytesFor(capacity);
  }

  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number, init = false) {
    this.bytes = new ByteRing(buffer, offset, capacity, init);
  }

  /** Largest message the ring can ever hold. */
  get maxMessage(): number {
    return this.bytes.capacity - 4;
  }

  /** Queues one message; false when there is no room for it now. */
  send(msg: Uint8Array): boolean {
    if (msg.length > this.maxMessage) throw new RangeError(`message of ${msg.length} bytes exceeds ring capacity`);
    if (this.bytes.writable() < 4 + msg.length) return false;
    const whole = new Uint8Array(4 + msg.length);
    new DataView(whole.buffer).setUint32(0, msg.length, true);
    whole.set(msg, 4);
    return this.bytes.pushAll(whole);
  }

  /** Takes the next message, or undefined when there is none. */
  receive(): Uint8Array | undefined {
    if (this.bytes.peek(this.lenBuf) < 4) return undefined;
    const len = this.lenView.getUint32(0, true);
    if (len > this.maxMessage) throw new Error(`corrupt message ring: length ${len}`);
    const msg = new Uint8Array(len);
    if (this.bytes.peek(msg, 4) < len) return undefined;
    this.bytes.consume(4 + len);
    return msg;
  }

  waitReadable(timeoutMs?: number): boolean {
    return this.bytes.waitReadable(timeoutMs);
  }

  waitReadableAsync(timeoutMs?: number): Promise<boolean> {
    return this.bytes.waitReadableAsync(timeoutMs);
  }
}
