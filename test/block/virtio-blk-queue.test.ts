/**
 * Split virtqueues and the virtio-blk backend without a guest: a driver written here lays
 * out rings in a RAM buffer, as Linux would, and the tests check
 *
 *  - the hostile-descriptor checks (virtio 1.2, 2.7.5: loops, indices outside the table,
 *    buffers outside RAM, chains longer than the queue, nested or chained indirect
 *    tables, readable after writable);
 *  - the backend's requests (IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES, errors);
 *  - a backend that dies with requests in flight: its successor redoes each of them
 *    once, and a completion it was publishing is not published twice;
 *  - the werror/rerror policies (report, ignore, stop, enospc) and what the backend tells
 *    the machine of each failure (BLOCK_IO_ERROR's fields).
 */
import test from 'ava';
import { constants } from 'node:os';
import { GuestMemory, codeTrackViews } from '../../services/common/guest-memory.js';
import { SplitQueue, VirtqueueError, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE } from '../../services/common/virtio/split-queue.js';
import { FN, Q, STATUS, VIRTIO_FN_BYTES, VirtioFnState, unpackIoError } from '../../services/common/virtio/pci-state.js';
import { VirtioBlkBackend, type ErrorPolicy, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES } from '../../services/block/virtio-blk/backend.js';
import { BlockError, type BlockImage } from '../../services/block/format/types.js';
import { wake } from '../../services/common/futex.js';

const BASE = 0x80000000;
const RAM = 1 << 20;
const QSIZE = 16;
const DESC = BASE + 0x1000;
const AVAIL = BASE + 0x2000;
const USED = BASE + 0x3000;

function ram(): { mem: GuestMemory; track: { gens: Int32Array; flags: Uint8Array } } {
  const track = codeTrackViews(new SharedArrayBuffer(RAM / 4096 * 5), RAM);
  return { mem: new GuestMemory(new SharedArrayBuffer(RAM), BASE, RAM, track), track };
}

function desc(mem: GuestMemory, table: number, i: number, addr: number, len: number, flags: number, next = 0): void {
  const o = table - BASE + 16 * i;
  mem.view.setBigUint64(o, BigInt(addr), true);
  mem.view.setUint32(o + 8, len, true);
  mem.view.setUint16(o + 12, flags, true);
  mem.view.setUint16(o + 14, next, true);
}

test('a well-formed chain: readable then writable buffers', (t) => {
  const { mem } = ram();
  const q = new SplitQueue(mem, QSIZE, DESC, AVAIL, USED);
  desc(mem, DESC, 3, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 7);
  desc(mem, DESC, 7, BASE + 0x9000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
  desc(mem, DESC, 1, BASE + 0xa000, 1, VRING_DESC_F_WRITE);
  const c = q.readChain(3);
  t.deepEqual(c.readable, [{ gpa: BASE + 0x8000, len: 16 }]);
  t.deepEqual(c.writable, [{ gpa: BASE + 0x9000, len: 512 }, { gpa: BASE + 0xa000, len: 1 }]);
  t.is(c.writableBytes, 513);
});

test('hostile chains are refused', (t) => {
  const { mem } = ram();
  const q = new SplitQueue(mem, QSIZE, DESC, AVAIL, USED);
  const fails = (head: number, re: RegExp) => t.throws(() => q.readChain(head), { instanceOf: VirtqueueError, message: re });
  // a loop: 0 -> 1 -> 0
  desc(mem, DESC, 0, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 1);
  desc(mem, DESC, 1, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 0);
  fails(0, /longer than 16/);
  // next outside the table
  desc(mem, DESC, 2, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 16);
  fails(2, /outside its table/);
  // a buffer outside RAM, below, above, and straddling the end
  desc(mem, DESC, 3, 0x1000, 16, 0);
  fails(3, /outside RAM/);
  desc(mem, DESC, 3, BASE + RAM, 1, 0);
  fails(3, /outside RAM/);
  desc(mem, DESC, 3, BASE + RAM - 8, 16, 0);
  fails(3, /outside RAM/);
  desc(mem, DESC, 3, 2 ** 64 - 4096, 16, 0);
  fails(3, /outside RAM/);
  // readable after writable
  desc(mem, DESC, 4, BASE + 0x8000, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
  desc(mem, DESC, 5, BASE + 0x8000, 16, 0);
  fails(4, /readable buffer after/);
  // head out of range
  fails(16, /out of range/);
  // indirect: nested, with NEXT, inside a chain, bad length, table outside RAM, loop inside
  const ind = BASE + 0x4000;
  desc(mem, DESC, 6, ind, 32, VRING_DESC_F_INDIRECT);
  desc(mem, ind, 0, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 1);
  desc(mem, ind, 1, ind, 32, VRING_DESC_F_INDIRECT);
  fails(6, /nested indirect/);
  desc(mem, ind, 1, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 0);
  fails(6, /longer than 2/);
  desc(mem, ind, 1, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 2);
  fails(6, /outside its table of 2/);
  desc(mem, DESC, 7, ind, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 8);
  fails(7, /indirect descriptor with NEXT/);
  desc(mem, DESC, 8, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 9);
  desc(mem, DESC, 9, ind, 32, VRING_DESC_F_INDIRECT);
  fails(8, /inside a chain/);
  desc(mem, DESC, 10, ind, 24, VRING_DESC_F_INDIRECT);
  fails(10, /multiple of 16/);
  desc(mem, DESC, 10, BASE + RAM - 16, 32, VRING_DESC_F_INDIRECT);
  fails(10, /indirect table .* outside RAM/);
  t.throws(() => q.readChain(11, false), { message: /outside RAM/ }); // zeroed descriptor: address 0
  desc(mem, DESC, 11, ind, 32, VRING_DESC_F_INDIRECT);
  t.throws(() => q.readChain(11, false), { message: /without VIRTIO_F_INDIRECT_DESC/ });
});

test('rings themselves must lie in RAM and be aligned', (t) => {
  const { mem } = ram();
  t.throws(() => new SplitQueue(mem, QSIZE, 0x1000, AVAIL, USED), { instanceOf: VirtqueueError, message: /descriptor table/ });
  t.throws(() => new SplitQueue(mem, QSIZE, DESC, BASE + RAM - 8, USED), { instanceOf: VirtqueueError, message: /driver area/ });
  t.throws(() => new SplitQueue(mem, QSIZE, DESC, AVAIL, BASE + RAM - 64), { instanceOf: VirtqueueError, message: /device area/ });
  t.throws(() => new SplitQueue(mem, QSIZE, DESC + 8, AVAIL, USED), { instanceOf: VirtqueueError, message: /misaligned/ });
});

// ---- the backend, with a driver written here ----

/** A disk in memory; `hold` makes I/O wait until released (a backend that dies mid-request). */
class MemImage implements BlockImage {
  readonly format = 'raw';
  readonly protocol = undefined as never;
  readonly granularity = 512;
  readonly data: Uint8Array;
  hold: Promise<void> | undefined;
  flushes = 0;
  writes = 0;
  constructor(readonly size: number, readonly readOnly = false) {
    this.data = new Uint8Array(size);
  }
  async read(buf: Uint8Array, offset: number) {
    await this.hold;
    buf.set(this.data.subarray(offset, offset + buf.length));
  }
  async write(buf: Uint8Array, offset: number) {
    await this.hold;
    if (this.readOnly) throw new BlockError('read-only', 'EROFS');
    this.writes++;
    this.data.set(buf, offset);
  }
  async flush() {
    this.flushes++;
  }
  async discard(offset: number, length: number) {
    this.data.fill(0, offset, offset + length);
  }
  async writeZeroes(offset: number, length: number) {
    this.data.fill(0, offset, offset + length);
  }
  blockStatus = async () => [];
  resize = async () => {};
  getInfo = async () => ({ filename: 'mem', format: 'raw', virtualSize: this.size, snapshots: [] });
  check = async () => ({ filename: 'mem', format: 'raw', checkErrors: 0, corruptions: 0, leaks: 0, corruptionsFixed: 0, leaksFixed: 0, messages: [] });
  close = async () => {};
}

class Driver {
  readonly st: VirtioFnState;
  readonly irq = new Int32Array(new SharedArrayBuffer(4));
  private nextDesc = 0;
  private avail = 0;
  private buf = BASE + 0x10000;
  constructor(readonly mem: GuestMemory) {
    this.st = new VirtioFnState(new SharedArrayBuffer(VIRTIO_FN_BYTES), 0);
    const w = this.st.w;
    w[FN.NUM_QUEUES] = 1;
    w[FN.QUEUE_MAX] = QSIZE;
    const q = this.st.queue(0).w;
    q[Q.SIZE] = QSIZE;
    q[Q.DESC_LO] = DESC;
    q[Q.DRIVER_LO] = AVAIL;
    q[Q.DEVICE_LO] = USED;
    q[Q.DESC_HI] = q[Q.DRIVER_HI] = q[Q.DEVICE_HI] = 0;
  }
  /** The driver side of initialization, after the backend filled its features. */
  go(): void {
    Atomics.store(this.st.queue(0).w, Q.ENABLE, 1);
    Atomics.store(this.st.w, FN.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
    this.notify();
  }
  notify(): void {
    Atomics.add(this.st.w, FN.NOTIFY_SEQ, 1);
    wake(this.st.w, FN.NOTIFY_SEQ);
  }
  alloc(len: number): number {
    const a = this.buf;
    this.buf += Math.ceil(len / 64) * 64;
    return a;
  }
  /** Queues a request: header, data (out or in), status; returns head, data and status addresses. */
  submit(type: number, sector: number, data: { out?: Uint8Array; inLen?: number }): { head: number; dataAt: number; statusAt: number } {
    const hdr = this.alloc(16);
    this.mem.view.setUint32(hdr - BASE, type, true);
    this.mem.view.setBigUint64(hdr - BASE + 8, BigInt(sector), true);
    const head = this.nextDesc;
    const ids = [this.nextDesc++ % QSIZE, this.nextDesc++ % QSIZE, this.nextDesc++ % QSIZE];
    let dataAt = 0;
    desc(this.mem, DESC, ids[0]!, hdr, 16, VRING_DESC_F_NEXT, ids[1]);
    if (data.out) {
      dataAt = this.alloc(data.out.length);
      this.mem.u8.set(data.out, dataAt - BASE);
      desc(this.mem, DESC, ids[1]!, dataAt, data.out.length, VRING_DESC_F_NEXT, ids[2]);
    } else {
      dataAt = this.alloc(data.inLen ?? 0);
      desc(this.mem, DESC, ids[1]!, dataAt, data.inLen ?? 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, ids[2]);
    }
    const statusAt = this.alloc(1);
    this.mem.u8[statusAt - BASE] = 0xff;
    desc(this.mem, DESC, ids[2]!, statusAt, 1, VRING_DESC_F_WRITE);
    this.mem.view.setUint16(AVAIL - BASE + 4 + 2 * (this.avail % QSIZE), head % QSIZE, true);
    this.avail++;
    Atomics.store(this.mem.u16, (AVAIL - BASE + 2) >> 1, this.avail & 0xffff);
    this.notify();
    return { head: head % QSIZE, dataAt, statusAt };
  }
  usedIdx(): number {
    return Atomics.load(this.mem.u16, (USED - BASE + 2) >> 1);
  }
  used(i: number): { id: number; len: number } {
    const o = USED - BASE + 4 + 8 * (i % QSIZE);
    return { id: this.mem.view.getUint32(o, true), len: this.mem.view.getUint32(o + 4, true) };
  }
  async waitUsed(n: number): Promise<void> {
    for (let i = 0; i < 500 && this.usedIdx() < n; i++) await new Promise((r) => setTimeout(r, 10));
  }
}

test('virtio-blk requests: IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES, errors', async (t) => {
  const { mem, track } = ram();
  const img = new MemImage(1 << 20);
  for (let i = 0; i < img.size; i++) img.data[i] = (i * 7) & 0xff;
  const d = new Driver(mem);
  const be = new VirtioBlkBackend(mem, d.st, d.irq, img, { serial: 'tsemu-disk-0' });
  be.start();
  t.teardown(() => be.stop());
  t.is(d.st.deviceFeatures() & (1n << 32n), 1n << 32n, 'VERSION_1');
  t.is(new DataView(d.st.config.buffer).getBigUint64(256, true), BigInt((1 << 20) / 512), 'capacity');
  d.go();

  const codePage = Math.floor((BASE + 0x10000 + 64 - BASE) / 4096);
  const genBefore = track.gens[codePage]!;
  const r1 = d.submit(VIRTIO_BLK_T_IN, 2, { inLen: 1024 });
  await d.waitUsed(1);
  t.deepEqual(d.used(0), { id: r1.head, len: 1025 });
  t.is(mem.u8[r1.statusAt - BASE], VIRTIO_BLK_S_OK);
  t.deepEqual(mem.slice(r1.dataAt, 1024), img.data.subarray(1024, 2048));
  t.true(track.gens[codePage]! > genBefore, 'a DMA write bumps the code generation of the pages it touched');
  t.true(Atomics.load(d.irq, 0) > 0 && (Atomics.load(d.st.w, FN.ISR) & 1) === 1, 'an interrupt was raised');

  const out = new Uint8Array(512).fill(0xab);
  const r2 = d.submit(VIRTIO_BLK_T_OUT, 10, { out });
  await d.waitUsed(2);
  t.is(mem.u8[r2.statusAt - BASE], VIRTIO_BLK_S_OK);
  t.deepEqual(img.data.subarray(5120, 5632), out);

  d.submit(VIRTIO_BLK_T_FLUSH, 0, { inLen: 0 });
  await d.waitUsed(3);
  t.is(img.flushes, 1);

  const r4 = d.submit(VIRTIO_BLK_T_GET_ID, 0, { inLen: 20 });
  await d.waitUsed(4);
  t.is(new TextDecoder().decode(mem.slice(r4.dataAt, 12)), 'tsemu-disk-0');

  const seg = new Uint8Array(16);
  new DataView(seg.buffer).setBigUint64(0, 10n, true);
  new DataView(seg.buffer).setUint32(8, 1, true);
  const r5 = d.submit(VIRTIO_BLK_T_DISCARD, 0, { out: seg });
  await d.waitUsed(5);
  t.is(mem.u8[r5.statusAt - BASE], VIRTIO_BLK_S_OK);
  t.true(img.data.subarray(5120, 5632).every((b) => b === 0));
  new DataView(seg.buffer).setUint32(12, 1, true); // unmap on a discard: not allowed
  const r6 = d.submit(VIRTIO_BLK_T_DISCARD, 0, { out: seg });
  await d.waitUsed(6);
  t.is(mem.u8[r6.statusAt - BASE], VIRTIO_BLK_S_UNSUPP);
  new DataView(seg.buffer).setBigUint64(0, 100n, true);
  const r7 = d.submit(VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: seg });
  await d.waitUsed(7);
  t.is(mem.u8[r7.statusAt - BASE], VIRTIO_BLK_S_OK);

  const r8 = d.submit(VIRTIO_BLK_T_IN, (1 << 20) / 512, { inLen: 512 }); // past the end
  await d.waitUsed(8);
  t.is(mem.u8[r8.statusAt - BASE], VIRTIO_BLK_S_IOERR);
  const r9 = d.submit(VIRTIO_BLK_T_IN, 0, { inLen: 100 }); // not whole sectors
  await d.waitUsed(9);
  t.is(mem.u8[r9.statusAt - BASE], VIRTIO_BLK_S_IOERR);
  const r10 = d.submit(99, 0, { inLen: 0 });
  await d.waitUsed(10);
  t.is(mem.u8[r10.statusAt - BASE], VIRTIO_BLK_S_UNSUPP);
  t.is(be.state(), 'running');
});

test('a hostile chain makes the device ask for a reset instead of crashing', async (t) => {
  const { mem } = ram();
  const d = new Driver(mem);
  const be = new VirtioBlkBackend(mem, d.st, d.irq, new MemImage(1 << 20));
  be.start();
  t.teardown(() => be.stop());
  d.go();
  // a request whose descriptors loop
  desc(mem, DESC, 0, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 1);
  desc(mem, DESC, 1, BASE + 0x8000, 16, VRING_DESC_F_NEXT, 0);
  mem.view.setUint16(AVAIL - BASE + 4, 0, true);
  Atomics.store(mem.u16, (AVAIL - BASE + 2) >> 1, 1);
  d.notify();
  for (let i = 0; i < 200 && !(Atomics.load(d.st.w, FN.STATUS) & STATUS.DEVICE_NEEDS_RESET); i++) await new Promise((r) => setTimeout(r, 10));
  t.truthy(Atomics.load(d.st.w, FN.STATUS) & STATUS.DEVICE_NEEDS_RESET);
  t.is(Atomics.load(d.st.w, FN.ISR) & 2, 2, 'configuration-change interrupt');
  t.regex(be.state(), /^error: .*loop/);
  t.is(d.usedIdx(), 0);
});

test('a backend that dies with requests in flight: its successor completes each once', async (t) => {
  const { mem } = ram();
  const d = new Driver(mem);
  const dead = new MemImage(1 << 20);
  dead.hold = new Promise<void>(() => {}); // its process is gone: its I/O never returns
  const first = new VirtioBlkBackend(mem, d.st, d.irq, dead);
  first.start();
  d.go();
  const out = new Uint8Array(512).fill(0x5a);
  const reqs = [d.submit(VIRTIO_BLK_T_OUT, 1, { out }), d.submit(VIRTIO_BLK_T_IN, 0, { inLen: 512 }), d.submit(VIRTIO_BLK_T_OUT, 3, { out })];
  for (let i = 0; i < 100 && Atomics.load(d.st.queue(0).w, Q.LAST_AVAIL) < 3; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(Atomics.load(d.st.queue(0).w, Q.LAST_AVAIL), 3, 'all three taken');
  t.is(d.usedIdx(), 0, 'none completed');
  // "kill" the first backend: it stops touching the rings (its process is gone)
  (first as unknown as { generation: number }).generation = -1;
  void first.stop();

  const img = new MemImage(1 << 20);
  img.data.fill(0x11, 0, 512);
  const second = new VirtioBlkBackend(mem, d.st, d.irq, img);
  second.start();
  t.teardown(() => second.stop());
  await d.waitUsed(3);
  await new Promise((r) => setTimeout(r, 50));
  t.is(d.usedIdx(), 3, 'three completions, no more');
  t.deepEqual([0, 1, 2].map((i) => d.used(i).id).sort(), reqs.map((r) => r.head).sort());
  t.is(second.stats.redone, 3);
  t.deepEqual(img.data.subarray(512, 1024), out);
  t.deepEqual(img.data.subarray(1536, 2048), out);
  t.true(mem.slice(reqs[1]!.dataAt, 512).every((b) => b === 0x11));
  t.is(dead.writes, 0);

  // a completion that was being published when the backend died is not published twice
  const r = d.submit(VIRTIO_BLK_T_OUT, 5, { out });
  await d.waitUsed(4);
  await second.stop();
  const qw = d.st.queue(0).w;
  // as if a backend died after storing used.idx but before clearing its marks
  d.st.queue(0).inflight[r.head] = 1;
  Atomics.store(qw, Q.COMPLETING, r.head + 1);
  Atomics.store(qw, Q.COMPLETING_IDX, 3);
  const third = new VirtioBlkBackend(mem, d.st, d.irq, img);
  third.start();
  t.teardown(() => third.stop());
  await new Promise((r2) => setTimeout(r2, 100));
  t.is(d.usedIdx(), 4);
  t.is(third.stats.redone, 0);
});

test('a device reset waits for requests in flight before the status reads 0', async (t) => {
  const { mem } = ram();
  const d = new Driver(mem);
  const img = new MemImage(1 << 20);
  let release!: () => void;
  img.hold = new Promise<void>((r) => (release = r));
  const be = new VirtioBlkBackend(mem, d.st, d.irq, img);
  be.start();
  t.teardown(() => be.stop());
  d.go();
  d.submit(VIRTIO_BLK_T_IN, 0, { inLen: 512 });
  await new Promise((r) => setTimeout(r, 50));
  // the transport's reset: RESET_SEQ moves; the backend acknowledges once drained
  Atomics.store(d.st.w, FN.STATUS, 0);
  Atomics.add(d.st.w, FN.RESET_SEQ, 1);
  d.notify();
  await new Promise((r) => setTimeout(r, 50));
  t.not(Atomics.load(d.st.w, FN.RESET_ACK), Atomics.load(d.st.w, FN.RESET_SEQ), 'not acknowledged while a request is in flight');
  release();
  for (let i = 0; i < 100 && Atomics.load(d.st.w, FN.RESET_ACK) !== Atomics.load(d.st.w, FN.RESET_SEQ); i++) await new Promise((r) => setTimeout(r, 10));
  t.is(Atomics.load(d.st.w, FN.RESET_ACK), Atomics.load(d.st.w, FN.RESET_SEQ));
  t.is(d.usedIdx(), 0, 'the request of before the reset is not completed into the old rings');
  t.is(Atomics.load(d.st.queue(0).w, Q.LAST_AVAIL), 0);
});

/** A MemImage whose reads or writes fail with `fail` (an errno name) while it is set. */
class FailingImage extends MemImage {
  failRead: string | undefined;
  failWrite: string | undefined;
  override async read(buf: Uint8Array, offset: number) {
    if (this.failRead) throw new BlockError(`Could not read: ${this.failRead}`, this.failRead);
    return super.read(buf, offset);
  }
  override async write(buf: Uint8Array, offset: number) {
    if (this.failWrite) throw new BlockError(`Could not write: ${this.failWrite}`, this.failWrite);
    return super.write(buf, offset);
  }
}

/** The I/O errors the backend reported to the machine so far (FN.IOERR_SEQ) and the last one. */
function ioErrors(d: Driver): { count: number; last: ReturnType<typeof unpackIoError> } {
  return { count: Atomics.load(d.st.w, FN.IOERR_SEQ), last: unpackIoError(Atomics.load(d.st.w, FN.IOERR_INFO)) };
}

const ENOSPC = constants.errno.ENOSPC;
const EIO = constants.errno.EIO;

test('werror/rerror: report, ignore, stop until the machine resumes, enospc (stop on ENOSPC only)', async (t) => {
  const rig = (opts: { werror?: ErrorPolicy; rerror?: ErrorPolicy }) => {
    const { mem } = ram();
    const d = new Driver(mem);
    const img = new FailingImage(1 << 20);
    const be = new VirtioBlkBackend(mem, d.st, d.irq, img, opts);
    be.start();
    t.teardown(() => be.stop());
    d.go();
    return { mem, d, img, be };
  };
  const out = new Uint8Array(512).fill(0x5c);

  // defaults: rerror=report, werror=enospc (EIO reported, ENOSPC stops)
  {
    const { mem, d, img } = rig({});
    img.failRead = 'EIO';
    const r = d.submit(VIRTIO_BLK_T_IN, 0, { inLen: 512 });
    await d.waitUsed(1);
    t.is(mem.u8[r.statusAt - BASE], VIRTIO_BLK_S_IOERR);
    t.deepEqual(ioErrors(d), { count: 1, last: { errno: EIO, write: false, action: 'report', nospace: false } });
    img.failWrite = 'EIO';
    const w = d.submit(VIRTIO_BLK_T_OUT, 0, { out });
    await d.waitUsed(2);
    t.is(mem.u8[w.statusAt - BASE], VIRTIO_BLK_S_IOERR);
    t.deepEqual(ioErrors(d).last, { errno: EIO, write: true, action: 'report', nospace: false });
    img.failWrite = 'ENOSPC';
    const w2 = d.submit(VIRTIO_BLK_T_OUT, 4, { out });
    await new Promise((r) => setTimeout(r, 100));
    t.is(d.usedIdx(), 2, 'ENOSPC: the write is held, not completed');
    t.deepEqual(ioErrors(d), { count: 3, last: { errno: ENOSPC, write: true, action: 'stop', nospace: true } });
    // space again, and the machine's cont: the write is done again and completes
    img.failWrite = undefined;
    Atomics.add(d.st.w, FN.IOERR_RESUME, 1);
    d.notify();
    await d.waitUsed(3);
    t.is(mem.u8[w2.statusAt - BASE], VIRTIO_BLK_S_OK);
    t.deepEqual(img.data.subarray(2048, 2560), out);
  }

  // werror=stop, rerror=stop: any error holds the request until resumed
  {
    const { mem, d, img } = rig({ werror: 'stop', rerror: 'stop' });
    img.failRead = 'ETIMEDOUT';
    const r = d.submit(VIRTIO_BLK_T_IN, 0, { inLen: 512 });
    await new Promise((r) => setTimeout(r, 100));
    t.is(d.usedIdx(), 0);
    t.deepEqual(ioErrors(d).last, { errno: constants.errno.ETIMEDOUT, write: false, action: 'stop', nospace: false });
    // a resume while the cluster is still away: it fails and stops again
    Atomics.add(d.st.w, FN.IOERR_RESUME, 1);
    d.notify();
    await new Promise((r) => setTimeout(r, 100));
    t.is(d.usedIdx(), 0);
    t.is(ioErrors(d).count, 2);
    img.failRead = undefined;
    Atomics.add(d.st.w, FN.IOERR_RESUME, 1);
    d.notify();
    await d.waitUsed(1);
    t.is(mem.u8[r.statusAt - BASE], VIRTIO_BLK_S_OK);
  }

  // werror=ignore, rerror=ignore: the guest is told it worked
  {
    const { mem, d, img } = rig({ werror: 'ignore', rerror: 'ignore' });
    img.failWrite = 'ENOSPC';
    const w = d.submit(VIRTIO_BLK_T_OUT, 0, { out });
    await d.waitUsed(1);
    t.is(mem.u8[w.statusAt - BASE], VIRTIO_BLK_S_OK);
    t.deepEqual(ioErrors(d).last, { errno: ENOSPC, write: true, action: 'ignore', nospace: true });
    t.is(img.writes, 0, 'nothing was written');
    img.failRead = 'EIO';
    const r = d.submit(VIRTIO_BLK_T_IN, 0, { inLen: 512 });
    await d.waitUsed(2);
    t.is(mem.u8[r.statusAt - BASE], VIRTIO_BLK_S_OK);
    t.is(ioErrors(d).last.action, 'ignore');
  }
});

test('a request an I/O error stopped is left in flight for a successor when the backend stops', async (t) => {
  const { mem } = ram();
  const d = new Driver(mem);
  const img = new FailingImage(1 << 20);
  img.failWrite = 'EIO';
  const be = new VirtioBlkBackend(mem, d.st, d.irq, img, { werror: 'stop' });
  be.start();
  d.go();
  const w = d.submit(VIRTIO_BLK_T_OUT, 0, { out: new Uint8Array(512).fill(7) });
  await new Promise((r) => setTimeout(r, 100));
  await be.stop();
  t.is(d.st.queue(0).inflight[w.head], 1, 'still marked in flight');
  img.failWrite = undefined;
  const next = new VirtioBlkBackend(mem, d.st, d.irq, img, { werror: 'stop' });
  next.start();
  t.teardown(() => next.stop());
  await d.waitUsed(1);
  t.is(mem.u8[w.statusAt - BASE], VIRTIO_BLK_S_OK);
  t.is(img.data[0], 7);
});
