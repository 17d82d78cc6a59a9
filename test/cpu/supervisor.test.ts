/**
 * The supervisor (services/cpu/supervisor.ts) through `bin/tsemu`: it starts the device
 * services as child processes, each answers Health and Lifecycle, and none outlives tsemu,
 * whether tsemu stops in order (SIGTERM) or is killed (SIGKILL). A service started on its
 * own can be attached to, and is left running.
 *
 * These tests start several Node processes each; they run one at a time so that a loaded
 * machine does not push service start-up past its deadline.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { call, connect, grpc, requestShutdown, serviceInfo, waitHealthy } from '../../services/common/grpc.js';
import { configureLogging } from '../../services/common/log.js';
import { version } from '../../services/common/version.js';
import { Supervisor } from '../../services/cpu/supervisor.js';
import { BlockClient } from '../../proto/gen/block.js';
import type { AttachReply, DetachReply, DeviceSpec, QueryReply } from '../../proto/gen/common.js';
import { MachineClient, type Status } from '../../proto/gen/machine.js';
import { binPath, LineReader, pidAlive, spawnChild, tempDir, waitFor, type Child } from '../helpers/procs.js';

const LONG = 30000;

// The in-process Supervisor's expected warnings (a service that dies at start) stay quiet.
configureLogging('error');

interface Ready {
  event: string;
  pid: number;
  runtimeDir: string;
  machine: string;
  services: Record<string, { address: string; pid: number | null }>;
}

/** The environment for tsemu: quiet logs, readiness on fd 3. */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, TSEMU_READY_FD: '3', TSEMU_LOG: 'warn' };
  delete e.TSEMU_LOG_FILE;
  return e;
}

/** Starts bin/tsemu with a pipe on fd 3 for its readiness line; killed at teardown. */
function startTsemu(t: ExecutionContext, args: string[]): Child & { ready: Promise<Ready> } {
  const c = spawnChild(t, [binPath('tsemu'), ...args], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: env() });
  const readyPipe = new LineReader(c.child.stdio[3] as Readable, () => `; tsemu stderr: ${c.stderr().trim()}`);
  const ready = readyPipe.nextJson<Ready>(LONG).then((r) => {
    // Whatever happens in the test, no service it started is left behind.
    t.teardown(() => {
      for (const s of Object.values(r.services)) {
        if (s.pid !== null && pidAlive(s.pid)) process.kill(s.pid, 'SIGKILL');
      }
    });
    return r;
  });
  return { ...c, ready };
}

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** /dev/shm entries named like tsemu's own (the shm tests' tsemu-test-* are theirs). */
function tsemuShm(): Set<string> {
  return new Set(readdirSync('/dev/shm').filter((n) => n.includes('tsemu') && !n.startsWith('tsemu-test-')));
}

function newShm(before: Set<string>): string[] {
  return [...tsemuShm()].filter((n) => !before.has(n));
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks each service and the machine socket over gRPC; returns the service pids. */
async function checkRunning(t: ExecutionContext, ready: Ready, names: string[]): Promise<number[]> {
  t.is(ready.event, 'ready');
  t.deepEqual(Object.keys(ready.services).sort(), [...names].sort());
  t.is(ready.machine, `unix:${join(ready.runtimeDir, 'machine.sock')}`);
  const pids: number[] = [];
  for (const name of names) {
    const s = ready.services[name]!;
    t.is(s.address, `unix:${join(ready.runtimeDir, `${name}.sock`)}`);
    t.true(typeof s.pid === 'number' && pidAlive(s.pid), `${name} runs`);
    t.is(ppidOf(s.pid!), ready.pid, `${name} is a child of tsemu`);
    await waitHealthy(s.address, LONG);
    const info = await serviceInfo(s.address, LONG);
    t.is(info.name, name);
    t.is(info.pid, s.pid!);
    t.is(info.version, version());
    t.deepEqual(info.listening, [s.address]);
    pids.push(s.pid!);
  }
  await waitHealthy(ready.machine, LONG);
  const mi = await serviceInfo(ready.machine, LONG);
  t.is(mi.name, 'machine');
  t.is(mi.pid, ready.pid);
  return pids;
}

function machineClient(t: ExecutionContext, address: string) {
  const client = connect(MachineClient, address);
  t.teardown(() => client.close());
  return client;
}

test.serial('tsemu starts block and net, each answers Health; SIGTERM stops them all and cleans up', async (t) => {
  const dir = tempDir(t);
  const rd = join(dir, 'rd');
  const shmBefore = tsemuShm();
  const vm = startTsemu(t, ['--services', 'block,net', '--runtime-dir', rd]);
  const ready = await vm.ready;
  t.is(ready.pid, vm.child.pid!);
  t.is(ready.runtimeDir, rd);
  const pids = await checkRunning(t, ready, ['block', 'net']);
  t.deepEqual(readdirSync(rd).sort(), ['block.sock', 'machine.sock', 'net.sock']);

  const machine = machineClient(t, ready.machine);
  const status = await call<object, Status>(machine, machine.queryStatus, {}, LONG);
  t.like(status, { state: 'running', running: true, name: 'vm' });
  const devices = await call<{ id: string }, QueryReply>(machine, machine.queryDevices, { id: '' }, LONG);
  t.deepEqual(devices.devices, [], 'no devices in block or net yet');

  vm.child.kill('SIGTERM');
  t.deepEqual(await within(vm.exited, LONG, 'tsemu to exit'), { code: 0, signal: null });
  await waitFor(() => pids.every((p) => !pidAlive(p)), LONG, 'the services to exit');
  t.false(existsSync(rd), 'the runtime directory is removed');
  t.deepEqual(newShm(shmBefore), [], 'nothing named tsemu left in /dev/shm');
});

test.serial('after a SIGKILL of tsemu its services exit and remove the runtime directory', async (t) => {
  const dir = tempDir(t);
  const rd = join(dir, 'rd');
  const shmBefore = tsemuShm();
  const vm = startTsemu(t, ['--services', 'block,net', '--runtime-dir', rd]);
  const ready = await vm.ready;
  const pids = await checkRunning(t, ready, ['block', 'net']);

  vm.child.kill('SIGKILL');
  t.deepEqual(await within(vm.exited, LONG, 'tsemu to die'), { code: null, signal: 'SIGKILL' });
  await waitFor(() => pids.every((p) => !pidAlive(p)), 15000, 'the orphaned services to exit');
  await waitFor(() => !existsSync(rd), 15000, 'the runtime directory to be removed');
  t.deepEqual(newShm(shmBefore), [], 'nothing named tsemu left in /dev/shm');
});

test.serial('a block service started alone answers; tsemu attaches to it and leaves it running', async (t) => {
  const dir = tempDir(t);
  const address = `unix:${join(dir, 'block.sock')}`;
  const blk = spawnChild(t, [binPath('tsemu'), 'service', 'block', '--listen', address], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env(),
  });
  t.deepEqual(await blk.out.nextJson(LONG), { service: 'block', pid: blk.child.pid, listening: [address] });
  await waitHealthy(address, LONG);
  t.like(await serviceInfo(address, LONG), { name: 'block', pid: blk.child.pid, version: version(), listening: [address] });

  const block = connect(BlockClient, address);
  t.teardown(() => block.close());
  const spec: DeviceSpec = { id: 'disk0', driver: 'no-such-driver', props: {}, regions: [] };
  const attach = await t.throwsAsync(call<DeviceSpec, AttachReply>(block, block.attach, spec, LONG));
  t.is((attach as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
  t.regex((attach as grpc.ServiceError).details, /the block service has no driver 'no-such-driver' \(it has(: | none)/);
  const query = await call<{ id: string }, QueryReply>(block, block.query, { id: '' }, LONG);
  t.deepEqual(query.devices, []);
  const detach = await t.throwsAsync(call<{ id: string }, DetachReply>(block, block.detach, { id: 'nope' }, LONG));
  t.is((detach as grpc.ServiceError).code, grpc.status.NOT_FOUND);
  t.is((detach as grpc.ServiceError).details, "Device 'nope' not found");

  const rd = join(dir, 'rd');
  const vm = startTsemu(t, ['--services', 'none', '--block-service', address, '--runtime-dir', rd]);
  const ready = await vm.ready;
  t.deepEqual(ready.services, { block: { address, pid: null } });
  await waitHealthy(ready.machine, LONG);
  const machine = machineClient(t, ready.machine);
  const devices = await call<{ id: string }, QueryReply>(machine, machine.queryDevices, { id: '' }, LONG);
  t.deepEqual(devices.devices, [], 'the machine asks the attached block service');

  vm.child.kill('SIGTERM');
  t.deepEqual(await within(vm.exited, LONG, 'tsemu to exit'), { code: 0, signal: null });
  t.false(existsSync(rd));
  t.true(pidAlive(blk.child.pid!), 'the attached service was not stopped');
  await waitHealthy(address, LONG);

  await requestShutdown(address, 'test done', LONG);
  t.deepEqual(await within(blk.exited, LONG, 'the block service to exit'), { code: 0, signal: null });
  t.false(existsSync(join(dir, 'block.sock')), 'the service removed its socket');
});

test.serial('Supervisor: start, refuse a second start, report a service that dies, stopAll', async (t) => {
  const dir = tempDir(t);
  const rd = join(dir, 'rd');
  const sup = new Supervisor({ runtimeDir: rd, startTimeoutMs: LONG });
  t.teardown(() => sup.killNow());
  t.true(existsSync(rd));
  t.is(sup.socketPath('net'), join(rd, 'net.sock'));

  const net = await sup.start('net');
  t.is(net.address, `unix:${join(rd, 'net.sock')}`);
  t.true(pidAlive(net.pid!));
  t.is(sup.get('net'), net);
  t.deepEqual(sup.list().map((s) => s.name), ['net']);
  await t.throwsAsync(sup.start('net'), { message: 'the net service is already running' });
  await waitHealthy(net.address, LONG);

  await t.throwsAsync(sup.start('display', ['--no-such-option']), {
    message: 'the display service exited during start (status 1)',
  });
  t.is(sup.get('display'), undefined);

  // Attaching to nothing fails once the start timeout has passed.
  const quick = new Supervisor({ runtimeDir: join(dir, 'rd2'), startTimeoutMs: 300 });
  t.teardown(() => quick.killNow());
  await t.throwsAsync(quick.attach('block', `unix:${join(dir, 'absent.sock')}`), {
    message: /^service at unix:.*absent\.sock did not become healthy in 300 ms/,
  });
  t.is(quick.get('block'), undefined);
  await quick.stopAll();
  t.false(existsSync(join(dir, 'rd2')));

  const exits: string[] = [];
  sup.on('service-exit', (name: string) => exits.push(name));
  await sup.stopAll();
  t.false(pidAlive(net.pid!));
  t.deepEqual(exits, ['net']);
  t.deepEqual(sup.list(), []);
  t.false(existsSync(rd));
});
