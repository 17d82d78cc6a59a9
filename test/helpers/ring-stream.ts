/**
 * Producer and consumer loops for ring tests: a seeded byte stream in chunks of varying
 * size, pushed with waitWritable and popped with waitReadable (or its async form), every
 * byte checked against the same stream on the consumer side.
 */
import type { ByteRing } from '../../services/common/ring.js';
import { Checksum, PatternStream, Prng } from './pattern.js';

/** Writes `total` bytes of stream `seed`; returns the checksum of what it wrote. */
export function produceBlocking(ring: ByteRing, total: number, seed: number, timeoutMs = 30000): number {
  const data = new PatternStream(seed);
  const sizes = new Prng(seed ^ 0x5a5a5a5a);
  const sum = new Checksum();
  let sent = 0;
  for (let i = 0; sent < total; i++) {
    const n = Math.min(total - sent, sizes.between(1, Math.min(ring.capacity, 1000)));
    const chunk = data.fill(new Uint8Array(n));
    sum.update(chunk);
    if (i % 2 === 0) {
      // whole chunks: wait for room for all of it
      if (!ring.waitWritable(n, timeoutMs)) throw new Error(`producer: no room for ${n} bytes in ${timeoutMs} ms (sent ${sent})`);
      if (!ring.pushAll(chunk)) throw new Error('producer: pushAll failed after waitWritable said there was room');
    } else {
      // partial pushes: take whatever room there is
      let off = 0;
      while (off < n) {
        if (!ring.waitWritable(1, timeoutMs)) throw new Error(`producer: no room in ${timeoutMs} ms (sent ${sent + off})`);
        off += ring.push(chunk.subarray(off));
      }
    }
    sent += n;
  }
  return sum.value;
}

export interface Consumed {
  bytes: number;
  checksum: number;
  /** Offset of the first byte that differs from the stream, or -1. */
  mismatchAt: number;
}

function consumeChunk(ring: ByteRing, buf: Uint8Array, expected: PatternStream, sum: Checksum, got: number, r: Consumed): number {
  const n = ring.pop(buf);
  if (n === 0) return 0;
  const chunk = buf.subarray(0, n);
  const want = expected.fill(new Uint8Array(n));
  if (r.mismatchAt < 0) {
    for (let i = 0; i < n; i++) {
      if (chunk[i] !== want[i]) {
        r.mismatchAt = got + i;
        break;
      }
    }
  }
  sum.update(chunk);
  return n;
}

/** Reads `total` bytes, blocking this thread between chunks. */
export function consumeBlocking(ring: ByteRing, total: number, seed: number, timeoutMs = 30000): Consumed {
  const expected = new PatternStream(seed);
  const sum = new Checksum();
  const buf = new Uint8Array(777);
  const r: Consumed = { bytes: 0, checksum: 0, mismatchAt: -1 };
  while (r.bytes < total) {
    const n = consumeChunk(ring, buf.subarray(0, Math.min(buf.length, total - r.bytes)), expected, sum, r.bytes, r);
    if (n === 0 && !ring.waitReadable(timeoutMs)) throw new Error(`consumer: nothing to read in ${timeoutMs} ms (got ${r.bytes})`);
    r.bytes += n;
  }
  r.checksum = sum.value;
  return r;
}

/** Reads `total` bytes, awaiting waitReadableAsync between chunks. */
export async function consumeAsync(ring: ByteRing, total: number, seed: number, timeoutMs = 30000): Promise<Consumed> {
  const expected = new PatternStream(seed);
  const sum = new Checksum();
  const buf = new Uint8Array(777);
  const r: Consumed = { bytes: 0, checksum: 0, mismatchAt: -1 };
  while (r.bytes < total) {
    const n = consumeChunk(ring, buf.subarray(0, Math.min(buf.length, total - r.bytes)), expected, sum, r.bytes, r);
    if (n === 0 && !(await ring.waitReadableAsync(timeoutMs))) {
      throw new Error(`consumer: nothing to read in ${timeoutMs} ms (got ${r.bytes})`);
    }
    r.bytes += n;
  }
  r.checksum = sum.value;
  return r;
}
