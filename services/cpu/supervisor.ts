/**
 * The supervisor: starts each device service as a child process with its own gRPC server
 * on a unix socket in the VM's runtime directory, or attaches one already running
 * elsewhere, waits for each to be healthy, and stops them all on exit.
 *
 * Children never outlive the supervisor: each gets PR_SET_PDEATHSIG (SIGTERM) and a
 * watchdog pipe on fd 3 whose end-of-file tells it the supervisor is gone, even after
 * SIGKILL. They then remove their sockets and the runtime directory (service-runtime.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { requestShutdown, waitHealthy, parseAddress, formatAddress } from '../common/grpc.js';
import { logger } from '../common/log.js';
import { projectRoot } from '../common/native.js';
import type { ServiceName } from '../common/service-runtime.js';

const log = logger('supervisor');

export interface ServiceHandle {
  name: ServiceName;
  /** gRPC address: unix:PATH or HOST:PORT */
  address: string;
  /** Set for services this supervisor started. */
  child?: ChildProcess;
  pid?: number;
}

export interface SupervisorOptions {
  /** The VM's name, used in the runtime directory's name. */
  name?: string;
  /** Where sockets go; default $XDG_RUNTIME_DIR/tsemu/NAME-PID or /tmp/tsemu-UID/NAME-PID. */
  runtimeDir?: string;
  /** How long a service may take to become healthy. */
  startTimeoutMs?: number;
  /**
   * Services started again when they die after having started well (DESIGN: services
   * survive each other): at most 5 times a minute, after 0.5 s, 1 s, 2 s...
   */
  restart?: readonly ServiceName[];
}

export function defaultRuntimeBase(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  return xdg ? join(xdg, 'tsemu') : `/tmp/tsemu-${process.getuid?.() ?? 0}`;
}

export class Supervisor extends EventEmitter {
  readonly runtimeDir: string;
  private readonly services = new Map<ServiceName, ServiceHandle>();
  private readonly startTimeoutMs: number;
  private stopping = false;
  private readonly exitHook = () => this.killNow();
  private readonly restart: ReadonlySet<ServiceName>;
  private readonly restarts = new Map<ServiceName, number[]>();

  constructor(options: SupervisorOptions = {}) {
    super();
    const name = (options.name ?? 'vm').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 32);
    this.runtimeDir = options.runtimeDir ?? join(defaultRuntimeBase(), `${name}-${process.pid}`);
    this.startTimeoutMs = options.startTimeoutMs ?? 15000;
    this.restart = new Set(options.restart ?? []);
    mkdirSync(this.runtimeDir, { recursive: true, mode: 0o700 });
    // Last resort on any exit path: no child survives us, no socket stays behind.
    process.on('exit', this.exitHook);
  }

  socketPath(name: string): string {
    return join(this.runtimeDir, `${name}.sock`);
  }

  list(): ServiceHandle[] {
    return [...this.services.values()];
  }

  get(name: ServiceName): ServiceHandle | undefined {
    return this.services.get(name);
  }

  /** Starts `tsemu service NAME` as a child and waits until it answers Health. */
  async start(name: ServiceName, extraArgs: string[] = []): Promise<ServiceHandle> {
    if (this.services.has(name)) throw new Error(`the ${name} service is already running`);
    const address = `unix:${this.socketPath(name)}`;
    // a child of ours that died (SIGKILL) left its socket behind: the runtime dir is ours
    rmSync(this.socketPath(name), { force: true });
    const bin = join(projectRoot(), 'bin/tsemu');
    const child = spawn(
      process.execPath,
      [bin, 'service', name, '--listen', address, '--runtime-dir', this.runtimeDir, '--watchdog-fd', '3', ...extraArgs],
      { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] },
    );
    const handle: ServiceHandle = { name, address, child, pid: child.pid };
    this.services.set(name, handle);

    const exited = new Promise<never>((_, rej) => {
      child.once('exit', (code, signal) => {
        rej(new Error(`the ${name} service exited during start (${signal ?? `status ${code}`})`));
      });
      child.once('error', (e) => rej(new Error(`cannot start the ${name} service: ${e.message}`)));
    });
    exited.catch(() => {});
    let started = false;
    child.on('exit', (code, signal) => {
      if (this.services.get(name)?.child === child) this.services.delete(name);
      if (!this.stopping) log.warn(`service ${name} (pid ${child.pid}) exited: ${signal ?? `status ${code}`}`);
      this.emit('service-exit', name, code, signal);
      if (started && !this.stopping && this.restart.has(name)) this.restartLater(name, extraArgs);
    });
    // stdout carries one readiness line; anything after it is passed through.
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => log.debug(`${name}: ${l}`));
    // The watchdog pipe stays open and unreferenced: it closes when this process dies.
    const watchdog = child.stdio[3] as unknown as { unref?: () => void } | null;
    watchdog?.unref?.();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();

    // Stops the health polling when the child exits first, instead of polling on until the timeout.
    const polling = new AbortController();
    try {
      await Promise.race([exited, waitHealthy(address, this.startTimeoutMs, polling.signal)]);
    } catch (e) {
      polling.abort();
      child.kill('SIGKILL');
      this.services.delete(name);
      throw e;
    }
    started = true;
    log.info(`service ${name} started, pid ${child.pid}, ${address}`);
    this.emit('service-start', name, address);
    return handle;
  }

  private restartLater(name: ServiceName, extraArgs: string[]): void {
    const now = Date.now();
    const recent = (this.restarts.get(name) ?? []).filter((t) => now - t < 60000);
    if (recent.length >= 5) {
      log.error(`service ${name} died ${recent.length} times in a minute: not restarting it`);
      return;
    }
    recent.push(now);
    this.restarts.set(name, recent);
    const delay = 500 * 2 ** (recent.length - 1);
    setTimeout(() => {
      if (this.stopping || this.services.has(name)) return;
      // a killed service could not remove its socket
      rmSync(this.socketPath(name), { force: true });
      this.start(name, extraArgs).catch((e: Error) => log.error(`restarting service ${name} failed: ${e.message}`));
    }, delay).unref();
  }

  /** Uses a service someone else started (`--block-service unix:PATH` or HOST:PORT). */
  async attach(name: ServiceName, addressSpec: string): Promise<ServiceHandle> {
    if (this.services.has(name)) throw new Error(`the ${name} service is already attached`);
    const address = formatAddress(parseAddress(addressSpec));
    await waitHealthy(address, this.startTimeoutMs);
    const handle: ServiceHandle = { name, address };
    this.services.set(name, handle);
    log.info(`service ${name} attached at ${address}`);
    this.emit('service-start', name, address);
    return handle;
  }

  /** Asks each child to stop, then kills what is left; removes the runtime directory. */
  async stopAll(graceMs = 3000): Promise<void> {
    this.stopping = true;
    const children = this.list().filter((s) => s.child);
    await Promise.all(
      children.map(async (s) => {
        const child = s.child!;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise<void>((res) => child.once('exit', () => res()));
        try {
          await requestShutdown(s.address, 'supervisor stopping', Math.min(graceMs, 1000));
        } catch {
          child.kill('SIGTERM');
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }),
    );
    this.services.clear();
    rmSync(this.runtimeDir, { recursive: true, force: true });
    process.off('exit', this.exitHook);
  }

  /** Synchronous: for process exit, when nothing async can run any more. */
  killNow(): void {
    for (const s of this.services.values()) {
      if (s.child && s.child.exitCode === null) s.child.kill('SIGKILL');
    }
    this.services.clear();
    try {
      rmSync(this.runtimeDir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
}
