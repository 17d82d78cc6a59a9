/**
 * A Linux guest whose root disk is an RBD image (issue #8's VM acceptance): an ext4 root
 * (mkfs.ext4 -d on the host, busybox as its userland) goes into the cluster with
 * `rbd import`; tsemu boots Debian's kernel with `-drive file=rbd:...,format=raw,if=virtio`
 * and root=/dev/vda; the guest writes files, syncs, writes more while the OSD is frozen for
 * a few seconds (the writes wait, then complete: no I/O error), and powers off; `rbd export`
 * brings the image back, e2fsck finds it clean and debugfs reads the guest's files from it.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CephCluster } from '../helpers/ceph.js';
import { bootGuest, defaultVm, PROMPT } from '../helpers/guest.js';
import { sleep, tempDir } from '../helpers/procs.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

/** An ext4 image whose /sbin/init mounts the usual file systems and runs a shell. */
async function ext4Root(dir: string, raw: string): Promise<void> {
  const v = await defaultVm();
  const root = join(dir, 'root');
  for (const d of ['bin', 'sbin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(v.manifest.busybox, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  writeFileSync(join(root, 'sbin/init'), `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
cd /
echo "tsemu ext4 root ready: $(cat /proc/mounts | grep ' / ')"
setsid cttyhack sh
poweroff -f
`);
  chmodSync(join(root, 'sbin/init'), 0o755);
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', root, '-L', 'tsemuroot', raw, '64M'], { stdio: 'pipe' });
}

test('ext4 root on RBD: boot, write, sync, a frozen OSD waited out, poweroff; rbd export holds the files, e2fsck clean', async (t) => {
  t.timeout(900_000);
  const dir = tempDir(t);
  const raw = join(dir, 'root.raw');
  await ext4Root(dir, raw);
  const ceph = await CephCluster.start();
  t.teardown(() => ceph.stop());
  await ceph.rbd(['import', raw, `${ceph.pool}/root`]);

  const g = await bootGuest(['-drive', `file=${ceph.name('root')},format=raw,if=virtio`], 1, 'root=/dev/vda rw');
  t.teardown(() => g.p.kill('SIGKILL'));
  await g.expect(/tsemu ext4 root ready: \/dev\/vda \/ ext4 rw/, 420_000);
  await g.expect(PROMPT, 60_000);
  await g.settle();
  const out = await g.run('echo "hello from the guest on rbd" > /root/hello.txt; dd if=/dev/urandom of=/root/data.bin bs=65536 count=32 2>/dev/null; sync; md5sum /root/data.bin');
  const sum = /[0-9a-f]{32}/.exec(out)?.[0] ?? `no md5 in: ${out}`;
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
  const lateSum = /[0-9a-f]{32}/.exec(late)?.[0] ?? `no md5 in: ${late}`;
  t.regex(late, /\n0$/, 'no I/O error in the guest\'s log');
  g.p.stdin.write('poweroff -f\n');
  t.is(await g.exited, 0, 'poweroff ends tsemu with status 0');

  const back = join(dir, 'back.raw');
  await ceph.rbd(['export', `${ceph.pool}/root`, back]);
  const fsck = execFileSync('e2fsck', ['-fn', back], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.regex(fsck, /clean|files/);
  const cat = (p: string) => execFileSync('debugfs', ['-R', `cat ${p}`, back], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  t.is(cat('/root/hello.txt').toString(), 'hello from the guest on rbd\n');
  t.is(md5(cat('/root/data.bin')), sum);
  t.is(md5(cat('/root/late.bin')), lateSum);
});
