/**
 * RBD I/O: tsemu's rbd protocol against `rbd bench` on the same throwaway cluster
 * (test/helpers/ceph.ts: one monitor, one memstore OSD on loopback), reported as IOPS and
 * tsemu/rbd ratios.
 *
 *   write-4k-rand  4 KiB writes at random 4 KiB-aligned offsets, 32 in flight
 *   read-4k-rand   4 KiB reads, same pattern, 32 in flight
 *   write-1m-seq   1 MiB sequential writes, 16 in flight
 *   read-1m-seq    1 MiB sequential reads, 16 in flight
 *
 * Both sides do the same thing (tools/rbd/action/Bench.cc is the model):
 *  - the same number of operations of the same size, `depth` of them in flight;
 *  - "seq" is rbd bench's: `depth` streams, each from its own random start, each moving on
 *    by one request at a time (not one stream `depth` requests wide, which would queue
 *    several requests on one object where rbd bench spreads them);
 *  - the same image, written end to end before anything is measured, so reads read data
 *    on both sides and writes overwrite;
 *  - librbd's cache as the rbd tool has it (rbd_cache on, writethrough_until_flush off:
 *    tsemu flushes once before timing, which gets it there), and a flush at the end inside
 *    the timing, as rbd bench's.
 * tsemu's side is a small driver over openImage (format raw over the rbd protocol, as a
 * virtio-blk drive has it), in this process; rbd bench is a child process.
 *
 * Each repeat runs the pair back to back, the order alternating between repeats; the
 * ratio reported is the median of the pairs' ratios (a pair shares the machine's load of
 * the moment, which two medians taken apart do not), with the median IOPS of each side.
 * The client CPU each side spends per operation (user+system, this process's for tsemu,
 * the child's for rbd bench) is reported too: it is what the client adds, and it moves
 * less with the machine's load than the IOPS do (the OSD shares the machine's 2 cores).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openImage } from '../services/block/format/open.js';
import { CephCluster } from '../test/helpers/ceph.js';
import { median } from './measure.js';

const exec = promisify(execFile);

export interface RbdBenchResult {
  name: string;
  ioSize: number;
  depth: number;
  ops: number;
  tsemuIops: number | null;
  rbdIops: number | null;
  /** Median over the repeats of tsemu IOPS / rbd bench IOPS measured back to back (1 = parity). */
  ratio: number | null;
  /** Each repeat's ratio. */
  ratios: number[];
  /** Client CPU (user + system) per operation, microseconds, median. */
  tsemuCpuUs: number | null;
  rbdCpuUs: number | null;
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
  { name: 'write-1m-seq', type: 'write', pattern: 'seq', ioSize: 1 << 20, depth: 16, ops: 6144 },
  { name: 'read-1m-seq', type: 'read', pattern: 'seq', ioSize: 1 << 20, depth: 16, ops: 6144 },
];

const IMAGE_SIZE = 512 << 20;

interface Sample {
  iops: number;
  /** client CPU microseconds per operation */
  cpuUs: number;
}

/** xorshift32: the same offsets for a seed, cheap enough to stay out of the timing. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

/**
 * The offsets of `c.ops` requests, in the order rbd bench issues them: "rand" uniform over
 * the image; "seq" `depth` streams from random starts, stream i taking requests i, i+depth...
 */
export function benchOffsets(c: Case, imageSize: number, seed: number): Float64Array {
  const blocks = Math.floor(imageSize / c.ioSize);
  const rand = xorshift(seed);
  const offsets = new Float64Array(c.ops);
  const streams = Array.from({ length: c.depth }, () => rand() % blocks);
  for (let i = 0; i < c.ops; i++) {
    if (c.pattern === 'rand') offsets[i] = (rand() % blocks) * c.ioSize;
    else {
      const k = i % c.depth;
      streams[k] = (streams[k]! + 1) % blocks;
      offsets[i] = streams[k]! * c.ioSize;
    }
  }
  return offsets;
}

/** tsemu: `ops` requests through the protocol, `depth` in flight. */
async function tsemuRun(name: string, c: Case, seed: number): Promise<Sample> {
  const image = await openImage(name, { format: 'raw', readOnly: c.type === 'read', cache: 'writeback' });
  try {
    const offsets = benchOffsets(c, image.size, seed);
    // librbd's cache stays writethrough until it sees a first flush
    // (rbd_cache_writethrough_until_flush), as a guest's first FLUSH does; the rbd tool turns that off
    if (c.type === 'write') await image.flush();
    let next = 0;
    const cpu0 = process.cpuUsage();
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
    const cpu = process.cpuUsage(cpu0);
    return { iops: c.ops / secs, cpuUs: (cpu.user + cpu.system) / c.ops };
  } finally {
    await image.close();
  }
}

/** `rbd bench` with the same size, depth, pattern and operation count, under /usr/bin/time for its CPU. */
async function rbdRun(ceph: CephCluster, image: string, c: Case): Promise<Sample> {
  const args = ['-f', '@cpu %U %S', 'rbd', '-c', ceph.conf, 'bench', '--io-type', c.type, '--io-size', String(c.ioSize),
    '--io-threads', String(c.depth), '--io-pattern', c.pattern, '--io-total', String(c.ops * c.ioSize), `${ceph.pool}/${image}`];
  const { stdout, stderr } = await exec('/usr/bin/time', args, { timeout: 300_000, maxBuffer: 16 << 20 });
  const m = /elapsed:\s*\S+\s+ops:\s*(\d+)\s+ops\/sec:\s*([\d.]+)/.exec(stdout);
  const t = /@cpu ([\d.]+) ([\d.]+)/.exec(stderr);
  if (!m || !t) throw new Error(`no result in rbd bench's output:\n${stdout}\n${stderr}`);
  // rbd's start-up (connect, open) is in its CPU time but not in ours; it is small next to the run
  return { iops: Number(m[2]), cpuUs: ((Number(t[1]) + Number(t[2])) * 1e6) / c.ops };
}

export async function benchRbd(repeats: number): Promise<RbdBenchResult[]> {
  const blank = { tsemuIops: null, rbdIops: null, ratio: null, ratios: [], tsemuCpuUs: null, rbdCpuUs: null };
  let ceph: CephCluster;
  try {
    ceph = await CephCluster.start();
  } catch (e) {
    const error = `no cluster: ${(e as Error).message.split('\n')[0]}`;
    return CASES.map((c) => ({ name: c.name, ioSize: c.ioSize, depth: c.depth, ops: c.ops, ...blank, error }));
  }
  const results: RbdBenchResult[] = [];
  try {
    await ceph.rbd(['create', '--size', String(IMAGE_SIZE >> 20), `${ceph.pool}/bench`]);
    // every object exists before anything is measured, so reads read data and writes overwrite
    await ceph.rbd(['bench', '--io-type', 'write', '--io-size', '4M', '--io-threads', '8', '--io-pattern', 'seq',
      '--io-total', String(IMAGE_SIZE), `${ceph.pool}/bench`], 300_000);
    // and one untimed pass of the random 4 KiB writes: the memstore OSD's objects are then as
    // fragmented as after any measured pass, so the first pair measured does not see them
    // fresh from the prefill (rbd bench ran 2.6x faster there than in every later pair)
    const warm = CASES[0]!;
    await ceph.rbd(['bench', '--io-type', 'write', '--io-size', String(warm.ioSize), '--io-threads', String(warm.depth), '--io-pattern', 'rand',
      '--io-total', String(warm.ops * warm.ioSize), `${ceph.pool}/bench`], 300_000);
    const name = ceph.name('bench');
    for (const c of CASES) {
      const t: Sample[] = [];
      const r: Sample[] = [];
      const ratios: number[] = [];
      let error: string | undefined;
      for (let i = 0; i < repeats && !error; i++) {
        try {
          const seed = 0x9e3779b9 + i;
          // the order alternates, so neither side always follows the other's writes
          let ts: Sample, rs: Sample;
          if (i % 2 === 0) {
            rs = await rbdRun(ceph, 'bench', c);
            ts = await tsemuRun(name, c, seed);
          } else {
            ts = await tsemuRun(name, c, seed);
            rs = await rbdRun(ceph, 'bench', c);
          }
          t.push(ts);
          r.push(rs);
          ratios.push(ts.iops / rs.iops);
          process.stderr.write(`bench rbd ${c.name} #${i}: tsemu ${ts.iops.toFixed(0)} IOPS ${ts.cpuUs.toFixed(1)} us/op, rbd bench ${rs.iops.toFixed(0)} IOPS ${rs.cpuUs.toFixed(1)} us/op, ratio ${(ts.iops / rs.iops).toFixed(3)}\n`);
        } catch (e) {
          error = (e as Error).message.split('\n')[0];
          process.stderr.write(`bench rbd ${c.name}: ${(e as Error).message}\n`);
        }
      }
      results.push({
        name: c.name, ioSize: c.ioSize, depth: c.depth, ops: c.ops,
        tsemuIops: median(t.map((s) => s.iops)), rbdIops: median(r.map((s) => s.iops)),
        ratio: median(ratios), ratios,
        tsemuCpuUs: median(t.map((s) => s.cpuUs)), rbdCpuUs: median(r.map((s) => s.cpuUs)),
        error,
      });
    }
  } finally {
    await ceph.stop();
  }
  return results;
}

export function rbdTable(rows: RbdBenchResult[]): string {
  if (rows.length === 0) return 'RBD I/O:\n  (not run: TSEMU_BENCH_ONLY leaves it out)';
  const fmt = (x: number | null) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const out = ['RBD I/O (raw over the rbd protocol vs rbd bench, one memstore OSD on loopback), IOPS and client CPU us/op, median;',
    '  tsemu/rbd: median of the back-to-back pairs\' ratios (each pair in brackets):'];
  for (const r of rows) {
    const pairs = r.ratios.map((x) => x.toFixed(2)).join(' ');
    out.push(`  ${r.name.padEnd(14)} depth ${String(r.depth).padStart(2)}  tsemu ${fmt(r.tsemuIops).padStart(6)} (${fmt(r.tsemuCpuUs)} us/op), rbd bench ${fmt(r.rbdIops).padStart(6)} (${fmt(r.rbdCpuUs)} us/op), tsemu/rbd ${r.ratio === null ? '-' : r.ratio.toFixed(2)} [${pairs}]${r.error ? `  (${r.error})` : ''}`);
  }
  return out.join('\n');
}
