/**
 * Reusable I/O buffers for the NBD server: a request's data goes into a buffer of the next
 * power of two (64 KiB and up) that returns to the pool once the socket has sent it or the
 * image has written it, so steady streaming allocates nothing. Small requests use Node's
 * own slab (Buffer.allocUnsafe), which is cheap below its pool size.
 */
const MIN_CLASS = 16; // 64 KiB
const PER_CLASS = 64;

export class BufferPool {
  private readonly classes = new Map<number, Buffer[]>();

  /** A buffer of at least `n` bytes (its length may be larger: use subarray(0, n)). */
  get(n: number): Buffer {
    if (n < 1 << MIN_CLASS) return Buffer.allocUnsafe(n);
    const bits = Math.max(MIN_CLASS, 32 - Math.clz32(n - 1));
    const free = this.classes.get(bits);
    return free?.pop() ?? Buffer.allocUnsafeSlow(2 ** bits);
  }

  /** Gives back a buffer from get() that nothing uses any more. */
  put(b: Buffer): void {
    const n = b.length;
    if (n < 1 << MIN_CLASS || (n & (n - 1)) !== 0 || b.byteOffset !== 0) return;
    const bits = 31 - Math.clz32(n);
    let free = this.classes.get(bits);
    if (!free) this.classes.set(bits, (free = []));
    if (free.length < PER_CLASS) free.push(b);
  }
}
