/**
 * Shared memory objects (services/common/shm.ts, native/src/shm.cc): one object seen from
 * this process, a child process (by /proc path, inherited fd and POSIX name) and a worker
 * thread; bad sizes, missing objects and permissions give clear errors, never a crash.
 */
import test, { type ExecutionContext } from 'ava';
import { fstatSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpawnOptions } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { native } from '../../services/common/native.js';
import { SharedMemory } from '../../services/common/shm.js';
import { helperPath, spawnChild, tempDir } from '../helpers/procs.js';

interface ChildError {
  name: string;
  message: string;
  code: string | null;
}

let counter = 0;
/** A fresh POSIX shm name, unlinked at teardown. */
function shmName(t: ExecutionContext): string {
  const name = `/tsemu-test-${process.pid}-${++counter}-${Math.floor(Math.random() * 1e9)}`;
  t.teardown(() => {
    try {
      native().shmUnlink(name);
    } catch {
      // already unlinked by the test
    }
  });
  return name;
}

function magic(): number {
  return (Math.floor(Math.random() * 0x3fffffff) + 1) | 0;
}

/**
 * The child maps `target`, reads word 0 that we wrote before it started, writes word 1;
 * then we write word 2 while it holds the mapping, and it reads that back.
 */
async function exchangeWithChild(t: ExecutionContext, shm: SharedMemory, target: string, spawnOptions: SpawnOptions = {}) {
  const w = new Int32Array(shm.buffer);
  const m = magic();
  Atomics.store(w, 0, m);
  Atomics.store(w, 1, 0);
  const c = spawnChild(t, [helperPath('shm-child'), 'exchange', target], spawnOptions);
  const first = await c.out.nextJson<{ size?: number; seen?: number; error?: ChildError }>();
  t.is(first.error, undefined, `child could not open ${target}: ${first.error?.message}`);
  t.is(first.size, shm.size);
  t.is(first.seen, m, 'the child sees what this process wrote');
  t.is(Atomics.load(w, 1), m + 1, 'this process sees what the child wrote');
  Atomics.store(w, 2, m ^ 0x5a5a5a5);
  c.child.stdin!.write('check\n');
  const second = await c.out.nextJson<{ seen2: number }>();
  t.is(second.seen2, m ^ 0x5a5a5a5, 'the child sees a write made after it mapped the object');
  t.deepEqual(await c.exited, { code: 0, signal: null });
}

test('create makes a zeroed read-write buffer of the size asked, with an fd and a /proc path', (t) => {
  const shm = SharedMemory.create(3 * 4096 + 5);
  t.teardown(() => shm.close());
  t.is(shm.size, 3 * 4096 + 5);
  t.is(shm.buffer.byteLength, shm.size);
  t.true(shm.buffer instanceof SharedArrayBuffer);
  t.true(Number.isInteger(shm.fd) && shm.fd > 2);
  t.is(shm.name, undefined);
  t.is(shm.path, `/proc/${process.pid}/fd/${shm.fd}`);
  const bytes = new Uint8Array(shm.buffer);
  t.true(bytes.every((b) => b === 0));
  bytes[bytes.length - 1] = 0xa5;
  t.is(bytes[bytes.length - 1], 0xa5);
  t.is(fstatSync(shm.fd).size, shm.size);
});

test('a child process opens an anonymous object by /proc path and sees writes both ways', async (t) => {
  const shm = SharedMemory.create(1 << 20);
  t.teardown(() => shm.close());
  await exchangeWithChild(t, shm, shm.path);
});

test('a child process opens an object by inherited fd (stdio[3]) and sees writes both ways', async (t) => {
  const shm = SharedMemory.create(65536, { reserve: false });
  t.teardown(() => shm.close());
  await exchangeWithChild(t, shm, '3', { stdio: ['pipe', 'pipe', 'pipe', shm.fd] });
});

test('a child process opens a named object by POSIX name and by /dev/shm path', async (t) => {
  const name = shmName(t);
  const shm = SharedMemory.create(8192, { name });
  t.teardown(() => shm.close());
  t.is(shm.name, name);
  t.is(shm.path, `/dev/shm${name}`);
  t.true(readdirSync('/dev/shm').includes(name.slice(1)));
  await exchangeWithChild(t, shm, name);
  await exchangeWithChild(t, shm, shm.path);

  // This process can open it again by name, with the right expected size, and see the same bytes.
  const again = SharedMemory.open(name, { size: 8192 });
  t.teardown(() => again.close());
  t.is(again.name, name);
  new Int32Array(again.buffer)[5] = 1234;
  t.is(new Int32Array(shm.buffer)[5], 1234);

  shm.unlink();
  t.false(readdirSync('/dev/shm').includes(name.slice(1)), 'unlink removes the name');
  // The mapping outlives the name.
  new Int32Array(shm.buffer)[6] = 77;
  t.is(new Int32Array(again.buffer)[6], 77);
  const gone = t.throws(() => SharedMemory.open(name));
  t.is((gone as Error & { code?: string }).code, 'ENOENT');
});

test('a worker thread gets the buffer by postMessage and sees writes both ways', async (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  const w = new Int32Array(shm.buffer);
  const m = magic();
  Atomics.store(w, 0, m);
  const worker = new Worker(helperPath('worker'), { workerData: { role: 'shm' } });
  t.teardown(() => worker.terminate());
  const messages: Array<Record<string, unknown>> = [];
  let notify: (() => void) | undefined;
  worker.on('message', (msg: Record<string, unknown>) => {
    messages.push(msg);
    notify?.();
  });
  worker.on('error', (e) => {
    messages.push({ error: e.message });
    notify?.();
  });
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((r) => (notify = r));
    return messages.shift()!;
  };
  worker.postMessage({ buffer: shm.buffer });
  const first = await next();
  t.is(first.error, undefined);
  t.is(first.seen, m, 'the worker sees what the main thread wrote');
  t.is(Atomics.load(w, 1), m + 1, 'the main thread sees what the worker wrote');
  Atomics.store(w, 2, ~m);
  worker.postMessage('check');
  t.is((await next()).seen2, ~m, 'the worker sees a later write');
});

test('a worker thread opens the object by /proc path and shares its pages', async (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  const w = new Int32Array(shm.buffer);
  const m = magic();
  Atomics.store(w, 0, m);
  const worker = new Worker(helperPath('worker'), { workerData: { role: 'shm', path: shm.path } });
  t.teardown(() => worker.terminate());
  const first = await new Promise<Record<string, unknown>>((res, rej) => {
    worker.once('message', res);
    worker.once('error', rej);
  });
  t.is(first.seen, m);
  t.is(Atomics.load(w, 1), m + 1);
});

test('bad sizes are RangeErrors or TypeErrors with a message', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [0, /at least 1 byte/],
    [-1, /at least 1 byte/],
    [-4096, /at least 1 byte/],
    [1.5, /whole number/],
    [NaN, /whole number/],
    [Infinity, /whole number/],
    [2 ** 63, /too large/],
  ];
  for (const [size, message] of cases) {
    for (const reserve of [true, false]) {
      const e = t.throws(() => SharedMemory.create(size as number, { reserve }), { instanceOf: RangeError, message }, `size ${size}`);
      t.truthy(e?.message);
    }
  }
  t.throws(() => SharedMemory.create('4096' as unknown as number), { instanceOf: TypeError, message: /number of bytes/ });
  t.throws(() => SharedMemory.create(undefined as unknown as number), { instanceOf: TypeError });
});

test('2^60 bytes with reserve fails fast with ENOSPC, before allocating anything', (t) => {
  // The pre-check's message ("no space for"), not fallocate's: nothing was allocated.
  const e = t.throws(() => SharedMemory.create(2 ** 60), { message: /no space for 1152921504606846976 bytes/ });
  t.is((e as Error & { code?: string }).code, 'ENOSPC');
  const name = shmName(t);
  const named = t.throws(() => SharedMemory.create(2 ** 60, { name }), { message: /no space/ });
  t.is((named as Error & { code?: string }).code, 'ENOSPC');
  t.false(readdirSync('/dev/shm').includes(name.slice(1)), 'a failed create leaves no name behind');
});

test('2^60 bytes without reserve fails to map with ENOMEM', (t) => {
  const e = t.throws(() => SharedMemory.create(2 ** 60, { reserve: false }), { message: /mmap/ });
  t.is((e as Error & { code?: string }).code, 'ENOMEM');
});

test('opening what does not exist is ENOENT (name, path) or EBADF (fd)', (t) => {
  const cases: Array<[number | string, string]> = [
    [`/tsemu-test-missing-${process.pid}`, 'ENOENT'],
    [`/dev/shm/tsemu-test-missing-${process.pid}`, 'ENOENT'],
    [`/proc/${process.pid}/fd/987654`, 'ENOENT'],
    ['/no/such/dir/file', 'ENOENT'],
    [987654, 'EBADF'],
  ];
  for (const [target, code] of cases) {
    const e = t.throws(() => SharedMemory.open(target), { message: /opening shared memory/ }, String(target));
    t.is((e as Error & { code?: string }).code, code, String(target));
    t.true(e!.message.includes(String(target)), 'the message names what was opened');
  }
  t.throws(() => SharedMemory.open({} as unknown as string), { instanceOf: TypeError });
});

test('opening with the wrong expected size, or an empty file, is a clear error', (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  t.throws(() => SharedMemory.open(shm.path, { size: 8192 }), { message: /has 4096 bytes, expected 8192/ });
  t.throws(() => SharedMemory.open(shm.fd, { size: 1 }), { message: /has 4096 bytes, expected 1/ });
  const ok = SharedMemory.open(shm.fd, { size: 4096 });
  t.is(ok.size, 4096);
  ok.close();
  const empty = join(tempDir(t), 'empty');
  writeFileSync(empty, '');
  t.throws(() => SharedMemory.open(empty), { message: /is empty/ });
});

test('bad names are refused; an existing name is EEXIST; unlinking twice is ENOENT', (t) => {
  for (const name of ['noslash', '/a/b', '/', '', `/${'x'.repeat(300)}`]) {
    t.throws(() => SharedMemory.create(4096, { name }), { message: /must look like \/name/ }, JSON.stringify(name));
  }
  const name = shmName(t);
  const shm = SharedMemory.create(4096, { name });
  t.teardown(() => shm.close());
  const dup = t.throws(() => SharedMemory.create(4096, { name }));
  t.is((dup as Error & { code?: string }).code, 'EEXIST');
  shm.unlink();
  const again = t.throws(() => shm.unlink());
  t.is((again as Error & { code?: string }).code, 'ENOENT');
});

// Serial: no worker thread of another test may take the closed fd's number meanwhile.
test.serial('close drops the fd: the /proc path stops working, the buffer keeps working', (t) => {
  const shm = SharedMemory.create(4096);
  const path = shm.path;
  const other = SharedMemory.open(path);
  t.teardown(() => other.close());
  shm.close();
  shm.close(); // a second close is a no-op
  t.throws(() => fstatSync(shm.fd), { code: 'EBADF' });
  const e = t.throws(() => SharedMemory.open(path));
  t.is((e as Error & { code?: string }).code, 'ENOENT');
  new Int32Array(shm.buffer)[0] = 42;
  t.is(new Int32Array(other.buffer)[0], 42);
});

test('errors reach a child process as errors, not crashes', async (t) => {
  const shm = SharedMemory.create(4096);
  t.teardown(() => shm.close());
  const wrong = spawnChild(t, [helperPath('shm-child'), 'open', shm.path, '100']);
  const r1 = await wrong.out.nextJson<{ error?: ChildError }>();
  t.regex(r1.error?.message ?? '', /has 4096 bytes, expected 100/);
  t.deepEqual(await wrong.exited, { code: 0, signal: null });
  const missing = spawnChild(t, [helperPath('shm-child'), 'open', `/tsemu-test-missing-${process.pid}`]);
  const r2 = await missing.out.nextJson<{ error?: ChildError }>();
  t.is(r2.error?.code, 'ENOENT');
  t.deepEqual(await missing.exited, { code: 0, signal: null });
});

test('a process that dropped to uid 65534 cannot open a 0600 root-owned object: EACCES', async (t) => {
  if (process.getuid?.() !== 0) {
    t.pass('not root: cannot test dropping privileges');
    return;
  }
  const name = shmName(t);
  const shm = SharedMemory.create(4096, { name });
  t.teardown(() => shm.close());
  t.is(fstatSync(shm.fd).mode & 0o777, 0o600);
  for (const target of [name, shm.path]) {
    const c = spawnChild(t, [helperPath('shm-child'), 'drop-open', target]);
    const r = await c.out.nextJson<{ uid: number; error?: ChildError }>();
    t.is(r.uid, 65534);
    t.is(r.error?.code, 'EACCES', target);
    t.regex(r.error?.message ?? '', /Permission denied/);
    t.deepEqual(await c.exited, { code: 0, signal: null });
  }
});
