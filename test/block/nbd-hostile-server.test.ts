/**
 * The NBD client against a server that lies: a tiny fake server (written here, speaking just
 * enough of the handshake) sends a wrong magic, impossible sizes, replies with unknown
 * cookies, data chunks outside or overlapping the request, oversized lengths, short replies,
 * garbage. Every case must end in a clear BlockError (never a crash or a hang), and the
 * client must never write into memory the caller did not hand it for that request.
 */
import test, { type ExecutionContext } from 'ava';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../helpers/procs.js';
import { Received } from './nbd-servers.js';
import { NbdProtocol } from '../../services/block/protocol/nbd.js';
import { BlockError } from '../../services/block/format/types.js';
import * as W from '../../services/block/nbd/wire.js';

interface Req {
  flags: number;
  type: number;
  cookie: Buffer;
  offset: number;
  length: number;
}

interface Script {
  /** Replaces the 18-byte greeting. */
  greeting?: Buffer;
  /** Hang up right after the greeting. */
  hangUp?: boolean;
  /** Export size and flags in NBD_INFO_EXPORT. */
  size?: bigint;
  flags?: number;
  /** Extra NBD_REP_INFO payload for NBD_OPT_GO (e.g. a bad NBD_INFO_BLOCK_SIZE). */
  extraInfo?: Buffer;
  /** Replaces the whole reply to NBD_OPT_GO. */
  goReply?: Buffer;
  /** What to send for each request in the transmission phase. */
  onRequest?: (r: Req, s: Socket) => void;
}

const ALLOC_ID = 7;

function optReply(option: number, type: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  return W.encodeOptionReply(option, type, data);
}

function chunk(r: Req, flags: number, type: number, payload: Buffer, length = payload.length): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32BE(W.STRUCTURED_REPLY_MAGIC, 0);
  h.writeUInt16BE(flags, 4);
  h.writeUInt16BE(type, 6);
  r.cookie.copy(h, 8);
  h.writeUInt32BE(length >>> 0, 16);
  return Buffer.concat([h, payload]);
}

function dataChunk(r: Req, offset: number, data: Buffer, done = true): Buffer {
  const p = Buffer.alloc(8 + data.length);
  p.writeBigUInt64BE(BigInt(offset), 0);
  data.copy(p, 8);
  return chunk(r, done ? W.REPLY_FLAG_DONE : 0, W.REPLY_TYPE_OFFSET_DATA, p);
}

async function fakeServer(t: ExecutionContext, script: Script): Promise<string> {
  const sock = join(tempDir(t), 'fake.sock');
  const server: Server = createServer((s) => void handle(s).catch(() => s.destroy()));
  async function handle(s: Socket): Promise<void> {
    s.on('error', () => {});
    const rx = new Received(s);
    if (script.greeting) s.write(script.greeting);
    if (script.hangUp) return void s.end();
    if (!script.greeting) {
      const g = Buffer.alloc(18);
      g.writeBigUInt64BE(W.NBDMAGIC, 0);
      g.writeBigUInt64BE(W.IHAVEOPT, 8);
      g.writeUInt16BE(W.FLAG_FIXED_NEWSTYLE | W.FLAG_NO_ZEROES, 16);
      s.write(g);
    }
    if (!(await rx.take(4))) return;
    for (;;) {
      const h = await rx.take(16);
      if (!h) return;
      const option = h.readUInt32BE(8);
      await rx.take(h.readUInt32BE(12));
      if (option === W.OPT_STRUCTURED_REPLY) s.write(optReply(option, W.REP_ACK));
      else if (option === W.OPT_SET_META_CONTEXT) {
        const m = Buffer.alloc(4 + W.BASE_ALLOCATION.length);
        m.writeUInt32BE(ALLOC_ID, 0);
        m.write(W.BASE_ALLOCATION, 4);
        s.write(Buffer.concat([optReply(option, W.REP_META_CONTEXT, m), optReply(option, W.REP_ACK)]));
      } else if (option === W.OPT_GO) {
        if (script.goReply) {
          s.write(script.goReply);
          continue;
        }
        const info = Buffer.alloc(12);
        info.writeUInt16BE(W.INFO_EXPORT, 0);
        info.writeBigUInt64BE(script.size ?? 1n << 20n, 2);
        info.writeUInt16BE(script.flags ?? (W.FLAG_HAS_FLAGS | W.FLAG_SEND_FLUSH), 10);
        s.write(optReply(option, W.REP_INFO, info));
        if (script.extraInfo) s.write(optReply(option, W.REP_INFO, script.extraInfo));
        s.write(optReply(option, W.REP_ACK));
        break;
      } else s.write(optReply(option, W.REP_ERR_UNSUP));
    }
    for (;;) {
      const q = await rx.take(28, 60_000);
      if (!q) return;
      const cookie = Buffer.alloc(8);
      q.copy(cookie, 0, 8, 16);
      const r: Req = { flags: q.readUInt16BE(4), type: q.readUInt16BE(6), cookie, offset: Number(q.readBigUInt64BE(16)), length: q.readUInt32BE(24) };
      if (r.type === W.CMD_DISC) return void s.end();
      if (r.type === W.CMD_WRITE) await rx.take(r.length);
      script.onRequest?.(r, s);
    }
  }
  await new Promise<void>((r) => server.listen(sock, r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `nbd+unix:///?socket=${sock}`;
}

/** Opening must fail with a BlockError matching `re`. */
async function openFails(t: ExecutionContext, script: Script, re: RegExp): Promise<void> {
  const uri = await fakeServer(t, script);
  const e = await t.throwsAsync(NbdProtocol.open(uri), { instanceOf: BlockError });
  t.regex(e!.message, re);
  t.regex(e!.message, /^Could not open 'nbd\+unix:/);
}

/**
 * A read of 4 KiB at 64 KiB into the middle of a larger buffer must fail with EIO matching
 * `re`, leaving the guard bytes around it untouched.
 */
async function readFails(t: ExecutionContext, onRequest: Script['onRequest'], re: RegExp, script: Script = {}): Promise<void> {
  const uri = await fakeServer(t, { ...script, onRequest });
  const p = await NbdProtocol.open(uri);
  const whole = new Uint8Array(3 * 4096).fill(0xa5);
  const e = await t.throwsAsync(p.pread(whole.subarray(4096, 8192), 64 << 10), { instanceOf: BlockError });
  t.is(e!.errno, 'EIO');
  t.regex(e!.message, re);
  t.true(whole.subarray(0, 4096).every((x) => x === 0xa5), 'nothing written before the buffer');
  t.true(whole.subarray(8192).every((x) => x === 0xa5), 'nothing written after the buffer');
  // Later requests fail cleanly too (no reconnect-delay: the connection is gone).
  await t.throwsAsync(p.pread(new Uint8Array(512), 0), { instanceOf: BlockError });
  await p.close();
}

test('a server with the wrong greeting magic is refused', (t) =>
  openFails(t, { greeting: Buffer.from('HTTP/1.1 400 Bad Request\r\n') }, /not an NBD server/));

test('an oldstyle server that cuts its greeting short', (t) => {
  const g = Buffer.alloc(40);
  g.writeBigUInt64BE(W.NBDMAGIC, 0);
  g.writeBigUInt64BE(W.CLISERV_MAGIC, 8);
  return openFails(t, { greeting: g, hangUp: true }, /closed/);
});

test('an export size beyond 2^53 is refused', (t) => openFails(t, { size: 1n << 60n }, /export size .* too large/));

test('impossible block sizes are refused', (t) => {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(W.INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(3, 2);
  b.writeUInt32BE(4096, 6);
  b.writeUInt32BE(65536, 10);
  return openFails(t, { extraInfo: b }, /invalid block sizes/);
});

test('an option reply claiming gigabytes is refused without reading it', (t) => {
  const h = optReply(W.OPT_GO, W.REP_INFO);
  h.writeUInt32BE(0x7fffffff, 16);
  return openFails(t, { goReply: h }, /option reply of \d+ bytes/);
});

test('an unknown export is reported as such', (t) =>
  openFails(t, { goReply: optReply(W.OPT_GO, W.REP_ERR_UNKNOWN, Buffer.from('no such export')) }, /export '' not available.*no such export/));

test('a reply with an unknown cookie', (t) =>
  readFails(t, (r, s) => {
    r.cookie.writeUInt32BE(r.cookie.readUInt32BE(4) + 1, 4);
    s.write(dataChunk(r, r.offset, Buffer.alloc(r.length, 1)));
  }, /unknown cookie/));

test('a data chunk outside the request is not written anywhere', (t) =>
  readFails(t, (r, s) => s.write(dataChunk(r, r.offset + 4096, Buffer.alloc(r.length, 0xee))), /outside the read/));

test('a data chunk before the request is not written anywhere', (t) =>
  readFails(t, (r, s) => s.write(dataChunk(r, r.offset - 4096, Buffer.alloc(r.length, 0xee))), /outside the read/));

test('overlapping data chunks', (t) =>
  readFails(t, (r, s) => {
    s.write(dataChunk(r, r.offset, Buffer.alloc(2048, 1), false));
    s.write(dataChunk(r, r.offset + 1024, Buffer.alloc(2048, 2), true));
  }, /overlaps an earlier chunk/));

test('a data chunk longer than the read', (t) =>
  readFails(t, (r, s) => s.write(chunk(r, W.REPLY_FLAG_DONE, W.REPLY_TYPE_OFFSET_DATA, Buffer.alloc(8), 0xfffffff0)), /data chunk of \d+ bytes/));

test('an error chunk claiming a huge message', (t) =>
  readFails(t, (r, s) => s.write(chunk(r, W.REPLY_FLAG_DONE, W.REPLY_TYPE_ERROR, Buffer.alloc(0), 0x40000000)), /error chunk of \d+ bytes/));

test('a reply that ends before covering the read', (t) =>
  readFails(t, (r, s) => s.write(dataChunk(r, r.offset, Buffer.alloc(1024, 1), true)), /covers 1024 of 4096 bytes/));

test('a reply with garbage magic', (t) => readFails(t, (_r, s) => s.write(Buffer.alloc(64, 0x42)), /reply magic/));

test('a simple reply with data after structured replies were negotiated', (t) =>
  readFails(t, (r, s) => {
    const h = Buffer.alloc(16);
    h.writeUInt32BE(W.SIMPLE_REPLY_MAGIC, 0);
    r.cookie.copy(h, 8);
    s.write(Buffer.concat([h, Buffer.alloc(r.length)]));
  }, /simple reply with data/));

test('an unknown chunk type', (t) => readFails(t, (r, s) => s.write(chunk(r, W.REPLY_FLAG_DONE, 77, Buffer.alloc(4))), /unknown structured reply type/));

test('the server hangs up in the middle of a reply', (t) =>
  readFails(t, (r, s) => {
    s.write(dataChunk(r, r.offset, Buffer.alloc(r.length, 1)).subarray(0, 1000));
    setTimeout(() => s.destroy(), 50);
  }, /closed the connection|connection lost/));

test('an error chunk fails the read with the server\'s errno and message', async (t) => {
  const uri = await fakeServer(t, {
    onRequest: (r, s) => {
      const msg = Buffer.from('disk on fire');
      const p = Buffer.alloc(6 + msg.length);
      p.writeUInt32BE(W.NBD_ENOSPC, 0);
      p.writeUInt16BE(msg.length, 4);
      msg.copy(p, 6);
      s.write(chunk(r, W.REPLY_FLAG_DONE, W.REPLY_TYPE_ERROR, p));
    },
  });
  const p = await NbdProtocol.open(uri);
  const e = await t.throwsAsync(p.pread(new Uint8Array(4096), 0), { instanceOf: BlockError });
  t.is(e!.errno, 'ENOSPC');
  t.regex(e!.message, /disk on fire/);
  await p.close();
});

test('block status: extents past the request, or of length 0, are refused', async (t) => {
  for (const extents of [[[1 << 20, 0], [4096, 0]], [[0, 0]]]) {
    const uri = await fakeServer(t, {
      onRequest: (r, s) => {
        const p = Buffer.alloc(4 + 8 * extents.length);
        p.writeUInt32BE(ALLOC_ID, 0);
        extents.forEach(([len, fl], i) => {
          p.writeUInt32BE(len!, 4 + 8 * i);
          p.writeUInt32BE(fl!, 8 + 8 * i);
        });
        s.write(chunk(r, W.REPLY_FLAG_DONE, W.REPLY_TYPE_BLOCK_STATUS, p));
      },
    });
    const p = await NbdProtocol.open(uri);
    const e = await t.throwsAsync(p.blockStatus(0, 1 << 20), { instanceOf: BlockError });
    t.regex(e!.message, /block status extent/);
    await p.close();
  }
});

/** A block size NBD_REP_INFO payload. */
function blockSizes(min: number, preferred: number, max: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(W.INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(min, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(max >>> 0, 10);
  return b;
}

/** Block status over [0, size) against a server answering each request with one data extent. */
async function statusLengths(t: ExecutionContext, size: number, extraInfo?: Buffer): Promise<number[]> {
  const lengths: number[] = [];
  const uri = await fakeServer(t, {
    size: BigInt(size),
    extraInfo,
    onRequest: (r, s) => {
      if (r.type !== W.CMD_BLOCK_STATUS) return;
      lengths.push(r.length);
      t.true(r.offset + r.length <= size, 'block status stays inside the export');
      const p = Buffer.alloc(12);
      p.writeUInt32BE(ALLOC_ID, 0);
      p.writeUInt32BE(r.length, 4);
      s.write(chunk(r, W.REPLY_FLAG_DONE, W.REPLY_TYPE_BLOCK_STATUS, p));
    },
  });
  const p = await NbdProtocol.open(uri);
  const ext = await p.blockStatus(0, size);
  t.deepEqual(ext.map((e) => [e.offset, e.length, e.data]), [[0, size, true]]);
  await p.close();
  return lengths;
}

test('block status requests stay within an advertised maximum block size', async (t) => {
  const lengths = await statusLengths(t, 8 << 20, blockSizes(512, 4096, 1 << 20));
  t.deepEqual(lengths, new Array(8).fill(1 << 20));
});

test('block status requests are cut at the maximum aligned down to the minimum block', async (t) => {
  const lengths = await statusLengths(t, 4 << 20, blockSizes(4096, 4096, (1 << 20) + 512));
  t.true(lengths.every((n) => n === 1 << 20 || n === (4 << 20) % (1 << 20)), `lengths ${lengths.join(',')}`);
  t.is(lengths.reduce((a, b) => a + b, 0), 4 << 20);
});

test('without an advertised maximum, block status asks for at most INT_MAX (aligned), as QEMU does', async (t) => {
  const size = 5 * 2 ** 30;
  t.deepEqual(await statusLengths(t, size), [0x7fffffff, 0x7fffffff, size - 2 * 0x7fffffff]);
  // A large advertised maximum with a 512-byte minimum: INT_MAX aligned down to 512.
  const big = await statusLengths(t, size, blockSizes(512, 4096, 0xffffffff));
  t.is(big[0], 0x7ffffe00);
  t.true(big.every((n) => n <= 0x7fffffff && n % 512 === 0));
});

/** Lengths of the trim and write zeroes requests [type, length] a call sends. */
async function effectLengths(t: ExecutionContext, size: number, extraInfo: Buffer | undefined, call: (p: NbdProtocol) => Promise<void>): Promise<Array<[number, number]>> {
  const seen: Array<[number, number]> = [];
  const uri = await fakeServer(t, {
    size: BigInt(size),
    flags: W.FLAG_HAS_FLAGS | W.FLAG_SEND_FLUSH | W.FLAG_SEND_TRIM | W.FLAG_SEND_WRITE_ZEROES,
    extraInfo,
    onRequest: (r, s) => {
      seen.push([r.type, r.length]);
      s.write(chunk(r, W.REPLY_FLAG_DONE, W.REPLY_TYPE_NONE, Buffer.alloc(0)));
    },
  });
  const p = await NbdProtocol.open(uri);
  await call(p);
  await p.close();
  return seen;
}

test('write zeroes requests stay within the maximum block size (32 MiB without one); trims go up to INT_MAX, as QEMU', async (t) => {
  const mib = 1 << 20;
  const small = await effectLengths(t, 8 * mib, blockSizes(512, 4096, mib), (p) => p.writeZeroes(0, 8 * mib, false));
  t.deepEqual(small, new Array(8).fill([W.CMD_WRITE_ZEROES, mib]));
  const trim = await effectLengths(t, 8 * mib, blockSizes(512, 4096, mib), (p) => p.discard(0, 8 * mib));
  t.deepEqual(trim, [[W.CMD_TRIM, 8 * mib]]);
  const size = 5 * 2 ** 30;
  const zeroes = await effectLengths(t, size, undefined, (p) => p.writeZeroes(0, 96 * mib, true));
  t.deepEqual(zeroes, new Array(3).fill([W.CMD_WRITE_ZEROES, 32 * mib]));
  const big = await effectLengths(t, size, undefined, (p) => p.discard(0, size));
  t.deepEqual(big, [[W.CMD_TRIM, 0x7fffffff], [W.CMD_TRIM, 0x7fffffff], [W.CMD_TRIM, size - 2 * 0x7fffffff]]);
});

test('a read-only export refuses writes before sending them; a write past the end is ENOSPC', async (t) => {
  let writes = 0;
  const uri = await fakeServer(t, { flags: W.FLAG_HAS_FLAGS | W.FLAG_READ_ONLY, onRequest: (r) => { if (r.type === W.CMD_WRITE) writes++; } });
  const p = await NbdProtocol.open(uri);
  t.true(p.readOnly);
  await t.throwsAsync(p.pwrite(new Uint8Array(512), 0), { instanceOf: BlockError, message: /read-only/ });
  await p.close();
  const rw = await NbdProtocol.open(await fakeServer(t, {}));
  const e = await t.throwsAsync(rw.pwrite(new Uint8Array(4096), (1 << 20) - 512), { instanceOf: BlockError });
  t.is(e!.errno, 'ENOSPC');
  await rw.close();
  t.is(writes, 0);
});

test('a reconnect finds the export changed (a smaller maximum block size, read-only): refused, the waiting request fails with EIO saying why', async (t) => {
  for (const [change, re] of [
    [(s: Script) => { s.extraInfo = blockSizes(512, 4096, 64 << 10); }, /export changed on reconnect \(maximum block size 65536, was 1048576\)/],
    [(s: Script) => { s.flags = W.FLAG_HAS_FLAGS | W.FLAG_READ_ONLY; }, /export changed on reconnect \(read-only now\)/],
  ] as const) {
    let reads = 0;
    const script: Script = {
      size: 4n << 20n,
      extraInfo: blockSizes(512, 4096, 1 << 20),
      onRequest: (r, s) => {
        if (r.type !== W.CMD_READ) return;
        // the first read: the server goes away and comes back changed
        if (reads++ === 0) {
          change(script);
          s.destroy();
        } else s.write(dataChunk(r, r.offset, Buffer.alloc(r.length, 7)));
      },
    };
    const uri = await fakeServer(t, script);
    const p = await NbdProtocol.open(`${uri}&reconnect-delay=1`);
    const e = await t.throwsAsync(p.pread(new Uint8Array(1 << 20), 0), { instanceOf: BlockError });
    t.is(e!.errno, 'EIO');
    t.regex(e!.message, re);
    t.is(reads, 1, 'no request went to the changed export');
    await p.close();
  }
});

test('a server that drops the connection on every try of one request: with reconnect-delay, the request fails after a few resends instead of going round for ever', async (t) => {
  let tries = 0;
  const uri = await fakeServer(t, {
    onRequest: (r, s) => {
      if (r.offset === 0) {
        tries++;
        s.destroy();
      } else s.write(dataChunk(r, r.offset, Buffer.alloc(r.length, 3)));
    },
  });
  const p = await NbdProtocol.open(`${uri}&reconnect-delay=30`);
  const t0 = Date.now();
  const e = await t.throwsAsync(p.pread(new Uint8Array(4096), 0), { instanceOf: BlockError });
  t.is(e!.errno, 'EIO');
  t.regex(e!.message, /lost 4 times while a request was in flight/);
  t.is(tries, 4);
  t.true(Date.now() - t0 < 10_000, 'well before the reconnect delay');
  // the connection is back: other requests go through
  const ok = new Uint8Array(4096);
  await p.pread(ok, 8192);
  t.true(ok.every((x) => x === 3));
  await p.close();
});
