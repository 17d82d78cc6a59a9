/**
 * The file protocol's reads: short ones are served from the page cache on the calling thread
 * (native preadCached, preadv2 with RWF_NOWAIT) and fall back to libuv's pool for what is
 * not cached; long ones go to the pool. Either way a read returns the file's bytes, and
 * zeros past its end.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../services/common/native.js';
import { FileProtocol } from '../../services/block/protocol/file.js';
import { tempDir } from '../helpers/procs.js';

test('preadCached: the bytes the page cache holds, 0 at the end, -1 where it cannot read (bad fd, a pipe)', (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'a.bin');
  const data = randomBytes(3 * 4096 + 100);
  writeFileSync(f, data);
  const fd = openSync(f, 'r');
  try {
    const b = new Uint8Array(8192);
    t.is(native().preadCached(fd, b, 1000), 8192);
    t.true(Buffer.from(b).equals(data.subarray(1000, 9192)));
    t.is(native().preadCached(fd, b, data.length - 50), 50, 'short at the end of the file');
    t.is(native().preadCached(fd, b, data.length), 0);
    const shared = new Uint8Array(new SharedArrayBuffer(4096), 512, 1024);
    t.is(native().preadCached(fd, shared, 7), 1024);
    t.true(Buffer.from(shared).equals(data.subarray(7, 1031)), 'into shared memory (guest RAM)');
  } finally {
    closeSync(fd);
  }
  t.is(native().preadCached(987654, new Uint8Array(16), 0), -1);
  t.throws(() => native().preadCached(0, new Uint8Array(16), -1), { instanceOf: RangeError });
});

test('FileProtocol.pread: short and long reads, across the end of the file, read the file', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'b.bin');
  const data = randomBytes(1 << 20);
  writeFileSync(f, data);
  const p = await FileProtocol.open(f, { readOnly: true });
  let s = 7;
  const r = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32; };
  for (let i = 0; i < 300; i++) {
    const len = 1 + Math.floor(r() * (i % 3 === 0 ? 300_000 : 70_000));
    const off = Math.floor(r() * (data.length + 20_000));
    const got = new Uint8Array(len).fill(0xaa);
    await p.pread(got, off);
    const want = Buffer.alloc(len);
    if (off < data.length) data.copy(want, 0, off, Math.min(data.length, off + len));
    if (!Buffer.from(got).equals(want)) t.fail(`read [${off}, +${len})`);
  }
  await p.close();
  t.pass();
});
