/**
 * Running one service process: `tsemu service NAME --listen ADDR ...`.
 *
 * Started by the supervisor, a service also watches its parent: the kernel sends it
 * SIGTERM when the parent dies (PR_SET_PDEATHSIG) and fd 3 is a pipe whose end-of-file
 * says the same thing. Either way it stops serving, removes its socket and, when it was
 * given the VM's runtime directory, removes what the dead parent left there.
 */
import { existsSync, readdirSync, rmdirSync, unlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import type * as grpcTypes from '@grpc/grpc-js';
import { all, has, last, parseArgs, UsageError, type Parsed } from './cli-args.js';
import { serve, type ServerHandle } from './grpc.js';
import { configureLogging, logger } from './log.js';
import { native } from './native.js';
import { version } from './version.js';

export const SERVICE_NAMES = ['block', 'display', 'net', 'monitor'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ServiceContext {
  name: ServiceName;
  args: Parsed;
  /** Ends the process cleanly (same path as SIGTERM). */
  shutdown(reason: string): void;
}

export interface ServiceDefinition {
  name: ServiceName;
  summary: string;
  /** Extra options this service takes, for --help. */
  usage?: string;
  /** Adds this service's gRPC services; returns a stop function for its backends. */
  start(server: grpcTypes.Server, ctx: ServiceContext): Promise<() => Promise<void>>;
}

export const COMMON_OPTIONS = {
  listen: { value: true, repeat: true },
  'runtime-dir': { value: true },
  'watchdog-fd': { value: true },
  log: { value: true, aliases: ['d'] },
  'log-file': { value: true, aliases: ['D'] },
  help: { aliases: ['h'] },
} as const;

export function serviceUsage(def: ServiceDefinition): string {
  return `usage: tsemu service ${def.name} [--listen ADDR]... [options]

${def.summary}

  --listen ADDR        serve gRPC on ADDR: unix:PATH or HOST:PORT (repeatable;
                       default unix:$XDG_RUNTIME_DIR/tsemu/${def.name}.sock)
  --runtime-dir DIR    the VM's runtime directory (set by the supervisor)
  --log SPEC           log levels, e.g. info or warn,${def.name}=debug
  --log-file FILE      log to FILE instead of stderr
${def.usage ?? ''}`;
}

export async function runService(def: ServiceDefinition, argv: string[]): Promise<void> {
  const log = logger(def.name);
  let args: Parsed;
  try {
    args = parseArgs(argv, { ...COMMON_OPTIONS });
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tsemu service ${def.name}: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  if (has(args, 'help')) {
    process.stdout.write(serviceUsage(def));
    return;
  }
  try {
    configureLogging(last(args, 'log'), last(args, 'log-file'));
  } catch (e) {
    process.stderr.write(`tsemu service ${def.name}: ${(e as Error).message}\n`);
    process.exit(1);
  }

  const runtimeDir = last(args, 'runtime-dir');
  const supervised = last(args, 'watchdog-fd') !== undefined;
  if (supervised) native().setParentDeathSignal(15 /* SIGTERM */);
  // The parent may have died between our fork and the prctl: then nobody would signal us.
  const parentAtStart = process.ppid;

  let listen = all(args, 'listen');
  if (listen.length === 0) {
    const dir = runtimeDir ?? join(process.env.XDG_RUNTIME_DIR || '/tmp', `tsemu-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    listen = [`unix:${join(dir, `${def.name}.sock`)}`];
  }

  let handle: ServerHandle | undefined;
  let stopBackends: (() => Promise<void>) | undefined;
  let stopping = false;

  // PR_SET_PDEATHSIG fires when the supervisor's *thread* that forked us exits, which can be
  // before the rest of its process: getppid() may still name the dying supervisor when the
  // SIGTERM arrives. The watchdog pipe reaches end-of-file only once the whole process is
  // gone, so on SIGTERM a supervised service waits a little for either sign.
  let watchdogClosed = false;
  const supervisorGone = async (waitMs: number): Promise<boolean> => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (watchdogClosed || process.ppid !== parentAtStart) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const stop = async (reason: string, parentGone: boolean | 'check') => {
    if (stopping) return;
    stopping = true;
    log.info(`stopping: ${reason}`);
    // Whatever happens below, do not outlive this by long.
    setTimeout(() => process.exit(0), 3000).unref();
    try {
      await stopBackends?.();
    } catch (e) {
      log.error('stopping backends failed', e);
    }
    await handle?.close(1000);
    if (parentGone === 'check') parentGone = await supervisorGone(1500);
    if (parentGone && runtimeDir) cleanRuntimeDir(runtimeDir);
    process.exit(0);
  };

  const ctx: ServiceContext = { name: def.name, args, shutdown: (r) => void stop(r, false) };
  process.on('SIGTERM', () => void stop('SIGTERM', supervised ? 'check' : false));
  // A supervised service leaves Ctrl-C on the terminal to its supervisor, which stops it in order.
  process.on('SIGINT', () => (supervised ? log.debug('SIGINT ignored: supervised') : void stop('SIGINT', false)));
  if (supervised) {
    const fd = Number(last(args, 'watchdog-fd'));
    const pipe = new Socket({ fd, readable: true, writable: false });
    pipe.on('data', () => {});
    pipe.on('error', () => {
      watchdogClosed = true;
      void stop('watchdog pipe error: supervisor gone', true);
    });
    pipe.on('end', () => {
      watchdogClosed = true;
      void stop('watchdog pipe closed: supervisor gone', true);
    });
    pipe.unref();
    if (process.ppid !== parentAtStart || process.ppid === 1) void stop('supervisor gone at start', true);
  }

  try {
    handle = await serve(
      { name: def.name, version: version(), listen, onShutdown: (r) => void stop(r, false) },
      () => {},
    );
    stopBackends = await def.start(handle.server, ctx);
  } catch (e) {
    process.stderr.write(`tsemu service ${def.name}: ${(e as Error).message}\n`);
    await handle?.close(100);
    process.exit(1);
  }
  log.info(`serving on ${handle.addresses.join(', ')}`);
  // Tells a supervisor (or a script) where we listen; one line on stdout.
  process.stdout.write(`${JSON.stringify({ service: def.name, pid: process.pid, listening: handle.addresses })}\n`);
}

/**
 * After the supervisor died: remove the sockets whose owners are gone, then the directory
 * once it is empty. Several services may race here; the last one removes the directory.
 */
function cleanRuntimeDir(dir: string): void {
  const owned = /^(machine|block|display|net|monitor|qmp[^/]*)\.sock$/;
  try {
    for (const f of readdirSync(dir)) {
      if (!owned.test(f)) continue;
      const name = f.replace(/\.sock$/, '');
      // Our own socket is gone already; a sibling removes its own, the machine's is orphaned.
      if (name === 'machine' || name.startsWith('qmp')) {
        try {
          unlinkSync(join(dir, f));
        } catch {
          // raced with a sibling
        }
      }
    }
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // a sibling got there first
  }
}
