/**
 * virtio-blk over virtio-pci with Debian's kernel as the driver (issue #5's device half):
 *
 *  - a raw image made here with known bytes: the guest sees the PCIe bus (00:00.0 host
 *    bridge, 00:01.0 virtio), reads the disk (md5sum equals the host's), writes it, and
 *    the host reads the guest's bytes back; blkdiscard goes through DISCARD;
 *  - -smp 2 with -blockdev/-device: one queue per vCPU (MQ), the serial through GET_ID;
 *  - the block service is killed while the guest does I/O: the supervisor starts it
 *    again, the new one re-reads what was in flight from the rings, and the guest sees
 *    no I/O error;
 *  - an ext4 root (mkfs.ext4 -d on the host, busybox as its userland) on the disk: the
 *    guest boots into it, writes files, syncs, powers off; e2fsck finds it clean and
 *    debugfs reads the files back. With format=qcow2 the image must also pass
 *    `qemu-img check` (skipped while the block layer cannot open qcow2 yet).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { bootGuest, makeExt4Root, PROMPT } from '../helpers/guest.js';
import { tempDir } from '../helpers/procs.js';
import { openImage } from '../../services/block/format/open.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
/** The first md5 sum in a command's output. */
const sum = (out: string) => /[0-9a-f]{32}/.exec(out)?.[0] ?? `no md5 in: ${out}`;

/** The pid of tsemu's block service child (a `tsemu service block` whose parent is `ppid`). */
function blockServicePid(ppid: number): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== ppid) continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('service') && cmd.includes('block')) return Number(d);
    } catch {
      // gone
    }
  }
  return undefined;
}

test.serial('raw disk: PCI bus, read, write, discard; the block service restarts under I/O', async (t) => {
  t.timeout(900_000);
  const dir = tempDir(t);
  const img = join(dir, 'disk.raw');
  const content = randomBytes(16 << 20);
  writeFileSync(img, content);
  const g = await bootGuest(['-drive', `file=${img},format=raw,if=virtio,cache=writeback`], 1);
  t.teardown(() => g.p.kill('SIGKILL'));
  await g.ready();

  t.regex(await g.run('ls /sys/bus/pci/devices'), /0000:00:00\.0\s+0000:00:01\.0/);
  t.is(await g.run('cat /sys/bus/pci/devices/0000:00:01.0/vendor /sys/bus/pci/devices/0000:00:01.0/device'), '0x1af4\r\n0x1042'.replace('\r', ''));
  t.is(await g.run('cat /sys/block/vda/size'), String(content.length / 512));
  t.is(sum(await g.run('md5sum /dev/vda')), md5(content), 'the guest reads what the host wrote');

  // the guest writes 1 MiB at 4 MiB; the host must find the same bytes there
  const guestMd5 = sum(await g.run('dd if=/dev/urandom of=/tmp/w bs=65536 count=16 2>/dev/null; dd if=/tmp/w of=/dev/vda bs=65536 seek=64 conv=fsync 2>/dev/null; md5sum /tmp/w'));
  t.is(sum(await g.run('dd if=/dev/vda bs=65536 skip=64 count=16 2>/dev/null | md5sum')), guestMd5);
  t.is(md5(readFileSync(img).subarray(4 << 20, 5 << 20)), guestMd5, 'the host reads what the guest wrote');

  // discard and write-zeroes (busybox blkdiscard; -z if it has it)
  const disc = await g.run('blkdiscard -o 8388608 -l 1048576 /dev/vda; echo rc=$?');
  t.log(`blkdiscard: ${disc}`);
  t.regex(disc, /rc=0/);

  // kill the block service under I/O: the supervisor restarts it, the guest sees no error
  const loopFrom = g.out.length;
  g.p.stdin.write('(i=0; while [ $i -lt 40 ]; do dd if=/dev/vda of=/dev/null bs=65536 count=256 iflag=direct 2>/dev/null || echo IOFAIL; dd if=/tmp/w of=/dev/vda bs=65536 seek=192 conv=fsync 2>/dev/null || echo IOFAIL; i=$((i+1)); done; echo LOOPDONE) &\n');
  await new Promise((r) => setTimeout(r, 4000));
  const pid = blockServicePid(g.p.pid!);
  t.truthy(pid, 'found the block service');
  process.kill(pid!, 'SIGKILL');
  const from = g.out.length;
  await g.expect(/LOOPDONE/, 400_000, from);
  t.false(/^IOFAIL\r?$/m.test(g.out.slice(loopFrom)), 'no I/O error in the guest'); // (the echoed command has the word too)
  const again = blockServicePid(g.p.pid!);
  t.truthy(again && again !== pid, 'a new block service runs');
  t.is(sum(await g.run('dd if=/dev/vda bs=65536 skip=192 count=16 2>/dev/null | md5sum')), guestMd5);
  const errs = await g.run('dmesg | grep -ci "i/o error"');
  t.is(errs, '0', 'no I/O errors in dmesg');
  t.is(await g.poweroff(), 0);
  t.is(md5(readFileSync(img).subarray(12 << 20, 13 << 20)), guestMd5);
});

test.serial('-smp 2: a queue per vCPU (MQ), both serve reads', async (t) => {
  t.timeout(900_000);
  const dir = tempDir(t);
  const img = join(dir, 'disk.raw');
  const content = randomBytes(4 << 20);
  writeFileSync(img, content);
  const g = await bootGuest(['-blockdev', `driver=raw,node-name=d0,file.driver=file,file.filename=${img}`, '-device', 'virtio-blk-pci,drive=d0,id=disk0,serial=tsemu-serial'], 2);
  t.teardown(() => g.p.kill('SIGKILL'));
  await g.ready();
  t.is(await g.run('echo $(ls /sys/block/vda/mq)'), '0 1', 'two queues');
  t.is(await g.run('echo $(cat /sys/block/vda/serial)'), 'tsemu-serial', 'GET_ID');
  // one read pinned to each CPU
  t.is(sum(await g.run('taskset 1 md5sum /dev/vda')), md5(content));
  t.is(sum(await g.run('echo 3 > /proc/sys/vm/drop_caches; taskset 2 md5sum /dev/vda')), md5(content));
  t.is(await g.poweroff(), 0);
});

async function ext4RootRun(t: import('ava').ExecutionContext, format: 'raw' | 'qcow2'): Promise<void> {
  t.timeout(900_000);
  const dir = tempDir(t);
  const raw = join(dir, 'root.raw');
  await makeExt4Root(dir, raw);
  let img = raw;
  if (format === 'qcow2') {
    img = join(dir, 'root.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, img]);
  }
  const g = await bootGuest(['-drive', `file=${img},format=${format},if=virtio`], 1, 'root=/dev/vda rw');
  t.teardown(() => g.p.kill('SIGKILL'));
  await g.expect(/tsemu ext4 root ready: \/dev\/vda \/ ext4 rw/, 420_000);
  await g.expect(PROMPT, 60_000);
  await g.settle();
  const data = sum(await g.run('echo "hello from the guest" > /root/hello.txt; dd if=/dev/urandom of=/root/data.bin bs=65536 count=32 2>/dev/null; mkdir -p /root/d; for i in 1 2 3 4 5; do echo $i > /root/d/f$i; done; sync; md5sum /root/data.bin'));
  t.regex(data, /^[0-9a-f]{32}$/);
  t.is(await g.poweroff(), 0, 'poweroff ends tsemu with status 0');

  if (format === 'qcow2') {
    const check = execFileSync('qemu-img', ['check', img], { encoding: 'utf8' });
    t.log(check.trim());
    t.regex(check, /No errors were found on the image/);
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', img, raw]);
  }
  const fsck = execFileSync('e2fsck', ['-fn', raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.regex(fsck, /clean|files/);
  const cat = (p: string) => execFileSync('debugfs', ['-R', `cat ${p}`, raw], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  t.is(cat('/root/hello.txt').toString(), 'hello from the guest\n');
  t.is(md5(cat('/root/data.bin')), data);
  for (let i = 1; i <= 5; i++) t.is(cat(`/root/d/f${i}`).toString(), `${i}\n`);
}

test.serial('ext4 root on a raw image: boot, write, sync, poweroff; e2fsck clean, debugfs reads the files', (t) => ext4RootRun(t, 'raw'));

test.serial('ext4 root on a qcow2 image over virtio-blk; qemu-img check passes', async (t) => {
  // the qcow2 format comes from the block-format work: skip until openImage can open one
  const dir = tempDir(t);
  const probe = join(dir, 'probe.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', probe, '1M']);
  try {
    const im = await openImage(probe, { format: 'qcow2', readOnly: true });
    await im.close();
  } catch (e) {
    t.log(`skipped: the block layer cannot open qcow2 yet (${(e as Error).message})`);
    t.pass();
    return;
  }
  await ext4RootRun(t, 'qcow2');
});
