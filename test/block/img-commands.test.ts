/**
 * tsemu-img commands against qemu-img as the oracle: snapshot (-c -l -a -d, and images whose
 * snapshots qemu made), convert -c / -l / -p, compare, resize, rebase, commit, bench, check -r.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openImage } from '../../services/block/format/open.js';
import { binPath, tempDir } from '../helpers/procs.js';
import { img, imgOk, must, qemuIo, tool } from './tools.js';
import { workload } from './workload.js';

const raw = (dir: string, name: string) => readFileSync(join(dir, name));

async function qemuCheckClean(t: { is: (a: unknown, b: unknown, m?: string) => void }, f: string, what: string) {
  const r = await tool('qemu-img', ['check', f]);
  t.is(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
}

test('snapshot -c/-l/-a/-d: qemu-img reads each state and checks the image clean', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 's.qcow2');
  await imgOk(['create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '4M']);
  await qemuIo(f, ['write -P 1 0 1M']);
  await imgOk(['snapshot', '-c', 'first', f]);
  await qemuCheckClean(t, f, 'after -c first');
  await qemuIo(f, ['write -P 2 512k 1M']);
  await imgOk(['snapshot', '-c', 'second', f]);
  await qemuIo(f, ['write -P 3 0 100k']);
  await qemuCheckClean(t, f, 'after writes over two snapshots');
  const list = await imgOk(['snapshot', '-l', f]);
  t.is(list, await must('qemu-img', ['snapshot', '-l', f]));
  t.deepEqual(JSON.parse(await imgOk(['info', '--output=json', f])), JSON.parse(await must('qemu-img', ['info', '--output=json', f])));
  for (const s of ['first', 'second']) {
    await imgOk(['convert', '-l', `snapshot.name=${s}`, '-O', 'raw', f, join(dir, `t-${s}.raw`)]);
    await must('qemu-img', ['convert', '-l', `snapshot.name=${s}`, '-O', 'raw', f, join(dir, `q-${s}.raw`)]);
    t.true(raw(dir, `t-${s}.raw`).equals(raw(dir, `q-${s}.raw`)), `convert -l ${s}`);
  }
  await imgOk(['snapshot', '-a', 'first', f]);
  await qemuCheckClean(t, f, 'after -a first');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'applied.raw')]);
  t.true(raw(dir, 'applied.raw').equals(raw(dir, 'q-first.raw')), 'apply restores the snapshot');
  await imgOk(['snapshot', '-d', 'first', f]);
  await qemuCheckClean(t, f, 'after -d first');
  await imgOk(['snapshot', '-d', '2', f]);
  await qemuCheckClean(t, f, 'after -d 2 (by id)');
  t.is(await imgOk(['snapshot', '-l', f]), '');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'end.raw')]);
  t.true(raw(dir, 'end.raw').equals(raw(dir, 'q-first.raw')));
  const missing = await img(['snapshot', '-d', 'nope', f]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^tsemu-img: Could not delete snapshot 'nope'/);
});

test('writes over snapshots qemu made copy on write; qemu-img check stays clean', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'q.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '8M']);
  await qemuIo(f, ['write -P 1 0 3M', 'write -z 4M 1M']);
  await must('qemu-img', ['snapshot', '-c', 'qs', f]);
  await must('qemu-img', ['convert', '-l', 'qs', '-O', 'raw', f, join(dir, 'before.raw')]);
  const image = await openImage(f, {});
  const model = new Uint8Array(image.size);
  await image.read(model, 0);
  await workload(image, model, { ops: 200, seed: 11 });
  await image.close();
  await qemuCheckClean(t, f, 'after workload');
  await must('qemu-img', ['convert', '-l', 'qs', '-O', 'raw', f, join(dir, 'after.raw')]);
  t.true(raw(dir, 'before.raw').equals(raw(dir, 'after.raw')), 'the snapshot did not change');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'now.raw')]);
  t.true(Buffer.from(model).equals(raw(dir, 'now.raw')), 'the active image reads what was written');
  await must('qemu-img', ['snapshot', '-d', 'qs', f]);
  await qemuCheckClean(t, f, 'after qemu deletes its snapshot');
});

test('convert -c writes compressed clusters qemu reads; map JSON matches; -p prints progress', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', src, '8M']);
  const text = Buffer.from('tsemu compressed cluster text '.repeat(40000)).subarray(0, 3 << 20);
  writeFileSync(join(dir, 'pattern.raw'), text);
  await must('qemu-img', ['dd', '-f', 'raw', '-O', 'qcow2', `if=${join(dir, 'pattern.raw')}`, `of=${src}`, 'bs=1M', 'count=3', 'conv=notrunc']).catch(() => '');
  await qemuIo(src, ['write -P 0x42 5M 64k', 'write -z 6M 1M']);
  const r = await img(['convert', '-p', '-c', '-O', 'qcow2', src, join(dir, 'c.qcow2')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /\(100\.00\/100%\)\n$/);
  await qemuCheckClean(t, join(dir, 'c.qcow2'), 'compressed image');
  t.is((await tool('qemu-img', ['compare', src, join(dir, 'c.qcow2')])).code, 0);
  const check = JSON.parse(await must('qemu-img', ['check', '--output=json', join(dir, 'c.qcow2')]));
  t.true(check['compressed-clusters'] > 0, 'clusters are compressed');
  t.is(await imgOk(['map', '--output=json', join(dir, 'c.qcow2')]), await must('qemu-img', ['map', '--output=json', join(dir, 'c.qcow2')]));
  await must('qemu-img', ['convert', '-O', 'raw', join(dir, 'c.qcow2'), join(dir, 'q.raw')]);
  await imgOk(['convert', '-O', 'raw', join(dir, 'c.qcow2'), join(dir, 't.raw')]);
  t.true(raw(dir, 'q.raw').equals(raw(dir, 't.raw')));
});

test('compare: identical, different (offset and status 1), size mismatch with zero tail', async (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a.qcow2');
  const b = join(dir, 'b.raw');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', a, '4M']);
  await qemuIo(a, ['write -P 3 1M 64k']);
  await must('qemu-img', ['convert', '-O', 'raw', a, b]);
  let r = await img(['compare', a, b]);
  t.is(r.code, 0);
  t.is(r.stdout, 'Images are identical.\n');
  await qemuIo(b, ['write -P 4 1100k 512'], 'raw');
  r = await img(['compare', a, b]);
  const q = await tool('qemu-img', ['compare', a, b]);
  t.is(r.code, 1);
  t.is(r.stdout, q.stdout);
  await must('qemu-img', ['resize', '-q', '-f', 'raw', b, '6M']);
  await qemuIo(b, ['write -P 3 1100k 512'], 'raw');
  await must('qemu-img', ['convert', '-O', 'raw', a, b]);
  await must('qemu-img', ['resize', '-q', '-f', 'raw', b, '6M']);
  r = await img(['compare', a, b]);
  t.is(r.code, 0);
  t.is(r.stdout, (await tool('qemu-img', ['compare', a, b])).stdout);
  t.is((await img(['compare', a, join(dir, 'missing')])).code, 2);
});

test('resize grows and (with --shrink) shrinks; qemu-img check stays clean', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'r.qcow2');
  await imgOk(['create', '-f', 'qcow2', '-o', 'cluster_size=512', f, '1M']);
  await qemuIo(f, ['write -P 1 0 1M']);
  t.is(await imgOk(['resize', f, '+64M']), 'Image resized.\n');
  await qemuCheckClean(t, f, 'grown (L1 moved)');
  t.is(JSON.parse(await must('qemu-img', ['info', '--output=json', f]))['virtual-size'], 65 << 20);
  await qemuIo(f, ['write -P 2 60M 1M']);
  const refuse = await img(['resize', f, '512k']);
  t.is(refuse.code, 1);
  t.regex(refuse.stderr, /Use the --shrink option/);
  await imgOk(['resize', '--shrink', f, '512k']);
  await qemuCheckClean(t, f, 'shrunk');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'r.raw')]);
  t.true(raw(dir, 'r.raw').equals(Buffer.alloc(512 << 10, 1)));
});

test('rebase keeps the content (safe mode), -u only rewrites the name, -b "" flattens', async (t) => {
  const dir = tempDir(t);
  const [b1, b2, top] = ['b1.qcow2', 'b2.qcow2', 'top.qcow2'].map((n) => join(dir, n)) as [string, string, string];
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', b1, '4M']);
  await qemuIo(b1, ['write -P 1 0 2M']);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', b2, '4M']);
  await qemuIo(b2, ['write -P 1 0 1M', 'write -P 9 3M 1M']);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'b1.qcow2', '-F', 'qcow2', top]);
  await qemuIo(top, ['write -P 7 100k 10k']);
  await must('qemu-img', ['convert', '-O', 'raw', top, join(dir, 'before.raw')]);
  await imgOk(['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', top]);
  await qemuCheckClean(t, top, 'rebased');
  const info = JSON.parse(await must('qemu-img', ['info', '--output=json', top]));
  t.is(info['backing-filename'], 'b2.qcow2');
  t.is(info['backing-filename-format'], 'qcow2');
  await must('qemu-img', ['convert', '-O', 'raw', top, join(dir, 'after.raw')]);
  t.true(raw(dir, 'before.raw').equals(raw(dir, 'after.raw')));
  await imgOk(['rebase', '-b', '', top]);
  t.is(JSON.parse(await must('qemu-img', ['info', '--output=json', top]))['backing-filename'], undefined);
  await must('qemu-img', ['convert', '-O', 'raw', top, join(dir, 'flat.raw')]);
  t.true(raw(dir, 'before.raw').equals(raw(dir, 'flat.raw')));
  await imgOk(['rebase', '-u', '-b', 'b1.qcow2', '-F', 'qcow2', top]);
  t.is(JSON.parse(await must('qemu-img', ['info', '--output=json', top]))['backing-filename'], 'b1.qcow2');
  await qemuCheckClean(t, top, 'rebase -u');
});

test('commit writes the overlay into its backing file and empties it', async (t) => {
  const dir = tempDir(t);
  const base = join(dir, 'base.qcow2');
  const top = join(dir, 'top.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', base, '4M']);
  await qemuIo(base, ['write -P 1 0 2M']);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top]);
  await qemuIo(top, ['write -P 7 100k 10k', 'write -z 1M 64k', 'write -P 8 3M 4k']);
  await must('qemu-img', ['convert', '-O', 'raw', top, join(dir, 'before.raw')]);
  t.is(await imgOk(['commit', top]), 'Image committed.\n');
  await qemuCheckClean(t, base, 'base');
  await qemuCheckClean(t, top, 'top');
  await must('qemu-img', ['convert', '-O', 'raw', base, join(dir, 'base.raw')]);
  t.true(raw(dir, 'before.raw').equals(raw(dir, 'base.raw')));
  const map = JSON.parse(await must('qemu-img', ['map', '--output=json', top])) as Array<{ depth: number }>;
  t.true(map.every((e) => e.depth > 0), 'the overlay is empty');
});

test('bench prints what qemu-img bench prints and leaves the image clean', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'b.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', f, '16M']);
  for (const w of [[], ['-w']]) {
    const args = ['bench', ...w, '-c', '3000', '-d', '16', '-s', '4096', f];
    const ours = await imgOk(args);
    const theirs = await must('qemu-img', args);
    t.is(ours.split('\n')[0], theirs.split('\n')[0]);
    t.regex(ours.split('\n')[1]!, /^Run completed in \d+\.\d{3} seconds\.$/);
    t.log(`tsemu-img ${args.join(' ')}: ${ours.split('\n')[1]} / qemu-img: ${theirs.split('\n')[1]}`);
  }
  await qemuCheckClean(t, f, 'after bench -w');
});

test('check -r leaks repairs leaked clusters; exit statuses follow qemu-img', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'l.qcow2');
  await imgOk(['create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '4M']);
  await qemuIo(f, ['write -P 1 0 64k']);
  // Leak: raise the refcount of a used data cluster... by writing a second copy of the
  // refcount entry for an unused cluster inside the file: append a cluster and count it.
  const image = await openImage(f, {});
  const q = image as unknown as { refcounts: { alloc(n: number): Promise<number> }; flush(): Promise<void>; protocol: { pwrite(b: Uint8Array, o: number): Promise<void> } };
  const at = await q.refcounts.alloc(2);
  await q.protocol.pwrite(new Uint8Array(8192), at);
  await image.close();
  const before = await tool('qemu-img', ['check', f]);
  t.is(before.code, 3, before.stdout);
  const ours = await img(['check', f]);
  t.is(ours.code, 3);
  t.is(ours.stdout, before.stdout);
  t.deepEqual(JSON.parse((await img(['check', '--output=json', f])).stdout), JSON.parse((await tool('qemu-img', ['check', '--output=json', f])).stdout));
  const fix = await img(['check', '-r', 'leaks', f]);
  t.is(fix.code, 0, fix.stdout + fix.stderr);
  t.regex(fix.stdout, /2 leaked clusters\n/);
  await qemuCheckClean(t, f, 'repaired');
});

test('check -r all repairs a refcount that is too low, with qemu-img\'s report', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'c.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', f, '1M']);
  await qemuIo(f, ['write -P 1 0 64k']);
  const b = readFileSync(f);
  b.writeUInt16BE(0, 0x20000 + 5 * 2); // the data cluster's refcount: 1 -> 0
  writeFileSync(f, b);
  const before = await img(['check', f]);
  const q = await tool('qemu-img', ['check', f]);
  t.is(before.code, 2);
  t.is(before.stdout, q.stdout);
  t.is(before.stderr, q.stderr);
  const fix = await img(['check', '-r', 'all', f]);
  t.is(fix.code, 0, fix.stdout + fix.stderr);
  t.regex(fix.stdout, /^The following inconsistencies were found and repaired:\n\n {4}0 leaked clusters\n {4}1 corruptions\n\nDouble checking the fixed image now...\nNo errors were found on the image.\n/);
  await qemuCheckClean(t, f, 'after -r all');
});

test('zstd images: info, map and check work; compressed clusters are refused clearly', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'z.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', f, '1M']);
  await qemuIo(f, ['write -P 1 0 64k', 'write -c -P 2 128k 64k']);
  t.deepEqual(JSON.parse(await imgOk(['info', '--output=json', f])), JSON.parse(await must('qemu-img', ['info', '--output=json', f])));
  t.is(await imgOk(['map', '--output=json', f]), await must('qemu-img', ['map', '--output=json', f]));
  t.is((await img(['check', f])).code, 0);
  const r = await img(['convert', '-O', 'raw', f, join(dir, 'z.raw')]);
  t.is(r.code, 1);
  t.is(r.stderr, 'tsemu-img: zstd-compressed clusters are not supported by tsemu\n');
});

test('bin/tsemu-img as a process: output, exit statuses (0, 1, 2 for compare errors, 3 for leaks)', async (t) => {
  const dir = tempDir(t);
  const bin = binPath('tsemu-img');
  const run = (args: string[]) => tool(process.execPath, [bin, ...args]);
  const f = join(dir, 'p.qcow2');
  let r = await run(['create', '-f', 'qcow2', f, '1M']);
  t.is(r.code, 0);
  t.is(r.stdout, `Formatting '${f}', fmt=qcow2 cluster_size=65536 extended_l2=off compression_type=zlib size=1048576 lazy_refcounts=off refcount_bits=16\n`);
  r = await run(['info', '--output=json', f]);
  t.is(r.code, 0);
  t.is(JSON.parse(r.stdout)['virtual-size'], 1 << 20);
  r = await run(['info', join(dir, 'missing.qcow2')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tsemu-img: Could not open '.*missing.qcow2': No such file or directory\n$/);
  r = await run(['compare', f, join(dir, 'missing.qcow2')]);
  t.is(r.code, 2);
  const image = await openImage(f, {});
  const leaked = await (image as unknown as { refcounts: { alloc(n: number): Promise<number> } }).refcounts.alloc(1);
  await image.protocol.pwrite(new Uint8Array(65536), leaked);
  await image.close();
  r = await run(['check', f]);
  t.is(r.code, 3, r.stdout + r.stderr);
});

test('commit -b into a deeper base: everything above it lands there, the top keeps its data', async (t) => {
  const dir = tempDir(t);
  const [base, mid, top] = ['base.qcow2', 'mid.qcow2', 'top.qcow2'].map((n) => join(dir, n)) as [string, string, string];
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', base, '4M']);
  await qemuIo(base, ['write -P 1 0 4M']);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', mid]);
  await qemuIo(mid, ['write -P 2 1M 1M']);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', top]);
  await qemuIo(top, ['write -P 3 1536k 1M', 'write -z 3M 64k']);
  await must('qemu-img', ['convert', '-O', 'raw', top, join(dir, 'before.raw')]);
  t.is(await imgOk(['commit', '-b', base, top]), 'Image committed.\n');
  for (const f of [base, mid, top]) await qemuCheckClean(t, f, f);
  await must('qemu-img', ['convert', '-O', 'raw', base, join(dir, 'base.raw')]);
  t.true(raw(dir, 'before.raw').equals(raw(dir, 'base.raw')), 'the base holds the whole chain');
  await must('qemu-img', ['convert', '-O', 'raw', top, join(dir, 'top.raw')]);
  t.true(raw(dir, 'before.raw').equals(raw(dir, 'top.raw')), 'the top still reads the same');
  const map = JSON.parse(await must('qemu-img', ['map', '--output=json', top])) as Array<{ depth: number; present: boolean }>;
  t.true(map.some((e) => e.depth === 0 && e.present), 'the top was not emptied');
});

test('narrow refcounts: snapshots that would overflow are refused up front; convert -c packs within the width', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'n.qcow2');
  await imgOk(['create', '-f', 'qcow2', '-o', 'refcount_bits=2,cluster_size=4096', f, '1M']);
  await qemuIo(f, ['write 0 64k']);
  await imgOk(['snapshot', '-c', 's1', f]);
  await imgOk(['snapshot', '-c', 's2', f]);
  const r = await img(['snapshot', '-c', 's3', f]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tsemu-img: Could not create snapshot 's3': a refcount would exceed 3 \(refcount_bits=2\)/);
  await qemuCheckClean(t, f, 'after the refused snapshot');
  const c = join(dir, 'c1.qcow2');
  await imgOk(['convert', '-c', '-O', 'qcow2', '-o', 'refcount_bits=1', f, c]);
  await qemuCheckClean(t, c, 'compressed with refcount_bits=1');
  t.is((await tool('qemu-img', ['compare', f, c])).code, 0);
});
