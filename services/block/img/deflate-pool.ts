/**
 * A pool of worker threads that deflate clusters for `convert -c`: compression is the CPU
 * cost of a compressed convert, and Node's sync zlib would hold the one main thread.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { deflateRawSync } = require('node:zlib');
parentPort.on('message', ({ id, data }) => {
  const out = deflateRawSync(data, { windowBits: 12, level: 6, memLevel: 9 });
  const packed = out.length < data.length ? new Uint8Array(out) : undefined;
  parentPort.postMessage({ id, packed }, packed ? [packed.buffer] : []);
});
`;

export class DeflatePool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, (v: Uint8Array | undefined) => void>();
  private nextId = 0;
  private turn = 0;

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(SOURCE, { eval: true });
      w.on('message', ({ id, packed }: { id: number; packed?: Uint8Array }) => {
        const done = this.waiting.get(id);
        this.waiting.delete(id);
        done?.(packed);
      });
      this.workers.push(w);
    }
  }

  /** The raw-deflate (window 12) form of `data`, or undefined when it would not be smaller. */
  compress(data: Uint8Array): Promise<Uint8Array | undefined> {
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length]!;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({ id, data: data.slice() });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
