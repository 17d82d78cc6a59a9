/**
 * The NBD client (protocol/nbd.ts) against real servers: tsemu-img convert/info/map read
 * exports of nbdkit and qemu-nbd exactly as qemu-img does; writes, zeroes and trims land;
 * QEMU's spellings (nbd://HOST:PORT/NAME, nbd:HOST:PORT:exportname=, nbd:unix:PATH) reach
 * the same export; a server's block size limits are obeyed (nbdkit's blocksize-policy
 * filter fails any request that breaks them); many requests run at once; a server that goes
 * away and comes back within reconnect-delay loses no request; TLS with x509 certificates.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sleep, spawnChild, tempDir } from '../helpers/procs.js';
import { img, imgOk, must, qemuIo, rng } from './tools.js';
import { makePki, nbdkit, nbdUri, qemuNbd } from './nbd-servers.js';
import { NbdProtocol } from '../../services/block/protocol/nbd.js';
import { openImage } from '../../services/block/format/open.js';
import { BlockError } from '../../services/block/format/types.js';
import { parseBlockOptions } from '../../services/cpu/board/virtio-pci-block.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function randomBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  const r = rng(seed);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((r() * 2 ** 32) >>> 0, i);
  return b;
}

/** 8 MiB of random data with a zero megabyte, as a raw file. */
function sampleRaw(dir: string, name = 'src.raw'): string {
  const b = randomBytes(8 << 20, 3);
  b.fill(0, 2 << 20, 3 << 20);
  const f = join(dir, name);
  writeFileSync(f, b);
  return f;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('tsemu-img convert reads nbdkit and qemu-nbd exports exactly as qemu-img does', async (t) => {
  const dir = tempDir(t);
  const src = sampleRaw(dir);
  // nbdkit's memory plugin, filled by nbdcopy; nbdkit's file plugin; qemu-nbd serving a qcow2.
  const mem = await nbdkit(t, dir, ['memory', '8M']);
  await must('nbdcopy', [src, mem.uri]);
  const file = await nbdkit(t, dir, ['file', src]);
  const q = join(dir, 'disk.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', q, '8M']);
  await qemuIo(q, ['write -P 0x11 0 1M', 'write -z 2M 1M', 'write -P 0x22 5M 64k', 'write -P 0x33 8191k 1k']);
  const qn = await qemuNbd(t, dir, q, ['-f', 'qcow2', '-r', '-t']);
  for (const [what, uri] of [['nbdkit memory', mem.uri], ['nbdkit file', file.uri], ['qemu-nbd qcow2', qn.uri]] as const) {
    const ours = join(dir, 'ours.raw');
    const theirs = join(dir, 'theirs.raw');
    await imgOk(['convert', '-O', 'raw', uri, ours]);
    await must('qemu-img', ['convert', '-O', 'raw', uri, theirs]);
    t.is(sha(readFileSync(ours)), sha(readFileSync(theirs)), what);
  }
  t.is(sha(readFileSync(join(dir, 'ours.raw'))), sha(readFileSync(join(dir, 'theirs.raw'))));
  await imgOk(['convert', '-O', 'raw', mem.uri, join(dir, 'mem.raw')]);
  t.is(sha(readFileSync(join(dir, 'mem.raw'))), sha(readFileSync(src)));
});

test('older servers: no structured replies, plain newstyle (NBD_OPT_EXPORT_NAME), oldstyle', async (t) => {
  const dir = tempDir(t);
  const src = sampleRaw(dir);
  const want = sha(readFileSync(src));
  for (const opts of [['--no-sr'], ['--mask-handshake=0'], ['-o']]) {
    const k = await nbdkit(t, dir, [...opts, 'file', src]);
    const out = join(dir, 'out.raw');
    await imgOk(['convert', '-O', 'raw', k.uri, out]);
    t.is(sha(readFileSync(out)), want, opts.join(' '));
    // without base:allocation everything is data
    t.is(JSON.parse(await imgOk(['map', '--output=json', k.uri])).length, 1);
    k.proc.child.kill();
  }
});

test('tsemu-img info and map on nbd URLs agree with qemu-img', async (t) => {
  const dir = tempDir(t);
  const q = join(dir, 'disk.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', q, '8M']);
  await qemuIo(q, ['write -P 0x11 0 1M', 'write -z 2M 1M', 'write -P 0x22 5M 64k']);
  const qn = await qemuNbd(t, dir, q, ['-f', 'qcow2', '-r', '-t', '-e', '2']);
  const ours = await imgOk(['map', '--output=json', qn.uri]);
  const theirs = await must('qemu-img', ['map', '--output=json', qn.uri]);
  t.deepEqual(JSON.parse(ours), JSON.parse(theirs));
  const info = JSON.parse(await imgOk(['info', '--output=json', qn.uri])) as Record<string, unknown>;
  t.is(info['virtual-size'], 8 << 20);
  t.is(info['format'], 'raw');
  t.regex(await imgOk(['info', qn.uri]), /virtual size: 8 MiB \(8388608 bytes\)/);
});

test('writes, zeroes and trims through the client land in the export (qemu-nbd, raw)', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'target.raw');
  await must('qemu-img', ['create', '-q', '-f', 'raw', f, '8M']);
  writeFileSync(f, Buffer.alloc(8 << 20, 0x77));
  const qn = await qemuNbd(t, dir, f, ['-f', 'raw', '-t', '-e', '2']);
  const src = sampleRaw(dir);
  // convert -n into the export: the source's zero megabyte must be written as zeros too
  await imgOk(['convert', '-n', '-O', 'raw', src, qn.uri]);
  t.regex(await must('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, qn.uri]), /Images are identical/);
  const p = await NbdProtocol.open(qn.uri);
  await p.writeZeroes(4096, 8192, false);
  await p.writeZeroes(1 << 20, 1 << 20, true);
  await p.discard(6 << 20, 1 << 20);
  await p.pwrite(Buffer.alloc(100, 0xab), 12345); // unaligned: the server allows it (block size 1)
  await p.pwrite(new Uint8Array(new SharedArrayBuffer(8192)).fill(0xcd).subarray(4096), 7 << 20); // from shared memory, as guest RAM
  await p.flush();
  await p.close();
  const b = readFileSync(f);
  const s = readFileSync(src);
  t.true(b.subarray(4096, 12288).every((x) => x === 0));
  t.true(b.subarray(1 << 20, 2 << 20).every((x) => x === 0));
  t.true(b.subarray(12345, 12445).every((x) => x === 0xab));
  t.true(b.subarray(7 << 20, (7 << 20) + 4096).every((x) => x === 0xcd));
  t.true(b.subarray(12445, 1 << 20).equals(s.subarray(12445, 1 << 20)));
  t.true(b.subarray(2 << 20, 6 << 20).equals(s.subarray(2 << 20, 6 << 20)));
});

test('a read-only export: EROFS before anything is sent; the size cannot change', async (t) => {
  const dir = tempDir(t);
  const src = sampleRaw(dir);
  const qn = await qemuNbd(t, dir, src, ['-f', 'raw', '-r', '-t']);
  const image = await openImage(qn.uri, { readOnly: false });
  t.true(image.readOnly);
  const e = await t.throwsAsync(image.write(new Uint8Array(512), 0), { instanceOf: BlockError });
  t.is(e!.errno, 'EROFS');
  await image.close();
  const r = await img(['resize', qn.uri, '16M']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tsemu-img: /);
});

test('QEMU\'s spellings of the same export: nbd://HOST:PORT/NAME, nbd:HOST:PORT:exportname=, nbd:unix:PATH:exportname=', async (t) => {
  const dir = tempDir(t);
  const src = sampleRaw(dir);
  const want = sha(readFileSync(src));
  const port = await freePort();
  const tcp = spawnChild(t, ['-f', 'raw', '-r', '-t', '-e', '4', '-x', 'the disk', '-b', '127.0.0.1', '-p', String(port), src], { command: 'qemu-nbd' });
  const unix = await qemuNbd(t, dir, src, ['-f', 'raw', '-r', '-t', '-e', '4', '-x', 'the disk']);
  await sleep(300);
  for (const uri of [`nbd://127.0.0.1:${port}/the%20disk`, `nbd:127.0.0.1:${port}:exportname=the disk`, `nbd:unix:${unix.sock}:exportname=the disk`, nbdUri(unix.sock, 'the disk')]) {
    const out = join(dir, 'out.raw');
    await imgOk(['convert', '-O', 'raw', uri, out]);
    t.is(sha(readFileSync(out)), want, uri);
  }
  const r = await img(['info', `nbd://127.0.0.1:${port}/other`]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tsemu-img: Could not open 'nbd:\/\/127\.0\.0\.1:\d+\/other': .*export 'other' not available/);
  const none = await img(['info', 'nbd+unix:///?socket=/nonexistent/sock']);
  t.regex(none.stderr, /^tsemu-img: Could not open .*Failed to connect .*ENOENT|No such file/);
  tcp.child.kill();
});

test('the server\'s block size limits are obeyed: unaligned I/O is widened, big I/O split', async (t) => {
  const dir = tempDir(t);
  // Any request not 4 KiB aligned or over 64 KiB fails with EINVAL.
  const k = await nbdkit(t, dir, ['--filter=blocksize-policy', 'memory', '1M', 'blocksize-minimum=4096', 'blocksize-preferred=4096',
    'blocksize-maximum=65536', 'blocksize-error-policy=error']);
  const p = await NbdProtocol.open(k.uri);
  const data = randomBytes(1 << 20, 9);
  await p.pwrite(data, 0); // 16 requests of 64 KiB
  await p.pwrite(data.subarray(100, 5100), 7000); // read-modify-write of two blocks
  const want = Buffer.from(data);
  data.copy(want, 7000, 100, 5100);
  const back = new Uint8Array(1 << 20);
  await p.pread(back, 0);
  t.is(sha(back), sha(want));
  const piece = new Uint8Array(3000);
  await p.pread(piece, 123457);
  t.deepEqual(Buffer.from(piece), want.subarray(123457, 126457));
  await p.writeZeroes(10000, 20000, false); // head and tail by read-modify-write, middle by WRITE_ZEROES
  want.fill(0, 10000, 30000);
  await p.pread(back, 0);
  t.is(sha(back), sha(want));
  await p.close();
});

test('many requests in flight, each answered with its own data', async (t) => {
  const dir = tempDir(t);
  const src = sampleRaw(dir);
  const b = readFileSync(src);
  const qn = await qemuNbd(t, dir, src, ['-f', 'raw', '-r', '-t']);
  const p = await NbdProtocol.open(qn.uri);
  const r = rng(5);
  const reqs = Array.from({ length: 300 }, () => {
    const len = 512 * (1 + Math.floor(r() * 128));
    const off = 512 * Math.floor(r() * ((b.length - len) / 512));
    return { off, buf: new Uint8Array(len) };
  });
  await Promise.all(reqs.map((q) => p.pread(q.buf, q.off)));
  for (const q of reqs) if (sha(q.buf) !== sha(b.subarray(q.off, q.off + q.buf.length))) t.fail(`read at ${q.off}`);
  // a read straight into shared memory (as guest RAM is)
  const shared = new Uint8Array(new SharedArrayBuffer(1 << 20));
  await p.pread(shared, 3 << 20);
  t.is(sha(shared), sha(b.subarray(3 << 20, 4 << 20)));
  // reading past the end gives zeros for the missing part
  const tail = new Uint8Array(8192).fill(1);
  await p.pread(tail, b.length - 4096);
  t.deepEqual(Buffer.from(tail.subarray(0, 4096)), b.subarray(b.length - 4096));
  t.true(tail.subarray(4096).every((x) => x === 0));
  await p.close();
});

test('reconnect-delay: requests survive a server restart; past the delay they fail with EIO', async (t) => {
  const dir = tempDir(t);
  const src = sampleRaw(dir);
  const b = readFileSync(src);
  const qn = await qemuNbd(t, dir, src, ['-f', 'raw', '-t', '-e', '4']);
  const sock = qn.sock;
  const p = await NbdProtocol.open(`${qn.uri}&reconnect-delay=10`);
  const once = await NbdProtocol.open(qn.uri);
  qn.proc.child.kill('SIGKILL');
  await qn.proc.exited;
  const buf = new Uint8Array(1 << 20);
  const pending = p.pread(buf, 1 << 20);
  const write = p.pwrite(Buffer.alloc(4096, 0x5c), 0);
  await sleep(500);
  // Without reconnect-delay, a request fails at once.
  const e = await t.throwsAsync(once.pread(new Uint8Array(512), 0), { instanceOf: BlockError });
  t.is(e!.errno, 'EIO');
  await once.close();
  // The server comes back on the same socket: the waiting requests go through.
  const again = spawnChild(t, ['-f', 'raw', '-t', '-e', '4', '-k', sock, src], { command: 'qemu-nbd' });
  await pending;
  await write;
  t.true(Buffer.from(buf).equals(b.subarray(1 << 20, 2 << 20)));
  t.true(readFileSync(src).subarray(0, 4096).every((x) => x === 0x5c));
  // Gone for longer than the delay: EIO.
  const short = await NbdProtocol.open(`${qn.uri}&reconnect-delay=0.5`);
  again.child.kill('SIGKILL');
  await again.exited;
  const t0 = Date.now();
  const late = await t.throwsAsync(short.pread(new Uint8Array(4096), 0), { instanceOf: BlockError });
  t.is(late!.errno, 'EIO');
  t.true(Date.now() - t0 < 5000);
  await short.close();
  await p.close();
});

test('TLS: nbds+unix with x509 certificates (nbdkit --tls=require); without credentials a clear error', async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const src = sampleRaw(dir);
  const k = await nbdkit(t, dir, ['--tls=require', `--tls-certificates=${pki}`, '--tls-verify-peer', 'file', src]);
  const out = join(dir, 'out.raw');
  await imgOk(['convert', '-O', 'raw', `nbds+unix:///?socket=${k.sock}&tls-certificates=${pki}&tls-hostname=localhost`, out]);
  t.is(sha(readFileSync(out)), sha(readFileSync(src)));
  const plain = await img(['info', k.uri]);
  t.is(plain.code, 1);
  t.regex(plain.stderr, /requires TLS/);
});

test('-blockdev driver=nbd (inet and unix, as a protocol node or file.driver=nbd) names the export the block service opens', async (t) => {
  const dir = tempDir(t);
  const src = sampleRaw(dir);
  const want = sha(readFileSync(src).subarray(0, 1 << 20));
  const port = await freePort();
  const tcp = spawnChild(t, ['-f', 'raw', '-r', '-t', '-e', '4', '-x', 'd 1', '-b', '127.0.0.1', '-p', String(port), src], { command: 'qemu-nbd' });
  const unix = await qemuNbd(t, dir, src, ['-f', 'raw', '-r', '-t', '-e', '4', '-x', 'd 1']);
  await sleep(300);
  const devices = parseBlockOptions([], [
    `driver=nbd,node-name=n0,server.type=inet,server.host=127.0.0.1,server.port=${port},export=d 1,reconnect-delay=5`,
    'driver=raw,node-name=r0,file=n0',
    `driver=raw,node-name=r1,file.driver=nbd,file.server.type=unix,file.server.path=${unix.sock},file.export=d 1`,
  ], ['virtio-blk-pci,drive=n0', 'virtio-blk-pci,drive=r0', 'virtio-blk-pci,drive=r1']);
  t.is(devices.length, 3);
  for (const d of devices) {
    t.is(d.format, 'raw');
    const image = await openImage(d.file, { format: d.format, readOnly: true });
    const b = new Uint8Array(1 << 20);
    await image.read(b, 0);
    t.is(sha(b), want, d.file);
    await image.close();
  }
  tcp.child.kill();
});

test('a qcow2 image made and filled over NBD (tsemu-img create/convert -n on an export) is a clean qcow2 file', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'backing-store.raw');
  await must('qemu-img', ['create', '-q', '-f', 'raw', f, '32M']);
  const qn = await qemuNbd(t, dir, f, ['-f', 'raw', '-t']);
  const src = sampleRaw(dir);
  await imgOk(['create', '-q', '-f', 'qcow2', qn.uri, '8M']);
  await imgOk(['convert', '-n', '-O', 'qcow2', src, qn.uri]);
  t.regex(await must('qemu-img', ['check', '-U', f]), /No errors were found/);
  t.regex(await must('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'qcow2', src, f]), /Images are identical/);
  const grow = await img(['resize', '-f', 'raw', qn.uri, '64M']);
  t.regex(grow.stderr, /Cannot grow NBD nodes/);
});
