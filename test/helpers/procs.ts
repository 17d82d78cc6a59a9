/**
 * Child processes for tests: spawning with cleanup, reading JSON lines, polling.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { projectRoot } from '../../services/common/native.js';

/** The compiled helper script dist/test/helpers/NAME.js. */
export function helperPath(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

export function binPath(name: 'tsemu' | 'tsemu-img' | 'tsemu-nbd'): string {
  return join(projectRoot(), 'bin', name);
}

/** A fresh directory under the system temp dir, removed at teardown. */
export function tempDir(t: ExecutionContext, prefix = 'tsemu-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether a process exists and is not a zombie waiting to be reaped. */
export function pidAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Polls `cond` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Lines of a stream, one at a time. */
export class LineReader {
  private buf = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(
    stream: Readable,
    private readonly context: () => string = () => '',
  ) {
    stream.setEncoding('utf8');
    stream.on('data', (s: string) => {
      this.buf += s;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  /** The next line; rejects at end of stream or after `timeoutMs`. */
  async next(timeoutMs = 30000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.ended) throw new Error(`stream ended without a line${this.context()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line in ${timeoutMs} ms${this.context()}`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          res();
        };
      });
    }
    return this.lines.shift()!;
  }

  async nextJson<T = Record<string, unknown>>(timeoutMs = 30000): Promise<T> {
    const line = await this.next(timeoutMs);
    try {
      return JSON.parse(line) as T;
    } catch {
      throw new Error(`not a JSON line: ${line}${this.context()}`);
    }
  }
}

export interface Child {
  child: ChildProcess;
  /** stdout, line by line */
  out: LineReader;
  /** Everything the child wrote on stderr so far. */
  stderr(): string;
  /** Resolves when the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `node SCRIPT ARGS` (or any command with `command`) with stdout and stderr piped;
 * it is SIGKILLed at teardown if still running.
 */
export function spawnChild(
  t: ExecutionContext,
  args: string[],
  options: SpawnOptions & { command?: string } = {},
): Child {
  const { command, ...spawnOptions } = options;
  const child = spawn(command ?? process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...spawnOptions,
  });
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => res({ code, signal }));
    child.once('error', () => res({ code: null, signal: null }));
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const context = () => (err ? `; stderr: ${err.trim()}` : '');
  return { child, out: new LineReader(child.stdout!, context), stderr: () => err, exited };
}

/** Runs a command to completion: its status, stdout and stderr. */
export function run(
  t: ExecutionContext,
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((res, rej) => {
    child.once('error', rej);
    // 'close': the process has exited and its pipes are drained
    child.once('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}
