/**
 * A random guest-like workload (writes, write-zeroes with and without unmap, discards) on a
 * BlockImage, mirrored on an in-memory model of what the guest must read back.
 */
import type { BlockImage } from '../../services/block/format/types.js';
import { rng } from './tools.js';

export interface WorkloadOptions {
  ops: number;
  seed: number;
  /** Largest request in bytes. */
  maxLen?: number;
}

/** Runs the workload; `model` starts as the image's content and ends as what it must read. */
export async function workload(img: BlockImage, model: Uint8Array, o: WorkloadOptions): Promise<void> {
  const r = rng(o.seed);
  const maxLen = o.maxLen ?? 200_000;
  const cs = img.granularity;
  for (let i = 0; i < o.ops; i++) {
    const off = Math.floor(r() * img.size);
    const len = Math.min(img.size - off, 1 + Math.floor(r() * (r() < 0.5 ? 5000 : maxLen)));
    const k = r();
    if (k < 0.6) {
      const b = new Uint8Array(len);
      const v = 1 + (i % 250);
      for (let j = 0; j < len; j += 512) b.fill(v ^ (j >> 9), j, Math.min(len, j + 512));
      await img.write(b, off);
      model.set(b, off);
    } else if (k < 0.8) {
      await img.writeZeroes(off, len, r() < 0.5);
      model.fill(0, off, off + len);
    } else {
      // Guest discard: whole clusters may read as zeros afterwards, or as before when a
      // backing file could show through; read them back to keep the model honest.
      await img.discard(off, len);
      const a = Math.ceil(off / cs) * cs;
      const e = off + len === img.size ? img.size : Math.floor((off + len) / cs) * cs;
      if (e > a) await img.read(model.subarray(a, e), a);
    }
    if (r() < 0.05) await img.flush();
  }
}
