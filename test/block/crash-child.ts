/**
 * Child for the crash test: opens an image read-write and runs the random workload until it
 * is killed. Prints "running" once the first requests have completed.
 * argv: image seed
 */
import { openImage } from '../../services/block/format/open.js';
import { workload } from './workload.js';

const [file, seed] = [process.argv[2]!, Number(process.argv[3] ?? 1)];
const img = await openImage(file, {});
const model = new Uint8Array(img.size);
await workload(img, model, { ops: 20, seed });
process.stdout.write('running\n');
for (let round = 1; ; round++) await workload(img, model, { ops: 50, seed: seed + round });
