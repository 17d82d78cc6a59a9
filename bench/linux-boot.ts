/**
 * Linux boot benchmark: wall time from process start to the busybox shell prompt of the
 * default VM (Debian's trixie kernel, OpenSBI fw_dynamic, the tsemu initramfs), on
 * tsemu and on qemu-system-riscv64 (TCG) with the same files and options, alternating,
 * median of the runs. The files come from `tsemu guest fetch` (cache: $TSEMU_CACHE or
 * the user's cache). Then, at the shell, the host CPU the idle guest costs (the machine
 * issue's target: an idle 2-hart guest under 5% of one core).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDefaultVm } from '../services/cpu/guest/default-vm.js';
import { median } from './measure.js';

export interface BootSample {
  machine: string;
  smp: number;
  seconds: number | null;
  /** Host CPU the idle guest used at the shell, in % of one core (measured over IDLE_MS). */
  idleCpuPercent?: number;
  error?: string;
}

export interface LinuxBootResult {
  smp: number;
  tsemu: { median: number | null; samples: BootSample[] };
  qemu: { median: number | null; samples: BootSample[] };
  /** tsemu time / qemu time (the target: 5 or less) */
  slowdown: number | null;
}

/** After the prompt: settle, then measure the idle guest's host CPU over this long. */
const SETTLE_MS = 5_000;
const IDLE_MS = 10_000;

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux)
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const PROMPT = /~ # (\x1b\[6n)?$/;

function bootOnce(cmd: string, args: string[], machine: string, smp: number, timeoutMs: number): Promise<BootSample> {
  return new Promise((res) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    let atPrompt: number | null = null;
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
      if (!PROMPT.test(out) || atPrompt !== null) return;
      atPrompt = Number(process.hrtime.bigint() - t0) / 1e9;
      const seconds = atPrompt;
      setTimeout(() => {
        let c0: number;
        try {
          c0 = cpuSeconds(p.pid!);
        } catch {
          return finish({ machine, smp, seconds });
        }
        setTimeout(() => {
          try {
            finish({ machine, smp, seconds, idleCpuPercent: ((cpuSeconds(p.pid!) - c0) * 100_000) / IDLE_MS });
          } catch {
            finish({ machine, smp, seconds });
          }
        }, IDLE_MS);
      }, SETTLE_MS);
    });
    p.on('exit', (c) => finish({ machine, smp, seconds: atPrompt, error: `exited with ${c}${atPrompt === null ? ' before the shell' : ' at the shell'}` }));
    p.on('error', (e) => finish({ machine, smp, seconds: null, error: e.message }));
  });
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
