/**
 * The rbd protocol against a real Ceph cluster (test/helpers/ceph.ts: one monitor, one
 * memstore OSD, cephx), with Ceph's own `rbd` tool and qemu-img's rbd driver as oracles:
 *
 *  - bytes `rbd import` wrote read back identically through `tsemu-img convert rbd:...`, and
 *    bytes tsemu wrote come out identically from `rbd export`;
 *  - tsemu-img create -f raw|qcow2 rbd:..., info, convert both ways; qcow2 on RBD passes
 *    qemu-img check;
 *  - snapshots made by either side are seen by the other (rbd snap ls / tsemu-img snapshot
 *    -l), read from (rbd:pool/img@snap), rolled back to and deleted;
 *  - the client options QEMU takes (conf, id, keyring, key, mon_host), and clear one-line
 *    errors with exit status 1 for a wrong key, a missing pool or image;
 *  - the protocol's discard / write-zeroes / growth on writes past the end;
 *  - long writes, which librbd sends from the caller's memory: that memory may change as
 *    soon as a write settles (librbd's write-around cache on), and they keep their order
 *    with the short writes it copies;
 *  - -blockdev driver=rbd (and file.driver=rbd under a format node) name the same image.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openImage } from '../../services/block/format/open.js';
import { formatRbdFilename, parseRbdFilename } from '../../services/block/protocol/rbd-spec.js';
import { parseBlockOptions } from '../../services/cpu/board/virtio-pci-block.js';
import { CephCluster } from '../helpers/ceph.js';
import { tempDir } from '../helpers/procs.js';
import { img, imgOk, must } from './tools.js';

let ceph: CephCluster;

test.before(async () => {
  ceph = await CephCluster.start();
});

test.after.always(async () => {
  await ceph?.stop();
});

/** Bytes with runs of zeros between random stretches, so holes and data both show. */
function patterned(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let off = 0; off < size; off += 256 << 10) randomBytes(96 << 10).copy(b, off + ((off >> 10) % 7) * 4096);
  return b;
}

async function exported(t: { title: string }, dir: string, image: string): Promise<Buffer> {
  const out = join(dir, `${image}.export`);
  await ceph.rbd(['export', `${ceph.pool}/${image}`, out]);
  return readFileSync(out);
}

test.serial('an image rbd import wrote reads back identically through tsemu-img convert', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src.raw');
  const data = patterned(8 << 20);
  writeFileSync(src, data);
  await ceph.rbd(['import', src, `${ceph.pool}/imported`]);
  await imgOk(['convert', '-O', 'raw', ceph.name('imported'), join(dir, 'out.raw')]);
  t.true(readFileSync(join(dir, 'out.raw')).equals(data));
  const info = JSON.parse(await imgOk(['info', '--output=json', ceph.name('imported')]));
  t.is(info.format, 'raw');
  t.is(info['virtual-size'], 8 << 20);
});

test.serial('tsemu-img create -f raw rbd:pool/img 1G, info, convert in: rbd export reads the same bytes', async (t) => {
  const dir = tempDir(t);
  const name = ceph.name('made');
  t.is(await imgOk(['create', '-f', 'raw', name, '1G']), `Formatting '${name}', fmt=raw size=1073741824\n`);
  const info = await imgOk(['info', name]);
  t.regex(info, /^file format: raw$/m);
  t.regex(info, /^virtual size: 1 GiB \(1073741824 bytes\)$/m);
  const size = Number(/"size":\s*(\d+)/.exec(await ceph.rbd(['info', '--format=json', `${ceph.pool}/made`]))![1]);
  t.is(size, 1 << 30);
  const again = await img(['create', '-f', 'raw', name, '1G']);
  t.is(again.code, 1);
  t.is(again.stderr, `tsemu-img: ${name}: error rbd create: File exists\n`);

  // convert creates the target image; rbd export reads back the same bytes
  const src = join(dir, 'src.raw');
  const data = patterned(6 << 20);
  writeFileSync(src, data);
  await ceph.rbd(['rm', `${ceph.pool}/made`]);
  await imgOk(['convert', '-f', 'raw', '-O', 'raw', src, ceph.name('converted')]);
  t.true((await exported(t, dir, 'converted')).equals(data));
  await must('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, ceph.name('converted')]);
});

test.serial('qcow2 on RBD: tsemu-img writes it, qemu-img checks it clean and reads the same guest bytes', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src.raw');
  const data = patterned(4 << 20);
  writeFileSync(src, data);
  const name = ceph.name('q2');
  await imgOk(['convert', '-f', 'raw', '-O', 'qcow2', src, name]);
  const check = await must('qemu-img', ['check', name]);
  t.regex(check, /No errors were found on the image/);
  await must('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', src, name]);
  t.regex(await imgOk(['info', name]), /^file format: qcow2$/m);
  // and a qcow2 qemu-img made on RBD reads back through tsemu
  await must('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', src, ceph.name('q2q')]);
  await imgOk(['convert', '-O', 'raw', ceph.name('q2q'), join(dir, 'back.raw')]);
  t.true(readFileSync(join(dir, 'back.raw')).equals(data));
});

test.serial('snapshots: each side sees, reads, rolls back and deletes the other\'s', async (t) => {
  const dir = tempDir(t);
  const v1 = patterned(4 << 20);
  const v2 = Buffer.from(v1.map((x) => x ^ 0x5a));
  const v3 = Buffer.from(v1.map((x) => x ^ 0xff));
  writeFileSync(join(dir, 'v1'), v1);
  writeFileSync(join(dir, 'v2'), v2);
  writeFileSync(join(dir, 'v3'), v3);
  const image = `${ceph.pool}/snappy`;
  const name = ceph.name('snappy');
  await ceph.rbd(['import', join(dir, 'v1'), image]);
  await ceph.rbd(['snap', 'create', `${image}@by-rbd`]);
  await imgOk(['convert', '-n', '-f', 'raw', '-O', 'raw', join(dir, 'v2'), name]);
  await imgOk(['snapshot', '-c', 'by-tsemu', name]);
  await imgOk(['convert', '-n', '-f', 'raw', '-O', 'raw', join(dir, 'v3'), name]);

  const rbdList = JSON.parse(await ceph.rbd(['snap', 'ls', '--format=json', image])) as { name: string; size: number }[];
  t.deepEqual(rbdList.map((s) => s.name), ['by-rbd', 'by-tsemu']);
  const list = await imgOk(['snapshot', '-l', name]);
  t.regex(list, /^by-rbd\s+by-rbd\s+4 MiB /m);
  t.regex(list, /^by-tsemu\s+by-tsemu\s+4 MiB /m);
  // qemu-img's rbd driver lists the same IDs and names
  const q = JSON.parse(await must('qemu-img', ['info', '--output=json', name])) as { snapshots: { id: string; name: string }[] };
  const ours = JSON.parse(await imgOk(['info', '--output=json', name])) as { snapshots: { id: string; name: string }[] };
  t.deepEqual(ours.snapshots.map((s) => [s.id, s.name]), q.snapshots.map((s) => [s.id, s.name]));

  // read from each snapshot, both spellings: rbd:pool/img@snap and convert -l snapshot.name=
  await imgOk(['convert', '-O', 'raw', ceph.name('snappy@by-rbd'), join(dir, 'r1')]);
  t.true(readFileSync(join(dir, 'r1')).equals(v1), 'rbd:pool/img@by-rbd holds v1');
  await imgOk(['convert', '-l', 'snapshot.name=by-tsemu', '-O', 'raw', name, join(dir, 'r2')]);
  t.true(readFileSync(join(dir, 'r2')).equals(v2), 'snapshot by-tsemu holds v2');
  await ceph.rbd(['export', `${image}@by-tsemu`, join(dir, 'r2-rbd')]);
  t.true(readFileSync(join(dir, 'r2-rbd')).equals(v2), 'rbd export of tsemu\'s snapshot');
  const ro = await img(['convert', '-n', '-O', 'raw', join(dir, 'v1'), ceph.name('snappy@by-rbd')]);
  t.is(ro.code, 1, 'a snapshot is read-only');

  // roll back to rbd's snapshot with tsemu-img -a; rbd export sees v1
  await imgOk(['snapshot', '-a', 'by-rbd', name]);
  t.true((await exported(t, dir, 'snappy')).equals(v1), 'after -a by-rbd');
  // delete on both sides
  await imgOk(['snapshot', '-d', 'by-rbd', name]);
  await ceph.rbd(['snap', 'rm', `${image}@by-tsemu`]);
  t.deepEqual(JSON.parse(await ceph.rbd(['snap', 'ls', '--format=json', image])), []);
  t.is(await imgOk(['snapshot', '-l', name]), '');
  const gone = await img(['snapshot', '-d', 'nope', name]);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /^tsemu-img: Could not delete snapshot 'nope': error removing snapshot: No such file or directory\n$/);
});

test.serial('client options: id + keyring, id + key, mon_host without a conf; wrong key, missing pool or image fail cleanly', async (t) => {
  await ceph.rbd(['create', '--size', '4M', `${ceph.pool}/opts`]);
  // no conf file: the monitor's address (msgr2) and a bound on the wait for it
  const mon = `mon_host=v2\\:127.0.0.1\\:${ceph.monPort}:client_mount_timeout=15`;
  const base = `rbd:${ceph.pool}/opts`;
  const viaKeyring = `${base}:id=tsemu:keyring=${ceph.userKeyring}:${mon}`;
  const viaKey = `${base}:id=tsemu:key=${ceph.userKey()}:${mon}`;
  for (const name of [viaKeyring, viaKey]) {
    const info = JSON.parse(await imgOk(['info', '--output=json', name]));
    t.is(info['virtual-size'], 4 << 20, name);
  }
  const wrongKey = `${base}:id=tsemu:key=AQBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==:${mon}`;
  const cases: [string, RegExp][] = [
    [wrongKey, /^tsemu-img: Could not open '.*': error connecting: Permission denied\n$/],
    [ceph.name('missing'), /^tsemu-img: Could not open '.*': error reading header from missing: No such file or directory\n$/],
    [`rbd:nopool/opts:conf=${ceph.conf}`, /^tsemu-img: Could not open '.*': error opening pool nopool: No such file or directory\n$/],
    [`${base}:conf=${ceph.conf}:no_such_option=1`, /^tsemu-img: Could not open '.*': invalid conf option no_such_option: No such file or directory\n$/],
    [`rbd:${ceph.pool}`, /^tsemu-img: Could not open 'rbd:rbd': Pool name is required\n$/],
  ];
  for (const [name, want] of cases) {
    const r = await img(['info', name]);
    t.is(r.code, 1, name);
    t.regex(r.stderr, want, name);
  }
  // client.tsemu may not touch another pool
  await ceph.ceph(['osd', 'pool', 'create', 'other', '4']);
  await ceph.rbd(['pool', 'init', 'other']);
  await ceph.rbd(['create', '--size', '4M', 'other/x']);
  const denied = await img(['info', `rbd:other/x:id=tsemu:keyring=${ceph.userKeyring}:${mon}`]);
  t.is(denied.code, 1);
  t.regex(denied.stderr, /Operation not permitted|Permission denied/);
});

test.serial('protocol I/O: unaligned writes, discard, write-zeroes, growth past the end; rbd export agrees', async (t) => {
  const dir = tempDir(t);
  await imgOk(['create', '-f', 'raw', ceph.name('io'), '8M']);
  const want = Buffer.alloc(8 << 20);
  const image = await openImage(ceph.name('io'), { format: 'raw', readOnly: false });
  try {
    const sab = new Uint8Array(new SharedArrayBuffer(3 << 20), 1 << 20, 1 << 20);
    sab.set(randomBytes(1 << 20));
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 32; i++) {
      const off = i * 200_003 % (7 << 20);
      const piece = sab.subarray(i * 1000, i * 1000 + 5000 + i * 17);
      want.set(piece, off);
      writes.push(image.write(piece, off));
    }
    await Promise.all(writes);
    await image.discard(1 << 20, 1 << 20);
    want.fill(0, 1 << 20, 2 << 20);
    await image.writeZeroes(3 << 20, 4096 * 3, false);
    want.fill(0, 3 << 20, (3 << 20) + 4096 * 3);
    await image.flush();
    const back = new Uint8Array(8 << 20);
    await image.read(back, 0);
    t.true(Buffer.from(back).equals(want));
    // long reads (streamed out) into memory at odd places, odd lengths, across objects and holes
    const ram = new Uint8Array(new SharedArrayBuffer(4 << 20));
    for (const [at, off, len] of [[7, 12345, 300_001], [4096 + 1, (4 << 20) - 99, 1 << 20], [33, (1 << 20) - 5, (1 << 20) + 77]] as const) {
      const dest = ram.subarray(at, at + len);
      await image.read(dest, off);
      t.true(Buffer.from(dest).equals(want.subarray(off, off + len)), `read ${len} at ${off} into +${at}`);
    }
    // the protocol grows on writes past its end (what qcow2 relies on)
    await image.protocol.pwrite(new Uint8Array(4096).fill(9), 9 << 20);
    t.is(await image.protocol.size(), (9 << 20) + 4096);
  } finally {
    await image.close();
  }
  const out = await exported(t, dir, 'io');
  t.true(out.subarray(0, 8 << 20).equals(want));
  t.true(out.subarray(9 << 20).equals(Buffer.alloc(4096, 9)));
});

test.serial('long writes go out from the caller\'s memory: it may change once a write settles; order with copied short writes holds', async (t) => {
  const dir = tempDir(t);
  await imgOk(['create', '-f', 'raw', ceph.name('lend'), '20M']);
  const want = Buffer.alloc(20 << 20);
  const image = await openImage(ceph.name('lend'), { format: 'raw', readOnly: false, cache: 'writeback' });
  try {
    // librbd's write-around cache completes writes early once it has seen a flush
    await image.flush();
    // guest RAM: a SharedArrayBuffer; each write's bytes are scribbled over as it settles
    const ram = new Uint8Array(new SharedArrayBuffer(17 << 20));
    ram.set(randomBytes(17 << 20));
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 16; i++) {
      const len = (1 << 20) - i * 4096;
      const piece = ram.subarray(i << 20, (i << 20) + len);
      const off = ((i * 5) % 16) << 20;
      want.set(piece, off);
      writes.push(image.write(piece, off).then(() => { piece.fill(0xee); }));
    }
    await Promise.all(writes);
    // a short write (copied, completed early by the cache), a long one over it, a short one into that
    await image.write(new Uint8Array(8192).fill(1), 16 << 20);
    const long = new Uint8Array(1 << 20).fill(2);
    await image.write(long, 16 << 20);
    long.fill(0xee);
    await image.write(new Uint8Array(4096).fill(3), (16 << 20) + 4096);
    want.fill(2, 16 << 20, 17 << 20);
    want.fill(3, (16 << 20) + 4096, (16 << 20) + 8192);
    await image.flush();
    const back = new Uint8Array(20 << 20);
    await image.read(back, 0);
    t.true(Buffer.from(back).equals(want));
  } finally {
    await image.close();
  }
  t.true((await exported(t, dir, 'lend')).equals(want));
});

test('rbd: names parse as QEMU reads them, escapes included, and format back', (t) => {
  const spec = parseRbdFilename('rbd:pool/ns/im\\@g@snap\\:1:conf=/etc/ceph/x.conf:id=tsemu:mon_host=v2\\:10.0.0.1\\:3300:keyring=/k');
  t.deepEqual(spec, {
    pool: 'pool', namespace: 'ns', image: 'im@g', snapshot: 'snap:1', conf: '/etc/ceph/x.conf', user: 'tsemu',
    options: [['mon_host', 'v2:10.0.0.1:3300'], ['keyring', '/k']],
  });
  t.deepEqual(parseRbdFilename(formatRbdFilename(spec)), spec);
  t.throws(() => parseRbdFilename('rbd:pool'), { message: 'Pool name is required' });
  t.throws(() => parseRbdFilename('rbd:pool/img:conf'), { message: 'conf option conf has no value' });
});

test.serial('-blockdev driver=rbd and file.driver=rbd name the image the block service opens', async (t) => {
  await ceph.rbd(['create', '--size', '4M', `${ceph.pool}/bd`]);
  const devs = parseBlockOptions([], [
    `driver=rbd,node-name=r0,pool=${ceph.pool},image=bd,conf=${ceph.conf},user=admin`,
    `driver=raw,node-name=d1,file.driver=rbd,file.pool=${ceph.pool},file.image=bd,file.server.0.host=127.0.0.1,file.server.0.port=${ceph.monPort},file.conf=${ceph.conf}`,
  ], ['virtio-blk-pci,drive=r0', 'virtio-blk-pci,drive=d1']);
  t.is(devs[0]!.file, `rbd:${ceph.pool}/bd:conf=${ceph.conf}:id=admin`);
  t.is(devs[0]!.format, 'raw');
  t.is(devs[1]!.file, `rbd:${ceph.pool}/bd:conf=${ceph.conf}:mon_host=127.0.0.1\\:${ceph.monPort}`);
  const image = await openImage(devs[0]!.file, { format: devs[0]!.format });
  t.is(image.size, 4 << 20);
  await image.close();
});

test.serial('key-secret: tsemu-img --object secret with key-secret=ID in the name or --image-opts; -drive/-blockdev carry the id, not the key', async (t) => {
  const dir = tempDir(t);
  await ceph.rbd(['create', '--size', '4M', `${ceph.pool}/sec`]);
  const mon = `mon_host=v2\\:127.0.0.1\\:${ceph.monPort}:client_mount_timeout=15`;
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, ceph.userKey());
  // the key as QEMU takes it: the secret's bytes are the key (format=base64 decodes the text)
  const objects = [
    ['--object', `secret,id=k64,data=${ceph.userKey()},format=base64`],
    ['--object', `secret,id=kfile,file=${keyFile},format=base64`],
  ];
  for (const [flag, obj] of objects) {
    const id = /id=(\w+)/.exec(obj!)![1]!;
    const info = JSON.parse(await imgOk(['info', flag!, obj!, '--output=json', `rbd:${ceph.pool}/sec:id=tsemu:key-secret=${id}:${mon}`]));
    t.is(info['virtual-size'], 4 << 20, obj);
    t.is(info.filename, `rbd:${ceph.pool}/sec:id=tsemu:key-secret=${id}:${mon}`, 'the name shows the id, not the key');
  }
  const opts = `driver=rbd,pool=${ceph.pool},image=sec,user=tsemu,key-secret=k,server.0.host=127.0.0.1,server.0.port=${ceph.monPort}`;
  const viaOpts = JSON.parse(await imgOk(['info', '--object', `secret,id=k,data=${ceph.userKey()},format=base64`, '--output=json', '--image-opts', opts]));
  t.is(viaOpts['virtual-size'], 4 << 20);
  // raw data is the key's bytes themselves: the base64 text as raw bytes is a wrong key
  const wrong = await img(['info', '--object', `secret,id=k,data=${ceph.userKey()}`, `rbd:${ceph.pool}/sec:id=tsemu:key-secret=k:${mon}`]);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /error connecting: (Permission denied|Invalid argument)/);
  const missing = await img(['info', `rbd:${ceph.pool}/sec:id=tsemu:key-secret=nosuch:${mon}`]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /No secret with id 'nosuch'/);

  // the machine's options: the name carries key-secret=ID; the key goes to the block service with the device
  const devs = parseBlockOptions([`file=rbd:${ceph.pool}/sec:id=tsemu,format=raw,file.key-secret=k`], [
    `driver=rbd,node-name=r0,pool=${ceph.pool},image=sec,user=tsemu,key-secret=k`,
  ], ['virtio-blk-pci,drive=r0']);
  t.is(devs[0]!.file, `rbd:${ceph.pool}/sec:id=tsemu:key-secret=k`);
  t.is(devs[1]!.file, `rbd:${ceph.pool}/sec:id=tsemu:key-secret=k`);
});

test.serial('create -o cluster_size= and password-secret= as qemu-img takes them: raw on RBD gives both to the rbd driver, qcow2 keeps cluster_size', async (t) => {
  const mon = `mon_host=v2\\:127.0.0.1\\:${ceph.monPort}:client_mount_timeout=15`;
  const secret = `secret,id=k,data=${ceph.userKey()},format=base64`;
  const order = async (image: string) => Number(/"order":\s*(\d+)/.exec(await ceph.rbd(['info', '--format=json', `${ceph.pool}/${image}`]))![1]);
  // the client's key only through the secret (client.tsemu is not in the conf's keyring)
  const name = `rbd:${ceph.pool}/objsize:id=tsemu:${mon}`;
  t.is(await imgOk(['create', '-f', 'raw', '--object', secret, '-o', 'cluster_size=8M,password-secret=k', name, '16M']),
    `Formatting '${name}', fmt=raw size=16777216 cluster_size=8388608 password-secret=k\n`);
  await must('qemu-img', ['create', '-f', 'raw', '--object', secret, '-o', 'cluster_size=8M,password-secret=k', `rbd:${ceph.pool}/objsize-q:id=tsemu:${mon}`, '16M']);
  t.is(await order('objsize'), 23);
  t.is(await order('objsize-q'), 23);
  // qcow2's own cluster size; the object size stays librbd's default, as with qemu-img
  await imgOk(['create', '-f', 'qcow2', '--object', secret, '-o', 'cluster_size=128k,password-secret=k', `rbd:${ceph.pool}/objsize-2:id=tsemu:${mon}`, '16M']);
  t.is(await order('objsize-2'), 22);
  t.is(JSON.parse(await imgOk(['info', '--object', secret, '--output=json', `rbd:${ceph.pool}/objsize-2:id=tsemu:key-secret=k:${mon}`]))['cluster-size'], 131072);
  // QEMU's refusals, word for word, and nothing made
  for (const [size, why] of [['5000', 'obj size needs to be power of 2'], ['2048', 'obj size too small'], ['128M', 'error rbd create: Numerical argument out of domain']]) {
    const n = ceph.name(`bad-${size}`);
    const r = await img(['create', '-f', 'raw', '-o', `cluster_size=${size}`, n, '16M']);
    const q = execFileSync('sh', ['-c', `qemu-img create -f raw -o cluster_size=${size} '${n}' 16M 2>&1 >/dev/null || true`], { encoding: 'utf8' });
    t.is(r.code, 1);
    t.is(r.stderr, `tsemu-img: ${n}: ${why}\n`);
    t.is(q, `qemu-img: ${n}: ${why}\n`);
  }
  t.notRegex(await ceph.rbd(['ls', ceph.pool]), /bad-/);
  const missing = await img(['create', '-f', 'raw', '-o', 'password-secret=nosuch', `rbd:${ceph.pool}/nokey:id=tsemu:${mon}`, '16M']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /No secret with id 'nosuch'/);
  // a host file takes neither
  const dir = tempDir(t);
  t.regex((await img(['create', '-f', 'raw', '-o', 'cluster_size=8M', join(dir, 'x.raw'), '16M'])).stderr, /Invalid parameter 'cluster_size'/);
  t.regex((await img(['create', '-f', 'qcow2', '-o', 'password-secret=k', join(dir, 'x.qcow2'), '16M'])).stderr, /Invalid parameter 'password-secret'/);
  t.is(await imgOk(['create', '-f', 'raw', '-o', 'help', name]), 'Supported options:\n  cluster_size=<size>\n  password-secret=<str>\n  preallocation=<str>\n  size=<size>\n');
});

test.serial('map: holes as librbd\'s fast-diff sees them (whole objects), as qemu-img map reports them; convert skips them', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'sparse.raw');
  const bytes = Buffer.alloc(64 << 20);
  bytes.write('hello', 5 << 20);
  randomBytes(3 << 20).copy(bytes, 30 << 20);
  writeFileSync(src, bytes);
  await ceph.rbd(['import', src, `${ceph.pool}/sparse`]); // rbd import leaves zero objects out
  const name = ceph.name('sparse');
  const ours = JSON.parse(await imgOk(['map', '--output=json', name]));
  const theirs = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', name], { encoding: 'utf8' }));
  t.deepEqual(ours, theirs);
  t.deepEqual(ours.filter((e: { data: boolean }) => e.data).map((e: { start: number; length: number }) => [e.start, e.length]),
    [[4 << 20, 4 << 20], [28 << 20, 8 << 20]], 'the two 4 MiB objects around the data');
  const out = join(dir, 'out.qcow2');
  await imgOk(['convert', '-O', 'qcow2', name, out]);
  await must('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', src, out]);
  const outMap = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', out], { encoding: 'utf8' })) as { data: boolean; length: number }[];
  t.true(outMap.filter((e) => e.data).reduce((n, e) => n + e.length, 0) <= 12 << 20, 'only the data objects were written');
});
