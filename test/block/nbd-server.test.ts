/**
 * tsemu-nbd against real NBD clients: nbdinfo, nbdcopy and qemu-img read and write its
 * exports of raw and qcow2 images (checked with qemu-img compare/check and cmp), its
 * allocation map matches qemu-nbd's, qemu-nbd's command-line behaviour (names, -r, -t, -e,
 * --fork, errors), and hostile clients (garbage, bad requests, a disconnect in the middle of
 * a write) that must neither stop a persistent server nor change the image.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { binPath, run, tempDir, waitFor } from '../helpers/procs.js';
import { img, must, qemuIo, rng, tool } from './tools.js';
import { makePki, qemuNbd, rawConnect, Received, tsemuNbd } from './nbd-servers.js';
import * as W from '../../services/block/nbd/wire.js';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** A qcow2 image with data, a zeroed range and unallocated space (8 MiB). */
async function sampleQcow2(dir: string): Promise<string> {
  const f = join(dir, 'disk.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', f, '8M']);
  await qemuIo(f, ['write -P 0x11 0 1M', 'write -P 0x22 3M 64k', 'write -z 4M 1M', 'write -P 0x33 7M 512k', 'write -P 0x44 7999k 1k']);
  return f;
}

/** A raw image of random bytes with a zero hole (4 MiB). */
function sampleRaw(dir: string, name = 'disk.raw'): string {
  const f = join(dir, name);
  const b = Buffer.alloc(4 << 20);
  const r = rng(7);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((r() * 2 ** 32) >>> 0, i);
  b.fill(0, 1 << 20, 2 << 20);
  writeFileSync(f, b);
  return f;
}

test('nbdinfo describes a qcow2 export: size, flags, base:allocation, and the same map as qemu-nbd', async (t) => {
  const dir = tempDir(t);
  const f = await sampleQcow2(dir);
  const ours = await tsemuNbd(t, dir, f, ['-f', 'qcow2', '-r', '-t', '-e', '2']);
  const info = JSON.parse(await must('nbdinfo', ['--json', ours.uri])) as { protocol: string; exports: Record<string, unknown>[] };
  const e = info.exports[0]!;
  t.is(info.protocol, 'newstyle-fixed');
  t.is(e['export-size'], 8 << 20);
  t.true(e['is_read_only']);
  t.true(e['can_multi_conn']);
  t.true(e['can_flush']);
  t.deepEqual(e['contexts'], ['base:allocation']);
  const peer = await qemuNbd(t, dir, f, ['-f', 'qcow2', '-r', '-t']);
  t.is(await must('nbdinfo', ['--map', ours.uri]), await must('nbdinfo', ['--map', peer.uri]));
  t.regex(await must('nbdinfo', ['--map', ours.uri]), /hole,zero/);
});

for (const fmt of ['raw', 'qcow2'] as const) {
  test(`nbdcopy and qemu-img read a ${fmt} export byte for byte`, async (t) => {
    const dir = tempDir(t);
    const f = fmt === 'raw' ? sampleRaw(dir) : await sampleQcow2(dir);
    const want = join(dir, 'want.raw');
    await must('qemu-img', ['convert', '-f', fmt, '-O', 'raw', f, want]);
    const s = await tsemuNbd(t, dir, f, ['-f', fmt, '-r', '-t', '-e', '4']);
    const a = join(dir, 'nbdcopy.raw');
    const b = join(dir, 'qemu-img.raw');
    await must('nbdcopy', [s.uri, a]);
    await must('qemu-img', ['convert', '-O', 'raw', s.uri, b]);
    t.is(sha(a), sha(want));
    t.is(sha(b), sha(want));
    // qemu-img compare straight against the export too (reads through qemu's NBD client)
    t.regex(await must('qemu-img', ['compare', '-f', fmt, '-F', 'raw', f, s.uri]), /Images are identical/);
  });

  test(`nbdcopy writes a ${fmt} export; the image reads back the same and checks clean`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, `target.${fmt}`);
    await must('qemu-img', ['create', '-q', '-f', fmt, f, '4M']);
    if (fmt === 'qcow2') await qemuIo(f, ['write -P 0x55 1M 1M']); // nbdcopy must zero this
    const src = sampleRaw(dir, 'src.raw');
    const s = await tsemuNbd(t, dir, f, ['-f', fmt]);
    await must('nbdcopy', [src, s.uri]);
    t.is((await s.proc.exited).code, 0, 'without -t the server exits after its client');
    t.regex(await must('qemu-img', ['compare', '-f', 'raw', '-F', fmt, src, f]), /Images are identical/);
    if (fmt === 'qcow2') t.regex(await must('qemu-img', ['check', f]), /No errors were found/);
  });
}

test('qemu-io writes, zeroes and discards through an export (raw), qemu-img sees them', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'd.raw');
  await must('qemu-img', ['create', '-q', '-f', 'raw', f, '2M']);
  const s = await tsemuNbd(t, dir, f, ['-f', 'raw', '-t']);
  await must('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 1M', '-c', 'write -z 256k 64k', '-c', 'discard 512k 64k', '-c', 'write -P 0xcd -f 1M 4k', '-c', 'flush', s.uri]);
  const b = readFileSync(f);
  t.true(b.subarray(0, 256 << 10).every((x) => x === 0xab));
  t.true(b.subarray(256 << 10, 320 << 10).every((x) => x === 0));
  t.true(b.subarray(576 << 10, 1 << 20).every((x) => x === 0xab));
  t.true(b.subarray(1 << 20, (1 << 20) + 4096).every((x) => x === 0xcd));
});

test('a read-only export refuses writes and says so', async (t) => {
  const dir = tempDir(t);
  const f = sampleRaw(dir);
  const before = sha(f);
  const s = await tsemuNbd(t, dir, f, ['-f', 'raw', '-r', '-t']);
  const src = sampleRaw(dir, 'other.raw');
  const r = await tool('nbdcopy', [src, s.uri]);
  t.not(r.code, 0);
  const q = await tool('qemu-io', ['-f', 'raw', '-c', 'write 0 4k', s.uri]);
  t.regex(q.stderr + q.stdout, /read-only|Operation not permitted|Permission denied/i);
  t.is(sha(f), before);
});

test('export names: -x and -D, NBD_OPT_LIST, an unknown name is refused', async (t) => {
  const dir = tempDir(t);
  const f = sampleRaw(dir);
  const s = await tsemuNbd(t, dir, f, ['-f', 'raw', '-r', '-t', '-x', 'disk one', '-D', 'a test disk'], 'disk one');
  const list = await must('nbdinfo', ['--list', '--json', s.uri]);
  const exports = (JSON.parse(list) as { exports: { 'export-name': string; description?: string }[] }).exports;
  t.deepEqual(exports.map((e) => [e['export-name'], e.description]), [['disk one', 'a test disk']]);
  t.is(await must('nbdinfo', ['--size', s.uri]), `${4 << 20}\n`);
  const bad = await tool('nbdinfo', ['--size', s.uri.replace('disk%20one', 'nope')]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /nope|not present|unknown/i);
});

test('-e 2 serves two clients at once; a third waits for a free slot', async (t) => {
  const dir = tempDir(t);
  const f = sampleRaw(dir);
  const s = await tsemuNbd(t, dir, f, ['-f', 'raw', '-r', '-e', '2']);
  const a = await rawConnect(s.sock);
  const b = await rawConnect(s.sock);
  const c = await rawConnect(s.sock);
  const [ra, rb, rc] = [new Received(a), new Received(b), new Received(c)];
  t.truthy(await ra.take(18));
  t.truthy(await rb.take(18));
  await t.throwsAsync(rc.take(18, 500), { message: /timed out/ });
  a.destroy();
  t.truthy(await rc.take(18), 'the waiting client is served once a slot frees');
  b.destroy();
  c.destroy();
  t.is((await s.proc.exited).code, 0, 'the server exits after its last client (no -t)');
});

test('bad command lines and images fail as qemu-nbd does', async (t) => {
  const dir = tempDir(t);
  const nbd = binPath('tsemu-nbd');
  const cases: [string[], RegExp][] = [
    [[], /^tsemu-nbd: Invalid number of arguments \(try 'tsemu-nbd --help'\)\n$/],
    [['-z', 'x'], /^tsemu-nbd: invalid option -- 'z' \(try 'tsemu-nbd --help'\)\n$/],
    [['-k', join(dir, 's'), join(dir, 'missing.qcow2')], /^tsemu-nbd: Failed to blk_new_open '.*missing\.qcow2': Could not open '.*missing\.qcow2': No such file or directory\n$/],
    [['-f', 'qcow2', '-k', join(dir, 's'), sampleRaw(dir)], /^tsemu-nbd: Failed to blk_new_open '.*': Image is not in qcow2 format\n$/],
    [['-p', 'x', sampleRaw(dir)], /^tsemu-nbd: Invalid port number 'x'\n$/],
    [['--cache=bogus', sampleRaw(dir)], /^tsemu-nbd: Invalid cache mode `bogus'\n$/],
  ];
  for (const [args, err] of cases) {
    const r = await run(t, process.execPath, [nbd, ...args]);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, err);
    t.is(r.stdout, '');
  }
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.teardown(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const inUse = await run(t, process.execPath, [nbd, '-b', '127.0.0.1', '-p', String(port), sampleRaw(dir)]);
  t.is(inUse.code, 1);
  t.is(inUse.stderr, `tsemu-nbd: Failed to bind socket to 127.0.0.1:${port}: Address already in use\n`);
  const help = await run(t, process.execPath, [nbd, '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^Usage: tsemu-nbd \[OPTIONS\] FILE/);
});

test('--fork returns once the server listens; --pid-file names it; SIGTERM ends it and removes the socket', async (t) => {
  const dir = tempDir(t);
  const f = sampleRaw(dir);
  const sock = join(dir, 'f.sock');
  const pidFile = join(dir, 'pid');
  const r = await run(t, process.execPath, [binPath('tsemu-nbd'), '--fork', '--pid-file', pidFile, '-t', '-r', '-f', 'raw', '-k', sock, f]);
  t.is(r.code, 0, r.stderr);
  t.true(existsSync(sock));
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.teardown(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  t.is(await must('nbdinfo', ['--size', `nbd+unix:///?socket=${sock}`]), `${4 << 20}\n`);
  process.kill(pid, 'SIGTERM');
  await waitFor(() => !existsSync(sock), 10_000, 'the socket to be removed');
});

// --- Speaking the protocol by hand. ---

/** Handshake up to NBD_OPT_GO, with simple replies unless `structured`. */
async function go(sock: string, structured = false): Promise<{ s: Socket; rx: Received; size: number; flags: number }> {
  const s = await rawConnect(sock);
  const rx = new Received(s);
  const hello = (await rx.take(18))!;
  if (hello.readBigUInt64BE(8) !== W.IHAVEOPT) throw new Error('no IHAVEOPT');
  const cf = Buffer.alloc(4);
  cf.writeUInt32BE(W.FLAG_C_FIXED_NEWSTYLE | W.FLAG_C_NO_ZEROES);
  s.write(cf);
  if (structured) {
    s.write(W.encodeOption(W.OPT_STRUCTURED_REPLY));
    const h = (await rx.take(20))!;
    if (h.readUInt32BE(12) !== W.REP_ACK) throw new Error('structured replies refused');
  }
  s.write(W.encodeOption(W.OPT_GO, W.encodeGoData('', [])));
  let size = 0;
  let flags = 0;
  for (;;) {
    const h = (await rx.take(20))!;
    const type = h.readUInt32BE(12);
    const data = (await rx.take(h.readUInt32BE(16)))!;
    if (type === W.REP_INFO && data.readUInt16BE(0) === W.INFO_EXPORT) {
      size = Number(data.readBigUInt64BE(2));
      flags = data.readUInt16BE(10);
    }
    if (type === W.REP_ACK) return { s, rx, size, flags };
    if (type !== W.REP_INFO) throw new Error(`option reply ${type}`);
  }
}

function request(type: number, offset: number, length: number, cookie: number, flags = 0): Buffer {
  const b = Buffer.alloc(W.REQUEST_SIZE);
  W.encodeRequest(b, 0, flags, type, 0, cookie, offset, length);
  return b;
}

async function simpleReply(rx: Received): Promise<{ error: number; cookie: number }> {
  const r = (await rx.take(16))!;
  if (r.readUInt32BE(0) !== W.SIMPLE_REPLY_MAGIC) throw new Error('not a simple reply');
  return { error: r.readUInt32BE(4), cookie: r.readUInt32BE(12) };
}

test('bad requests get the errors the spec names, and the connection goes on', async (t) => {
  const dir = tempDir(t);
  const f = sampleRaw(dir);
  const before = sha(f);
  const rw = await tsemuNbd(t, dir, f, ['-f', 'raw', '-t', '-e', '2']);
  const { s, rx, size } = await go(rw.sock);
  t.is(size, 4 << 20);
  s.write(request(W.CMD_READ, size - 512, 1024, 1));
  t.deepEqual(await simpleReply(rx), { error: W.NBD_EINVAL, cookie: 1 }, 'read past the end');
  s.write(Buffer.concat([request(W.CMD_WRITE, size - 512, 1024, 2), Buffer.alloc(1024, 0xee)]));
  t.deepEqual(await simpleReply(rx), { error: W.NBD_ENOSPC, cookie: 2 }, 'write past the end');
  s.write(request(42, 0, 512, 3));
  t.deepEqual(await simpleReply(rx), { error: W.NBD_EINVAL, cookie: 3 }, 'unknown command');
  s.write(request(W.CMD_READ, 0, 512, 4, 1 << 9));
  t.deepEqual(await simpleReply(rx), { error: W.NBD_EINVAL, cookie: 4 }, 'unknown flag');
  s.write(request(W.CMD_BLOCK_STATUS, 0, 512, 5));
  t.deepEqual(await simpleReply(rx), { error: W.NBD_EINVAL, cookie: 5 }, 'block status without a meta context');
  s.write(request(W.CMD_WRITE_ZEROES, 0, 4096, 6, W.CMD_FLAG_FAST_ZERO));
  t.deepEqual(await simpleReply(rx), { error: W.NBD_ENOTSUP, cookie: 6 }, 'fast zero is refused');
  s.write(request(W.CMD_READ, 4096, 512, 7));
  t.deepEqual(await simpleReply(rx), { error: 0, cookie: 7 });
  t.deepEqual(await rx.take(512), readFileSync(f).subarray(4096, 4608));
  s.destroy();
  t.is(sha(f), before);

  const ro = await tsemuNbd(t, dir, f, ['-f', 'raw', '-t', '-r']);
  const c = await go(ro.sock);
  t.truthy(c.flags & W.FLAG_READ_ONLY);
  c.s.write(Buffer.concat([request(W.CMD_WRITE, 0, 512, 8), Buffer.alloc(512)]));
  t.deepEqual(await simpleReply(c.rx), { error: W.NBD_EPERM, cookie: 8 }, 'write to a read-only export');
  c.s.write(request(W.CMD_TRIM, 0, 512, 9));
  t.deepEqual(await simpleReply(c.rx), { error: W.NBD_EPERM, cookie: 9 }, 'trim on a read-only export');
  c.s.destroy();
  t.is(sha(f), before);
});

/** The chunks of one structured read reply, assembled: the bytes and the chunk types seen. */
async function structuredRead(rx: Received, offset: number, length: number): Promise<{ data: Buffer; types: number[] }> {
  const data = Buffer.alloc(length, 0xa5);
  const types: number[] = [];
  for (;;) {
    const h = (await rx.take(W.STRUCTURED_REPLY_SIZE))!;
    if (h.readUInt32BE(0) !== W.STRUCTURED_REPLY_MAGIC) throw new Error('not a structured reply');
    const type = h.readUInt16BE(6);
    const n = h.readUInt32BE(16);
    const body = (await rx.take(n))!;
    types.push(type);
    if (type === W.REPLY_TYPE_OFFSET_DATA) body.copy(data, Number(body.readBigUInt64BE(0)) - offset, 8);
    else if (type === W.REPLY_TYPE_OFFSET_HOLE) {
      const at = Number(body.readBigUInt64BE(0)) - offset;
      data.fill(0, at, at + body.readUInt32BE(8));
    } else if (type !== W.REPLY_TYPE_NONE) throw new Error(`reply chunk type ${type}`);
    if (h.readUInt16BE(4) & W.REPLY_FLAG_DONE) return { data, types };
  }
}

test('a read-only qcow2 export over a raw backing file (data, zero, compressed and unallocated clusters) reads right in every reply form', async (t) => {
  // Such reads go from the files by sendfile where they can (data clusters, the backing file)
  // and through the image where they cannot (compressed clusters).
  const dir = tempDir(t);
  const base = sampleRaw(dir, 'base.raw');
  const f = join(dir, 'top.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', f, '6M']);
  await qemuIo(f, ['write -P 0x11 0 64k', 'write -P 0x22 200k 100k', 'write -c -P 0x33 1M 64k', 'write -z 1536k 512k', 'write -P 0x44 5M 64k']);
  const want = join(dir, 'want.raw');
  await must('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', f, want]);
  const image = readFileSync(want);
  const s = await tsemuNbd(t, dir, f, ['-f', 'qcow2', '-r', '-t', '-e', '3']);
  const ranges = [[0, 6 << 20], [(1 << 20) - 1000, 70_000], [1536 << 10, 512 << 10], [(4 << 20) - 4096, 12_288], [5 << 20, 1 << 20]];
  const plain = await go(s.sock);
  for (const [i, [off, len]] of ranges.entries()) {
    plain.s.write(request(W.CMD_READ, off!, len!, i));
    t.deepEqual(await simpleReply(plain.rx), { error: 0, cookie: i });
    t.true((await plain.rx.take(len!))!.equals(image.subarray(off!, off! + len!)), `simple reply at ${off}+${len}`);
  }
  const st = await go(s.sock, true);
  const holes = new Set<number>();
  for (const df of [0, W.CMD_FLAG_DF]) {
    for (const [i, [off, len]] of ranges.entries()) {
      st.s.write(request(W.CMD_READ, off!, len!, i, df));
      const r = await structuredRead(st.rx, off!, len!);
      t.true(r.data.equals(image.subarray(off!, off! + len!)), `structured reply at ${off}+${len}${df ? ' (DF)' : ''}`);
      if (df) t.deepEqual(r.types, [W.REPLY_TYPE_OFFSET_DATA], 'DF: one data chunk');
      r.types.forEach((x) => holes.add(x));
    }
  }
  t.true(holes.has(W.REPLY_TYPE_OFFSET_HOLE), 'zeroed clusters go as holes');
  plain.s.destroy();

  // A client that asks for 800 MiB and reads none of it stalls only itself: the server
  // stays small and goes on answering the others.
  const flood = await go(s.sock);
  flood.s.pause();
  for (let i = 0; i < 800; i++) flood.s.write(request(W.CMD_READ, (i % 6) << 20, 1 << 20, i));
  await new Promise((r) => setTimeout(r, 1500));
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.proc.child.pid}/status`, 'utf8'))![1]) * 1024;
  t.true(rss < 400 << 20, `server RSS ${rss >> 20} MiB`);
  st.s.write(request(W.CMD_READ, 200 << 10, 100 << 10, 99));
  t.true((await structuredRead(st.rx, 200 << 10, 100 << 10)).data.equals(image.subarray(200 << 10, 300 << 10)), 'another client is served meanwhile');
  flood.s.destroy();
  st.s.destroy();
});

test('hostile clients: garbage, bad options, bad magic, a disconnect mid-write; the server stays up and the image is unchanged', async (t) => {
  const dir = tempDir(t);
  const f = await sampleQcow2(dir);
  const before = sha(f);
  const s = await tsemuNbd(t, dir, f, ['-f', 'qcow2', '-t']);

  // Garbage instead of client flags: dropped.
  let c = await rawConnect(s.sock);
  let rx = new Received(c);
  await rx.take(18);
  c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.true(await rx.closed(), 'unknown client flags close the connection');

  // Unknown option: NBD_REP_ERR_UNSUP; an option with a huge length is skipped; bad option magic drops.
  c = await rawConnect(s.sock);
  rx = new Received(c);
  await rx.take(18);
  c.write(Buffer.from([0, 0, 0, 1]));
  c.write(W.encodeOption(999, Buffer.from('whatever')));
  let h = (await rx.take(20))!;
  t.is(h.readUInt32BE(12), W.REP_ERR_UNSUP);
  await rx.take(h.readUInt32BE(16));
  c.write(W.encodeOption(W.OPT_LIST, Buffer.from('x')));
  h = (await rx.take(20))!;
  t.is(h.readUInt32BE(12), W.REP_ERR_INVALID, 'NBD_OPT_LIST with data');
  await rx.take(h.readUInt32BE(16));
  c.write(W.encodeOption(W.OPT_GO, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0])));
  h = (await rx.take(20))!;
  t.is(h.readUInt32BE(12), W.REP_ERR_INVALID, 'NBD_OPT_GO with a name length past the data');
  await rx.take(h.readUInt32BE(16));
  c.write(Buffer.alloc(16, 0x41));
  t.true(await rx.closed(), 'bad option magic closes the connection');

  // Transmission: a request with bad magic drops the connection.
  let g = await go(s.sock);
  g.s.write(Buffer.alloc(28, 0x5a));
  t.true(await g.rx.closed());

  // A write whose payload never fully arrives: nothing reaches the image.
  g = await go(s.sock);
  g.s.write(request(W.CMD_WRITE, 0, 1 << 20, 1));
  g.s.write(Buffer.alloc(300 << 10, 0xee));
  await new Promise((r) => setTimeout(r, 200));
  g.s.destroy();

  // An oversized write payload is a hard disconnect.
  g = await go(s.sock);
  g.s.write(request(W.CMD_WRITE, 0, 0x7fffffff, 2));
  t.true(await g.rx.closed());

  // Many reads in flight, then the client vanishes before reading the replies.
  g = await go(s.sock);
  for (let i = 0; i < 100; i++) g.s.write(request(W.CMD_READ, (i * 64 << 10) % (8 << 20), 64 << 10, i));
  g.s.destroy();

  // A client that asks for 800 MiB and reads none of it: the server stops reading its
  // requests instead of queueing the replies in memory.
  g = await go(s.sock);
  g.s.pause();
  for (let i = 0; i < 800; i++) g.s.write(request(W.CMD_READ, (i % 8) << 20, 1 << 20, i));
  await new Promise((r) => setTimeout(r, 1500));
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.proc.child.pid}/status`, 'utf8'))![1]) * 1024;
  t.true(rss < 400 << 20, `server RSS ${rss >> 20} MiB`);
  g.s.destroy();

  // Still serving, and the image is as it was.
  t.is(await must('nbdinfo', ['--size', s.uri]), `${8 << 20}\n`);
  t.is(s.proc.child.exitCode, null);
  s.proc.child.kill('SIGTERM');
  t.is((await s.proc.exited).code, 0);
  t.is(sha(f), before);
  t.regex(await must('qemu-img', ['check', f]), /No errors were found/);
});

test('TLS: --object tls-creds-x509 --tls-creds; nbdinfo, nbdcopy and tsemu-img connect with certificates, plain clients are refused', async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const f = sampleRaw(dir);
  const s = await tsemuNbd(t, dir, f, ['--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=server`, '--tls-creds', 'tls0', '-f', 'raw', '-r', '-t', '-e', '4']);
  const secure = `nbds+unix:///?socket=${s.sock}&tls-certificates=${pki}`;
  t.regex(await must('nbdinfo', [secure]), /newstyle-fixed with TLS, using structured packets/);
  const a = join(dir, 'a.raw');
  await must('nbdcopy', [secure, a]);
  t.is(sha(a), sha(f));
  const b = join(dir, 'b.raw');
  const r = await img(['convert', '-O', 'raw', secure, b]);
  t.is(r.code, 0, r.stderr);
  t.is(sha(b), sha(f));
  const plain = await tool('nbdinfo', [s.uri]);
  t.not(plain.code, 0);
  const ours = await img(['info', s.uri]);
  t.regex(ours.stderr, /requires TLS/);
  const bad = await run(t, process.execPath, [binPath('tsemu-nbd'), '--object', `tls-creds-x509,id=tls0,dir=${join(dir, 'none')},endpoint=server`, '--tls-creds', 'tls0', f]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^tsemu-nbd: Unable to access credentials .*ca-cert\.pem: No such file or directory\n$/);
});

test('NBD_OPT_EXPORT_NAME (with and without the 124 zero bytes), NBD_OPT_ABORT, an unknown name drops', async (t) => {
  const dir = tempDir(t);
  const f = sampleRaw(dir);
  const s = await tsemuNbd(t, dir, f, ['-f', 'raw', '-r', '-t', '-x', 'x']);
  const hello = async (clientFlags: number) => {
    const c = await rawConnect(s.sock);
    const rx = new Received(c);
    await rx.take(18);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(clientFlags);
    c.write(b);
    return { c, rx };
  };
  for (const [flags, len] of [[W.FLAG_C_FIXED_NEWSTYLE | W.FLAG_C_NO_ZEROES, 10], [W.FLAG_C_FIXED_NEWSTYLE, 134], [0, 134]] as const) {
    const { c, rx } = await hello(flags);
    c.write(W.encodeOption(W.OPT_EXPORT_NAME, Buffer.from('x')));
    const r = (await rx.take(len))!;
    t.is(Number(r.readBigUInt64BE(0)), 4 << 20);
    t.truthy(r.readUInt16BE(8) & W.FLAG_READ_ONLY);
    if (len === 134) t.true(r.subarray(10).every((x) => x === 0));
    c.write(request(W.CMD_READ, 0, 4096, 1));
    t.deepEqual(await simpleReply(rx), { error: 0, cookie: 1 });
    t.true((await rx.take(4096))!.equals(readFileSync(f).subarray(0, 4096)));
    c.write(request(W.CMD_DISC, 0, 0, 2));
    t.true(await rx.closed(), 'NBD_CMD_DISC closes the connection');
  }
  let { c, rx } = await hello(W.FLAG_C_FIXED_NEWSTYLE);
  c.write(W.encodeOption(W.OPT_ABORT));
  const h = (await rx.take(20))!;
  t.is(h.readUInt32BE(12), W.REP_ACK);
  t.true(await rx.closed());
  ({ c, rx } = await hello(W.FLAG_C_FIXED_NEWSTYLE));
  c.write(W.encodeOption(W.OPT_EXPORT_NAME, Buffer.from('nope')));
  t.true(await rx.closed(), 'an unknown name cannot be refused politely: the server hangs up');
  t.is(await must('nbdinfo', ['--size', s.uri.replace('/?', '/x?')]), `${4 << 20}\n`);
});
