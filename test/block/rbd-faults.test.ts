/**
 * The rbd protocol when the cluster misbehaves under I/O (test/helpers/ceph.ts's cluster):
 *
 *  - the OSD frozen (SIGSTOP) with rados_osd_op_timeout set: requests in flight fail with
 *    ETIMEDOUT after the timeout, as a clear BlockError, and I/O works again once it thaws;
 *  - the OSD stopped and started again with no timeout (QEMU's default: wait): requests made
 *    while it is down complete when it is back, and every byte is where it was written;
 *  - the monitor frozen: I/O to the OSD goes on without it;
 *  - close() waits for what is in flight; nothing crashes or hangs.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openImage } from '../../services/block/format/open.js';
import { BlockError } from '../../services/block/format/types.js';
import { CephCluster } from '../helpers/ceph.js';
import { sleep, tempDir } from '../helpers/procs.js';

let ceph: CephCluster;

test.before(async () => {
  ceph = await CephCluster.start();
});

test.after.always(async () => {
  await ceph?.stop();
});

test.serial('a frozen OSD: requests time out with ETIMEDOUT (rados_osd_op_timeout), then I/O resumes', async (t) => {
  await ceph.rbd(['create', '--size', '16M', `${ceph.pool}/frozen`]);
  const image = await openImage(ceph.name('frozen', ':rados_osd_op_timeout=3'), { format: 'raw', readOnly: false });
  try {
    const a = new Uint8Array(65536).fill(0xa1);
    await image.write(a, 0);
    ceph.freezeOsd(true);
    const t0 = Date.now();
    let results: PromiseSettledResult<void>[];
    try {
      results = await Promise.allSettled([image.write(a, 1 << 20), image.read(new Uint8Array(4096), 0), image.write(a, 2 << 20)]);
    } finally {
      ceph.freezeOsd(false);
    }
    const waited = Date.now() - t0;
    t.true(waited >= 2500 && waited < 20_000, `failed after ${waited} ms`);
    for (const r of results) {
      t.is(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as BlockError;
      t.true(e instanceof BlockError);
      t.is(e.errno, 'ETIMEDOUT');
      t.regex(e.message, /^Could not (read|write) 'rbd:.*': Connection timed out$/);
    }
    const b = new Uint8Array(65536).fill(0xb2);
    await image.write(b, 3 << 20);
    const back = new Uint8Array(65536);
    await image.read(back, 3 << 20);
    t.deepEqual(back, b);
    await image.read(back, 0);
    t.deepEqual(back, a);
  } finally {
    await image.close();
  }
});

test.serial('the OSD stopped mid-I/O and started again: requests wait and complete, rbd export has every byte', async (t) => {
  const dir = tempDir(t);
  await ceph.rbd(['create', '--size', '16M', `${ceph.pool}/restart`]);
  const want = Buffer.alloc(16 << 20);
  const image = await openImage(ceph.name('restart'), { format: 'raw', readOnly: false, cache: 'none' });
  try {
    const before = randomBytes(1 << 20);
    await image.write(before, 0);
    want.set(before, 0);
    await image.flush();
    const stopping = ceph.stopOsd();
    // requests made while the OSD goes down and stays down
    const during: Promise<void>[] = [];
    for (let i = 1; i < 12; i++) {
      const piece = randomBytes(256 << 10);
      want.set(piece, i << 20);
      during.push(image.write(piece, i << 20));
      if (i === 4) await stopping;
    }
    const readBack = new Uint8Array(1 << 20);
    const reading = image.read(readBack, 0);
    let settled = false;
    void Promise.allSettled(during).then(() => { settled = true; });
    await sleep(1500);
    t.false(settled, 'writes wait while the OSD is down');
    await ceph.startOsd();
    await Promise.all(during);
    await reading;
    t.true(Buffer.from(readBack).equals(before));
    await image.flush();
  } finally {
    await image.close();
  }
  await ceph.rbd(['export', `${ceph.pool}/restart`, join(dir, 'out')]);
  t.true(readFileSync(join(dir, 'out')).equals(want));
});

test.serial('a frozen monitor: I/O to the OSD goes on', async (t) => {
  await ceph.rbd(['create', '--size', '8M', `${ceph.pool}/monless`]);
  const image = await openImage(ceph.name('monless', ':rados_osd_op_timeout=10'), { format: 'raw', readOnly: false });
  try {
    ceph.freezeMon(true);
    try {
      const data = randomBytes(1 << 20);
      await image.write(data, 0);
      await image.flush();
      const back = new Uint8Array(1 << 20);
      await image.read(back, 0);
      t.true(Buffer.from(back).equals(data));
    } finally {
      ceph.freezeMon(false);
    }
  } finally {
    await image.close();
  }
});
