/**
 * The file protocol's native writer thread (writeInOrder, native/src/file-writer.cc): writes
 * reach the file in the order they were called even when none waits for the one before,
 * errors come back as BlockErrors with the errno, and convert's raw path through it gives
 * the same bytes and holes as qemu-img.
 */
import test from 'ava';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileProtocol } from '../../services/block/protocol/file.js';
import { BlockError } from '../../services/block/format/types.js';
import { tempDir } from '../helpers/procs.js';
import { imgOk, must } from './tools.js';

test('queued writes over the same range land in call order', async (t) => {
  const f = join(tempDir(t), 'o.raw');
  writeFileSync(f, '');
  const p = await FileProtocol.open(f, {});
  t.true(p.writeInOrder());
  const writes: Promise<void>[] = [];
  for (let i = 1; i <= 200; i++) {
    // alternate sizes so a reordered pair would leave a mixed tail
    writes.push(p.pwrite(new Uint8Array(i % 2 ? 256 << 10 : 64 << 10).fill(i), (i % 3) * 4096));
  }
  await Promise.all(writes);
  await p.close();
  const got = readFileSync(f);
  // what a sequential run of the same writes leaves
  const want = Buffer.alloc(got.length);
  for (let i = 1; i <= 200; i++) want.fill(i, (i % 3) * 4096, (i % 3) * 4096 + (i % 2 ? 256 << 10 : 64 << 10));
  t.true(got.equals(want));
});

test('a failed write rejects with its errno; the writer still closes', async (t) => {
  const p = await FileProtocol.open('/dev/full', {});
  t.true(p.writeInOrder());
  const e = await t.throwsAsync(p.pwrite(new Uint8Array(4096).fill(1), 0), { instanceOf: BlockError });
  t.is(e!.errno, 'ENOSPC');
  t.regex(e!.message, /Could not write '\/dev\/full': No space left on device/);
  await p.close();
});

test('convert -O raw through the writer: same bytes and holes as qemu-img', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src.raw');
  const mib = 1 << 20;
  const b = Buffer.alloc(9 * mib);
  for (let i = 0; i < b.length; i += 4096) if ((i / 4096) % 7 < 4) b.fill((i / 4096) & 0xff || 1, i, i + 4096);
  b.fill(0, 2 * mib, 5 * mib); // zero runs across chunk edges
  b.fill(3, 8 * mib + 100, 8 * mib + 200);
  writeFileSync(src, b);
  await imgOk(['convert', '-O', 'raw', src, join(dir, 't.raw')]);
  await must('qemu-img', ['convert', '-O', 'raw', src, join(dir, 'q.raw')]);
  t.true(readFileSync(join(dir, 't.raw')).equals(b));
  t.true(readFileSync(join(dir, 'q.raw')).equals(b));
  t.is(statSync(join(dir, 't.raw')).blocks, statSync(join(dir, 'q.raw')).blocks, 'the same blocks allocated (holes where zeros)');
});
