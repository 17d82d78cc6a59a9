/** What every bench section measures with: the median of runs, and a command's wall time. */
import { execFileSync } from 'node:child_process';

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Seconds `cmd args` takes to run to completion (it must succeed). */
export function timed(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
