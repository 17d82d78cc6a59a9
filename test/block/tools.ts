/**
 * Helpers for block tests: the real qemu-img/qemu-io as oracles, and tsemu-img run in-process
 * (its main() with captured output) so a matrix of images does not start a node per command.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { main } from '../../services/block/img/main.js';

const exec = promisify(execFile);

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a host tool; never throws on a nonzero status. */
export async function tool(cmd: string, args: string[], cwd?: string): Promise<Result> {
  try {
    const r = await exec(cmd, args, { cwd, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/** Runs a host tool and fails with its stderr unless it exits 0. */
export async function must(cmd: string, args: string[], cwd?: string): Promise<string> {
  const r = await tool(cmd, args, cwd);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} -> ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `qemu-io -f fmt -c cmd1 -c cmd2 ... file` */
export function qemuIo(file: string, cmds: string[], fmt = 'qcow2'): Promise<string> {
  return must('qemu-io', ['-f', fmt, ...cmds.flatMap((c) => ['-c', c]), file]);
}

/** tsemu-img in-process. */
export async function img(args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { out: (s) => { stdout += s; }, err: (s) => { stderr += s; } });
  return { code, stdout, stderr };
}

export async function imgOk(args: string[]): Promise<string> {
  const r = await img(args);
  if (r.code !== 0) throw new Error(`tsemu-img ${args.join(' ')} -> ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A deterministic pseudo-random generator (xorshift32), so failures replay. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}
