/**
 * Image I/O: `tsemu-img bench` against `qemu-img bench` on the same qcow2 files, the
 * machines taking turns (median of the runs). Each pair runs on its own fresh copy of the
 * image, so neither sees clusters the other allocated.
 *
 *   read-4k    4 KiB random reads, queue depth 32, over a preallocated (metadata) image
 *   write-4k   4 KiB random writes, depth 32, same image
 *   write-64k  64 KiB writes, depth 32, on an empty image (allocation and L2/refcount caches)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, timed } from './measure.js';

export interface ImageIoResult {
  name: string;
  args: string;
  tsemuSeconds: number | null;
  qemuSeconds: number | null;
  /** tsemu time / qemu time (1 = parity, below 1 = faster). */
  slowdown: number | null;
}

const CASES = [
  { name: 'read-4k', prealloc: true, args: ['-c', '100000', '-d', '32', '-s', '4096'] },
  { name: 'write-4k', prealloc: true, args: ['-w', '-c', '50000', '-d', '32', '-s', '4096'] },
  { name: 'write-64k', prealloc: false, args: ['-w', '-c', '10000', '-d', '32', '-s', '65536'] },
];



export function benchImageIo(root: string, workDir: string, repeats: number): ImageIoResult[] {
  mkdirSync(workDir, { recursive: true });
  const tsemuImg = join(root, 'bin/tsemu-img');
  const results: ImageIoResult[] = [];
  for (const c of CASES) {
    const base = join(workDir, `${c.name}.base.qcow2`);
    rmSync(base, { force: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...(c.prealloc ? ['-o', 'preallocation=metadata'] : []), base, '1G']);
    const t: number[] = [];
    const q: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const a = join(workDir, `${c.name}.a.qcow2`);
      const b = join(workDir, `${c.name}.b.qcow2`);
      copyFileSync(base, a);
      copyFileSync(base, b);
      q.push(timed('qemu-img', ['bench', '-f', 'qcow2', ...c.args, a]));
      t.push(timed(process.execPath, [tsemuImg, 'bench', '-f', 'qcow2', ...c.args, b]));
      rmSync(a, { force: true });
      rmSync(b, { force: true });
    }
    rmSync(base, { force: true });
    const tm = median(t);
    const qm = median(q);
    results.push({ name: c.name, args: c.args.join(' '), tsemuSeconds: tm, qemuSeconds: qm, slowdown: tm !== null && qm ? tm / qm : null });
  }
  return results;
}
