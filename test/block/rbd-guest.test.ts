/**
 * A Linux guest whose root disk is an RBD image (issue #8's VM acceptance): an ext4 root
 * (mkfs.ext4 -d on the host, busybox as its userland) goes into the cluster with
 * `rbd import`; tsemu boots Debian's kernel with `-drive file=rbd:...,format=raw,if=virtio`
 * and root=/dev/vda; the guest writes files, syncs, writes more while the OSD is frozen for
 * a few seconds (the writes wait, then complete: no I/O error), and powers off; `rbd export`
 * brings the image back, e2fsck finds it clean and debugfs reads the guest's files from it.
 * A second RBD disk with rados_osd_op_timeout=3 and werror=stop: a write to it under a frozen
 * OSD fails, the VM stops with run state io-error (QMP BLOCK_IO_ERROR, STOP, query-status), and
 * after the thaw `cont` does the write again: the guest sees no error.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { QmpClient } from '../../services/monitor/qmp-client.js';
import { CephCluster } from '../helpers/ceph.js';
import { bootGuest, makeExt4Root, PROMPT } from '../helpers/guest.js';
import { sleep, tempDir } from '../helpers/procs.js';
import { waitSocket } from '../monitor/helpers.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
/** The first md5 sum in a command's output. */
const firstMd5 = (out: string) => /[0-9a-f]{32}/.exec(out)?.[0] ?? `no md5 in: ${out}`;

test('ext4 root on RBD: boot, write, sync, a frozen OSD waited out, poweroff; rbd export holds the files, e2fsck clean', async (t) => {
  t.timeout(900_000);
  const dir = tempDir(t);
  const raw = join(dir, 'root.raw');
  await makeExt4Root(dir, raw);
  const ceph = await CephCluster.start();
  t.teardown(() => ceph.stop());
  await ceph.rbd(['import', raw, `${ceph.pool}/root`]);
  // a second disk that gives up on a frozen OSD after 3 s and stops the VM on errors
  await ceph.rbd(['create', '--size', '16M', `${ceph.pool}/data`]);
  const qmpPath = join(dir, 'qmp.sock');

  const g = await bootGuest([
    '-drive', `file=${ceph.name('root')},format=raw,if=virtio`,
    '-drive', `file=${ceph.name('data', ':rados_osd_op_timeout=3')},format=raw,if=virtio,cache=none,werror=stop,rerror=stop`,
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
  ], 1, 'root=/dev/vda rw');
  t.teardown(() => g.p.kill('SIGKILL'));
  await g.expect(/tsemu ext4 root ready: \/dev\/vda \/ ext4 rw/, 420_000);
  await g.expect(PROMPT, 60_000);
  await g.settle();
  const out = await g.run('echo "hello from the guest on rbd" > /root/hello.txt; dd if=/dev/urandom of=/root/data.bin bs=65536 count=32 2>/dev/null; sync; md5sum /root/data.bin');
  const sum = firstMd5(out);
  t.regex(sum, /^[0-9a-f]{32}$/);
  // the OSD frozen under the guest's writes: librbd waits (no timeout, as QEMU's default),
  // the guest's sync waits with it and completes, without an I/O error, once the OSD thaws
  ceph.freezeOsd(true);
  let synced = false;
  const frozenRun = g.run('dd if=/dev/urandom of=/root/late.bin bs=65536 count=16 2>/dev/null; sync; md5sum /root/late.bin; dmesg | grep -ci "i/o error"');
  void frozenRun.then(() => { synced = true; }, () => {});
  await sleep(5000);
  t.false(synced, 'sync waits while the OSD is frozen');
  ceph.freezeOsd(false);
  const late = await frozenRun;
  const lateSum = firstMd5(late);
  t.regex(late, /\n0$/, 'no I/O error in the guest\'s log');

  // werror=stop: a write to the data disk times out under a frozen OSD; the VM stops with
  // run state io-error (BLOCK_IO_ERROR, then STOP); once the OSD thaws, cont does the write
  // again and the guest never sees an error
  await waitSocket(qmpPath, g.p);
  const qmp = await QmpClient.connect(`unix:${qmpPath}`);
  t.teardown(() => qmp.close());
  await qmp.negotiate();
  t.is(await g.run('dd if=/dev/zero of=/dev/vdb bs=4096 count=1 oflag=direct 2>/dev/null; echo rc=$?'), 'rc=0'); // takes librbd's lock first
  const dataSum = firstMd5(await g.run('dd if=/dev/urandom of=/tmp/d bs=65536 count=4 2>/dev/null; md5sum /tmp/d'));
  ceph.freezeOsd(true);
  const writing = g.run('dd if=/tmp/d of=/dev/vdb bs=65536 oflag=direct 2>&1; echo rc=$?', 180_000);
  let ioError;
  try {
    ioError = await qmp.event('BLOCK_IO_ERROR', 60_000, true);
    await qmp.event('STOP', 10_000, true);
    t.like(await qmp.execute('query-status'), { status: 'io-error', running: false });
  } finally {
    ceph.freezeOsd(false);
  }
  t.like(ioError!.data, { device: 'virtio1', operation: 'write', action: 'stop', nospace: false, reason: 'Connection timed out' });
  await qmp.execute('cont');
  t.regex(await writing, /rc=0$/);
  t.like(await qmp.execute('query-status'), { status: 'running', running: true });
  t.is(firstMd5(await g.run('dd if=/dev/vdb bs=65536 count=4 iflag=direct 2>/dev/null | md5sum')), dataSum);
  t.is(await g.run('dmesg | grep -ci "i/o error"'), '0', 'the guest saw no I/O error');

  t.is(await g.poweroff(), 0, 'poweroff ends tsemu with status 0');

  const back = join(dir, 'back.raw');
  await ceph.rbd(['export', `${ceph.pool}/root`, back]);
  const fsck = execFileSync('e2fsck', ['-fn', back], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.regex(fsck, /clean|files/);
  const cat = (p: string) => execFileSync('debugfs', ['-R', `cat ${p}`, back], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  t.is(cat('/root/hello.txt').toString(), 'hello from the guest on rbd\n');
  t.is(md5(cat('/root/data.bin')), sum);
  t.is(md5(cat('/root/late.bin')), lateSum);
});
