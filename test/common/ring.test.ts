/**
 * SPSC rings in shared memory (services/common/ring.ts): ByteRing and MessageRing, alone,
 * across a worker thread and across a process.
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { ByteRing, MessageRing } from '../../services/common/ring.js';
import { SharedMemory } from '../../services/common/shm.js';
import { Checksum, PatternStream } from '../helpers/pattern.js';
import { consumeAsync, consumeBlocking } from '../helpers/ring-stream.js';
import { helperPath, spawnChild } from '../helpers/procs.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const seq = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

function ring(capacity = 16, offset = 0): { r: ByteRing; sab: SharedArrayBuffer } {
  const sab = new SharedArrayBuffer(offset + ByteRing.bytesFor(capacity));
  return { r: new ByteRing(sab, offset, capacity, true), sab };
}

test('bytesFor and the constructor check capacity, offset and fit', (t) => {
  t.is(ByteRing.bytesFor(16), 256 + 16);
  t.is(MessageRing.bytesFor(4096), 256 + 4096);
  for (const c of [0, 8, 15, 17, 100, 2 ** 31, 1.5, NaN]) {
    t.throws(() => ByteRing.bytesFor(c), { instanceOf: RangeError, message: /power of two/ }, String(c));
  }
  const sab = new SharedArrayBuffer(4096);
  t.throws(() => new ByteRing(sab, 32, 16), { instanceOf: RangeError, message: /multiple of 64/ });
  t.throws(() => new ByteRing(sab, 0, 8192), { instanceOf: RangeError, message: /does not fit/ });
  t.throws(() => new ByteRing(sab, 4096 - 256, 16), { instanceOf: RangeError, message: /does not fit/ });
  t.notThrows(() => new ByteRing(sab, 4096 - 256 - 64, 64));
});

test('empty and full: push takes what fits, pop takes what is there', (t) => {
  const { r } = ring(16);
  t.is(r.readable(), 0);
  t.is(r.writable(), 16);
  t.is(r.pop(new Uint8Array(8)), 0, 'pop from empty reads nothing');
  t.is(r.push(seq(20)), 16, 'push into 16 free bytes takes 16 of 20');
  t.is(r.readable(), 16);
  t.is(r.writable(), 0);
  t.is(r.push(seq(1)), 0, 'push into a full ring takes nothing');
  t.is(r.push(new Uint8Array(0)), 0);
  const out = new Uint8Array(32);
  t.is(r.pop(out), 16);
  t.deepEqual(out.subarray(0, 16), seq(16));
  t.is(r.readable(), 0);
  t.is(r.writable(), 16);
});

test('wrap-around keeps bytes in order', (t) => {
  const { r } = ring(16);
  const out = new Uint8Array(16);
  for (let round = 0; round < 50; round++) {
    const n = 1 + ((round * 7) % 16);
    t.is(r.push(seq(n, round)), n);
    t.is(r.pop(out.subarray(0, n)), n);
    t.deepEqual(out.subarray(0, n), seq(n, round), `round ${round}`);
  }
  // a write that straddles the end of the data area
  const { r: r2 } = ring(16);
  r2.push(seq(10));
  r2.pop(new Uint8Array(10));
  t.is(r2.push(seq(12, 100)), 12);
  const got = new Uint8Array(12);
  t.is(r2.pop(got), 12);
  t.deepEqual(got, seq(12, 100));
});

test('the free-running head and tail wrap past 2^32', (t) => {
  const { r, sab } = ring(16);
  const ctl = new Int32Array(sab, 0, 64);
  // head (word 0) and tail (word 16) just below 2^32
  ctl[0] = -5;
  ctl[16] = -5;
  t.is(r.readable(), 0);
  t.is(r.push(seq(12)), 12);
  t.is(r.readable(), 12);
  t.is(r.writable(), 4);
  t.is(ctl[0], 7, 'head wrapped to 7');
  const out = new Uint8Array(12);
  t.is(r.pop(out), 12);
  t.deepEqual(out, seq(12));
  t.is(r.readable(), 0);
});

test('pushAll writes all or nothing', (t) => {
  const { r } = ring(16);
  t.true(r.pushAll(seq(10)));
  t.false(r.pushAll(seq(7)), '7 bytes do not fit in 6');
  t.is(r.readable(), 10, 'a refused pushAll writes nothing');
  t.true(r.pushAll(seq(6, 10)));
  t.is(r.writable(), 0);
  t.false(r.pushAll(seq(1)));
  t.true(r.pushAll(new Uint8Array(0)));
  const out = new Uint8Array(16);
  t.is(r.pop(out), 16);
  t.deepEqual(out, seq(16));
  t.false(r.pushAll(seq(17)), 'more than the capacity never fits');
});

test('peek copies without consuming; skip and consume move through the data', (t) => {
  const { r } = ring(16);
  r.push(seq(8, 40));
  const a = new Uint8Array(4);
  t.is(r.peek(a), 4);
  t.deepEqual(a, seq(4, 40));
  t.is(r.readable(), 8, 'peek consumed nothing');
  t.is(r.peek(a, 6), 2, 'peek past skip sees what is left');
  t.deepEqual(a.subarray(0, 2), seq(2, 46));
  t.is(r.peek(a, 8), 0);
  t.is(r.peek(a, 20), 0, 'skip beyond the data reads nothing');
  r.consume(3);
  t.is(r.readable(), 5);
  t.is(r.peek(a), 4);
  t.deepEqual(a, seq(4, 43));
  const big = new Uint8Array(10);
  t.is(r.peek(big), 5);
  t.deepEqual(big.subarray(0, 5), seq(5, 43));
});

test('waits with nothing to wait for return at once; otherwise they time out', async (t) => {
  const { r } = ring(16);
  t.false(r.waitReadable(10), 'nothing to read: times out');
  t.true(r.waitWritable(16, 10));
  t.false(r.waitWritable(17, 10), 'more than the capacity never becomes writable');
  t.false(await r.waitReadableAsync(10));
  r.push(seq(10));
  t.true(r.waitReadable(0));
  t.true(await r.waitReadableAsync(30000));
  t.false(r.waitWritable(7, 10));
  t.false(await r.waitWritableAsync(7, 10));
  t.true(await r.waitWritableAsync(6, 30000));
});

test('waitReadableAsync resolves when a producer writes later', async (t) => {
  const { r } = ring(64);
  const p = r.waitReadableAsync(30000);
  setTimeout(() => r.push(bytes(1, 2, 3)), 20);
  t.true(await p);
  t.is(r.readable(), 3);
});

test('waitWritableAsync resolves when a consumer frees space', async (t) => {
  const { r } = ring(16);
  r.push(seq(16));
  const p = r.waitWritableAsync(4, 30000);
  setTimeout(() => r.consume(4), 20);
  t.true(await p);
  t.is(r.writable(), 4);
});

test('a ring in one buffer is seen by a second view of it', (t) => {
  const sab = new SharedArrayBuffer(ByteRing.bytesFor(64) + 128);
  const producer = new ByteRing(sab, 128, 64, true);
  const consumer = new ByteRing(sab, 128, 64);
  producer.push(seq(30));
  const out = new Uint8Array(30);
  t.is(consumer.pop(out), 30);
  t.deepEqual(out, seq(30));
  t.is(producer.writable(), 64);
  // a second ring beside it is independent
  const other = new ByteRing(sab, 0, 16, true);
  t.is(other.readable(), 0);
  t.is(consumer.readable(), 0);
});

test('MessageRing keeps message boundaries, including empty messages', (t) => {
  const sab = new SharedArrayBuffer(MessageRing.bytesFor(64));
  const tx = new MessageRing(sab, 0, 64, true);
  const rx = new MessageRing(sab, 0, 64);
  t.is(tx.maxMessage, 60);
  t.is(rx.receive(), undefined, 'nothing to receive');
  const msgs = [bytes(1), new Uint8Array(0), seq(10, 5), bytes(9, 9)];
  for (const m of msgs) t.true(tx.send(m));
  for (const m of msgs) t.deepEqual(rx.receive(), m);
  t.is(rx.receive(), undefined);
  // across the wrap, many times
  for (let i = 0; i < 100; i++) {
    const m = seq(1 + (i % 23), i);
    t.true(tx.send(m));
    t.deepEqual(rx.receive(), m);
  }
});

test('MessageRing refuses what does not fit, whole', (t) => {
  const sab = new SharedArrayBuffer(MessageRing.bytesFor(32));
  const mr = new MessageRing(sab, 0, 32, true);
  t.throws(() => mr.send(new Uint8Array(29)), { instanceOf: RangeError, message: /exceeds ring capacity/ });
  t.true(mr.send(seq(28)), 'exactly maxMessage fits in an empty ring');
  t.false(mr.send(bytes(1)), 'no room now');
  t.is(mr.bytes.readable(), 32, 'a refused send writes nothing');
  t.deepEqual(mr.receive(), seq(28));
  t.true(mr.send(seq(10)));
  t.true(mr.send(seq(10)));
  t.false(mr.send(seq(5)), '4 + 5 bytes do not fit in the 4 left');
  t.true(mr.send(new Uint8Array(0)), 'an empty message needs only its length');
  t.deepEqual(rxAll(mr), [seq(10), seq(10), new Uint8Array(0)]);
});

function rxAll(mr: MessageRing): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let m; (m = mr.receive()) !== undefined; ) out.push(m);
  return out;
}

test('MessageRing does not hand out a message until all of it is there', (t) => {
  const sab = new SharedArrayBuffer(MessageRing.bytesFor(64));
  const mr = new MessageRing(sab, 0, 64, true);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 6, true);
  mr.bytes.push(len.subarray(0, 2));
  t.is(mr.receive(), undefined, 'half a length');
  mr.bytes.push(len.subarray(2));
  mr.bytes.push(seq(3));
  t.is(mr.receive(), undefined, 'half a body');
  t.is(mr.bytes.readable(), 7, 'nothing consumed meanwhile');
  mr.bytes.push(seq(3, 3));
  t.deepEqual(mr.receive(), seq(6));
});

test('MessageRing detects a corrupt length', (t) => {
  const sab = new SharedArrayBuffer(MessageRing.bytesFor(64));
  const mr = new MessageRing(sab, 0, 64, true);
  const bad = new Uint8Array(8);
  new DataView(bad.buffer).setUint32(0, 0xffffffff, true);
  mr.bytes.push(bad);
  t.throws(() => mr.receive(), { message: /corrupt message ring: length 4294967295/ });
  const mr2 = new MessageRing(new SharedArrayBuffer(MessageRing.bytesFor(64)), 0, 64, true);
  new DataView(bad.buffer).setUint32(0, 61, true); // one more than maxMessage
  mr2.bytes.push(bad);
  t.throws(() => mr2.receive(), { message: /corrupt/ });
});

test('MessageRing.waitReadable reports an arriving message', async (t) => {
  const sab = new SharedArrayBuffer(MessageRing.bytesFor(64));
  const mr = new MessageRing(sab, 0, 64, true);
  t.false(mr.waitReadable(5));
  t.false(await mr.waitReadableAsync(5));
  setTimeout(() => mr.send(bytes(4, 2)), 20);
  t.true(await mr.waitReadableAsync(30000));
  t.true(mr.waitReadable(0));
  t.deepEqual(mr.receive(), bytes(4, 2));
});

test('across a worker thread: producer in the worker, blocking consumer here', async (t) => {
  const capacity = 4096;
  const total = 300_000;
  const seed = 0x1234567;
  const offset = 64;
  const sab = new SharedArrayBuffer(offset + ByteRing.bytesFor(capacity));
  const r = new ByteRing(sab, offset, capacity, true);
  const worker = new Worker(helperPath('worker'), {
    workerData: { role: 'ring-produce', buffer: sab, offset, capacity, total, seed },
  });
  t.teardown(() => worker.terminate());
  const report = new Promise<{ checksum?: number; error?: { message: string } }>((res, rej) => {
    worker.once('message', res);
    worker.once('error', rej);
  });
  await new Promise((res) => worker.once('online', res));
  // Blocks this thread in waitReadable between chunks; the worker blocks in waitWritable.
  const got = consumeBlocking(r, total, seed);
  const produced = await report;
  t.is(produced.error, undefined);
  t.is(got.bytes, total);
  t.is(got.mismatchAt, -1, 'every byte arrived in order');
  t.is(got.checksum, produced.checksum!);
  t.is(got.checksum, new Checksum().update(new PatternStream(seed).fill(new Uint8Array(total))).value);
  t.is(r.readable(), 0);
});

test('across a process: producer in a child (by /proc path), async consumer here', async (t) => {
  const capacity = 2048;
  const total = 250_000;
  const seed = 0xbeef;
  const offset = 4096;
  const shm = SharedMemory.create(offset + ByteRing.bytesFor(capacity));
  t.teardown(() => shm.close());
  const r = new ByteRing(shm.buffer, offset, capacity, true);
  const c = spawnChild(t, [
    helperPath('shm-child'),
    'ring-produce',
    shm.path,
    String(offset),
    String(capacity),
    String(total),
    String(seed),
  ]);
  // A child that fails ends the test now rather than at the consumer's timeout.
  const childFailed = c.exited.then(({ code, signal }) =>
    code === 0 ? new Promise<never>(() => {}) : Promise.reject(new Error(`producer exited: ${signal ?? code}: ${c.stderr()}`)),
  );
  const got = await Promise.race([consumeAsync(r, total, seed), childFailed]);
  const produced = await c.out.nextJson<{ checksum?: number; error?: { message: string } }>();
  t.is(produced.error, undefined);
  t.is(got.bytes, total);
  t.is(got.mismatchAt, -1, 'every byte arrived in order');
  t.is(got.checksum, produced.checksum!);
  t.deepEqual(await c.exited, { code: 0, signal: null });
});
