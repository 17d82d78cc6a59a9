/** What every bench section measures with: the median of runs, and a command's wall time. */
import { execFileSync } from 'node:child_process';

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * The environment timed commands run in: this one without NODE_EXTRA_CA_CERTS, which makes
 * every Node process parse a CA bundle before its first line (about 30 ms of each tsemu-img
 * run where a sandbox sets it), a start-up cost no peer pays and no tsemu tool needs.
 */
export function benchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Seconds `cmd args` takes to run to completion (it must succeed). */
export function timed(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: benchEnv() });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
