/**
 * Reading qcow2 images made by qemu-img and qemu-io, across versions, cluster sizes,
 * refcount widths, zero, compressed and discarded clusters and backing chains:
 * `tsemu-img convert` must produce the bytes `qemu-img convert` produces, and
 * `info` / `map` / `check` must print qemu-img's JSON for the same image.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/procs.js';
import { imgOk, must, qemuIo, tool } from './tools.js';
import { openImage } from '../../services/block/format/open.js';

interface Config {
  compat: '0.10' | '1.1';
  cluster: number;
  refcountBits: number;
}

const configs: Config[] = [];
for (const cluster of [512, 4096, 65536, 2 * 1024 * 1024]) {
  configs.push({ compat: '0.10', cluster, refcountBits: 16 });
  configs.push({ compat: '1.1', cluster, refcountBits: 16 });
}
for (const refcountBits of [1, 2, 4, 8, 32, 64]) configs.push({ compat: '1.1', cluster: refcountBits <= 4 ? 512 : 4096, refcountBits });

const KiB = 1024;

/** Base with data, zeroes, a compressed cluster and a discard; overlay with partial writes over it. */
async function makeChain(dir: string, c: Config): Promise<{ base: string; top: string; size: number }> {
  const cs = c.cluster;
  const size = Math.max(4 << 20, 4 * cs);
  const base = join(dir, 'base.qcow2');
  const top = join(dir, 'top.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `compat=${c.compat},cluster_size=${cs},refcount_bits=${c.refcountBits}`, base, String(size)]);
  await qemuIo(base, [
    'write -P 0x11 0 3k',
    'write -P 0x22 5000 70000',
    `write -c -P 0x33 2M ${cs}`,
    'write -P 0x44 1M 200k',
    'write -z 1100k 64k',
    `discard ${Math.ceil((1200 * KiB) / cs) * cs} ${cs}`,
    `write -P 0x55 ${size - 4096} 4096`,
  ]);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `compat=${c.compat},cluster_size=${cs},refcount_bits=${c.refcountBits}`, '-b', 'base.qcow2', '-F', 'qcow2', top]);
  await qemuIo(top, [
    'write -P 0x66 1000 2000',
    'write -z 1M 8k',
    `write -P 0x77 ${2 * 1024 * KiB + 100} 300`,
    'write -P 0x88 3M 100k',
  ]);
  return { base, top, size };
}

for (const c of configs) {
  test(`convert reads qemu's qcow2 byte for byte: compat=${c.compat} cluster_size=${c.cluster} refcount_bits=${c.refcountBits}`, async (t) => {
    const dir = tempDir(t);
    const { base, top } = await makeChain(dir, c);
    for (const image of [base, top]) {
      await must('qemu-img', ['convert', '-O', 'raw', image, join(dir, 'q.raw')]);
      await imgOk(['convert', '-O', 'raw', image, join(dir, 't.raw')]);
      t.true(readFileSync(join(dir, 'q.raw')).equals(readFileSync(join(dir, 't.raw'))), `${image}: raw bytes`);
      await imgOk(['convert', '-O', 'qcow2', '-o', `cluster_size=${c.cluster}`, image, join(dir, 't.qcow2')]);
      const check = await tool('qemu-img', ['check', join(dir, 't.qcow2')]);
      t.is(check.code, 0, check.stdout + check.stderr);
      const cmp = await tool('qemu-img', ['compare', image, join(dir, 't.qcow2')]);
      t.is(cmp.code, 0, cmp.stdout + cmp.stderr);
    }
    const q = (args: string[]) => must('qemu-img', args);
    const ts = (args: string[]) => imgOk(args);
    for (const image of [base, top]) {
      t.deepEqual(JSON.parse(await ts(['info', '--output=json', image])), JSON.parse(await q(['info', '--output=json', image])), 'info');
      t.deepEqual(JSON.parse(await ts(['map', '--output=json', image])), JSON.parse(await q(['map', '--output=json', image])), 'map');
      t.deepEqual(JSON.parse(await ts(['check', '--output=json', image])), JSON.parse(await q(['check', '--output=json', image])), 'check');
    }
  });
}

test('info keeps header extensions: feature table and bitmaps are listed and survive a write', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'bm.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', f, '1M']);
  await must('qemu-img', ['bitmap', '--add', f, 'b0']);
  await must('qemu-img', ['bitmap', '--add', '-g', '128k', f, 'b1']);
  await qemuIo(f, ['write -P 1 0 64k']);
  t.deepEqual(JSON.parse(await imgOk(['info', '--output=json', f])), JSON.parse(await must('qemu-img', ['info', '--output=json', f])));
  t.deepEqual(JSON.parse(await imgOk(['check', '--output=json', f])), JSON.parse(await must('qemu-img', ['check', '--output=json', f])));
});

test('info --backing-chain and human output', async (t) => {
  const dir = tempDir(t);
  const { top } = await makeChain(dir, { compat: '1.1', cluster: 65536, refcountBits: 16 });
  t.deepEqual(JSON.parse(await imgOk(['info', '--output=json', '--backing-chain', top])),
    JSON.parse(await must('qemu-img', ['info', '--output=json', '--backing-chain', top])));
  const human = await imgOk(['info', top]);
  const qhuman = await must('qemu-img', ['info', top]);
  t.is(human, qhuman);
});

test('unknown header extensions survive header rewrites (rebase -u, lazy dirty bit)', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'x.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', f, '1M']);
  const b = readFileSync(f);
  // Walk the extensions to their end marker and put an unknown one there.
  let off = b.readUInt32BE(100);
  while (b.readUInt32BE(off) !== 0) off += 8 + ((b.readUInt32BE(off + 4) + 7) & ~7);
  b.writeUInt32BE(0x7473656d, off);
  b.writeUInt32BE(5, off + 4);
  b.write('hello', off + 8);
  writeFileSync(f, b);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'base.qcow2'), '1M']);
  await imgOk(['rebase', '-u', '-b', 'base.qcow2', '-F', 'qcow2', f]);
  const image = await openImage(f, {});
  await image.write(new Uint8Array(512).fill(1), 0);
  await image.close();
  const { parseHeader } = await import('../../services/block/format/qcow2/header.js');
  const h = parseHeader(new Uint8Array(readFileSync(f).subarray(0, 65536)), 1 << 20);
  const ext = h.extensions.find((e) => e.type === 0x7473656d);
  t.truthy(ext, 'the unknown extension is still there');
  t.is(Buffer.from(ext!.data).toString(), 'hello');
  t.is(h.backingFile, 'base.qcow2');
  t.is(h.backingFormat, 'qcow2');
  t.truthy(h.extensions.find((e) => e.type === 0x6803f857), 'the feature name table too');
  const check = await tool('qemu-img', ['check', f]);
  t.is(check.code, 0, check.stdout + check.stderr);
});
