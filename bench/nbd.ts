/**
 * NBD throughput, each figure next to its peers in the same run (median of the runs, the
 * servers taking turns):
 *
 *   serve   nbdcopy reads a whole export to `null:` from tsemu-nbd, qemu-nbd and nbdkit
 *           serving the same image (raw; qcow2 for tsemu-nbd and qemu-nbd), over one
 *           connection, then with multi-conn (nbdcopy's default 4 connections; -e 4)
 *   client  tsemu-img convert -O raw vs qemu-img convert -O raw of an nbdkit export (the
 *           file plugin over the raw image), into a file on tmpfs; and the same converts from
 *           the raw file, for reference (convert's own cost, without NBD)
 *
 * Each server gets one untimed pass first (page cache, JIT warm-up), so the figures are
 * steady-state throughput; every command runs in the same environment (bench/measure.ts
 * benchEnv). MiB/s of image data; ratio = tsemu / peer (above 1: tsemu is faster).
 * The images are synced to disk before anything is timed (else the kernel may write the
 * freshly made 1 GiB back ~30 s later, dirty_expire, which is about when the client runs start). The client
 * converts take turns in alternating order (q,t then t,q), and each row also gives the
 * best run's ratio: on a shared machine the noise only ever adds time, so the fastest of
 * the runs is the closest to each tool's own cost, when the median still moves with the load.
 * A convert's wall time includes its start (~35 ms before the first write, ~20 of them Node's
 * own, against qemu-img's ~10; see scripts/bundle-img.mjs), a fixed cost that weighs less the
 * larger TSEMU_BENCH_NBD_MIB is: so the client rows also give a 1 MiB convert (the start, as
 * MiB/s) and the data phase alone (each tool's convert less its 1 MiB convert).
 * Environment: TSEMU_BENCH_NBD_MIB (image size, default 512).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { benchEnv, median, timed } from './measure.js';

export interface NbdBenchRow {
  name: string;
  /** What moved the data, and from where. */
  tsemu: string;
  peer: string;
  tsemuMiBs: number | null;
  peerMiBs: number | null;
  /** tsemu throughput / peer throughput. */
  ratio: number | null;
  /** The same ratio from each tool's fastest run. */
  bestRatio?: number | null;
}



async function waitFor(path: string, proc: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!existsSync(path)) {
    if (proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode}) before listening`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Server {
  name: string;
  sock: string;
  proc: ChildProcess;
}

async function start(name: string, cmd: string, args: string[], sock: string): Promise<Server> {
  rmSync(sock, { force: true });
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: benchEnv() });
  await waitFor(sock, proc, name);
  return { name, sock, proc };
}

function stop(s: Server): void {
  if (s.proc.exitCode === null) s.proc.kill('SIGTERM');
}

const uri = (sock: string) => `nbd+unix:///?socket=${sock}`;

export async function benchNbd(root: string, workDir: string, repeats: number): Promise<NbdBenchRow[]> {
  mkdirSync(workDir, { recursive: true });
  const mib = Math.max(16, Number(process.env.TSEMU_BENCH_NBD_MIB ?? 512));
  const raw = join(workDir, 'disk.raw');
  const qcow2 = join(workDir, 'disk.qcow2');
  // Random data (nothing compresses or reads as a hole): 1 MiB of noise, repeated.
  const noise = randomFillSync(Buffer.alloc(1 << 20));
  const fd = openSync(raw, 'w');
  for (let i = 0; i < mib; i++) writeSync(fd, noise, 0, noise.length, i << 20);
  closeSync(fd);
  rmSync(qcow2, { force: true });
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  execFileSync('sync');
  const tsemuNbd = join(root, 'bin/tsemu-nbd');
  const rows: NbdBenchRow[] = [];

  const serve = async (name: string, fmt: 'raw' | 'qcow2', image: string, conns: number) => {
    const shared = String(conns);
    const servers: Server[] = [];
    try {
      servers.push(await start('tsemu-nbd', process.execPath, [tsemuNbd, '-f', fmt, '-r', '-t', '-e', shared, '-k', join(workDir, 't.sock'), image], join(workDir, 't.sock')));
      servers.push(await start('qemu-nbd', 'qemu-nbd', ['-f', fmt, '-r', '-t', '-e', shared, '-k', join(workDir, 'q.sock'), image], join(workDir, 'q.sock')));
      if (fmt === 'raw') servers.push(await start('nbdkit', 'nbdkit', ['-f', '-r', '-U', join(workDir, 'k.sock'), 'file', image], join(workDir, 'k.sock')));
      const times = servers.map(() => [] as number[]);
      // One untimed pass each: the page cache holds the image and JITs are warm for all.
      for (const s of servers) timed('nbdcopy', [`--connections=${conns}`, uri(s.sock), 'null:']);
      for (let i = 0; i < repeats; i++) {
        servers.forEach((s, j) => times[j]!.push(timed('nbdcopy', [`--connections=${conns}`, uri(s.sock), 'null:'])));
      }
      const mibs = times.map((ts) => { const m = median(ts); return m ? mib / m : null; });
      for (let j = 1; j < servers.length; j++) {
        rows.push({
          name, tsemu: 'tsemu-nbd', peer: servers[j]!.name, tsemuMiBs: mibs[0]!, peerMiBs: mibs[j]!,
          ratio: mibs[0] && mibs[j] ? mibs[0] / mibs[j]! : null,
        });
      }
    } finally {
      servers.forEach(stop);
    }
  };
  await serve('serve raw, 1 conn', 'raw', raw, 1);
  await serve('serve raw, 4 conns', 'raw', raw, 4);
  await serve('serve qcow2, 1 conn', 'qcow2', qcow2, 1);
  await serve('serve qcow2, 4 conns', 'qcow2', qcow2, 4);

  // The client: both converters read the same nbdkit export into tmpfs; the same convert
  // from the raw file itself is the reference (what convert costs without NBD). A convert of
  // a 1 MiB export measures each tool's start (and end), and the difference between the two
  // converts its data phase alone: the client's throughput without the fixed cost.
  const small = join(workDir, 'small.raw');
  const sfd = openSync(small, 'w');
  writeSync(sfd, noise, 0, noise.length, 0);
  closeSync(sfd);
  const kit = await start('nbdkit', 'nbdkit', ['-f', '-r', '-U', join(workDir, 'k.sock'), 'file', raw], join(workDir, 'k.sock'));
  const kit1 = await start('nbdkit', 'nbdkit', ['-f', '-r', '-U', join(workDir, 'k1.sock'), 'file', small], join(workDir, 'k1.sock'));
  const outDir = existsSync('/dev/shm') ? '/dev/shm' : workDir;
  const out = join(outDir, `tsemu-bench-nbd-${process.pid}.raw`);
  /** Both tools' convert times from `source`, taking turns in alternating order. */
  const converts = (source: string): { t: number[]; q: number[] } => {
    const t: number[] = [];
    const q: number[] = [];
    const runQ = () => { rmSync(out, { force: true }); q.push(timed('qemu-img', ['convert', '-O', 'raw', source, out])); };
    const runT = () => { rmSync(out, { force: true }); t.push(timed(process.execPath, [join(root, 'bin/tsemu-img'), 'convert', '-O', 'raw', source, out])); };
    for (let i = 0; i < repeats; i++) {
      if (i % 2) { runT(); runQ(); } else { runQ(); runT(); }
    }
    return { t, q };
  };
  const row = (name: string, megs: number, t: (number | null)[], q: (number | null)[]): NbdBenchRow => {
    const tm = median(t.filter((x): x is number => x !== null && x > 0));
    const qm = median(q.filter((x): x is number => x !== null && x > 0));
    const tb = Math.min(...t.filter((x): x is number => x !== null && x > 0));
    const qb = Math.min(...q.filter((x): x is number => x !== null && x > 0));
    return {
      name, tsemu: 'tsemu-img convert', peer: 'qemu-img convert', tsemuMiBs: tm ? megs / tm : null, peerMiBs: qm ? megs / qm : null,
      ratio: tm && qm ? qm / tm : null,
      bestRatio: Number.isFinite(tb) && Number.isFinite(qb) ? qb / tb : null,
    };
  };
  try {
    const whole = converts(uri(kit.sock));
    rows.push(row('client convert', mib, whole.t, whole.q));
    const one = converts(uri(kit1.sock));
    rows.push(row('client 1 MiB (start)', 1, one.t, one.q));
    // the data phase: each whole convert less that tool's median 1 MiB convert
    const tStart = median(one.t);
    const qStart = median(one.q);
    rows.push(row('client data phase', mib - 1, whole.t.map((x) => (tStart ? x - tStart : null)), whole.q.map((x) => (qStart ? x - qStart : null))));
    const file = converts(raw);
    rows.push(row('(convert from file)', mib, file.t, file.q));
  } finally {
    rmSync(out, { force: true });
    stop(kit);
    stop(kit1);
  }
  rmSync(small, { force: true });
  rmSync(raw, { force: true });
  rmSync(qcow2, { force: true });
  return rows;
}

export function nbdTable(rows: NbdBenchRow[]): string {
  if (rows.length === 0) return 'NBD throughput:\n  (not run: TSEMU_BENCH_ONLY leaves it out)';
  const mib = Number(process.env.TSEMU_BENCH_NBD_MIB ?? 512);
  const out = [`NBD throughput (${mib} MiB image; nbdcopy to null: for servers, convert -O raw to tmpfs for clients), MiB/s, median:`];
  const f = (x: number | null) => (x === null ? '-' : x.toFixed(0));
  for (const r of rows) {
    const best = r.bestRatio === undefined ? '' : ` (best runs ${r.bestRatio === null ? '-' : `${r.bestRatio.toFixed(2)}x`})`;
    out.push(`  ${r.name.padEnd(20)} ${r.tsemu} ${f(r.tsemuMiBs)}, ${r.peer} ${f(r.peerMiBs)}, tsemu/peer ${r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`}${best}`);
  }
  return out.join('\n');
}
