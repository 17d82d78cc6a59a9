/**
 * qcow2 writes: images created by tsemu-img across the option matrix, random workloads of
 * writes, zeroes and discards (small clusters force refcount-table growth, backing files
 * force copy-on-write), then `qemu-img check` must find nothing and `qemu-img convert`
 * must read exactly what the workload wrote.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openImage } from '../../services/block/format/open.js';
import { Qcow2Image } from '../../services/block/format/qcow2/image.js';
import { BlockError, type BlockProtocol } from '../../services/block/format/types.js';
import { FileProtocol } from '../../services/block/protocol/file.js';
import { tempDir } from '../helpers/procs.js';
import { imgOk, must, qemuIo, tool } from './tools.js';
import { workload } from './workload.js';

interface Config {
  cluster: number;
  refcountBits: number;
  compat: '0.10' | '1.1';
  lazy?: boolean;
  backing?: boolean;
  prealloc?: boolean;
}

const configs: Config[] = [
  { cluster: 512, refcountBits: 1, compat: '1.1' },
  { cluster: 512, refcountBits: 2, compat: '1.1' },
  { cluster: 512, refcountBits: 64, compat: '1.1' },
  { cluster: 4096, refcountBits: 4, compat: '1.1' },
  { cluster: 4096, refcountBits: 16, compat: '0.10' },
  { cluster: 65536, refcountBits: 16, compat: '1.1' },
  { cluster: 65536, refcountBits: 8, compat: '1.1', lazy: true },
  { cluster: 2 * 1024 * 1024, refcountBits: 32, compat: '1.1' },
  { cluster: 4096, refcountBits: 16, compat: '1.1', backing: true },
  { cluster: 65536, refcountBits: 16, compat: '0.10', backing: true },
  { cluster: 512, refcountBits: 16, compat: '1.1', backing: true },
  { cluster: 4096, refcountBits: 16, compat: '1.1', prealloc: true },
];

function name(c: Config): string {
  return `cluster_size=${c.cluster} refcount_bits=${c.refcountBits} compat=${c.compat}` +
    `${c.lazy ? ' lazy_refcounts=on' : ''}${c.backing ? ' with backing' : ''}${c.prealloc ? ' preallocation=metadata' : ''}`;
}

for (const c of configs) {
  test(`random writes/zeroes/discards pass qemu-img check and read back: ${name(c)}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'w.qcow2');
    const size = c.cluster >= 1 << 20 ? 16 << 20 : 8 << 20;
    const opts = [`cluster_size=${c.cluster}`, `refcount_bits=${c.refcountBits}`, `compat=${c.compat}`];
    if (c.lazy) opts.push('lazy_refcounts=on');
    if (c.prealloc) opts.push('preallocation=metadata');
    const args = ['create', '-f', 'qcow2', '-o', opts.join(',')];
    if (c.backing) {
      const b = join(dir, 'b.qcow2');
      await must('qemu-img', ['create', '-q', '-f', 'qcow2', b, String(size)]);
      await qemuIo(b, ['write -P 0x5a 0 3M', 'write -P 0xa5 5M 1M']);
      args.push('-b', 'b.qcow2', '-F', 'qcow2');
    }
    await imgOk([...args, f, String(size)]);
    const fresh = await tool('qemu-img', ['check', f]);
    t.is(fresh.code, 0, fresh.stdout + fresh.stderr);
    const img = await openImage(f, {});
    const model = new Uint8Array(img.size);
    await img.read(model, 0);
    await workload(img, model, { ops: 250, seed: c.cluster + c.refcountBits });
    await img.close();
    const check = await tool('qemu-img', ['check', f]);
    t.is(check.code, 0, check.stdout + check.stderr);
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'q.raw')]);
    t.true(Buffer.from(model).equals(readFileSync(join(dir, 'q.raw'))), 'content');
    t.deepEqual(JSON.parse(await imgOk(['check', '--output=json', f])), JSON.parse(await must('qemu-img', ['check', '--output=json', f])));
    const info = JSON.parse(await must('qemu-img', ['info', '--output=json', f]));
    t.is(info['cluster-size'], c.cluster);
    t.is(info['format-specific'].data['refcount-bits'], c.refcountBits);
    t.is(info['format-specific'].data.compat, c.compat);
    t.is(info['dirty-flag'], false);
    if (c.lazy) t.true(info['format-specific'].data['lazy-refcounts']);
  });
}

test('create matches qemu-img create: same info for the same options', async (t) => {
  const dir = tempDir(t);
  for (const o of ['cluster_size=4096', 'compat=0.10', 'refcount_bits=1,lazy_refcounts=on', 'preallocation=metadata', 'cluster_size=2M']) {
    await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', o, join(dir, 'q.qcow2'), '100M']);
    await imgOk(['create', '-f', 'qcow2', '-o', o, join(dir, 't.qcow2'), '100M']);
    const q = JSON.parse(await must('qemu-img', ['info', '--output=json', join(dir, 'q.qcow2')]));
    const ts = JSON.parse(await must('qemu-img', ['info', '--output=json', join(dir, 't.qcow2')]));
    for (const k of ['virtual-size', 'cluster-size', 'format-specific', 'dirty-flag']) t.deepEqual(ts[k], q[k], `${o}: ${k}`);
    const ck = await tool('qemu-img', ['check', join(dir, 't.qcow2')]);
    t.is(ck.code, 0, `${o}: ${ck.stdout}${ck.stderr}`);
    const m = await tool('qemu-img', ['compare', join(dir, 't.qcow2'), join(dir, 'q.qcow2')]);
    t.is(m.code, 0, o);
  }
});

test('concurrent requests (as several virtqueues issue them) keep tables consistent', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'q.qcow2');
  await imgOk(['create', '-f', 'qcow2', '-o', 'cluster_size=4096,refcount_bits=2', f, '32M']);
  const image = await openImage(f, {});
  const model = new Uint8Array(image.size);
  const queues = 8;
  const span = image.size / queues;
  await Promise.all(Array.from({ length: queues }, async (_, q) => {
    let s = q + 1;
    const r = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32; };
    for (let i = 0; i < 150; i++) {
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
      } else {
        const got = new Uint8Array(len);
        await image.read(got, off);
        t.true(Buffer.from(got).equals(Buffer.from(model.subarray(off, off + len))), `queue ${q} read ${i}`);
      }
    }
  }));
  await image.close();
  const check = await tool('qemu-img', ['check', f]);
  t.is(check.code, 0, check.stdout + check.stderr);
  await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'q.raw')]);
  t.true(Buffer.from(model).equals(readFileSync(join(dir, 'q.raw'))));
});

test('cache=writethrough: every completed write is on disk with its metadata (no flush, no close)', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'wt.qcow2');
  await imgOk(['create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '8M']);
  const image = await openImage(f, { cache: 'writethrough' });
  await image.write(new Uint8Array(10000).fill(7), 12345);
  // Another reader sees it without flush or close: metadata went to disk with the write.
  const check = await tool('qemu-img', ['check', '-U', f]);
  t.is(check.code, 0, check.stdout + check.stderr);
  await must('qemu-img', ['convert', '-U', '-O', 'raw', f, join(dir, 'wt.raw')]);
  const raw = readFileSync(join(dir, 'wt.raw'));
  t.true(raw.subarray(12345, 22345).equals(Buffer.alloc(10000, 7)));
  await image.close();
});

test('tiny metadata caches (l2-cache-size, refcount-cache-size of two tables): evictions keep the image consistent', async (t) => {
  const dir = tempDir(t);
  for (const [opts, snapshots] of [['cluster_size=512,refcount_bits=16', false], ['cluster_size=4096,refcount_bits=8', true]] as const) {
    const f = join(dir, 'tiny.qcow2');
    await imgOk(['create', '-f', 'qcow2', '-o', opts, f, '8M']);
    const image = await openImage(f, { options: { 'l2-cache-size': '0', 'refcount-cache-size': '0' } });
    const model = new Uint8Array(image.size);
    await workload(image, model, { ops: 150, seed: 77 });
    if (snapshots) {
      await image.snapshots!.create('a');
      await workload(image, model.slice(), { ops: 50, seed: 78 });
      await image.snapshots!.apply('a');
      await image.snapshots!.delete('a');
    }
    await image.close();
    const check = await tool('qemu-img', ['check', f]);
    t.is(check.code, 0, `${opts}: ${check.stdout}${check.stderr}`);
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'tiny.raw')]);
    t.true(Buffer.from(model).equals(readFileSync(join(dir, 'tiny.raw'))), opts);
  }
});

/** Disjoint [offset, length) ranges, 512-byte aligned, covering parts of [base, base + span). */
function disjoint(r: () => number, base: number, span: number, count: number): Array<[number, number]> {
  const cuts = new Set<number>();
  while (cuts.size < count * 2) cuts.add(Math.floor(r() * (span / 512)) * 512);
  const c = [...cuts].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (let i = 0; i + 1 < c.length; i += 2) out.push([base + c[i]!, c[i + 1]! - c[i]!]);
  return out;
}

test('writes into the same unallocated clusters at once (disjoint sectors) all land; zeroes, discards, flushes and snapshots among them', async (t) => {
  const dir = tempDir(t);
  for (const [opts, backing] of [['cluster_size=65536', false], ['cluster_size=4096,refcount_bits=4', true], ['cluster_size=512', false]] as const) {
    const f = join(dir, 'c.qcow2');
    const size = 4 << 20;
    const args = ['create', '-f', 'qcow2', '-o', opts];
    if (backing) {
      const b = join(dir, 'b.raw');
      await must('qemu-img', ['create', '-q', '-f', 'raw', b, String(size)]);
      await qemuIo(b, ['write -P 0x3c 0 4M'], 'raw');
      args.push('-b', 'b.raw', '-F', 'raw');
    }
    await imgOk([...args, f, String(size)]);
    const image = await openImage(f, {});
    const model = new Uint8Array(size);
    await image.read(model, 0);
    let s = 99;
    const r = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32; };
    let snaps = 0;
    for (let wave = 0; wave < 60; wave++) {
      // a few clusters' worth of the image, cut into disjoint pieces all issued at once
      const span = 256 << 10;
      const base = Math.floor(r() * ((size - span) / 512)) * 512;
      const pieces = disjoint(r, base, span, 12);
      const discarded = new Set<number>();
      const ops: Promise<unknown>[] = pieces.map(([off, len], i): Promise<unknown> => {
        const k = r();
        if (k < 0.7) {
          const b = new Uint8Array(len).fill((wave * 13 + i) & 0xff || 1);
          model.set(b, off);
          return image.write(b, off);
        }
        if (k < 0.85) {
          model.fill(0, off, off + len);
          return image.writeZeroes(off, len, k < 0.8);
        }
        // a discard may leave zeros, the backing file's bytes, or (part of a cluster) what was there
        discarded.add(i);
        return image.discard(off, len);
      });
      if (wave % 7 === 3) ops.push(image.flush());
      if (wave % 15 === 5) ops.push(image.snapshots!.create(`s${snaps++}`));
      await Promise.all(ops);
      for (const [i, [off, len]] of pieces.entries()) {
        const got = new Uint8Array(len);
        await image.read(got, off);
        if (discarded.has(i)) model.set(got, off);
        else if (!Buffer.from(got).equals(Buffer.from(model.subarray(off, off + len)))) t.fail(`${opts}: wave ${wave} [${off}, +${len}) reads wrong`);
      }
    }
    await image.close();
    const check = await tool('qemu-img', ['check', f]);
    t.is(check.code, 0, `${opts}: ${check.stdout}${check.stderr}`);
    t.regex(check.stdout, /No errors were found/, opts);
    await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'c.raw')]);
    t.true(Buffer.from(model).equals(readFileSync(join(dir, 'c.raw'))), opts);
  }
});

test('an allocating write whose data write fails: the request fails, its clusters are free again, the writes beside it land', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'e.qcow2');
  await imgOk(['create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '4M']);
  const file = await FileProtocol.open(f);
  let failed = 0;
  // the host fails any write of the poisoned pattern (ENOSPC), as a full disk would
  const faulty = new Proxy(file, {
    get(target, prop) {
      if (prop === 'pwrite') {
        return async (buf: Uint8Array, off: number) => {
          if (buf.length >= 512 && buf[0] === 0xee && buf[buf.length - 1] === 0xee) {
            failed++;
            throw new BlockError('Could not write: ENOSPC', 'ENOSPC');
          }
          return target.pwrite(buf, off);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as BlockProtocol;
  const image = await Qcow2Image.open(faulty, {});
  const good = Array.from({ length: 6 }, (_, i) => new Uint8Array(4096 * (1 + (i % 2))).fill(i + 1));
  const results = await Promise.allSettled([
    ...good.map((b, i) => image.write(b, i * 5 * 4096)),
    image.write(new Uint8Array(3 * 4096).fill(0xee), 100 * 4096),
    image.write(new Uint8Array(4096).fill(0xee), 200 * 4096),
  ]);
  t.true(failed >= 2);
  t.deepEqual(results.map((x) => x.status), [...good.map(() => 'fulfilled'), 'rejected', 'rejected']);
  t.regex(String((results[6] as PromiseRejectedResult).reason.message), /ENOSPC/);
  for (const [i, b] of good.entries()) {
    const got = new Uint8Array(b.length);
    await image.read(got, i * 5 * 4096);
    t.true(Buffer.from(got).equals(Buffer.from(b)), `write ${i}`);
  }
  const hole = new Uint8Array(3 * 4096);
  await image.read(hole, 100 * 4096);
  t.true(hole.every((x) => x === 0), 'the failed write left nothing');
  await image.close();
  const check = await tool('qemu-img', ['check', f]);
  t.is(check.code, 0, check.stdout + check.stderr);
  t.regex(check.stdout, /No errors were found/);
  t.deepEqual(JSON.parse(await must('qemu-img', ['map', '--output=json', f])).filter((e: { data: boolean }) => e.data).length, good.length);
});
