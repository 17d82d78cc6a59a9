/**
 * Machines for the monitor tests: a tiny bare-metal guest (built with Debian's cross gcc,
 * cached by content), tsemu or qemu-system-riscv64 running it with a QMP socket, and a
 * QMP client on that socket.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { BUILD_DIR, CC, REPO_ROOT } from '../helpers/riscv-build.js';
import { binPath, sleep } from '../helpers/procs.js';
import { QmpClient } from '../../services/monitor/qmp-client.js';

/** Builds test/monitor/NAME.S into an ELF linked at 0x80000000; returns its path. */
export function buildGuest(name: 'idle' | 'clock' | 'poweroff'): string {
  const src = join(REPO_ROOT, 'test/monitor', `${name}.S`);
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const out = join(BUILD_DIR, `monitor-${name}-${hash}.elf`);
  if (existsSync(out)) return out;
  mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(CC, ['-march=rv64gc', '-mabi=lp64d', '-nostdlib', '-static', '-Wl,-N', '-Wl,--build-id=none', '-Wl,--no-warn-rwx-segments', '-Ttext=0x80000000', '-o', tmp, src]);
  renameSync(tmp, out);
  return out;
}

export interface Vm {
  child: ChildProcess;
  qmpPath: string;
  stderr: () => string;
}

/** Waits for a unix socket to accept connections. */
/**
 * Whether a socket is listening on the unix path `path`: /proc/net/unix shows it with
 * __SO_ACCEPTCON (flags 0x10000). The file alone is not enough: it appears at bind(), a
 * moment before listen(), and a connect in between is refused. No probe connection: one
 * would count as a client (-qmp without wait=off lets the guest go at the first).
 */
function listening(path: string): boolean {
  return readFileSync('/proc/net/unix', 'utf8').split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[7] === path && (parseInt(f[3]!, 16) & 0x10000) !== 0;
  });
}

export async function waitSocket(path: string, child: ChildProcess, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the machine exited early (${child.exitCode})`);
    if (existsSync(path) && listening(path)) return;
    await sleep(50);
  }
  throw new Error(`no socket at ${path} after ${timeoutMs} ms`);
}

/** Starts tsemu or QEMU on `elf` with a QMP socket in `dir`; killed at teardown. */
export async function startVm(
  t: ExecutionContext,
  which: 'tsemu' | 'qemu',
  dir: string,
  elf: string,
  extra: string[] = [],
): Promise<Vm> {
  const qmpPath = join(dir, `${which}-qmp.sock`);
  const common = ['-M', 'virt', '-bios', 'none', '-kernel', elf, '-smp', '2', '-m', '128M', '-display', 'none', '-serial', 'null', '-name', 'cmpvm'];
  const args = [...common, '-qmp', `unix:${qmpPath},server=on,wait=off`, ...extra];
  const child =
    which === 'tsemu'
      ? spawn(process.execPath, [binPath('tsemu'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn('qemu-system-riscv64', ['-nodefaults', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitSocket(qmpPath, child);
  return { child, qmpPath, stderr: () => err };
}

export async function qmpConnect(t: ExecutionContext, vm: Vm): Promise<QmpClient> {
  const c = await QmpClient.connect(`unix:${vm.qmpPath}`);
  t.teardown(() => c.close());
  return c;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (c) => r(c)));
}
