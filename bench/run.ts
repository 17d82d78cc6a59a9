/**
 * `npm run bench`: tsemu's speed, each figure next to a peer measured in the same run
 * (DESIGN.md, performance notes: these machines are noisy, so only ratios mean much).
 *
 *   compute  an integer mix (bench/compute-loop.h) in M-mode on one hart: MIPS of tsemu,
 *            of qemu-system-riscv64 (TCG) on the same ELF, and of qemu-riscv64 (user mode)
 *            on the same loop built as a Linux program.
 *   tlb      loads and stores under Sv39 in S-mode where every access misses the TLB
 *            (bench/tlb.S): MIPS of tsemu and of qemu-system-riscv64.
 *   linux    Linux boot time: a slot the machine issue fills in.
 *
 * The guests time themselves (mtime before and after the loop; clock_gettime in user
 * mode) and print the exact number of instructions the loop retired, so machine start-up
 * is not counted; the wall time of each run is recorded too. Every measurement is taken
 * REPEATS times, the machines taking turns, and the median is reported. Every machine
 * must print the same digest of the loop's final state, or the table says so.
 *
 * Prints a table on stdout and writes bench/results/latest.json.
 *
 * Environment: TSEMU_BENCH_REPEATS (default 3), TSEMU_BENCH_ONLY=compute,tlb,
 * TSEMU_BENCH_SCALE (multiplies every loop count; default 1).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import {
  BUILD_DIR, CC, CFLAGS, describeRun, MARCH, QEMU, REPO_ROOT, requireTool, runMachine, type RunResult,
} from '../test/helpers/riscv-build.js';

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
  await cc([`-march=${MARCH}`, '-mabi=lp64d', '-static', '-nostdlib', '-nostartfiles', '-Wl,--build-id=none',
    `-I${BENCH_DIR}`, ...defines.map((d) => `-D${d}`), join(BENCH_DIR, `${name}.S`), '-o', exe], name);
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
  const checks = new Set(series.flatMap((s) => s.samples.map((x) => x.check)));
  return {
    name,
    description,
    tsemu,
    peers: peers.map((p) => ({ ...p, ratio: tsemu.mips !== null && p.mips !== null ? tsemu.mips / p.mips : null })),
    checksAgree: checks.size <= 1,
  };
}

async function benchCompute(): Promise<BenchResult> {
  // tsemu runs ~10^7 instructions a second, QEMU ~10^9: give QEMU more iterations so that
  // its loop runs long enough to time, and check the digest on equal counts once
  const iters = Math.round(2_000_000 * SCALE);
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
  // the digest depends on the count: compare tsemu's with QEMU's on the same ELF, once
  const same = await runMachine(requireTool(QEMU), systemArgs(elf), 120_000);
  const r = result('compute', 'integer mix (ALU, mul, load/store, branches), M-mode, 1 hart', series);
  let sameCheck: string | undefined;
  try {
    sameCheck = parseSample('compute', same).check;
  } catch {
    /* reported through checksAgree */
  }
  const tsemuChecks = new Set(r.tsemu.samples.map((x) => x.check));
  const longChecks = new Set(series.slice(1).flatMap((s) => s.samples.map((x) => x.check)));
  r.checksAgree = sameCheck !== undefined && tsemuChecks.size <= 1 && [...tsemuChecks].every((c) => c === sameCheck) && longChecks.size <= 1;
  r.note = `tsemu ${fmtCount(iters)} iterations, QEMU ${fmtCount(qemuIters)}` + (userNote ? `; ${userNote}` : '');
  return r;
}

async function benchTlb(): Promise<BenchResult> {
  const passes = Math.max(1, Math.round(40 * SCALE));
  const elf = await buildBareMetal('tlb', [`PASSES=${passes}`]);
  const series = await measure('tlb', [
    { machine: 'tsemu', command: process.execPath, args: [TSEMU, ...systemArgs(elf)], timeoutMs: 300_000 },
    { machine: 'qemu-system-riscv64 (TCG)', command: requireTool(QEMU), args: systemArgs(elf), timeoutMs: 120_000 },
  ]);
  const r = result('tlb', 'Sv39, S-mode, a TLB miss on every load/store pair (4096 pages, sfence.vma each pass), 1 hart', series);
  r.note = `${passes} passes of 4096 pages`;
  return r;
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

function table(results: BenchResult[]): string {
  const rows: string[][] = [['benchmark', 'tsemu MIPS', 'peer', 'peer MIPS', 'tsemu/peer']];
  for (const r of results) {
    for (const p of r.peers) {
      rows.push([r.name, fmtMips(r.tsemu.mips), p.machine, fmtMips(p.mips), fmtRatio(p.ratio)]);
    }
  }
  rows.push(['linux boot', '-', 'qemu-system-riscv64', '-', 'not yet available']);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 1 || c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  for (const r of results) {
    const spread = (s: Series) => (s.samples.length ? `${s.machine} ${s.samples.map((x) => fmtMips(x.mips)).join('/')}` : `${s.machine} -`);
    out.push(`${r.name}: ${r.description}; ${r.note ?? ''}`);
    out.push(`  runs (MIPS): ${[r.tsemu, ...r.peers].map(spread).join('; ')}`);
    if (!r.checksAgree) out.push(`  WARNING: the machines ended the loop in different states (check digests differ)`);
    for (const s of [r.tsemu, ...r.peers]) if (s.error) out.push(`  ${s.machine} failed: ${s.error.split('\n')[0]}`);
  }
  out.push('linux boot: not yet available');
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

async function main(): Promise<void> {
  const want = (n: string) => ONLY.length === 0 || ONLY.includes(n);
  const results: BenchResult[] = [];
  if (want('compute')) results.push(await benchCompute());
  if (want('tlb')) results.push(await benchTlb());
  const text = table(results);
  process.stdout.write(`${text}\n`);
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
    linuxBoot: { status: 'not yet available' },
  };
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`results: ${RESULTS}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
