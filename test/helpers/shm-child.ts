/**
 * A child process for the shared-memory, futex and ring tests:
 *   node dist/test/helpers/shm-child.js COMMAND TARGET [ARGS...]
 * TARGET is a number (an fd, e.g. 3 when the parent passed it as stdio[3]), a path
 * (/proc/PID/fd/N, /dev/shm/x) or a POSIX name (/tsemu-test-...). It answers with JSON
 * lines on stdout; errors are reported as {"error": {name, message, code}}, never thrown.
 *
 *   exchange TARGET          report word 0, set word 1 = word 0 + 1; on the stdin line
 *                            "check" report word 2, then exit
 *   open TARGET [SIZE]       open (with an expected size), report the size or the error
 *   drop-open TARGET         setgid/setuid 65534, then open: report the size or the error
 *   futex-wait TARGET INDEX EXPECTED TIMEOUT_MS
 *                            report {"waiting"}, wait, report the result
 *   futex-wake TARGET INDEX  wake until a waiter is woken (up to 30 s), report the count
 *   ring-produce TARGET OFFSET CAPACITY TOTAL SEED
 *                            produce a seeded stream into a ByteRing, report its checksum
 */
import { createInterface } from 'node:readline';
import { wait, wake } from '../../services/common/futex.js';
import { ByteRing } from '../../services/common/ring.js';
import { SharedMemory } from '../../services/common/shm.js';
import { produceBlocking } from './ring-stream.js';

function out(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function errorInfo(e: unknown): object {
  const err = e as Error & { code?: string };
  return { name: err.name, message: err.message, code: err.code ?? null };
}

function target(s: string | undefined): number | string {
  if (s === undefined) throw new Error('no target given');
  return /^\d+$/.test(s) ? Number(s) : s;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const [cmd, tgt, ...rest] = process.argv.slice(2);

try {
  switch (cmd) {
    case 'exchange': {
      const shm = SharedMemory.open(target(tgt));
      const w = new Int32Array(shm.buffer);
      const seen = Atomics.load(w, 0);
      Atomics.store(w, 1, seen + 1);
      out({ size: shm.size, seen });
      const lines = createInterface({ input: process.stdin });
      lines.on('line', (l) => {
        if (l.trim() !== 'check') return;
        out({ seen2: Atomics.load(w, 2) });
        lines.close();
        process.exit(0);
      });
      break;
    }
    case 'open': {
      const size = rest[0] !== undefined ? Number(rest[0]) : undefined;
      try {
        const shm = SharedMemory.open(target(tgt), size === undefined ? {} : { size });
        out({ size: shm.size });
      } catch (e) {
        out({ error: errorInfo(e) });
      }
      break;
    }
    case 'drop-open': {
      process.setgid!(65534);
      process.setuid!(65534);
      try {
        const shm = SharedMemory.open(target(tgt));
        out({ uid: process.getuid?.(), size: shm.size });
      } catch (e) {
        out({ uid: process.getuid?.(), error: errorInfo(e) });
      }
      break;
    }
    case 'futex-wait': {
      const shm = SharedMemory.open(target(tgt));
      const w = new Int32Array(shm.buffer);
      out({ waiting: true });
      const result = wait(w, Number(rest[0]), Number(rest[1]), Number(rest[2]));
      out({ result });
      break;
    }
    case 'futex-wake': {
      const shm = SharedMemory.open(target(tgt));
      const w = new Int32Array(shm.buffer);
      const deadline = Date.now() + 30000;
      let woke = 0;
      while ((woke = wake(w, Number(rest[0]))) === 0 && Date.now() < deadline) sleepMs(10);
      out({ woke });
      break;
    }
    case 'ring-produce': {
      const shm = SharedMemory.open(target(tgt));
      const [offset, capacity, total, seed] = rest.map(Number) as [number, number, number, number];
      const ring = new ByteRing(shm.buffer, offset, capacity);
      const checksum = produceBlocking(ring, total, seed);
      out({ checksum, bytes: total });
      break;
    }
    default:
      out({ error: { name: 'UsageError', message: `unknown command ${cmd}`, code: null } });
      process.exitCode = 2;
  }
} catch (e) {
  out({ error: errorInfo(e) });
  process.exitCode = 1;
}
