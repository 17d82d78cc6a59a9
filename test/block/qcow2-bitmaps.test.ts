/**
 * Persistent dirty bitmaps stay intact and true: after tsemu writes to an image with
 * enabled ("auto") and disabled bitmaps, qemu-img check is clean, the autoclear bit is kept,
 * and qemu-nbd exports each bitmap with exactly the bits qemu would have set for the same writes.
 */
import test from 'ava';
import { join } from 'node:path';
import { openImage } from '../../services/block/format/open.js';
import { tempDir } from '../helpers/procs.js';
import { must, qemuIo, tool } from './tools.js';

async function bitmapMap(file: string, bitmap: string, sock: string): Promise<string> {
  await must('qemu-nbd', ['--fork', '-r', '-B', bitmap, '-f', 'qcow2', '-k', sock, file]);
  return must('nbdinfo', [`--map=qemu:dirty-bitmap:${bitmap}`, `nbd+unix:///?socket=${sock}`]);
}

async function withBitmaps(file: string): Promise<void> {
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', file, '4M']);
  await must('qemu-img', ['bitmap', '--add', file, 'b0']);
  await must('qemu-img', ['bitmap', '--add', '-g', '128k', file, 'b1']);
  await must('qemu-img', ['bitmap', '--add', '--disable', file, 'b2']);
  await qemuIo(file, ['write 0 64k']);
}

test('enabled bitmaps record tsemu writes exactly as qemu records them', async (t) => {
  const dir = tempDir(t);
  const ours = join(dir, 'ours.qcow2');
  const ref = join(dir, 'ref.qcow2');
  await withBitmaps(ours);
  await withBitmaps(ref);
  const img = await openImage(ours, {});
  await img.write(new Uint8Array(4096).fill(3), 196608);
  await img.writeZeroes(2 << 20, 300000, false);
  await img.discard(3 << 20, 4096);
  await img.close();
  await qemuIo(ref, ['write -P 3 196608 4096', 'write -z 2097152 300000', 'discard 3145728 4096']);
  const check = await tool('qemu-img', ['check', ours]);
  t.is(check.code, 0, check.stdout + check.stderr);
  t.notRegex(check.stderr, /lacking bitmap support|inconsistent/);
  for (const b of ['b0', 'b1', 'b2']) {
    t.is(await bitmapMap(ours, b, join(dir, `o-${b}.sock`)), await bitmapMap(ref, b, join(dir, `r-${b}.sock`)), b);
  }
  const info = JSON.parse(await must('qemu-img', ['info', '--output=json', ours]));
  t.deepEqual(info['format-specific'].data.bitmaps.map((b: { flags: string[] }) => b.flags), [['auto'], ['auto'], []]);
});
