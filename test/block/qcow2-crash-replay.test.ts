/**
 * Crash consistency, exhaustively rather than by luck: every protocol write a workload makes
 * is recorded, and the image is rebuilt as a crash would leave it after each prefix of those
 * writes (a killed process loses what it had not written yet, nothing else). Every such
 * image must pass `qemu-img check` with leaks at worst (COPIED flag mismatches are allowed
 * inside snapshot operations, as with qemu, and `check -r all` must fix them).
 */
import test from 'ava';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileProtocol } from '../../services/block/protocol/file.js';
import { openImage } from '../../services/block/format/open.js';
import { Qcow2Image } from '../../services/block/format/qcow2/image.js';
import type { BlockProtocol } from '../../services/block/format/types.js';
import { tempDir } from '../helpers/procs.js';
import { imgOk, must, qemuIo, tool } from './tools.js';
import { workload } from './workload.js';

interface Write { offset: number; data: Uint8Array }

/** A protocol that passes everything through and remembers each write. */
function recording(inner: BlockProtocol, log: Write[]): BlockProtocol {
  return {
    driver: inner.driver, filename: inner.filename, readOnly: inner.readOnly,
    size: () => inner.size(),
    pread: (b, o) => inner.pread(b, o),
    pwrite: async (b, o) => { log.push({ offset: o, data: b.slice() }); await inner.pwrite(b, o); },
    flush: () => inner.flush(),
    truncate: async (n) => { log.push({ offset: -n - 1, data: new Uint8Array(0) }); await inner.truncate(n); },
    close: () => inner.close(),
  };
}

for (const [label, opts, backing, snapshots, tiny] of [
  ['4k clusters', 'cluster_size=4096', false, false, false],
  ['512 B clusters, refcount_bits=64 (refcount table growth)', 'cluster_size=512,refcount_bits=64', false, false, false],
  ['64k clusters over a backing file, v2', 'cluster_size=65536,compat=0.10', true, false, false],
  ['4k clusters with snapshots', 'cluster_size=4096,refcount_bits=8', false, true, false],
  ['512 B clusters, two-table caches (constant eviction)', 'cluster_size=512', false, false, true],
  ['4k clusters with snapshots, two-table caches', 'cluster_size=4096', false, true, true],
] as const) {
  test(`every prefix of the writes is a consistent image: ${label}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'c.qcow2');
    const args = ['create', '-f', 'qcow2', '-o', opts];
    if (backing) {
      await must('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'b.qcow2'), '8M']);
      await qemuIo(join(dir, 'b.qcow2'), ['write -P 0x5a 0 6M']);
      args.push('-b', 'b.qcow2', '-F', 'qcow2');
    }
    await imgOk([...args, f, '8M']);
    // Some history first, so there is something to free and to share.
    const warm = await openImage(f, {});
    await workload(warm, new Uint8Array(warm.size), { ops: 60, seed: 5, maxLen: 80_000 });
    if (snapshots) await warm.snapshots!.create('old');
    await warm.close();
    const initial = readFileSync(f);
    const log: Write[] = [];
    const file = await FileProtocol.open(f, {});
    // Tiny caches: tables are evicted (written back) all the time, so eviction order is tested too.
    const img = await Qcow2Image.open(recording(file, log), tiny ? { options: { 'l2-cache-size': '0', 'refcount-cache-size': '0' } } : {}, openImage);
    for (let round = 0; round < 4; round++) {
      await workload(img, new Uint8Array(img.size), { ops: 25, seed: 40 + round, maxLen: 80_000 });
      if (snapshots) {
        if (round === 1) await img.snapshots!.apply('old');
        else if (round === 2) await img.snapshots!.delete('old');
        else await img.snapshots!.create(`s${round}`);
      }
    }
    await img.close();
    // Rebuild the file after each prefix of the writes; check a spread of cut points.
    const cuts = new Set<number>();
    const n = log.length;
    // All of them with TSEMU_CRASH_ALL=1 (slow); a spread of 60 by default.
    const spread = process.env.TSEMU_CRASH_ALL ? n + 1 : 60;
    for (let i = 0; i < spread; i++) cuts.add(Math.floor((i * n) / spread));
    let state = Buffer.from(initial);
    const cut = join(dir, 'cut.qcow2');
    let checked = 0;
    for (let k = 0; k <= n; k++) {
      if (cuts.has(k)) {
        writeFileSync(cut, state);
        const r = await tool('qemu-img', ['check', cut]);
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('ERROR'));
        const onlyFlags = r.code === 2 && snapshots && errors.every((l) => l.startsWith('ERROR OFLAG_COPIED'));
        t.true(r.code === 0 || r.code === 3 || onlyFlags, `after ${k} of ${n} writes: status ${r.code}\n${r.stdout}${r.stderr}`);
        if (onlyFlags) t.is((await tool('qemu-img', ['check', '-r', 'all', cut])).code, 0);
        checked++;
      }
      if (k === n) break;
      const w = log[k]!;
      if (w.offset < 0) {
        const size = -w.offset - 1;
        const next = Buffer.alloc(size);
        state.copy(next, 0, 0, Math.min(size, state.length));
        state = next;
      } else {
        if (w.offset + w.data.length > state.length) {
          const next = Buffer.alloc(w.offset + w.data.length);
          state.copy(next);
          state = next;
        }
        state.set(w.data, w.offset);
      }
    }
    t.log(`${n} writes, ${checked} crash points checked`);
    copyFileSync(f, cut);
    t.is((await tool('qemu-img', ['check', cut])).code, 0, 'the finished image');
  });
}
