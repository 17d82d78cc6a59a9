/**
 * Deterministic byte streams for ring and shared-memory tests: both ends generate the same
 * sequence from a seed, so a consumer can check every byte, and a checksum sums it up.
 */

/** xorshift32 from a non-zero seed. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + (this.next() % (hi - lo + 1));
  }
}

/** The bytes of a stream, generated in pieces of any size. */
export class PatternStream {
  private readonly prng: Prng;
  constructor(seed: number) {
    this.prng = new Prng(seed);
  }
  fill(dst: Uint8Array): Uint8Array {
    for (let i = 0; i < dst.length; i++) dst[i] = this.prng.next() & 0xff;
    return dst;
  }
}

/** FNV-1a, 32 bits, over a stream fed in pieces. */
export class Checksum {
  private h = 0x811c9dc5;
  update(bytes: Uint8Array): this {
    let h = this.h;
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i]!;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    this.h = h;
    return this;
  }
  get value(): number {
    return this.h >>> 0;
  }
}
