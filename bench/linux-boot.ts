/**
 * Linux boot benchmark: wall time from process start to the busybox shell prompt of the
 * default VM (Debian's trixie kernel, OpenSBI fw_dynamic, the tsemu initramfs), on
 * tsemu and on qemu-system-riscv64 (TCG) with the same files and options, alternating,
 * median of the runs. The files come from `tsemu guest fetch` (cache: $TSEMU_CACHE or
 * the user's cache).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ensureDefaultVm } from '../services/cpu/guest/default-vm.js';

export interface BootSample {
  machine: string;
  smp: number;
  seconds: number | null;
  error?: string;
}

export interface LinuxBootResult {
  smp: number;
  tsemu: { median: number | null; samples: BootSample[] };
  qemu: { median: number | null; samples: BootSample[] };
  /** tsemu time / qemu time (the target: 5 or less) */
  slowdown: number | null;
}

const PROMPT = /~ # (\x1b\[6n)?$/;

function bootOnce(cmd: string, args: string[], machine: string, smp: number, timeoutMs: number): Promise<BootSample> {
  return new Promise((res) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = (s: BootSample) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      p.kill('SIGKILL');
      res(s);
    };
    const timer = setTimeout(() => finish({ machine, smp, seconds: null, error: `no shell in ${timeoutMs / 1000} s` }), timeoutMs);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (out.length > 65536) out = out.slice(-4096);
      if (PROMPT.test(out)) finish({ machine, smp, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
    p.on('exit', (c) => finish({ machine, smp, seconds: null, error: `exited with ${c} before the shell` }));
    p.on('error', (e) => finish({ machine, smp, seconds: null, error: e.message }));
  });
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function benchLinuxBoot(root: string, smps: number[], repeats: number): Promise<LinuxBootResult[]> {
  const vm = await ensureDefaultVm({ cache: process.env.TSEMU_CACHE });
  const common = (smp: number) => ['-M', 'virt', '-smp', String(smp), '-m', '512M', '-nographic',
    '-bios', vm.firmware, '-kernel', vm.kernel, '-initrd', vm.initrd, '-append', vm.append];
  const results: LinuxBootResult[] = [];
  for (const smp of smps) {
    const t: BootSample[] = [];
    const q: BootSample[] = [];
    for (let i = 0; i < repeats; i++) {
      q.push(await bootOnce('qemu-system-riscv64', common(smp), 'qemu-system-riscv64', smp, 300_000));
      t.push(await bootOnce(process.execPath, [join(root, 'bin/tsemu'), ...common(smp)], 'tsemu', smp, 600_000));
    }
    const tm = median(t.flatMap((s) => (s.seconds === null ? [] : [s.seconds])));
    const qm = median(q.flatMap((s) => (s.seconds === null ? [] : [s.seconds])));
    results.push({ smp, tsemu: { median: tm, samples: t }, qemu: { median: qm, samples: q }, slowdown: tm !== null && qm ? tm / qm : null });
  }
  return results;
}
