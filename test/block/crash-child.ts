/**
 * Child for the crash test: opens an image read-write and runs the random workload until it
 * is killed. Prints "running" once the first requests have completed.
 * argv: image seed [snapshots]  (with "snapshots", internal snapshots are created, applied
 * and deleted between rounds too)
 */
import { openImage } from '../../services/block/format/open.js';
import { workload } from './workload.js';

const [file, seed, mode] = [process.argv[2]!, Number(process.argv[3] ?? 1), process.argv[4]];
const img = await openImage(file, {});
const model = new Uint8Array(img.size);
await workload(img, model, { ops: 20, seed });
process.stdout.write('running\n');
for (let round = 1; ; round++) {
  await workload(img, model, { ops: 50, seed: seed + round });
  if (mode === 'snapshots' && img.snapshots) {
    const list = await img.snapshots.list();
    if (round % 3 === 0 && list.length) await img.snapshots.delete(list[0]!.id);
    else if (round % 5 === 0 && list.length) await img.snapshots.apply(list.at(-1)!.id);
    else await img.snapshots.create(`r${round}`);
  }
}
