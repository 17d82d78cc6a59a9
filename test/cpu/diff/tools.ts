/**
 * Building the images of a generated program and running them: the Debian cross binutils,
 * qemu-riscv64 (the reference), qemu-system-riscv64 (the check on the bare-metal wrapper),
 * and bin/tsemu (the system under test).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Program } from './gen.js';
import { assemble, BEGIN_MARK, DUMP_NAMES, END_MARK, LINKER_SCRIPT, TRAP_MARK, type Variant } from './wrap.js';

/** The repository root (this file runs from dist/test/cpu/diff/). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const BUILD_DIR = join(ROOT, 'test', 'fixtures', 'build', 'diff');
export const MARCH = 'rv64gc_zba_zbb_zbs';
/** The machine arguments, the same for qemu-system-riscv64 and bin/tsemu. */
export const MACHINE_ARGS = ['-M', 'virt', '-bios', 'none', '-nographic', '-m', '128M', '-smp', '1'];

const AS = 'riscv64-linux-gnu-as';
const LD = 'riscv64-linux-gnu-ld';
const NM = 'riscv64-linux-gnu-nm';
const QEMU_USER = 'qemu-riscv64';
const QEMU_SYSTEM = 'qemu-system-riscv64';

const TOOL_PACKAGES: Record<string, string> = {
  [AS]: 'binutils-riscv64-linux-gnu',
  [LD]: 'binutils-riscv64-linux-gnu',
  [NM]: 'binutils-riscv64-linux-gnu',
  [QEMU_USER]: 'qemu-user',
  [QEMU_SYSTEM]: 'qemu-system-misc',
};

export class MissingToolError extends Error {}

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Throws MissingToolError naming every missing tool and its Debian package. */
export function requireTools(): void {
  const missing = Object.keys(TOOL_PACKAGES).filter((t) => !onPath(t));
  if (missing.length > 0) {
    throw new MissingToolError(
      `the differential test needs ${missing.join(', ')} on PATH ` +
        `(Debian packages: ${[...new Set(missing.map((t) => TOOL_PACKAGES[t]))].join(', ')})`,
    );
  }
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Killed on purpose after the dump was complete and the process did not exit. */
  readonly lingered: boolean;
  readonly ms: number;
}

export interface RunOptions {
  timeoutMs: number;
  /** Once the output shows this, allow only graceMs more before killing the process. */
  doneMarker?: string;
  graceMs?: number;
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
}

/** Runs a command in its own process group; kills the group on timeout. */
export function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    // stdin is a pipe left open (QEMU's -nographic console reads it; EOF there is a state
    // of its own we do not want to depend on)
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: opts.env ? { ...process.env, ...opts.env } : undefined });
    child.stdin.on('error', () => {});
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let lingered = false;
    let grace: NodeJS.Timeout | undefined;
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    child.stdout.setEncoding('latin1');
    child.stderr.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      stdout += d;
      if (opts.doneMarker && grace === undefined && stdout.includes(opts.doneMarker)) {
        grace = setTimeout(() => {
          lingered = true;
          kill();
        }, opts.graceMs ?? 5000);
      }
    });
    child.stderr.on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      clearTimeout(grace);
      reject(e);
    });
    child.on('close', (code, signal) => {
      child.stdin.destroy();
      clearTimeout(timer);
      clearTimeout(grace);
      resolve({ stdout, stderr, code, signal, timedOut, lingered, ms: Date.now() - start });
    });
  });
}

async function mustRun(cmd: string, args: readonly string[]): Promise<void> {
  const r = await run(cmd, args, { timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `status ${r.code ?? r.signal}`}):\n${r.stderr}${r.stdout}`);
  }
}

let scriptPath: string | undefined;
function linkerScript(): string {
  if (scriptPath === undefined) {
    mkdirSync(BUILD_DIR, { recursive: true });
    const path = join(BUILD_DIR, 'diff.ld');
    const tmp = `${path}.${process.pid}`;
    writeFileSync(tmp, LINKER_SCRIPT);
    renameSync(tmp, path); // atomic: concurrent test processes write the same text
    scriptPath = path;
  }
  return scriptPath;
}

/**
 * Assembles and links one image; returns the ELF's path, BUILD_DIR/NAME.VARIANT.elf next to
 * its NAME.VARIANT.s. Files are written under temporary names and renamed into place, so
 * concurrent builds of the same program (same name, same bytes) do not disturb each other.
 */
export async function buildImage(p: Program, variant: Variant): Promise<string> {
  const ld = linkerScript();
  const base = join(BUILD_DIR, `${p.name}.${variant}`);
  const tmp = `${base}.${process.pid}.${buildCounter++}`;
  try {
    writeFileSync(`${tmp}.s`, assemble(p, variant));
    await mustRun(AS, [`-march=${MARCH}`, '-mabi=lp64d', '-o', `${tmp}.o`, `${tmp}.s`]);
    await mustRun(LD, ['-T', ld, '--no-warn-rwx-segments', '-static', '-o', `${tmp}.elf`, `${tmp}.o`]);
    renameSync(`${tmp}.s`, `${base}.s`);
    renameSync(`${tmp}.elf`, `${base}.elf`);
  } finally {
    for (const ext of ['s', 'o', 'elf']) rmSync(`${tmp}.${ext}`, { force: true });
  }
  return `${base}.elf`;
}
let buildCounter = 0;

export type Dump =
  | {
      readonly ok: true;
      readonly values: readonly bigint[];
      /** Set when the dump is complete but the program did not end cleanly. */
      readonly exitProblem?: string;
    }
  | { readonly ok: false; readonly error: string; readonly trap?: Trap };

export interface Trap {
  readonly cause: bigint;
  readonly epc: bigint;
  readonly tval: bigint;
}

const CAUSES: Record<string, string> = {
  '0': 'instruction address misaligned',
  '1': 'instruction access fault',
  '2': 'illegal instruction',
  '3': 'breakpoint',
  '4': 'load address misaligned',
  '5': 'load access fault',
  '6': 'store/AMO address misaligned',
  '7': 'store/AMO access fault',
  '11': 'environment call from M-mode',
};

/** Extracts the dump from a run's output, or says why there is none. */
export function parseDump(r: RunResult, who: string): Dump {
  const text = r.stdout.replace(/\r/g, '');
  const trap = text.indexOf(TRAP_MARK);
  if (trap >= 0) {
    const [, ...rest] = text.slice(trap).split('\n');
    const fields = rest.slice(0, 3).map((h) => h.trim());
    if (fields.length === 3 && fields.every((h) => /^[0-9a-f]{16}$/.test(h))) {
      const [cause, epc, tval] = fields.map((h) => BigInt(`0x${h}`));
      const name = CAUSES[cause.toString()] ?? 'unexpected cause';
      return {
        ok: false,
        error: `${who} trapped: ${name}: mcause=0x${cause.toString(16)} mepc=0x${epc.toString(16)} mtval=0x${tval.toString(16)}`,
        trap: { cause, epc, tval },
      };
    }
    return { ok: false, error: `${who} trapped, and printed a malformed trap report` };
  }
  const begin = text.indexOf(`${BEGIN_MARK}\n`);
  const end = text.indexOf(`${END_MARK}\n`, begin);
  const status = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`;
  const tail = (s: string): string => (s.length > 2000 ? `...${s.slice(-2000)}` : s);
  if (begin < 0 || end < 0) {
    return { ok: false, error: `${who} printed no complete dump (${status})\nstdout: ${tail(r.stdout)}\nstderr: ${tail(r.stderr)}` };
  }
  const lines = text.slice(begin + BEGIN_MARK.length + 1, end).split('\n').filter((l) => l !== '');
  if (lines.length !== DUMP_NAMES.length || !lines.every((l) => /^[0-9a-f]{16}$/.test(l))) {
    return { ok: false, error: `${who} printed a malformed dump (${lines.length} lines, ${status})` };
  }
  return { ok: true, values: lines.map((l) => BigInt(`0x${l}`)) };
}

/** The unit whose code holds pc, from the unit_N symbols of an image. */
export async function unitAt(elf: string, pc: bigint): Promise<number | undefined> {
  const r = await run(NM, [elf], { timeoutMs: 30_000 });
  let best: { addr: bigint; unit: number } | undefined;
  let end: bigint | undefined;
  for (const line of r.stdout.split('\n')) {
    const m = /^([0-9a-f]+) \w (unit_(\d+)|seq_end)$/.exec(line);
    if (!m) continue;
    const addr = BigInt(`0x${m[1]}`);
    if (m[3] === undefined) end = addr;
    else if (addr <= pc && (!best || addr > best.addr)) best = { addr, unit: Number(m[3]) };
  }
  return best && end !== undefined && pc < end ? best.unit : undefined;
}

/** Runs the user image on qemu-riscv64, the reference. */
export async function runUser(elf: string): Promise<Dump> {
  const r = await run(QEMU_USER, [elf], { timeoutMs: 30_000 });
  const d = parseDump(r, QEMU_USER);
  if (d.ok && r.code !== 0) return { ...d, exitProblem: `${QEMU_USER} printed the dump but exited with status ${r.code ?? r.signal}` };
  return d;
}

export type Machine = 'qemu' | 'tsemu';

export function machineCommand(m: Machine, elf: string): [string, string[]] {
  const args = [...MACHINE_ARGS, '-kernel', elf];
  if (m === 'qemu') return [QEMU_SYSTEM, args];
  // another system under test, for trying the harness itself (the machine arguments follow)
  const sut = (process.env.TSEMU_DIFF_SUT ?? '').split(/\s+/).filter(Boolean);
  if (sut.length > 0) return [sut[0], [...sut.slice(1), ...args]];
  const extra = (process.env.TSEMU_DIFF_TSEMU_ARGS ?? '').split(/\s+/).filter(Boolean);
  return [process.execPath, [join(ROOT, 'bin', 'tsemu'), ...args, ...extra]];
}

/** Runs the bare image on a machine: qemu-system-riscv64 or bin/tsemu. */
/**
 * The environment for tsemu on seed `seed`: odd seeds run through the block translator
 * (every block translated at its first entry), even seeds through the interpreter.
 */
export function tsemuEnvForSeed(seed: number): Record<string, string> {
  return { TSEMU_JIT_THRESHOLD: seed % 2 === 1 ? '1' : '0' };
}

export async function runBare(m: Machine, elf: string, env?: Record<string, string>): Promise<Dump> {
  const [cmd, args] = machineCommand(m, elf);
  const who = m === 'qemu' ? QEMU_SYSTEM : 'tsemu';
  const timeoutMs = m === 'qemu' ? 30_000 : Number(process.env.TSEMU_DIFF_TIMEOUT_MS ?? 30_000);
  const r = await run(cmd, args, { timeoutMs, doneMarker: `${END_MARK}\n`, graceMs: 5000, env });
  const d = parseDump(r, who);
  if (!d.ok) return d;
  if (r.lingered) return { ...d, exitProblem: `${who} printed the dump but did not exit through the sifive_test device within 5 s` };
  if (r.code !== 0) return { ...d, exitProblem: `${who} printed the dump but exited with status ${r.code ?? r.signal}` };
  return d;
}
