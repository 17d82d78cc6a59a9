/**
 * Building and running the bare-metal RISC-V test programs of test/cpu/isa: assemble and
 * link them with Debian's cross toolchain (cached by content), and run an ELF on a
 * machine (qemu-system-riscv64 as the oracle, or tsemu) with a time limit.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/helpers/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const GUEST_DIR = join(REPO_ROOT, 'test/cpu/guest');
export const ISA_DIR = join(REPO_ROOT, 'test/cpu/isa');
export const BUILD_DIR = join(REPO_ROOT, 'test/fixtures/build');

export const CC = 'riscv64-linux-gnu-gcc';
export const QEMU = 'qemu-system-riscv64';

export const MARCH = 'rv64gc_zba_zbb_zbs_zicsr_zifencei';

/** The compiler's flags, but for the sources and -o. */
export const CFLAGS: readonly string[] = [
  `-march=${MARCH}`,
  '-mabi=lp64d',
  '-mcmodel=medany',
  '-fno-pic',
  '-no-pie',
  '-static',
  '-nostdlib',
  '-nostartfiles',
  '-mno-relax',
  '-Wl,--no-relax',
  '-Wl,--build-id=none',
  `-I${GUEST_DIR}`,
  '-T',
  join(GUEST_DIR, 'link.ld'),
];

/** The machine's arguments but for the ELF: the same for the oracle and for tsemu. */
export function machineArgs(elf: string): string[] {
  return ['-M', 'virt', '-bios', 'none', '-nographic', '-m', '128M', '-smp', '1', '-kernel', elf];
}

const APT_PACKAGE: Record<string, string> = {
  [CC]: 'gcc-riscv64-linux-gnu (and binutils-riscv64-linux-gnu)',
  [QEMU]: 'qemu-system-misc',
};

/** The absolute path of an executable on PATH, or an Error that says how to get it. */
export function requireTool(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  const pkg = APT_PACKAGE[name];
  throw new Error(`${name} not found on PATH` + (pkg ? `: install the Debian package ${pkg}` : ''));
}

/** A limit on how many child processes run at once. */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

export interface Program {
  /** e.g. 'rv64i_alu' for test/cpu/isa/rv64i_alu.S */
  name: string;
  source: string;
  /** false when the source says `# oracle: none`: QEMU 7.2 cannot run it. */
  oracle: boolean;
  /**
   * For a program without an oracle: it can be built with -DORACLE_EMULATION, which
   * emulates the missing instructions in its trap handler, to check it on QEMU.
   */
  emulated: boolean;
}

/** The test programs: test/cpu/isa/*.S, sorted by name. */
export function listPrograms(dir = ISA_DIR): Program[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.S'))
    .sort()
    .map((f) => {
      const source = join(dir, f);
      const text = readFileSync(source, 'utf8');
      const head = text.split('\n').slice(0, 20).join('\n');
      const oracle = !/^#\s*oracle:\s*none\b/m.test(head);
      return { name: basename(f, '.S'), source, oracle, emulated: !oracle && text.includes('EMULATOR_INSTALL') };
    });
}

function guestFiles(): string[] {
  return readdirSync(GUEST_DIR)
    .sort()
    .map((f) => join(GUEST_DIR, f));
}

export interface BuildOptions {
  /** extra preprocessor definitions, e.g. ['ORACLE_EMULATION'] */
  defines?: readonly string[];
  /** the output's name (default: the program's name) */
  outName?: string;
}

/**
 * Assemble and link a program into test/fixtures/build/NAME.elf, unless an ELF built
 * from the same sources and flags is there already. Returns the ELF's path.
 */
export async function buildProgram(prog: Program, opts: BuildOptions = {}): Promise<string> {
  const cc = requireTool(CC);
  const outName = opts.outName ?? prog.name;
  const sources = [join(GUEST_DIR, 'start.S'), prog.source];
  const args = [...CFLAGS, ...(opts.defines ?? []).map((d) => `-D${d}`), ...sources];
  const hash = createHash('sha256');
  hash.update(JSON.stringify(args));
  for (const f of [...guestFiles(), prog.source]) hash.update(f).update(readFileSync(f));
  const digest = hash.digest('hex');

  mkdirSync(BUILD_DIR, { recursive: true });
  const elf = join(BUILD_DIR, `${outName}.elf`);
  const stamp = join(BUILD_DIR, `${outName}.sha256`);
  if (existsSync(elf) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return elf;

  const tmp = `${elf}.${process.pid}.tmp`;
  const r = await runMachine(cc, [...args, '-o', tmp], 60_000);
  if (r.status !== 0) {
    throw new Error(describeRun(`building ${prog.name} failed:\n${cc} ${[...args, '-o', tmp].join(' ')}\n`, r));
  }
  renameSync(tmp, elf);
  writeFileSync(stamp, digest);
  return elf;
}

export interface RunResult {
  /** the exit status, or null when killed */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Run a command with stdin from /dev/null and a time limit (SIGKILL on expiry). */
export function runMachine(command: string, args: readonly string[], timeoutMs: number, env?: Record<string, string>): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const start = Date.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: env ? { ...process.env, ...env } : undefined });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolvePromise({
        status,
        signal,
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        ms: Date.now() - start,
      });
    });
  });
}

/** A one-paragraph account of a run, for failure messages. */
export function describeRun(what: string, r: RunResult): string {
  const how = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  return `${what}: ${how} after ${r.ms} ms\n--- output ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}
