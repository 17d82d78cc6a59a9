/**
 * RBD I/O: tsemu's rbd protocol against `rbd bench` on the same throwaway cluster
 * (test/helpers/ceph.ts: one monitor, one memstore OSD on loopback), the two taking turns,
 * median of the runs, reported as IOPS and tsemu/rbd ratios.
 *
 *   write-4k-rand  4 KiB writes at random 4 KiB-aligned offsets, 32 in flight
 *   read-4k-rand   4 KiB reads, same pattern, over an image written end to end first
 *   write-1m-seq   1 MiB sequential writes, 16 in flight
 *   read-1m-seq    1 MiB sequential reads, 16 in flight
 *
 * tsemu's side is a small driver over openImage (format raw over the rbd protocol, as a
 * virtio-blk drive would have it, librbd's cache on as QEMU's cache=writeback asks):
 * `depth` loops each keep one request in flight; a final flush is inside the timing, as
 * `rbd bench` flushes at its end too. Both sides run the same number of operations.
 * The figures are the OSD's as much as the client's: the ratio says whether tsemu's path
 * (JS, the binding, its completions) costs anything next to librbd's own tool.
 */
import { openImage } from '../services/block/format/open.js';
import { CephCluster } from '../test/helpers/ceph.js';

export interface RbdBenchResult {
  name: string;
  ioSize: number;
  depth: number;
  ops: number;
  tsemuIops: number | null;
  rbdIops: number | null;
  /** tsemu IOPS / rbd bench IOPS (1 = parity). */
  ratio: number | null;
  error?: string;
}

interface Case {
  name: string;
  type: 'write' | 'read';
  pattern: 'rand' | 'seq';
  ioSize: number;
  depth: number;
  ops: number;
}

const CASES: Case[] = [
  { name: 'write-4k-rand', type: 'write', pattern: 'rand', ioSize: 4096, depth: 32, ops: 60_000 },
  { name: 'read-4k-rand', type: 'read', pattern: 'rand', ioSize: 4096, depth: 32, ops: 60_000 },
  { name: 'write-1m-seq', type: 'write', pattern: 'seq', ioSize: 1 << 20, depth: 16, ops: 2048 },
  { name: 'read-1m-seq', type: 'read', pattern: 'seq', ioSize: 1 << 20, depth: 16, ops: 2048 },
];

const IMAGE_SIZE = 512 << 20;

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** tsemu: `ops` requests through the protocol, `depth` in flight; IOPS. */
async function tsemuRun(name: string, c: Case, seed: number): Promise<number> {
  const image = await openImage(name, { format: 'raw', readOnly: c.type === 'read', cache: 'writeback' });
  try {
    const blocks = Math.floor(image.size / c.ioSize);
    let s = seed >>> 0 || 1;
    const offsets = new Float64Array(c.ops);
    for (let i = 0; i < c.ops; i++) {
      if (c.pattern === 'seq') offsets[i] = (i % blocks) * c.ioSize;
      else {
        s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        offsets[i] = (s % blocks) * c.ioSize;
      }
    }
    // librbd's cache stays writethrough until it sees a first flush
    // (rbd_cache_writethrough_until_flush), as a guest's first FLUSH does; rbd bench is past it too
    if (c.type === 'write') await image.flush();
    let next = 0;
    const t0 = process.hrtime.bigint();
    const loop = async () => {
      const buf = new Uint8Array(c.ioSize).fill(0x5a);
      while (next < c.ops) {
        const off = offsets[next++]!;
        if (c.type === 'write') await image.write(buf, off);
        else await image.read(buf, off);
      }
    };
    await Promise.all(Array.from({ length: c.depth }, loop));
    if (c.type === 'write') await image.flush();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    return c.ops / secs;
  } finally {
    await image.close();
  }
}

/** `rbd bench` with the same size, depth, pattern and operation count; its ops/sec. */
async function rbdRun(ceph: CephCluster, image: string, c: Case): Promise<number> {
  const out = await ceph.rbd(['bench', '--io-type', c.type, '--io-size', String(c.ioSize), '--io-threads', String(c.depth),
    '--io-pattern', c.pattern, '--io-total', String(c.ops * c.ioSize), `${ceph.pool}/${image}`], 300_000);
  const m = /elapsed:\s*\S+\s+ops:\s*(\d+)\s+ops\/sec:\s*([\d.]+)/.exec(out);
  if (!m) throw new Error(`no result in rbd bench's output:\n${out}`);
  return Number(m[2]);
}

export async function benchRbd(repeats: number): Promise<RbdBenchResult[]> {
  let ceph: CephCluster;
  try {
    ceph = await CephCluster.start();
  } catch (e) {
    const error = `no cluster: ${(e as Error).message.split('\n')[0]}`;
    return CASES.map((c) => ({ name: c.name, ioSize: c.ioSize, depth: c.depth, ops: c.ops, tsemuIops: null, rbdIops: null, ratio: null, error }));
  }
  const results: RbdBenchResult[] = [];
  try {
    await ceph.rbd(['create', '--size', String(IMAGE_SIZE >> 20), `${ceph.pool}/bench`]);
    // every object exists before anything is measured, so reads read data and writes overwrite
    await ceph.rbd(['bench', '--io-type', 'write', '--io-size', '4M', '--io-threads', '8', '--io-pattern', 'seq',
      '--io-total', String(IMAGE_SIZE), `${ceph.pool}/bench`], 300_000);
    const name = ceph.name('bench');
    for (const c of CASES) {
      const t: number[] = [];
      const r: number[] = [];
      let error: string | undefined;
      for (let i = 0; i < repeats && !error; i++) {
        try {
          r.push(await rbdRun(ceph, 'bench', c));
          t.push(await tsemuRun(name, c, 0x9e3779b9 + i));
        } catch (e) {
          error = (e as Error).message.split('\n')[0];
          process.stderr.write(`bench rbd ${c.name}: ${(e as Error).message}\n`);
        }
      }
      const tm = median(t);
      const rm = median(r);
      results.push({ name: c.name, ioSize: c.ioSize, depth: c.depth, ops: c.ops, tsemuIops: tm, rbdIops: rm, ratio: tm !== null && rm ? tm / rm : null, error });
    }
  } finally {
    await ceph.stop();
  }
  return results;
}

export function rbdTable(rows: RbdBenchResult[]): string {
  if (rows.length === 0) return 'RBD I/O:\n  (not run: TSEMU_BENCH_ONLY leaves it out)';
  const fmt = (x: number | null) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const out = ['RBD I/O (raw over the rbd protocol vs rbd bench, one memstore OSD on loopback), IOPS, median:'];
  for (const r of rows) {
    out.push(`  ${r.name.padEnd(14)} depth ${String(r.depth).padStart(2)}  tsemu ${fmt(r.tsemuIops).padStart(7)}, rbd bench ${fmt(r.rbdIops).padStart(7)}, tsemu/rbd ${r.ratio === null ? '-' : r.ratio.toFixed(2)}${r.error ? `  (${r.error})` : ''}`);
  }
  return out.join('\n');
}
