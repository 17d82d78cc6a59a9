/**
 * Snapshots under random workloads: create, write, apply, delete in random order; after
 * every step qemu-img check is clean and every snapshot (and the active image) reads what
 * the model says it holds.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openImage } from '../../services/block/format/open.js';
import type { BlockImage } from '../../services/block/format/types.js';
import { tempDir } from '../helpers/procs.js';
import { imgOk, must, rng, tool } from './tools.js';
import { workload } from './workload.js';

for (const [cluster, bits, seed] of [[512, 4, 1], [4096, 16, 2], [65536, 64, 3]] as const) {
  test(`random snapshot create/apply/delete with writes: cluster_size=${cluster} refcount_bits=${bits}`, async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 's.qcow2');
    await imgOk(['create', '-f', 'qcow2', '-o', `cluster_size=${cluster},refcount_bits=${bits}`, f, '4M']);
    const r = rng(seed * 977);
    const snaps = new Map<string, Uint8Array>();
    let img: BlockImage = await openImage(f, {});
    let model = new Uint8Array(img.size);
    let n = 0;
    for (let step = 0; step < 14; step++) {
      const k = r();
      let what: string;
      if (k < 0.4 || snaps.size === 0) {
        await workload(img, model, { ops: 40, seed: seed * 100 + step, maxLen: 100_000 });
        const name = `s${n++}`;
        await img.snapshots!.create(name);
        snaps.set(name, model.slice());
        what = `create ${name}`;
      } else if (k < 0.65) {
        const name = [...snaps.keys()][Math.floor(r() * snaps.size)]!;
        await img.snapshots!.apply(name);
        model = snaps.get(name)!.slice();
        what = `apply ${name}`;
      } else if (k < 0.85) {
        const name = [...snaps.keys()][Math.floor(r() * snaps.size)]!;
        await img.snapshots!.delete(name);
        snaps.delete(name);
        what = `delete ${name}`;
      } else {
        await workload(img, model, { ops: 40, seed: seed * 1000 + step, maxLen: 100_000 });
        what = 'writes';
      }
      await img.close();
      const check = await tool('qemu-img', ['check', f]);
      t.is(check.code, 0, `step ${step} (${what}): ${check.stdout}${check.stderr}`);
      await must('qemu-img', ['convert', '-O', 'raw', f, join(dir, 'a.raw')]);
      t.true(Buffer.from(model).equals(readFileSync(join(dir, 'a.raw'))), `step ${step} (${what}): active image`);
      for (const [name, content] of snaps) {
        await must('qemu-img', ['convert', '-l', `snapshot.name=${name}`, '-O', 'raw', f, join(dir, 's.raw')]);
        t.true(Buffer.from(content).equals(readFileSync(join(dir, 's.raw'))), `step ${step} (${what}): snapshot ${name}`);
      }
      img = await openImage(f, {});
    }
    await img.close();
  });
}
