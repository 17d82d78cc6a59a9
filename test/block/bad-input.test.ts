/**
 * Damaged and hostile images: each tsemu-img command must fail with one qemu-img-like line
 * on stderr ("tsemu-img: ...") and status 1, never crash or print a stack, and never write
 * to the image it was given.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/procs.js';
import { img, must, qemuIo } from './tools.js';

// Layout of the base image qemu-img makes (1 MiB, 64 KiB clusters, 64 KiB written at 0):
// header 0, refcount table 0x10000, refcount block 0x20000, L1 0x30000, L2 0x40000, data 0x50000.
const L1 = 0x30000;
const L2 = 0x40000;

type Patch = (b: Buffer) => Buffer;
const u32 = (at: number, v: number): Patch => (b) => { b.writeUInt32BE(v >>> 0, at); return b; };
const u64 = (at: number, v: bigint): Patch => (b) => { b.writeBigUInt64BE(v, at); return b; };

interface Case {
  name: string;
  patch: Patch;
  /** Command and expected stderr pattern. */
  args: string[];
  error: RegExp;
  status?: number;
}

const cases: Case[] = [
  { name: 'wrong magic (given -f qcow2)', patch: u32(0, 0x12345678), args: ['info', '-f', 'qcow2'], error: /Image is not in qcow2 format/ },
  { name: 'version 4', patch: u32(4, 4), args: ['info'], error: /Unsupported qcow2 version 4/ },
  { name: 'cluster_bits 30', patch: u32(20, 30), args: ['info'], error: /Unsupported cluster size: 2\^30/ },
  { name: 'size 2^62', patch: u64(24, 1n << 62n), args: ['info'], error: /out of range|too large/ },
  { name: 'L1 table of 2^31 entries', patch: u32(36, 0x7fffffff), args: ['info'], error: /Active L1 table too large/ },
  { name: 'L1 table past the end of the file', patch: u64(40, 1n << 40n), args: ['info'], error: /Active L1 table offset invalid/ },
  { name: 'refcount table past the end of the file', patch: u64(48, 1n << 40n), args: ['info'], error: /[Rr]eference count table offset invalid/ },
  { name: 'refcount table of 2^30 clusters', patch: u32(56, 1 << 30), args: ['info'], error: /Reference count table too large/ },
  { name: 'unknown incompatible feature bit', patch: u64(72, 1n << 40n), args: ['info'], error: /Unsupported qcow2 feature\(s\): Unknown incompatible feature: 10000000000/ },
  { name: 'header extension longer than the cluster', patch: (b) => { b.writeUInt32BE(0x12345678, 112); b.writeUInt32BE(0x7fffffff, 116); return b; }, args: ['info'], error: /Invalid header extension/ },
  { name: 'backing file name past the header cluster', patch: (b) => { b.writeBigUInt64BE(0xfff0n, 8); b.writeUInt32BE(100, 16); return b; }, args: ['info'], error: /Backing file name too long/ },
  { name: 'snapshot table past the end of the file', patch: (b) => { b.writeUInt32BE(1, 60); b.writeBigUInt64BE(1n << 40n, 64); return b; }, args: ['info'], error: /Snapshot table offset invalid/ },
  { name: 'L1 entry past the end of the file', patch: u64(L1, (1n << 63n) | (1n << 40n)), args: ['convert', '-O', 'raw'], error: /L2 table offset 0x10000000000 is past the end of the file/ },
  { name: 'L1 entry unaligned', patch: u64(L1, (1n << 63n) | 0x40200n), args: ['convert', '-O', 'raw'], error: /L2 table offset 40200 unaligned/ },
  { name: 'L2 entry past the end of the file', patch: u64(L2, (1n << 63n) | (1n << 40n)), args: ['convert', '-O', 'raw'], error: /data cluster offset 0x[0-9a-f]+ is past the end of the file/ },
  { name: 'compressed L2 entry past the end of the file', patch: u64(L2, (1n << 62n) | (1n << 40n)), args: ['convert', '-O', 'raw'], error: /Compressed cluster at \d+ points past the end of the file/ },
  { name: 'compressed L2 entry with garbage data', patch: u64(L2, (1n << 62n) | 0x10000n), args: ['convert', '-O', 'raw'], error: /Could not decompress a compressed cluster/ },
  { name: 'refcount block inside the L1 table (loop), opened for writing', patch: u64(0x10000, BigInt(L1)), args: ['resize', '@', '+1M'], error: /refcount block 0 at offset 0x30000 overlaps the active L1 table/ },
  { name: 'refcount block listed twice, opened for writing', patch: u64(0x10008, 0x20000n), args: ['snapshot', '-c', 's1'], error: /listed twice \(refcount loop\)/ },
  { name: 'truncated file (as qemu-img: header too short)', patch: (b) => b.subarray(0, 50), args: ['info'], error: /Could not open '.*': qcow2 header too short\n$/ },
];

for (const c of cases) {
  test(`bad image: ${c.name}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'bad.qcow2');
    await must('qemu-img', ['create', '-q', '-f', 'qcow2', f, '1M']);
    await qemuIo(f, ['write -P 1 0 64k']);
    writeFileSync(f, c.patch(readFileSync(f)));
    const before = createHash('sha256').update(readFileSync(f)).digest('hex');
    const args = c.args.includes('@') ? c.args.map((a) => (a === '@' ? f : a)) : [...c.args, f];
    if (args[0] === 'convert') args.push(join(dir, 'out.raw'));
    const r = await img(args);
    t.is(r.code, c.status ?? 1, r.stderr);
    t.is(r.stdout, '');
    t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /^tsemu-img: /);
    t.regex(r.stderr, c.error);
    t.notRegex(r.stderr, /^\s+at |node:internal/m);
    t.is(createHash('sha256').update(readFileSync(f)).digest('hex'), before, 'the image is unchanged');
  });
}

test('check reports a damaged refcount structure as corruption (status 2) without writing', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'c.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', f, '1M']);
  await qemuIo(f, ['write -P 1 0 64k']);
  const b = readFileSync(f);
  b.writeUInt16BE(0, 0x20000 + 5 * 2); // refcount of the data cluster: 1 -> 0
  writeFileSync(f, b);
  const ours = await img(['check', '--output=json', f]);
  const theirs = JSON.parse(await must('sh', ['-c', `qemu-img check --output=json ${f}; true`]));
  t.is(ours.code, 2);
  t.deepEqual(JSON.parse(ours.stdout), theirs);
  t.true(readFileSync(f).equals(b));
});

test('missing files and unknown formats: one line, status 1', async (t) => {
  const dir = tempDir(t);
  for (const [args, re] of [
    [['info', join(dir, 'nope.qcow2')], /^tsemu-img: Could not open '.*nope.qcow2': No such file or directory\n$/],
    [['info', '-f', 'vmdk', join(dir, 'nope')], /Could not open/],
    [['convert', '-O', 'qcow2', join(dir, 'nope'), join(dir, 'out')], /Could not open '.*nope': No such file or directory/],
    [['check', '-r', 'some', join(dir, 'x')], /Unknown option value for -r/],
    [['create', '-f', 'qcow2', join(dir, 'x.qcow2'), '1Q'], /Invalid image size specified/],
    [['create', '-f', 'qcow2', '-o', 'cluster_size=1000', join(dir, 'x.qcow2'), '1M'], /Cluster size must be a power of two/],
  ] as Array<[string[], RegExp]>) {
    const r = await img(args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, re);
    t.is(r.stderr.trimEnd().split('\n').length, re.source.includes('Invalid image size') ? 2 : 1, r.stderr);
  }
});

test('check -r all refuses, untouched, when a refcount block is missing for clusters in use', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'm.qcow2');
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', f, '4M']);
  await qemuIo(f, ['write -P 1 0 1M']);
  const b = readFileSync(f);
  b.writeBigUInt64BE(0n, 512 + 8); // drop the second refcount block from the table
  writeFileSync(f, b);
  const plain = await img(['check', f]);
  t.is(plain.code, 2);
  const r = await img(['check', '-r', 'all', f]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tsemu-img: Cannot repair: cluster \d+ is in use but no refcount block covers it/);
  t.true(readFileSync(f).equals(b), 'the image is unchanged');
});
