/**
 * A worker thread for the shared-memory, futex and ring tests. workerData.role picks:
 *   shm          receive {buffer} by postMessage (or open workerData.path), report word 0,
 *                set word 1 = word 0 + 1; on "check" report word 2
 *   futex-wait   wait on workerData.buffer[index] == expected, report the result
 *   ring-produce produce a seeded stream into a ByteRing, report its checksum
 */
import { parentPort, workerData } from 'node:worker_threads';
import { wait } from '../../services/common/futex.js';
import { native } from '../../services/common/native.js';
import { ByteRing } from '../../services/common/ring.js';
import { SharedMemory } from '../../services/common/shm.js';
import { produceBlocking } from './ring-stream.js';

interface Data {
  role: 'shm' | 'futex-wait' | 'ring-produce';
  path?: string;
  buffer?: SharedArrayBuffer;
  index?: number;
  expected?: number;
  timeoutMs?: number;
  offset?: number;
  capacity?: number;
  total?: number;
  seed?: number;
}

const port = parentPort!;
const data = workerData as Data;

function report(o: object): void {
  port.postMessage(o);
}

try {
  switch (data.role) {
    case 'shm': {
      let words: Int32Array | undefined;
      const take = (buffer: SharedArrayBuffer) => {
        words = new Int32Array(buffer);
        const seen = Atomics.load(words, 0);
        Atomics.store(words, 1, seen + 1);
        report({ seen, tid: native().gettid() });
      };
      if (data.path) take(SharedMemory.open(data.path).buffer);
      port.on('message', (m: { buffer?: SharedArrayBuffer } | string) => {
        if (typeof m === 'object' && m.buffer) take(m.buffer);
        else if (m === 'check') {
          report({ seen2: Atomics.load(words!, 2) });
          port.close();
        }
      });
      break;
    }
    case 'futex-wait': {
      const w = new Int32Array(data.buffer!);
      report({ waiting: true });
      report({ result: wait(w, data.index!, data.expected!, data.timeoutMs) });
      break;
    }
    case 'ring-produce': {
      const ring = new ByteRing(data.buffer!, data.offset!, data.capacity!);
      report({ checksum: produceBlocking(ring, data.total!, data.seed!) });
      break;
    }
  }
} catch (e) {
  report({ error: { name: (e as Error).name, message: (e as Error).message } });
}
