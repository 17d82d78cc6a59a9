/**
 * `npm run bench`: tsemu's speed, each figure next to a peer measured in the same run
 * (DESIGN.md, performance notes: these machines are noisy, so only ratios mean much).
 *
 *   compute  an integer mix (bench/compute-loop.h) in M-mode on one hart: MIPS of tsemu,
 *            of qemu-system-riscv64 (TCG) on the same ELF, and of qemu-riscv64 (user mode)
 *            on the same loop built as a Linux program.
 *   tlb      loads and stores under Sv39 in S-mode where every access misses the TLB
 *            (bench/tlb.S): MIPS of tsemu and of qemu-system-riscv64.
 *   linux    Linux boot to a shell, tsemu vs qemu-system-riscv64 (bench/linux-boot.ts).
 *   img      qcow2 I/O, tsemu-img bench vs qemu-img bench on the same images (bench/image-io.ts).
 *   nbd      NBD throughput: tsemu-nbd vs qemu-nbd vs nbdkit under nbdcopy, tsemu-img vs qemu-img
 *            convert from nbdkit (bench/nbd.ts).
 *   rbd      RBD I/O, tsemu's rbd protocol vs `rbd bench` on one throwaway cluster (bench/rbd.ts).
 *
 * The guests time themselves (mtime before and after the loop; clock_gettime in user
 * mode) and print the exact number of instructions the loop retired, so machine start-up
 * is not counted; the wall time of each run is recorded too. Every measurement is taken
 * REPEATS times, the machines taking turns, and the median is reported. Every machine
 * must print the same digest of the loop's final state, or the table says so. Each
 * bare-metal program also runs once on qemu-system-riscv64 -icount shift=0 (one
 * instruction per virtual ns), which confirms the instruction count the guest claims.
 *
 * Prints a table on stdout and writes bench/results/latest.json.
 *
 * Environment: TSEMU_BENCH_REPEATS (default 3), TSEMU_BENCH_ONLY=compute,tlb,linux,img,nbd,rbd,
 * TSEMU_BENCH_SCALE (multiplies every loop count; default 1).
 */
import { benchLinuxBoot, type BootSample, type LinuxBootResult } from './linux-boot.js';
import { benchImageIo, type ImageIoResult } from './image-io.js';
import { benchNbd, nbdTable } from './nbd.js';
import { benchRbd, rbdTable, type RbdBenchResult } from './rbd.js';
import { fileURLToPath as toPath } from 'node:url';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import {
  BUILD_DIR, CC, CFLAGS, describeRun, MARCH, QEMU, REPO_ROOT, requireTool, runMachine, type RunResult,
} from '../test/helpers/riscv-build.js';

/** The repository (this file runs from dist/bench/). */
const REPO_ROOT_DIR = join(toPath(new URL('.', import.meta.url)), '../..');
const QEMU_USER = 'qemu-riscv64';
const TSEMU = join(REPO_ROOT, 'bin/tsemu');
const BENCH_DIR = join(REPO_ROOT, 'bench');
const OUT_DIR = join(BUILD_DIR, 'bench');
const RESULTS = join(BENCH_DIR, 'results/latest.json');
const TIMEBASE_HZ = 10_000_000;

const REPEATS = Math.max(1, Number(process.env.TSEMU_BENCH_REPEATS ?? 3));
const SCALE = Math.max(0.01, Number(process.env.TSEMU_BENCH_SCALE ?? 1));
const ONLY = (process.env.TSEMU_BENCH_ONLY ?? '').split(',').filter(Boolean);

/** One run's figures, from the line the guest prints. */
interface Sample {
  insns: number;
  seconds: number;
  mips: number;
  wallMs: number;
  check: string;
}

/** One machine's runs of one benchmark. */
interface Series {
  machine: string;
  samples: Sample[];
  mips: number | null;
  error?: string;
}

interface BenchResult {
  name: string;
  description: string;
  tsemu: Series;
  peers: (Series & { ratio: number | null })[];
  /** false when a machine's loop ended in another state than tsemu's */
  checksAgree: boolean;
  note?: string;
}

/** A way to run one benchmark program on one machine. */
interface Runner {
  machine: string;
  command: string;
  args: string[];
  timeoutMs: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Parses "bench NAME insns=N ticks=T|ns=T check=X" from a run's output. */
function parseSample(name: string, r: RunResult): Sample {
  const m = new RegExp(`^bench ${name} insns=(\\d+) (ticks|ns)=(\\d+) check=(0x[0-9a-f]+)$`, 'm').exec(r.stdout);
  if (r.timedOut || r.status !== 0 || !m) throw new Error(describeRun(`no result from the ${name} benchmark`, r));
  const insns = Number(m[1]);
  const seconds = m[2] === 'ticks' ? Number(m[3]) / TIMEBASE_HZ : Number(m[3]) / 1e9;
  if (!(seconds > 0)) throw new Error(describeRun(`the ${name} benchmark measured no time`, r));
  return { insns, seconds, mips: insns / seconds / 1e6, wallMs: r.ms, check: m[4]! };
}

async function cc(args: string[], what: string): Promise<void> {
  const r = await runMachine(requireTool(CC), args, 120_000);
  if (r.status !== 0) throw new Error(describeRun(`building ${what} failed:\n${CC} ${args.join(' ')}`, r));
}

/** A bare-metal benchmark (bench/NAME.S over the ISA tests' runtime). */
async function buildBareMetal(name: string, defines: string[], outName = name): Promise<string> {
  mkdirSync(OUT_DIR, { recursive: true });
  const elf = join(OUT_DIR, `${outName}.elf`);
  const guest = join(REPO_ROOT, 'test/cpu/guest');
  await cc([...CFLAGS, `-I${BENCH_DIR}`, ...defines.map((d) => `-D${d}`), join(guest, 'start.S'), join(BENCH_DIR, `${name}.S`), '-o', elf], name);
  return elf;
}

/** A static Linux riscv64 program (bench/NAME.S), for qemu-riscv64. */
async function buildUser(name: string, defines: string[]): Promise<string> {
  mkdirSync(OUT_DIR, { recursive: true });
  const exe = join(OUT_DIR, name);
  const flags = [`-march=${MARCH}`, '-mabi=lp64d', '-mcmodel=medany', '-fno-pic', '-no-pie', '-mno-relax', '-Wl,--no-relax',
    '-static', '-nostdlib', '-nostartfiles', '-Wl,--build-id=none'];
  await cc([...flags, `-I${BENCH_DIR}`, ...defines.map((d) => `-D${d}`), join(BENCH_DIR, `${name}.S`), '-o', exe], name);
  return exe;
}

const systemArgs = (elf: string): string[] => ['-M', 'virt', '-bios', 'none', '-nographic', '-m', '128M', '-smp', '1', '-kernel', elf];

/** Runs each runner REPEATS times, taking turns, and collects the samples. */
async function measure(name: string, runners: Runner[]): Promise<Series[]> {
  const series: Series[] = runners.map((r) => ({ machine: r.machine, samples: [], mips: null }));
  for (let rep = 0; rep < REPEATS; rep++) {
    for (let i = 0; i < runners.length; i++) {
      const s = series[i]!;
      if (s.error) continue;
      const run = runners[i]!;
      try {
        const r = await runMachine(run.command, run.args, run.timeoutMs);
        s.samples.push(parseSample(name, r));
      } catch (e) {
        s.error = (e as Error).message;
        process.stderr.write(`bench ${name} on ${run.machine}: ${s.error}\n`);
      }
    }
  }
  for (const s of series) if (!s.error && s.samples.length) s.mips = median(s.samples.map((x) => x.mips));
  return series;
}

function result(name: string, description: string, series: Series[]): BenchResult {
  const [tsemu, ...peers] = series as [Series, ...Series[]];
  return {
    name,
    description,
    tsemu,
    peers: peers.map((p) => ({ ...p, ratio: tsemu.mips !== null && p.mips !== null ? tsemu.mips / p.mips : null })),
    checksAgree: true,
  };
}

/**
 * Runs a bare-metal ELF once on qemu-system-riscv64 with -icount shift=0, where the
 * virtual clock advances 1 ns per instruction, so the mtime ticks the guest measures are
 * its instruction count / 100: this checks the count the guest claims (within the few
 * instructions of the mtime reads themselves and one tick). Also returns the digest.
 */
async function verifyCount(name: string, elf: string): Promise<Verification> {
  try {
    const r = await runMachine(requireTool(QEMU), [...systemArgs(elf), '-icount', 'shift=0'], 300_000);
    const s = parseSample(name, r);
    const measured = Math.round(s.seconds * 1e9);
    return { claimed: s.insns, measured, ok: Math.abs(measured - s.insns) <= 200, check: s.check };
  } catch (e) {
    return { claimed: null, measured: null, ok: false, check: null, error: (e as Error).message };
  }
}

interface Verification {
  /** the instruction count the guest printed */
  claimed: number | null;
  /** the count QEMU's -icount shift=0 clock measured (ns = instructions) */
  measured: number | null;
  ok: boolean;
  check: string | null;
  error?: string;
}

/** The digests of runs of equal length must all be `want`. */
function checksMatch(samples: Sample[], want: string | null): boolean {
  return want !== null && samples.every((x) => x.check === want);
}

async function benchCompute(): Promise<BenchResult & { verification: Verification }> {
  // tsemu runs ~10^8 instructions a second, QEMU ~10^9: QEMU gets 20 times the
  // iterations, so that its loop runs about as long
  const iters = Math.round(6_000_000 * SCALE);
  const qemuIters = iters * 20;
  const elf = await buildBareMetal('compute', [`ITERS=${iters}`]);
  const elfLong = await buildBareMetal('compute', [`ITERS=${qemuIters}`], 'compute-long');
  const user = await buildUser('compute-user', [`ITERS=${qemuIters}`]);
  const runners: Runner[] = [
    { machine: 'tsemu', command: process.execPath, args: [TSEMU, ...systemArgs(elf)], timeoutMs: 300_000 },
    { machine: 'qemu-system-riscv64 (TCG)', command: requireTool(QEMU), args: systemArgs(elfLong), timeoutMs: 120_000 },
  ];
  let userNote: string | undefined;
  try {
    runners.push({ machine: 'qemu-riscv64 (user mode)', command: requireTool(QEMU_USER), args: [user], timeoutMs: 120_000 });
  } catch (e) {
    userNote = (e as Error).message;
  }
  const series = await measure('compute', runners);
  const verification = await verifyCount('compute', elf);
  const r = result('compute', 'integer mix (ALU, mul, load/store, branches), M-mode, 1 hart', series);
  // tsemu's runs end as QEMU's run of the same ELF; the longer runs agree among themselves
  const longCheck = series[1]!.samples[0]?.check ?? null;
  r.checksAgree = checksMatch(series[0]!.samples, verification.check) && series.slice(1).every((s) => checksMatch(s.samples, longCheck));
  r.note = `tsemu ${fmtCount(iters)} iterations, QEMU ${fmtCount(qemuIters)}` + (userNote ? `; ${userNote}` : '');
  return { ...r, verification };
}

async function benchTlb(): Promise<BenchResult & { verification: Verification }> {
  const passes = Math.max(1, Math.round(160 * SCALE));
  const elf = await buildBareMetal('tlb', [`PASSES=${passes}`]);
  const series = await measure('tlb', [
    { machine: 'tsemu', command: process.execPath, args: [TSEMU, ...systemArgs(elf)], timeoutMs: 300_000 },
    { machine: 'qemu-system-riscv64 (TCG)', command: requireTool(QEMU), args: systemArgs(elf), timeoutMs: 120_000 },
  ]);
  const verification = await verifyCount('tlb', elf);
  const r = result('tlb', 'Sv39, S-mode, a TLB miss on every load/store pair (4096 pages, sfence.vma each pass), 1 hart', series);
  r.checksAgree = series.every((s) => checksMatch(s.samples, verification.check));
  r.note = `${passes} passes of 4096 pages`;
  return { ...r, verification };
}

function fmtCount(n: number): string {
  return n >= 1e6 && n % 1e5 === 0 ? `${n / 1e6}M` : String(n);
}

function fmtMips(m: number | null): string {
  return m === null ? 'error' : m >= 100 ? m.toFixed(0) : m >= 10 ? m.toFixed(1) : m.toFixed(2);
}

function fmtRatio(r: number | null): string {
  if (r === null) return '-';
  return r >= 1 ? `${r.toFixed(2)}x` : `${r.toFixed(4)} (1/${(1 / r).toFixed(0)})`;
}

function table(results: (BenchResult & { verification?: Verification })[], boots: LinuxBootResult[]): string {
  const rows: string[][] = [['benchmark', 'tsemu MIPS', 'peer', 'peer MIPS', 'tsemu/peer']];
  for (const r of results) {
    for (const p of r.peers) {
      rows.push([r.name, fmtMips(r.tsemu.mips), p.machine, fmtMips(p.mips), fmtRatio(p.ratio)]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 1 || c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  for (const r of results) {
    const spread = (s: Series) => (s.samples.length ? `${s.machine} ${s.samples.map((x) => fmtMips(x.mips)).join('/')}` : `${s.machine} -`);
    out.push(`${r.name}: ${r.description}; ${r.note ?? ''}`);
    out.push(`  runs (MIPS): ${[r.tsemu, ...r.peers].map(spread).join('; ')}`);
    if (!r.checksAgree) out.push(`  WARNING: the machines ended the loop in different states (check digests differ)`);
    const v = r.verification;
    if (v) {
      out.push(v.ok
        ? `  instruction count checked: qemu -icount shift=0 measured ${v.measured} for the ${v.claimed} claimed`
        : `  WARNING: instruction count not confirmed (claimed ${v.claimed}, qemu -icount measured ${v.measured}${v.error ? `: ${v.error.split('\n')[0]}` : ''})`);
    }
    for (const s of [r.tsemu, ...r.peers]) if (s.error) out.push(`  ${s.machine} failed: ${s.error.split('\n')[0]}`);
  }
  out.push('');
  out.push('linux boot to a shell (Debian 6.12 + OpenSBI + tsemu initramfs, 512M), wall seconds, median:');
  for (const b of boots) {
    const f = (x: number | null) => (x === null ? 'error' : x.toFixed(1));
    out.push(`  -smp ${b.smp}: tsemu ${f(b.tsemu.median)} s, qemu-system-riscv64 ${f(b.qemu.median)} s, tsemu/qemu time ${b.slowdown === null ? '-' : `${b.slowdown.toFixed(1)}x`} (target: 5x or less)`);
    const idle = (xs: BootSample[]) => {
      const v = xs.flatMap((s) => (s.idleCpuPercent === undefined ? [] : [s.idleCpuPercent])).sort((a, c) => a - c);
      return v.length ? `${v[Math.floor(v.length / 2)]!.toFixed(1)}%` : '-';
    };
    out.push(`          idle at the shell: tsemu ${idle(b.tsemu.samples)} of one host core, qemu-system-riscv64 ${idle(b.qemu.samples)}${b.smp === 2 ? ' (target: tsemu under 5%)' : ''}`);
    for (const s of [...b.tsemu.samples, ...b.qemu.samples]) if (s.error) out.push(`    ${s.machine}: ${s.error}`);
  }
  if (boots.length === 0) out.push('  (not run: TSEMU_BENCH_ONLY leaves it out)');
  return out.join('\n');
}

async function toolVersion(cmd: string): Promise<string | null> {
  try {
    const r = await runMachine(requireTool(cmd), ['--version'], 10_000);
    return r.stdout.split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

function imageTable(rows: ImageIoResult[]): string {
  if (rows.length === 0) return 'image I/O (qcow2, 1G):\n  (not run: TSEMU_BENCH_ONLY leaves it out)';
  const out = ['image I/O (qcow2, 1G), tsemu-img bench vs qemu-img bench, wall seconds, median:'];
  for (const r of rows) {
    out.push(`  ${r.name.padEnd(9)} ${r.args.padEnd(30)} tsemu-img ${r.tsemuSeconds?.toFixed(2) ?? '-'} s, qemu-img ${r.qemuSeconds?.toFixed(2) ?? '-'} s, tsemu/qemu time ${r.slowdown?.toFixed(2) ?? '-'}x`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const want = (n: string) => ONLY.length === 0 || ONLY.includes(n);
  const results: (BenchResult & { verification?: Verification })[] = [];
  if (want('compute')) results.push(await benchCompute());
  if (want('tlb')) results.push(await benchTlb());
  const boots = want('linux') ? await benchLinuxBoot(REPO_ROOT_DIR, [1, 2], Math.max(1, Math.min(REPEATS, 3))) : [];
  const images = want('img') ? benchImageIo(REPO_ROOT_DIR, join(OUT_DIR, 'img'), REPEATS) : [];
  const nbd = want('nbd') ? await benchNbd(REPO_ROOT_DIR, join(OUT_DIR, 'nbd'), REPEATS) : [];
  const rbd: RbdBenchResult[] = want('rbd') ? await benchRbd(REPEATS) : [];
  const text = table(results, boots);
  process.stdout.write(`${text}\n${imageTable(images)}\n${nbdTable(nbd)}\n${rbdTable(rbd)}\n`);
  const doc = {
    date: new Date().toISOString(),
    repeats: REPEATS,
    scale: SCALE,
    host: {
      node: process.version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? null,
      qemuSystem: await toolVersion(QEMU),
      qemuUser: await toolVersion(QEMU_USER),
    },
    metric: 'MIPS: instructions the guest loop retired / the guest-measured time of the loop, median of the runs; ratio = tsemu / peer',
    benchmarks: results,
    linuxBoot: boots,
    imageIo: images,
    nbd,
    rbdIo: rbd,
  };
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`results: ${RESULTS}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
