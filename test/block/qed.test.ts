/**
 * QED against qemu-img and qemu-io as oracles:
 *  - images qemu makes (plain, small clusters and tables, raw and qcow2 backing files) read
 *    byte for byte as qemu-img reads them, with qemu-img's info, map and check JSON;
 *  - images tsemu makes (create, convert -O qed, random workloads through the BlockImage API,
 *    several queues at once, resize) pass `qemu-img check` and `qemu-img compare`;
 *  - an unclean close (need-check bit) is checked and repaired on a read-write open as qemu
 *    does, and `check -r` reclaims leaked clusters qemu can only count;
 *  - damaged headers and tables fail with one line and exit 1, the file untouched.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openImage } from '../../services/block/format/open.js';
import { tempDir } from '../helpers/procs.js';
import { img, imgOk, must, qemuIo, rng, tool } from './tools.js';
import { workload } from './workload.js';

const read = (f: string) => readFileSync(f);
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const json = async (cmd: string, args: string[]) => JSON.parse(cmd === 'tsemu-img' ? await imgOk(args) : await must(cmd, args));

/** QED header fields (little-endian). */
const H = { clusterSize: 4, tableSize: 8, headerSize: 12, features: 16, l1: 40, imageSize: 48, backingOffset: 56, backingSize: 60 };
const NEED_CHECK = 2n;

function patch(f: string, edit: (b: Buffer) => void): void {
  const b = read(f);
  edit(b);
  writeFileSync(f, b);
}

/** qemu-img check's status and JSON report. */
async function qemuCheck(f: string): Promise<{ code: number; report: Record<string, unknown> }> {
  const r = await tool('qemu-img', ['check', '--output=json', f]);
  return { code: r.code, report: r.stdout ? JSON.parse(r.stdout) : {} };
}

async function expectQemuClean(t: { is: (a: unknown, b: unknown, m?: string) => void }, f: string, what: string): Promise<void> {
  const r = await tool('qemu-img', ['check', f]);
  t.is(r.code, 0, `${what}: qemu-img check: ${r.stdout}${r.stderr}`);
}

// ---- images qemu made --------------------------------------------------------------

interface ReadCase {
  name: string;
  opts: string;
  backing?: 'raw' | 'qcow2';
}

const readCases: ReadCase[] = [
  { name: 'defaults (64k clusters, 4-cluster tables)', opts: '' },
  // The smallest tables qemu can open: its table offset test refuses table_size=1.
  { name: 'cluster_size=4096,table_size=2', opts: 'cluster_size=4096,table_size=2' },
  { name: 'cluster_size=8192,table_size=16', opts: 'cluster_size=8192,table_size=16' },
  { name: 'raw backing file (backing format not probed)', opts: 'cluster_size=4096,table_size=2', backing: 'raw' },
  { name: 'qcow2 backing file', opts: '', backing: 'qcow2' },
];

for (const c of readCases) {
  test(`qemu's QED reads byte for byte, info/map/check as qemu-img: ${c.name}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'q.qed');
    const size = 6 << 20;
    const args = ['create', '-q', '-f', 'qed'];
    if (c.opts) args.push('-o', c.opts);
    if (c.backing) {
      const b = join(dir, `b.${c.backing}`);
      await must('qemu-img', ['create', '-q', '-f', c.backing, b, String(size - (1 << 20))]);
      await qemuIo(b, ['write -P 0x5a 0 2M', 'write -P 0xa5 3M 1M', 'write -z 3200k 64k'], c.backing);
      args.push('-b', `b.${c.backing}`, '-F', c.backing);
    }
    await must('qemu-img', [...args, f, String(size)]);
    await qemuIo(f, [
      'write -P 0x11 0 3k',
      'write -P 0x22 5000 70000',
      'write -P 0x33 1M 300k',
      'write -z 1536k 128k',
      'write -z 3M 64k',
      'write -P 0x44 3300k 10k',
      `write -P 0x55 ${size - 4096} 4096`,
      'write -P 0x66 4M 1',
    ], 'qed');
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'q.raw')]);
    await imgOk(['convert', '-O', 'raw', f, join(dir, 't.raw')]);
    t.true(read(join(dir, 't.raw')).equals(read(join(dir, 'q.raw'))), 'convert -O raw');
    const qi = await json('qemu-img', ['info', '--output=json', f]);
    const ti = await json('tsemu-img', ['info', '--output=json', f]);
    for (const k of ['virtual-size', 'cluster-size', 'format', 'dirty-flag', 'backing-filename', 'full-backing-filename', 'backing-filename-format', 'format-specific']) {
      t.deepEqual(ti[k], qi[k], `info ${k}`);
    }
    if (c.backing !== 'raw') {
      // (qemu-img map sees holes in a raw file with SEEK_HOLE; tsemu's raw reports it all as data.)
      t.deepEqual(await json('tsemu-img', ['map', '--output=json', f]), await json('qemu-img', ['map', '--output=json', f]), 'map');
    }
    t.deepEqual(await json('tsemu-img', ['check', '--output=json', f]), await json('qemu-img', ['check', '--output=json', f]), 'check');
    t.is((await img(['check', f])).stdout, (await tool('qemu-img', ['check', f])).stdout, 'check, human output');
  });
}

// ---- images tsemu makes ------------------------------------------------------------

test('create -f qed matches qemu-img create: same header, info and content', async (t) => {
  const dir = tempDir(t);
  await must('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'b.raw'), '3M']);
  for (const o of ['', 'cluster_size=4096', 'cluster_size=4096,table_size=2', 'table_size=16', 'cluster_size=1M,table_size=1', 'backing_file=b.raw,backing_fmt=raw']) {
    const q = join(dir, 'q.qed');
    const ts = join(dir, 't.qed');
    const opts = o ? ['-o', o] : [];
    const qline = await must('qemu-img', ['create', '-f', 'qed', ...opts, q, '100M']);
    const tline = await imgOk(['create', '-f', 'qed', ...opts, ts, '100M']);
    t.is(tline.replace('t.qed', 'q.qed'), qline, `${o}: the Formatting line`);
    // Same header, byte for byte, and the same file length (the L1 table after the header cluster).
    t.true(read(ts).subarray(0, 4096).equals(read(q).subarray(0, 4096)), `${o}: header`);
    t.is(statSync(ts).size, statSync(q).size, `${o}: file size`);
    if (o.includes('table_size=1')) continue; // qemu cannot open these (see above)
    const qi = await json('qemu-img', ['info', '--output=json', q]);
    const ti = await json('qemu-img', ['info', '--output=json', ts]);
    for (const k of ['virtual-size', 'cluster-size', 'format', 'backing-filename', 'backing-filename-format', 'dirty-flag']) t.deepEqual(ti[k], qi[k], `${o}: ${k}`);
    await expectQemuClean(t, ts, o);
    t.is((await tool('qemu-img', ['compare', ts, q])).code, 0, o);
  }
  for (const [o, re] of [
    ['cluster_size=2048', /QED cluster size must be within range \[4096, 67108864\] and power of 2/],
    ['table_size=3', /QED table size must be within range \[1, 16\] and power of 2/],
    ['cluster_size=4096,table_size=1', /QED image size must be a non-zero multiple of cluster size and less than 1073741824 bytes/],
  ] as Array<[string, RegExp]>) {
    const r = await img(['create', '-f', 'qed', '-o', o, join(dir, 'x.qed'), '2G']);
    t.is(r.code, 1, o);
    t.regex(r.stderr, re);
  }
});

test('convert -O qed from raw and qcow2: qemu-img check passes, compare finds the source', async (t) => {
  const dir = tempDir(t);
  const r = rng(7);
  const data = Buffer.alloc(12 << 20);
  // Random data in scattered extents, zeros between (holes to skip, partial clusters).
  for (let i = 0; i < 40; i++) {
    const off = Math.floor(r() * (data.length - 300_000));
    const len = 1 + Math.floor(r() * 300_000);
    for (let j = 0; j < len; j++) data[off + j] = Math.floor(r() * 256);
  }
  const src = join(dir, 'src.raw');
  writeFileSync(src, data);
  await must('qemu-img', ['convert', '-O', 'qcow2', src, join(dir, 'src.qcow2')]);
  for (const [from, o] of [['src.raw', ''], ['src.qcow2', 'cluster_size=4096,table_size=2'], ['src.raw', 'cluster_size=1M,table_size=2']]) {
    const out = join(dir, 'out.qed');
    await imgOk(['convert', '-O', 'qed', ...(o ? ['-o', o] : []), join(dir, from!), out]);
    await expectQemuClean(t, out, `${from} ${o}`);
    const cmp = await tool('qemu-img', ['compare', '-f', 'qed', '-F', from!.endsWith('raw') ? 'raw' : 'qcow2', out, join(dir, from!)]);
    t.is(cmp.code, 0, `${from} ${o}: ${cmp.stdout}`);
    t.deepEqual(await json('tsemu-img', ['check', '--output=json', out]), await json('qemu-img', ['check', '--output=json', out]));
  }
});

interface WriteCase {
  opts: string;
  backing?: 'raw' | 'qcow2';
  /** Grow the image between two workloads. */
  resize?: boolean;
}

const writeCases: WriteCase[] = [
  { opts: 'cluster_size=4096,table_size=2' },
  { opts: 'cluster_size=65536,table_size=4', resize: true },
  { opts: 'cluster_size=4096,table_size=2', backing: 'qcow2' },
  { opts: 'cluster_size=65536,table_size=2', backing: 'raw', resize: true },
  { opts: 'cluster_size=1M,table_size=2' },
];

for (const c of writeCases) {
  test(`random writes/zeroes/discards pass qemu-img check and read back: ${c.opts}${c.backing ? ` over ${c.backing}` : ''}${c.resize ? ', resized' : ''}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'w.qed');
    const size = 8 << 20;
    const args = ['create', '-f', 'qed', '-o', c.opts];
    if (c.backing) {
      const b = join(dir, `b.${c.backing}`);
      await must('qemu-img', ['create', '-q', '-f', c.backing, b, String(size - (1 << 20))]);
      await qemuIo(b, ['write -P 0x5a 0 3M', 'write -P 0xa5 5M 1M'], c.backing);
      args.push('-b', `b.${c.backing}`, '-F', c.backing);
    }
    await imgOk([...args, f, String(size)]);
    let image = await openImage(f, {});
    let model = new Uint8Array(image.size);
    await image.read(model, 0);
    await workload(image, model, { ops: 200, seed: c.opts.length + (c.backing?.length ?? 0) });
    if (c.resize) {
      await image.resize(size + (3 << 20));
      const grown = new Uint8Array(image.size);
      grown.set(model);
      await image.read(grown.subarray(size), size);
      t.true(grown.subarray(size).every((x) => x === 0), 'the grown part reads as zeros');
      model = grown;
      await workload(image, model, { ops: 100, seed: 99 });
      t.is((await image.resize(size).catch((e: Error) => e))?.message, 'Shrinking images is currently not supported');
    }
    await image.close();
    await expectQemuClean(t, f, 'after the workload');
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'q.raw')]);
    t.true(Buffer.from(model).equals(read(join(dir, 'q.raw'))), 'qemu-img reads what was written');
    t.deepEqual(await json('tsemu-img', ['check', '--output=json', f]), await json('qemu-img', ['check', '--output=json', f]));
    t.is((await json('qemu-img', ['info', '--output=json', f]))['virtual-size'], model.length);
    // And the other way: what qemu writes now, tsemu reads.
    await qemuIo(f, ['write -P 0x77 100k 300k', 'write -z 2M 256k'], 'qed');
    image = await openImage(f, { readOnly: true });
    const back = new Uint8Array(image.size);
    await image.read(back, 0);
    await image.close();
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'q2.raw')]);
    t.true(Buffer.from(back).equals(read(join(dir, 'q2.raw'))), 'tsemu reads what qemu wrote over it');
  });
}

test('table_size=1 (which qemu cannot open): tsemu writes, reads back and checks it', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'one.qed');
  await imgOk(['create', '-f', 'qed', '-o', 'cluster_size=4096,table_size=1', f, '64M']);
  const image = await openImage(f, {});
  const model = new Uint8Array(image.size);
  await workload(image, model, { ops: 150, seed: 5, maxLen: 100_000 });
  await image.close();
  await imgOk(['convert', '-O', 'raw', f, join(dir, 'one.raw')]);
  t.true(Buffer.from(model).equals(read(join(dir, 'one.raw'))));
  const ck = await img(['check', '--output=json', f]);
  t.is(ck.code, 0, ck.stdout);
  t.is(JSON.parse(ck.stdout).leaks, undefined);
});

test('concurrent requests (as several virtqueues issue them) keep the tables consistent', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'c.qed');
  await imgOk(['create', '-f', 'qed', '-o', 'cluster_size=4096,table_size=2', f, '32M']);
  const image = await openImage(f, {});
  const model = new Uint8Array(image.size);
  const queues = 8;
  const span = image.size / queues;
  await Promise.all(Array.from({ length: queues }, async (_, q) => {
    const r = rng(q + 1);
    for (let i = 0; i < 120; i++) {
      const off = q * span + Math.floor(r() * (span - 70000));
      const len = 1 + Math.floor(r() * 65536);
      const k = r();
      if (k < 0.6) {
        const b = new Uint8Array(len).fill((q * 31 + i) & 0xff || 1);
        await image.write(b, off);
        model.set(b, off);
      } else if (k < 0.75) {
        await image.writeZeroes(off, len, true);
        model.fill(0, off, off + len);
      } else if (k < 0.8) {
        await image.flush();
      } else {
        const got = new Uint8Array(len);
        await image.read(got, off);
        t.true(Buffer.from(got).equals(Buffer.from(model.subarray(off, off + len))), `queue ${q} read ${i}`);
      }
    }
  }));
  await image.close();
  await expectQemuClean(t, f, 'after 8 queues');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'c.raw')]);
  t.true(Buffer.from(model).equals(read(join(dir, 'c.raw'))));
});

test('the need-check bit: set by the first allocating write, cleared by flush and by close', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'n.qed');
  await imgOk(['create', '-f', 'qed', f, '8M']);
  const features = () => read(f).readBigUInt64LE(H.features);
  const image = await openImage(f, {});
  await image.write(new Uint8Array(4096).fill(1), 0);
  t.is(features() & NEED_CHECK, NEED_CHECK, 'set before the allocation');
  await image.write(new Uint8Array(4096).fill(2), 0);
  await image.flush();
  t.is(features() & NEED_CHECK, 0n, 'cleared by flush');
  await image.write(new Uint8Array(512).fill(3), 512);
  t.is(features() & NEED_CHECK, 0n, 'a write in place does not set it');
  await image.writeZeroes(1 << 20, 1 << 20, false);
  t.is(features() & NEED_CHECK, 0n, 'zero clusters in an existing table allocate nothing');
  await image.write(new Uint8Array(100).fill(4), 3 << 20);
  t.is(features() & NEED_CHECK, NEED_CHECK, 'a new data cluster does');
  await image.close();
  t.is(features() & NEED_CHECK, 0n, 'cleared by close');
  t.deepEqual(await json('tsemu-img', ['map', '--output=json', f]), await json('qemu-img', ['map', '--output=json', f]));
});

// ---- unclean close -----------------------------------------------------------------

const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));

async function runAndKill(file: string, seed: number, afterMs: number): Promise<void> {
  const p = spawn(process.execPath, [child, file, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (d: Buffer) => { if (d.toString().includes('running')) resolve(); });
    p.on('exit', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
  });
  await new Promise((r) => setTimeout(r, afterMs));
  const exited = new Promise((r) => p.on('exit', r));
  p.kill('SIGKILL');
  await exited;
}

for (const backing of [false, true]) {
  test(`SIGKILL mid-workload: at worst leaks and the need-check bit; the next read-write open repairs${backing ? ' (raw backing file)' : ''}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'k.qed');
    const args = ['create', '-f', 'qed', '-o', 'cluster_size=4096,table_size=2'];
    if (backing) {
      await must('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'b.raw'), '16M']);
      await qemuIo(join(dir, 'b.raw'), ['write -P 0x5a 0 8M'], 'raw');
      args.push('-b', 'b.raw', '-F', 'raw');
    }
    await imgOk([...args, f, '16M']);
    const r = rng(backing ? 3 : 4);
    for (let round = 0; round < 3; round++) {
      await runAndKill(f, round * 7 + 1, 50 + Math.floor(r() * 300));
      const check = await tool('qemu-img', ['check', f]);
      t.true(check.code === 0 || check.code === 3, `round ${round}: qemu-img check status ${check.code}\n${check.stdout}${check.stderr}`);
      const ours = await img(['check', '--output=json', f]);
      t.is(ours.code, check.code);
      t.deepEqual(JSON.parse(ours.stdout), (await qemuCheck(f)).report);
      await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'before.raw')]);
      const image = await openImage(f, {});
      await image.close();
      await expectQemuClean(t, f, `round ${round}, after tsemu's open`);
      t.is(read(f).readBigUInt64LE(H.features) & NEED_CHECK, 0n);
      await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'after.raw')]);
      t.true(read(join(dir, 'before.raw')).equals(read(join(dir, 'after.raw'))), 'the repair changed no data');
    }
  });
}

/** An image qemu wrote (64k clusters), with a cluster leaked in the middle and one at the end, and the need-check bit. */
async function leakyImage(dir: string, name: string, opts = ''): Promise<string> {
  const f = join(dir, name);
  await must('qemu-img', ['create', '-q', '-f', 'qed', ...(opts ? ['-o', opts] : []), f, '16M']);
  await qemuIo(f, ['write -P 1 0 256k', 'write -P 2 4M 128k', 'write -P 3 9M 64k', 'write -P 4 13M 200k'], 'qed');
  const b = read(f);
  const cs = b.readUInt32LE(H.clusterSize);
  const l2 = Number(b.readBigUInt64LE(b.readUInt32LE(H.l1)));
  // Drop the second data cluster (a leak in the middle), add an unreferenced one at the end.
  b.writeBigUInt64LE(0n, l2 + 8);
  b.writeBigUInt64LE(b.readBigUInt64LE(H.features) | NEED_CHECK, H.features);
  writeFileSync(f, Buffer.concat([b, Buffer.alloc(cs, 0xee)]));
  return f;
}

test('need-check with leaks: tsemu-img check reports as qemu-img; check -r all reclaims them and qemu-img check passes', async (t) => {
  const dir = tempDir(t);
  for (const opts of ['', 'cluster_size=4096,table_size=2']) {
    const f = await leakyImage(dir, 'l.qed', opts);
    const before = await qemuCheck(f);
    t.is(before.code, 3, `${opts}: qemu-img sees the leaks`);
    const ours = await img(['check', '--output=json', f]);
    t.is(ours.code, 3);
    t.deepEqual(JSON.parse(ours.stdout), before.report);
    t.is((await img(['check', f])).stdout, (await tool('qemu-img', ['check', f])).stdout, 'human output');
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'before.raw')]);
    const fixed = await img(['check', '-r', 'all', f]);
    t.is(fixed.code, 0, fixed.stdout + fixed.stderr);
    t.regex(fixed.stdout, new RegExp(`repaired:\\n\\n    ${before.report.leaks} leaked clusters\\n    0 corruptions\\n`));
    t.is((await qemuCheck(f)).code, 0, `${opts}: qemu-img check after the repair`);
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'after.raw')]);
    t.true(read(join(dir, 'before.raw')).equals(read(join(dir, 'after.raw'))), `${opts}: the data did not change`);
    t.is(read(f).readBigUInt64LE(H.features) & NEED_CHECK, 0n, 'marked clean');
  }
});

test('reclaiming leaks moves L2 tables too (tiny clusters: the tables sit at the end)', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'm.qed');
  await must('qemu-img', ['create', '-q', '-f', 'qed', '-o', 'cluster_size=4096,table_size=2', f, '64M']);
  // Data first, then writes that need new L2 tables at the end of the file.
  await qemuIo(f, ['write -P 1 0 400k', 'write -P 2 20M 8k', 'write -P 3 40M 4k', 'write -P 4 60M 12k'], 'qed');
  const b = read(f);
  const l2 = Number(b.readBigUInt64LE(4096));
  for (let i = 0; i < 40; i++) b.writeBigUInt64LE(0n, l2 + 8 * i); // leak 40 data clusters near the start
  writeFileSync(f, b);
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'before.raw')]);
  t.is((await qemuCheck(f)).report.leaks, 40);
  const size = statSync(f).size;
  const r = await img(['check', '-r', 'leaks', f]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is((await qemuCheck(f)).code, 0);
  t.is(statSync(f).size, size - 40 * 4096, 'the file shrank by the leaked clusters');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'after.raw')]);
  t.true(read(join(dir, 'before.raw')).equals(read(join(dir, 'after.raw'))));
});

test('clusters and tables referenced twice: check counts as qemu-img; check -r all gives each reference its own copy', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'd.qed');
  await must('qemu-img', ['create', '-q', '-f', 'qed', '-o', 'cluster_size=4096,table_size=2', f, '16M']);
  await qemuIo(f, ['write -P 1 0 64k', 'write -P 2 4M 8k', 'write -P 3 8M 4k'], 'qed');
  patch(f, (b) => {
    const l1 = b.readUInt32LE(H.l1);
    const l2 = Number(b.readBigUInt64LE(l1));
    b.writeBigUInt64LE(b.readBigUInt64LE(l2 + 8), l2 + 8 * 100); // a data cluster named twice
    b.writeBigUInt64LE(b.readBigUInt64LE(l1 + 8), l1 + 8 * 3); // guest 12M maps through the 4M table too
  });
  const before = await qemuCheck(f);
  t.is(before.code, 2);
  const ours = await img(['check', '--output=json', f]);
  t.is(ours.code, 2);
  t.deepEqual(JSON.parse(ours.stdout), before.report);
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'before.raw')]);
  const r = await img(['check', '-r', 'all', f]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /repaired:\n\n    0 leaked clusters\n    \d+ corruptions\n/);
  t.is((await qemuCheck(f)).code, 0, 'qemu-img check after the repair');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'after.raw')]);
  t.true(read(join(dir, 'before.raw')).equals(read(join(dir, 'after.raw'))), 'every reference reads as before');
  // Now independent: a write through one reference leaves the other alone.
  await qemuIo(f, ['write -P 9 4096 4096', 'write -P 9 12M 4096'], 'qed');
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'later.raw')]);
  const later = read(join(dir, 'later.raw'));
  t.true(later.subarray(100 * 4096, 101 * 4096).equals(read(join(dir, 'before.raw')).subarray(100 * 4096, 101 * 4096)));
  t.true(later.subarray(4 << 20, (4 << 20) + 4096).equals(Buffer.alloc(4096, 2)));
});

test('a read-write open repairs as qemu does: entries past the end of the file are cleared', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'p.qed');
  await must('qemu-img', ['create', '-q', '-f', 'qed', f, '8M']);
  await qemuIo(f, ['write -P 1 0 128k', 'write -P 2 1M 64k', 'write -P 3 2M 64k'], 'qed');
  // The last data cluster never reached the disk: its L2 entry points past the end of the file.
  const b = read(f);
  b.writeBigUInt64LE(b.readBigUInt64LE(H.features) | NEED_CHECK, H.features);
  writeFileSync(f, b.subarray(0, b.length - 0x10000));
  const qemuCopy = join(dir, 'q.qed');
  copyFileSync(f, qemuCopy);
  t.is((await qemuCheck(f)).report.corruptions, 1);
  const ours = await img(['check', '--output=json', f]);
  t.is(ours.code, 2);
  t.deepEqual(JSON.parse(ours.stdout), (await qemuCheck(f)).report);
  // qemu repairs on a read-write open; so does tsemu.
  await qemuIo(qemuCopy, ['read 0 512'], 'qed');
  const image = await openImage(f, {});
  await image.close();
  await expectQemuClean(t, f, 'tsemu repaired');
  await expectQemuClean(t, qemuCopy, 'qemu repaired');
  t.is((await tool('qemu-img', ['compare', f, qemuCopy])).code, 0, 'both repairs read the same');
  // Read-only opens leave the image alone (qemu lets them read what they can).
  patch(f, (b) => b.writeBigUInt64LE(b.readBigUInt64LE(H.features) | NEED_CHECK, H.features));
  const before = sha(f);
  await imgOk(['info', f]);
  t.is(sha(f), before);
});

// ---- damaged images ----------------------------------------------------------------

interface BadCase {
  name: string;
  edit: (b: Buffer) => void;
  args: string[];
  error: RegExp;
}

const L1 = 0x10000;
const u32 = (at: number, v: number) => (b: Buffer) => { b.writeUInt32LE(v >>> 0, at); };
const u64 = (at: number, v: bigint) => (b: Buffer) => { b.writeBigUInt64LE(v, at); };
const l2Of = (b: Buffer) => Number(b.readBigUInt64LE(L1));

const badCases: BadCase[] = [
  { name: 'bad magic (given -f qed)', edit: u32(0, 0x12345678), args: ['info', '-f', 'qed'], error: /Image not in QED format/ },
  { name: 'unknown feature bit', edit: u64(H.features, 0x100n), args: ['info'], error: /Unsupported QED features: 100/ },
  { name: 'cluster size not a power of two', edit: u32(H.clusterSize, 0x11000), args: ['info'], error: /QED cluster size is invalid/ },
  { name: 'cluster size 2^30', edit: u32(H.clusterSize, 1 << 30), args: ['info'], error: /QED cluster size is invalid/ },
  { name: 'table size 3', edit: u32(H.tableSize, 3), args: ['info'], error: /QED table size is invalid/ },
  { name: 'table size 32', edit: u32(H.tableSize, 32), args: ['info'], error: /QED table size is invalid/ },
  { name: 'image size not whole sectors', edit: u64(H.imageSize, 1000n), args: ['info'], error: /QED image size is invalid/ },
  { name: 'image size beyond what the tables map', edit: u64(H.imageSize, 1n << 60n), args: ['info'], error: /QED image size is invalid/ },
  { name: 'header size 0', edit: u32(H.headerSize, 0), args: ['info'], error: /QED header size is invalid/ },
  { name: 'header size covering the L1 table', edit: u32(H.headerSize, 2), args: ['info'], error: /QED table offset is invalid/ },
  { name: 'header size 2^20 clusters', edit: u32(H.headerSize, 1 << 20), args: ['info'], error: /QED table offset is invalid/ },
  { name: 'L1 table past the end of the file', edit: u64(H.l1, 1n << 40n), args: ['info'], error: /QED table offset is invalid/ },
  { name: 'L1 table unaligned', edit: u64(H.l1, 0x10200n), args: ['info'], error: /QED table offset is invalid/ },
  {
    name: 'backing file name past the header', args: ['info'], error: /QED backing filename offset is invalid/,
    edit: (b) => { b.writeBigUInt64LE(1n, H.features); b.writeUInt32LE(0xfff0, H.backingOffset); b.writeUInt32LE(100, H.backingSize); },
  },
  {
    name: 'backing file name longer than qemu reads', args: ['info'], error: /Failed to read backing filename/,
    edit: (b) => { b.writeBigUInt64LE(1n, H.features); b.writeUInt32LE(64, H.backingOffset); b.writeUInt32LE(5000, H.backingSize); },
  },
  { name: 'L2 table offset past the end of the file', edit: (b) => b.writeBigUInt64LE(1n << 40n, L1), args: ['convert', '-O', 'raw'], error: /L2 table offset 0x10000000000 is invalid/ },
  { name: 'L2 table offset unaligned', edit: (b) => b.writeBigUInt64LE(BigInt(l2Of(b) + 0x200), L1), args: ['convert', '-O', 'raw'], error: /L2 table offset 0x[0-9a-f]+200 is invalid/ },
  { name: 'L2 table overlapping the end of the file', edit: (b) => b.writeBigUInt64LE(BigInt(b.length - 0x10000), L1), args: ['convert', '-O', 'raw'], error: /L2 table offset 0x[0-9a-f]+ is invalid/ },
  { name: 'data cluster past the end of the file', edit: (b) => b.writeBigUInt64LE(1n << 40n, l2Of(b)), args: ['convert', '-O', 'raw'], error: /data cluster offset 0x10000000000 is invalid/ },
  { name: 'data cluster unaligned', edit: (b) => b.writeBigUInt64LE(b.readBigUInt64LE(l2Of(b)) + 8n, l2Of(b)), args: ['convert', '-O', 'raw'], error: /data cluster offset 0x[0-9a-f]+8 is invalid/ },
  { name: 'data cluster inside the header', edit: (b) => b.writeBigUInt64LE(0x1000n, l2Of(b)), args: ['convert', '-O', 'raw'], error: /data cluster offset 0x1000 is invalid/ },
  { name: 'truncated file', edit: () => {}, args: ['info'], error: /QED table offset is invalid/ },
];

for (const c of badCases) {
  test(`bad QED image: ${c.name}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'bad.qed');
    await must('qemu-img', ['create', '-q', '-f', 'qed', f, '1M']);
    await qemuIo(f, ['write -P 1 0 64k'], 'qed');
    let b = read(f);
    if (c.name === 'truncated file') b = b.subarray(0, 40);
    c.edit(b);
    writeFileSync(f, b);
    const before = sha(f);
    const args = c.args.includes('@') ? c.args.map((a) => (a === '@' ? f : a)) : [...c.args, f];
    if (args[0] === 'convert') args.push(join(dir, 'out.raw'));
    const r = await img(args);
    t.is(r.code, 1, r.stderr);
    t.is(r.stdout, '');
    t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /^tsemu-img: /);
    t.regex(r.stderr, c.error);
    t.notRegex(r.stderr, /^\s+at |node:internal/m);
    t.is(sha(f), before, 'the image is unchanged');
  });
}

test('data cluster entries naming the L1 or an L2 table: writes are refused, the tables intact', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'o.qed');
  await must('qemu-img', ['create', '-q', '-f', 'qed', f, '1M']);
  await qemuIo(f, ['write -P 1 0 64k'], 'qed');
  patch(f, (b) => {
    b.writeBigUInt64LE(BigInt(L1), l2Of(b));
    b.writeBigUInt64LE(BigInt(l2Of(b) + 0x10000), l2Of(b) + 8); // the table's second cluster
  });
  const before = sha(f);
  const image = await openImage(f, {});
  const errors = [
    await image.write(new Uint8Array(512).fill(9), 0).catch((e: Error) => e),
    await image.write(new Uint8Array(512).fill(9), 0x10000 + 512).catch((e: Error) => e),
  ];
  await image.close();
  t.regex((errors[0] as Error)?.message ?? '', /Preventing invalid write on metadata \(overlaps with the L1 table\)/);
  t.regex((errors[1] as Error)?.message ?? '', /Preventing invalid write on metadata \(overlaps with an L2 table\)/);
  t.is(sha(f), before, 'nothing was written');
});
