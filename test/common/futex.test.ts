/**
 * Cross-process futexes (services/common/futex.ts, native/src/futex.cc): a waiter in one
 * process (or worker thread) is woken from another; timeouts and changed values are
 * reported; waitAsync leaves the event loop running.
 *
 * A wake is retried until it reports a woken waiter, so no test depends on how fast the
 * other side gets to its wait; timeouts are long and only there to end a broken test.
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { wait, waitAsync, wake } from '../../services/common/futex.js';
import { SharedMemory } from '../../services/common/shm.js';
import { helperPath, sleep, spawnChild } from '../helpers/procs.js';

const LONG = 30000;

/** Wakes `arr[index]` until a waiter was woken; returns the count. */
async function wakeUntilWoken(arr: Int32Array, index: number, timeoutMs = LONG): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = wake(arr, index);
    if (n > 0 || Date.now() > deadline) return n;
    await sleep(10);
  }
}

test('wait on an unchanged value times out: timed-out', (t) => {
  const w = new Int32Array(new SharedArrayBuffer(16));
  t.is(wait(w, 1, 0, 20), 'timed-out');
  t.is(wait(w, 1, 0, 0), 'timed-out');
});

test('wait on a changed value returns at once: not-equal', (t) => {
  const w = new Int32Array(new SharedArrayBuffer(16));
  w[2] = 5;
  t.is(wait(w, 2, 4), 'not-equal');
  t.is(wait(w, 2, 4, LONG), 'not-equal');
});

test('wake with nobody waiting wakes nobody', (t) => {
  const w = new Int32Array(new SharedArrayBuffer(16));
  t.is(wake(w, 0), 0);
  t.is(wake(w, 0, 1), 0);
});

test('bad arguments are TypeErrors and RangeErrors', (t) => {
  const w = new Int32Array(new SharedArrayBuffer(16));
  t.throws(() => wait(w, 4, 0, 0), { instanceOf: RangeError, message: /index/ });
  t.throws(() => wait(w, -1, 0, 0), { instanceOf: RangeError });
  t.throws(() => wait(w, 0.5, 0, 0), { instanceOf: RangeError });
  t.throws(() => wake(new Uint32Array(4) as unknown as Int32Array, 0), { instanceOf: TypeError, message: /Int32Array/ });
  t.throws(() => wait({} as Int32Array, 0, 0), { instanceOf: TypeError });
  t.throws(() => wait(w, 0, 0, 'soon' as unknown as number), { instanceOf: TypeError, message: /timeout/ });
  t.throws(() => wake(w, 0, -1), { instanceOf: RangeError });
});

test('a view with a byte offset waits on the right word', async (t) => {
  const sab = new SharedArrayBuffer(64);
  const view = new Int32Array(sab, 32, 4);
  const whole = new Int32Array(sab);
  const p = waitAsync(view, 1, 0, LONG);
  t.is(wake(whole, 0), 0, 'word 0 of the buffer has no waiter');
  t.true((await wakeUntilWoken(whole, 9)) >= 1, 'word 9 of the buffer is word 1 of the view');
  t.is(await p, 'ok');
});

test('waitAsync resolves without blocking the event loop', async (t) => {
  const w = new Int32Array(new SharedArrayBuffer(16));
  const p = waitAsync(w, 0, 0, LONG);
  let settled = false;
  void p.then(() => (settled = true));
  // The event loop keeps running timers and immediates while the wait is pending.
  let ticks = 0;
  for (let i = 0; i < 5; i++) {
    await sleep(5);
    await new Promise((r) => setImmediate(r));
    ticks++;
  }
  t.is(ticks, 5);
  t.false(settled, 'still waiting: nobody woke it');
  t.true((await wakeUntilWoken(w, 0)) >= 1);
  t.is(await p, 'ok');
  t.is(await waitAsync(w, 0, 1, LONG), 'not-equal');
  t.is(await waitAsync(w, 0, 0, 10), 'timed-out');
});

test('several waitAsync on one word are all woken by one wake', async (t) => {
  const w = new Int32Array(new SharedArrayBuffer(16));
  const ps = [waitAsync(w, 3, 0, LONG), waitAsync(w, 3, 0, LONG), waitAsync(w, 3, 0, LONG)];
  // wake until all three were woken, in one or more calls
  let woken = 0;
  const deadline = Date.now() + LONG;
  while (woken < 3 && Date.now() < deadline) {
    woken += wake(w, 3);
    if (woken < 3) await sleep(10);
  }
  t.is(woken, 3);
  t.deepEqual(await Promise.all(ps), ['ok', 'ok', 'ok']);
});

test('wait in a worker thread is woken from the main thread', async (t) => {
  const sab = new SharedArrayBuffer(16);
  const w = new Int32Array(sab);
  const worker = new Worker(helperPath('worker'), {
    workerData: { role: 'futex-wait', buffer: sab, index: 1, expected: 0, timeoutMs: LONG },
  });
  t.teardown(() => worker.terminate());
  const messages: Array<Record<string, unknown>> = [];
  const result = new Promise<Record<string, unknown>>((res, rej) => {
    worker.on('message', (m: Record<string, unknown>) => {
      messages.push(m);
      if ('result' in m || 'error' in m) res(m);
    });
    worker.on('error', rej);
  });
  t.true((await wakeUntilWoken(w, 1)) >= 1);
  t.deepEqual(await result, { result: 'ok' });
  t.deepEqual(messages[0], { waiting: true });
});

test('a worker thread wait times out and sees a changed value', async (t) => {
  const sab = new SharedArrayBuffer(16);
  const run = (expected: number, timeoutMs: number) =>
    new Promise<unknown>((res, rej) => {
      const worker = new Worker(helperPath('worker'), {
        workerData: { role: 'futex-wait', buffer: sab, index: 0, expected, timeoutMs },
      });
      worker.on('message', (m: Record<string, unknown>) => {
        if ('result' in m || 'error' in m) {
          res(m);
          void worker.terminate();
        }
      });
      worker.on('error', rej);
    });
  t.deepEqual(await run(0, 20), { result: 'timed-out' });
  t.deepEqual(await run(7, LONG), { result: 'not-equal' });
});

test('a futex wait in a child process is woken from this process', async (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  const w = new Int32Array(shm.buffer);
  const c = spawnChild(t, [helperPath('shm-child'), 'futex-wait', shm.path, '7', '0', String(LONG)]);
  t.deepEqual(await c.out.nextJson(), { waiting: true });
  t.true((await wakeUntilWoken(w, 7)) >= 1, 'the wake reached the waiting child');
  t.deepEqual(await c.out.nextJson(), { result: 'ok' });
  t.deepEqual(await c.exited, { code: 0, signal: null });
});

test('a child process waits on a changed value or times out', async (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  new Int32Array(shm.buffer)[3] = 9;
  const changed = spawnChild(t, [helperPath('shm-child'), 'futex-wait', shm.path, '3', '8', String(LONG)]);
  await changed.out.next();
  t.deepEqual(await changed.out.nextJson(), { result: 'not-equal' });
  const timeout = spawnChild(t, [helperPath('shm-child'), 'futex-wait', shm.path, '3', '9', '20']);
  await timeout.out.next();
  t.deepEqual(await timeout.out.nextJson(), { result: 'timed-out' });
});

test('a blocking futex wait in this process is woken from a child process', async (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  const w = new Int32Array(shm.buffer);
  const c = spawnChild(t, [helperPath('shm-child'), 'futex-wake', shm.path, '5']);
  // Blocks this thread until the child, which retries its wake until it wakes someone, gets here.
  const result = wait(w, 5, 0, LONG);
  t.is(result, 'ok');
  const r = await c.out.nextJson<{ woke: number }>();
  t.true(r.woke >= 1);
  t.deepEqual(await c.exited, { code: 0, signal: null });
});

test('waitAsync in this process is woken from a child process', async (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  const w = new Int32Array(shm.buffer);
  const p = waitAsync(w, 6, 0, LONG);
  const c = spawnChild(t, [helperPath('shm-child'), 'futex-wake', shm.path, '6']);
  t.is(await p, 'ok');
  const r = await c.out.nextJson<{ woke: number }>();
  t.true(r.woke >= 1);
  t.deepEqual(await c.exited, { code: 0, signal: null });
});
