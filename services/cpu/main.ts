/**
 * `tsemu`: the machine process. It supervises the device services, serves the machine's
 * gRPC control, and (from the CPU and machine issues on) runs the harts and the board.
 */
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { all, has, last, parseArgs, UsageError, type Parsed } from '../common/cli-args.js';
import { call, connect } from '../common/grpc.js';
import { MonitorClient } from '../../proto/gen/monitor.js';
import { configureLogging, logger } from '../common/log.js';
import { SERVICE_NAMES, type ServiceName } from '../common/service-runtime.js';
import { version } from '../common/version.js';
import { serveMachine } from './machine-service.js';
import { Supervisor } from './supervisor.js';
import { VirtMachine } from './board/virt.js';
import { Console, parseSerial, type SerialBackend } from './console.js';
import { addSecretObject } from '../common/secret.js';
import { attachBlockDevices, parseBlockOptions, pciRequests, type BlockDevice } from './board/virtio-pci-block.js';

const log = logger('cpu');

export const USAGE = `usage: tsemu [options]
       tsemu service {block|display|net|monitor} [--listen ADDR]... [options]

tsemu is a full-system emulator: a RISC-V 'virt' machine whose harts run as worker
threads over shared guest RAM, with block, display, net and monitor services as
separate processes steered over gRPC.

Machine options (QEMU's spellings):
  -name NAME              the VM's name
  -M virt                 the machine type (only 'virt')
  -smp N                  number of harts (1..64)
  -m SIZE                 RAM size: 128M (default), 1G, or MiB as a number
  -bios none|FILE         firmware ('none': jump straight to -kernel in M-mode)
  -kernel FILE            kernel image: ELF, or raw loaded at 0x80000000
  -initrd FILE            initial ram disk
  -append CMDLINE         kernel command line
  -dtb FILE               use this device tree blob instead of tsemu's
  -nographic              no display; serial console on stdio (Ctrl-A X quits)
  -display none           no display
  -serial DEV             where the UART goes: stdio (default), mon:stdio, null,
                          unix:PATH[,server][,wait=off], tcp:HOST:PORT[,server][,wait=off]
  -S                      do not start the CPUs (wait for 'cont')
  -qmp DEV                QMP monitor: unix:PATH,server=on,wait=off or
                          tcp:HOST:PORT,server=on,wait=off (repeatable); options
                          websocket=on, tls-cert=FILE,tls-key=FILE, secret-file=FILE,
                          insecure=on (a listener not on loopback needs TLS and a secret)
  -monitor DEV            HMP monitor: stdio, none, or as -qmp (repeatable)
  -drive file=X[,format=raw|qcow2][,if=virtio|none][,id=ID][,readonly=on][,cache=MODE][,serial=S]
         [,werror=enospc|stop|report|ignore][,rerror=report|stop|ignore|enospc][,file.key-secret=ID]
                          a disk; if=virtio (the default) adds a virtio-blk-pci device
  -blockdev driver=qcow2|raw,node-name=N,file.driver=file,file.filename=X[,read-only=on]
                          a disk node for -device
  -device virtio-blk-pci,drive=ID[,id=DEV][,num-queues=N][,queue-size=N][,serial=S][,addr=SLOT]
                          a virtio-blk disk on the PCIe bus (num-queues: one per CPU)
  -object secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]
                          a secret, for an rbd disk's key-secret=ID (repeatable)
  -no-reboot              exit instead of rebooting

Services:
  --services LIST         services to start as child processes, comma-separated
                          (default block,display,net,monitor; 'none' for none)
  --block-service ADDR    use a block service already running at ADDR
  --display-service ADDR  likewise for display (ADDR: unix:PATH or HOST:PORT)
  --net-service ADDR      likewise for net
  --monitor-service ADDR  likewise for the monitor
  --runtime-dir DIR       where the VM's sockets go
                          (default $XDG_RUNTIME_DIR/tsemu/NAME-PID or /tmp/tsemu-UID/NAME-PID)

Logging:
  -d, --log SPEC          levels: error|warn|info|debug|trace, per service: warn,block=debug
  -D, --log-file FILE     log to FILE instead of stderr

  -h, --help              this text
  -version, --version     print the version

Run 'tsemu service NAME --help' for a service's own options.
`;

const OPTIONS = {
  name: { value: true },
  M: { value: true, aliases: ['machine'] },
  smp: { value: true },
  m: { value: true },
  bios: { value: true },
  kernel: { value: true },
  initrd: { value: true },
  append: { value: true },
  dtb: { value: true },
  nographic: {},
  display: { value: true },
  serial: { value: true },
  'no-reboot': {},
  S: {},
  qmp: { value: true, repeat: true },
  monitor: { value: true, repeat: true },
  drive: { value: true, repeat: true },
  blockdev: { value: true, repeat: true },
  device: { value: true, repeat: true },
  object: { value: true, repeat: true },
  services: { value: true },
  'block-service': { value: true },
  'display-service': { value: true },
  'net-service': { value: true },
  'monitor-service': { value: true },
  'runtime-dir': { value: true },
  log: { value: true, aliases: ['d'] },
  'log-file': { value: true, aliases: ['D'] },
  help: { aliases: ['h'] },
  version: {},
} as const;

function fail(msg: string): never {
  process.stderr.write(`tsemu: ${msg}\n`);
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  let args: Parsed;
  try {
    args = parseArgs(argv, OPTIONS);
  } catch (e) {
    if (e instanceof UsageError) fail(`${e.message} (see tsemu --help)`);
    throw e;
  }
  if (has(args, 'help')) {
    process.stdout.write(USAGE);
    return;
  }
  if (has(args, 'version')) {
    process.stdout.write(`tsemu version ${version()}\n`);
    return;
  }
  if (args.positional.length) fail(`unexpected argument '${args.positional[0]}' (see tsemu --help)`);
  const machineType = last(args, 'M') ?? 'virt';
  if (machineType.split(',')[0] !== 'virt') fail(`unsupported machine type '${machineType}' (only 'virt')`);
  try {
    configureLogging(last(args, 'log'), last(args, 'log-file'));
  } catch (e) {
    fail((e as Error).message);
  }

  const wanted = new Set<ServiceName>();
  // Services start when a device needs them (none does yet) or when --services asks.
  const list = last(args, 'services') ?? 'none';
  if (list !== 'none') {
    for (const s of list.split(',').filter(Boolean)) {
      if (!(SERVICE_NAMES as readonly string[]).includes(s)) fail(`unknown service '${s}' in --services`);
      wanted.add(s as ServiceName);
    }
  }

  const name = last(args, 'name') ?? 'vm';
  // The machine first: a bad option or image fails here, before any process or socket exists.
  const qmpSpecs = all(args, 'qmp');
  const hmpSpecs = all(args, 'monitor').filter((m) => m !== 'none');
  const monitorOnStdio = hmpSpecs.includes('stdio');
  for (const q of qmpSpecs) if (!/^(unix|tcp):/.test(q)) fail(`-qmp ${q}: tsemu takes unix:PATH,server=on,wait=off or tcp:HOST:PORT,server=on,wait=off`);
  for (const m of hmpSpecs) if (m !== 'stdio' && !/^(unix|tcp):/.test(m)) fail(`-monitor ${m}: tsemu takes stdio, none, unix:PATH,... or tcp:HOST:PORT,...`);
  const serialSpec = last(args, 'serial');
  if (monitorOnStdio && (serialSpec === 'stdio' || serialSpec === 'mon:stdio' || has(args, 'nographic'))) {
    fail('cannot use stdio by multiple character devices');
  }
  let backend: SerialBackend;
  try {
    // -monitor stdio takes the terminal; the UART then goes nowhere unless -serial says
    backend = parseSerial(serialSpec ?? (monitorOnStdio ? 'null' : 'stdio'));
  } catch (e) {
    fail((e as Error).message);
  }
  const display = last(args, 'display');
  if (display !== undefined && display !== 'none') fail(`-display ${display}: only 'none' so far`);
  let virt: VirtMachine;
  let disks: BlockDevice[];
  try {
    for (const o of all(args, 'object')) {
      if (!addSecretObject(o)) throw new Error(`-object ${o}: only secret objects are supported`);
    }
    disks = parseBlockOptions(all(args, 'drive'), all(args, 'blockdev'), all(args, 'device'));
  } catch (e) {
    fail((e as Error).message);
  }
  if (disks.length > 0) wanted.add('block');
  try {
    const harts = parseSmp(last(args, 'smp') ?? '1');
    virt = new VirtMachine({
      name,
      harts,
      pciDevices: pciRequests(disks, harts),
      ramSize: parseMemSize(last(args, 'm') ?? '128M'),
      bios: last(args, 'bios') ?? 'default',
      kernel: last(args, 'kernel'),
      initrd: last(args, 'initrd'),
      append: last(args, 'append'),
      dtb: last(args, 'dtb'),
      startPaused: has(args, 'S'),
      noReboot: has(args, 'no-reboot'),
    });
  } catch (e) {
    fail((e as Error).message);
  }
  // Ctrl-A C and -monitor stdio reach HMP through the monitor service, started on first use
  let monitorReady: Promise<void> | undefined;
  let consoleMonitorReady: Promise<void> | undefined;
  const consoleHmp = () => join(supervisor.runtimeDir, 'hmp-console.sock');
  const ensureMonitor = (): Promise<void> =>
    (consoleMonitorReady ??= (async () => {
      await monitorReady;
      if (!supervisor.get('monitor')) await supervisor.start('monitor');
      await setUpMonitor(supervisor, [{ kind: 'hmp', address: `unix:${consoleHmp()},server=on,wait=off` }]);
    })());
  const openMonitor =
    backend === 'stdio' || monitorOnStdio
      ? async (): Promise<Socket> => {
          await ensureMonitor();
          return await new Promise<Socket>((res, rej) => {
            const s = createConnection(consoleHmp());
            s.once('connect', () => res(s));
            s.once('error', rej);
          });
        }
      : undefined;
  const console_ = new Console(
    virt.state.consoleOut,
    virt.state.consoleIn,
    monitorOnStdio ? 'stdio' : backend,
    () => virt.quit(0, 'host-ui'),
    () => virt.devices.uart.rxArrived(),
    openMonitor,
  );

  let supervisor: Supervisor;
  try {
    supervisor = new Supervisor({ name, runtimeDir: last(args, 'runtime-dir'), restart: ['block', 'display', 'net'] });
  } catch (e) {
    fail(`cannot make the runtime directory: ${(e as Error).message}`);
  }
  let shuttingDown = false;
  const shutdown = async (reason: string, status = 0) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info(`shutting down: ${reason}`);
    console_.stop();
    await virt.destroy();
    await machineServer?.close(500).catch(() => {});
    await supervisor.stopAll();
    process.exit(status);
  };
  // SHUTDOWN (reason host-signal) reaches monitor clients before the machine goes
  const onSignal = (name: string) => {
    virt.quit(0, 'host-signal');
    void shutdown(name);
  };
  process.on('SIGINT', () => {
    process.stderr.write('tsemu: terminating on signal 2\n');
    onSignal('SIGINT');
  });
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));

  let machineServer: Awaited<ReturnType<typeof serveMachine>> | undefined;
  try {
    machineServer = await serveMachine(virt, supervisor, (r) => void shutdown(r), disks.length > 0);
    if (qmpSpecs.length || hmpSpecs.some((m) => m !== 'stdio')) wanted.add('monitor');
    const starts: Promise<unknown>[] = [];
    for (const s of SERVICE_NAMES) {
      const addr = last(args, `${s}-service`);
      if (addr) starts.push(supervisor.attach(s, addr));
      else if (wanted.has(s)) starts.push(supervisor.start(s));
    }
    // All at once: each is a Node process that takes most of a second to load.
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const endpoints = [
      ...qmpSpecs.map((address) => ({ kind: 'qmp', address })),
      ...hmpSpecs.filter((m) => m !== 'stdio').map((address) => ({ kind: 'hmp', address })),
    ];
    // the drives first, as QEMU opens them before its monitor: QMP's first query-block sees them
    if (disks.length > 0) await attachBlockDevices(supervisor.get('block')!.address, virt, disks);
    if (endpoints.length) {
      monitorReady = setUpMonitor(supervisor, endpoints);
      await monitorReady;
    }
  } catch (e) {
    process.stderr.write(`tsemu: ${(e as Error).message}\n`);
    await shutdown('start failed', 1);
    return;
  }
  supervisor.on('service-exit', (svc: string) => {
    if (!shuttingDown) log.error(`the ${svc} service died`);
  });
  // The supervisor starts a dead block service again (restart option above); the new one
  // takes over the devices and resumes their queues (in-flight requests redone).
  supervisor.on('service-start', (svc: string, address: string) => {
    if (shuttingDown || svc !== 'block' || disks.length === 0) return;
    attachBlockDevices(address, virt, disks)
      .then(() => log.info('the block service was restarted and its devices re-attached'))
      .catch((e: Error) => log.error(`cannot re-attach the block devices: ${e.message}`));
  });
  const ready = {
    event: 'ready',
    pid: process.pid,
    runtimeDir: supervisor.runtimeDir,
    machine: `unix:${supervisor.socketPath('machine')}`,
    services: Object.fromEntries(supervisor.list().map((s) => [s.name, { address: s.address, pid: s.pid ?? null }])),
  };
  log.info(`ready: ${JSON.stringify(ready)}`);
  if (process.env.TSEMU_READY_FD) {
    const { writeSync } = await import('node:fs');
    writeSync(Number(process.env.TSEMU_READY_FD), `${JSON.stringify(ready)}\n`);
  }
  try {
    await console_.open();
  } catch (e) {
    process.stderr.write(`tsemu: ${(e as Error).message}\n`);
    await shutdown('serial backend failed', 1);
    return;
  }
  console_.start();
  if (monitorOnStdio) await console_.focusMonitor();
  // wait=on (QEMU's default for a server): hold the guest until a monitor client is there
  if (qmpSpecs.some(waits) || hmpSpecs.some(waits)) {
    process.stderr.write('tsemu: waiting for a monitor client to connect\n');
    await waitForMonitorClient(supervisor);
  }
  virt.start();
  const end = await virt.waitForExit();
  await shutdown(end.reason, end.code);
}

function waits(spec: string): boolean {
  if (spec === 'stdio') return false;
  const opts = spec.split(',').slice(1);
  return !opts.some((o) => o === 'wait=off' || o === 'nowait' || o === 'server=off');
}

/** Attaches the monitor service to this machine and opens its endpoints. */
async function setUpMonitor(supervisor: Supervisor, endpoints: { kind: string; address: string }[]): Promise<void> {
  const handle = supervisor.get('monitor');
  if (!handle) throw new Error('the monitor service is not running');
  const client = connect(MonitorClient, handle.address);
  try {
    await call(client, client.attach, { id: 'machine', driver: 'machine', props: { address: `unix:${supervisor.socketPath('machine')}` }, regions: [] });
    for (const ep of endpoints) {
      try {
        await call(client, client.listen, { kind: ep.kind, address: ep.address, options: {} });
      } catch (e) {
        throw new Error(`-${ep.kind === 'qmp' ? 'qmp' : 'monitor'} ${ep.address}: ${(e as { details?: string }).details ?? (e as Error).message}`);
      }
    }
  } finally {
    client.close();
  }
}

async function waitForMonitorClient(supervisor: Supervisor): Promise<void> {
  const handle = supervisor.get('monitor');
  if (!handle) return;
  const client = connect(MonitorClient, handle.address);
  try {
    for (;;) {
      const r = await call(client, client.list, {});
      if (r.clients > 0) return;
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    client.close();
  }
}

/** -m: "128M", "1G", "512" (MiB), "size=2G" as QEMU reads them. */
export function parseMemSize(spec: string): number {
  const v = spec.startsWith('size=') ? spec.slice(5) : spec;
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(v);
  if (!m) throw new UsageError(`invalid RAM size '${spec}'`);
  const mult: Record<string, number> = { '': 2 ** 20, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
  const bytes = Math.floor(Number(m[1]) * mult[m[2]!.toUpperCase()]!);
  if (bytes <= 0) throw new UsageError(`invalid RAM size '${spec}': must be more than 0`);
  if (bytes > 2 ** 32 - 2 ** 12) throw new UsageError(`RAM size '${spec}' is more than tsemu supports (4 GiB less 4 KiB)`);
  return Math.floor(bytes / 4096) * 4096;
}

/** -smp: "N" or "cpus=N[,...]". */
export function parseSmp(spec: string): number {
  const m = /^(?:cpus=)?(\d+)(?:,.*)?$/.exec(spec);
  if (!m) throw new UsageError(`invalid -smp '${spec}'`);
  const n = Number(m[1]);
  if (n < 1) throw new UsageError(`Invalid SMP CPUs ${n}: must be at least 1`);
  return n;
}
