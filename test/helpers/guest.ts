/**
 * A Debian guest on a pipe console for the boot, PCI and virtio-blk tests:
 * boot with extra tsemu options, wait for the shell, run commands; an ext4 root disk for it.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './riscv-build.js';
import { ensureDefaultVm, type DefaultVm } from '../../services/cpu/guest/default-vm.js';

export const CACHE = process.env.TSEMU_TEST_CACHE ?? process.env.TSEMU_CACHE ?? join(REPO_ROOT, 'test/fixtures/cache');
export const BOOT_TIMEOUT_MS = Number(process.env.TSEMU_BOOT_TIMEOUT_MS ?? 420_000);
export const PROMPT = /~ # (\x1b\[6n)?$/;

let vm: DefaultVm | undefined;
export async function defaultVm(): Promise<DefaultVm> {
  vm ??= await ensureDefaultVm({ cache: CACHE });
  return vm;
}

export class Guest {
  out = '';
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  constructor(readonly p: ChildProcessWithoutNullStreams) {
    p.stdout.on('data', (d: Buffer) => {
      this.out += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    p.stderr.on('data', (d: Buffer) => {
      this.out += d.toString('latin1');
    });
    this.exited = new Promise((res) => p.once('exit', (c) => res(c)));
  }

  async expect(re: RegExp, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return from + m.index + m[0].length;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; output tail:\n${this.out.slice(-3000)}`);
      if (this.p.exitCode !== null) throw new Error(`tsemu exited (${this.p.exitCode}) waiting for ${re}; tail:\n${this.out.slice(-3000)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }

  /**
   * Runs a shell command and returns what it printed. A marker line goes first: the
   * console echoes a long command over several lines, so its output starts after it.
   */
  async run(cmd: string, timeoutMs = 120_000): Promise<string> {
    const from = await this.type(`echo @@S@@; ${cmd}`);
    const start = await this.expect(/\n@@S@@\r?\n/, timeoutMs, from);
    const end = await this.expect(PROMPT, timeoutMs, start);
    const lines = this.out.slice(start, end).split(/\r?\n/);
    return lines.slice(0, -1).join('\n').trim();
  }

  /**
   * Types a line at the shell; returns where the output after it starts. busybox's prompt
   * ends with a cursor-position query, which comes after the prompt's text (PROMPT matches
   * either way) and input typed before it is sent can be lost: so wait until the console has
   * been quiet for a moment.
   */
  async type(line: string): Promise<number> {
    for (let n = this.out.length; ; n = this.out.length) {
      await new Promise((r) => setTimeout(r, 300));
      if (this.out.length === n) break;
    }
    const from = this.out.length;
    this.p.stdin.write(`${line}\n`);
    return from;
  }

  /**
   * `poweroff -f` at the shell; resolves with tsemu's exit status. Typed as `run` types, and
   * again should the machine still run 20 s later (a line lost to the race above would
   * otherwise leave the test waiting for its whole timeout).
   */
  async poweroff(): Promise<number | null> {
    for (;;) {
      await this.type('poweroff -f');
      const code = await Promise.race([this.exited, new Promise<'again'>((r) => setTimeout(() => r('again'), 20_000).unref())]);
      if (code !== 'again') return code;
    }
  }

  /** Waits for the initramfs shell. */
  async ready(): Promise<void> {
    await this.expect(/tsemu initramfs ready/, BOOT_TIMEOUT_MS);
    await this.expect(PROMPT, 120_000);
    await this.settle();
  }

  /**
   * A wide terminal (busybox's line editor wraps long commands at 80 columns and then
   * waits on cursor queries a pipe never answers), and no kernel messages in the middle
   * of command output.
   */
  async settle(): Promise<void> {
    await this.run('stty cols 1000 rows 50');
    await this.run('dmesg -n 1');
  }
}

/** Boots the default VM with `extra` tsemu options; -smp 1, 512M unless `extra` says. */
export async function bootGuest(extra: string[] = [], smp = 1, append = ''): Promise<Guest> {
  const v = await defaultVm();
  const args = [join(REPO_ROOT, 'bin/tsemu'), '-M', 'virt', '-smp', String(smp), '-m', '512M', '-nographic',
    '-bios', v.firmware, '-kernel', v.kernel, '-initrd', v.initrd, '-append', `${v.append}${append ? ` ${append}` : ''}`, ...extra];
  const p = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Guest(p);
}

/**
 * A 64 MiB ext4 image at `raw` (mkfs.ext4 -d, in `dir`/root) whose userland is busybox:
 * /sbin/init mounts the usual file systems, says "tsemu ext4 root ready: <its / mount>" and
 * runs a shell. Boot it with root=/dev/vda rw.
 */
export async function makeExt4Root(dir: string, raw: string): Promise<void> {
  const v = await defaultVm();
  const root = join(dir, 'root');
  for (const d of ['bin', 'sbin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(v.manifest.busybox, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  writeFileSync(join(root, 'sbin/init'), `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
cd /
echo "tsemu ext4 root ready: $(cat /proc/mounts | grep ' / ')"
setsid cttyhack sh
poweroff -f
`);
  chmodSync(join(root, 'sbin/init'), 0o755);
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', root, '-L', 'tsemuroot', raw, '64M'], { stdio: 'pipe' });
}
