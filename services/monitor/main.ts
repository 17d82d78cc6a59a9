/**
 * `tsemu service monitor`: the monitor service process. It serves QMP and HMP to
 * operators on the endpoints it is told to open (Monitor.Listen), talking to the machine
 * it is attached to (Monitor.Attach with props.address = the machine's gRPC address).
 *
 * The machine process starts it for -qmp / -monitor and for Ctrl-A C; it can also run on
 * its own: `tsemu service monitor --listen unix:/tmp/mon.sock`, then Attach and Listen.
 */
import { MonitorService, type Endpoint } from '../../proto/gen/monitor.js';
import type { DeviceSpec } from '../../proto/gen/common.js';
import { grpc } from '../common/grpc.js';
import { ServiceError, unary } from '../common/devices.js';
import { runService, type ServiceDefinition } from '../common/service-runtime.js';
import { MachineLink } from './machine-link.js';
import { AuthLimiter, openEndpoint, parseEndpoint, type RunningEndpoint } from './endpoints.js';
import { logger } from '../common/log.js';

const log = logger('monitor');

export const monitorService: ServiceDefinition = {
  name: 'monitor',
  summary: 'The monitor service: QMP and HMP for operators, over TCP, unix sockets and WebSocket.',
  usage: `
The machine starts it for -qmp and -monitor, attaches it (Monitor.Attach with
props.address = the machine's gRPC address) and opens each endpoint (Monitor.Listen:
kind qmp or hmp, address as -qmp takes it: unix:PATH,server=on,wait=off or
tcp:HOST:PORT,server=on,wait=off, with websocket=on, tls-cert=, tls-key=, secret-file=,
insecure=on).
`,
  async start(server) {
    // One client's input must never take every client's monitor down: a bug that escapes
    // a handler is logged, and the service goes on.
    process.on('uncaughtException', (e) => log.error('monitor: uncaught exception (ignored)', e));
    process.on('unhandledRejection', (e) => log.error('monitor: unhandled rejection (ignored)', e));
    const endpoints: RunningEndpoint[] = [];
    const limiter = new AuthLimiter();
    let link: MachineLink | undefined;
    server.addService(MonitorService, {
      listen: unary(async (ep: Endpoint) => {
        if (!link) throw new ServiceError(grpc.status.FAILED_PRECONDITION, 'attach the monitor to a machine first');
        let spec;
        try {
          spec = parseEndpoint(ep.kind, ep.address, ep.options);
        } catch (e) {
          throw new ServiceError(grpc.status.INVALID_ARGUMENT, (e as Error).message);
        }
        let running: RunningEndpoint;
        try {
          running = await openEndpoint(spec, link, limiter);
        } catch (e) {
          throw new ServiceError(grpc.status.INVALID_ARGUMENT, (e as Error).message);
        }
        endpoints.push(running);
        return { address: running.address };
      }),
      list: unary(async () => ({
        endpoints: endpoints.map((e) => ({ kind: e.spec.kind, address: e.address, options: e.spec.websocket ? { websocket: 'on' } : {} })),
        clients: endpoints.reduce((n, e) => n + e.clients(), 0),
      })),
      attach: unary(async (spec: DeviceSpec) => {
        const address = spec.props['address'];
        if (!address) throw new ServiceError(grpc.status.INVALID_ARGUMENT, "Attach needs props.address: the machine's gRPC address");
        // the same machine again (Ctrl-A C after -qmp): keep the link the clients use
        if (link?.address !== address) {
          if (link && endpoints.length) {
            throw new ServiceError(grpc.status.FAILED_PRECONDITION, `the monitor serves the machine at ${link.address} already`);
          }
          link?.close();
          link = new MachineLink(address);
        }
        return { device: { id: spec.id || 'machine', driver: spec.driver || 'machine', props: { address }, state: 'running' } };
      }),
    });
    return async () => {
      await Promise.all(endpoints.map((e) => e.close()));
      link?.close();
    };
  },
};

export function main(argv: string[]): Promise<void> {
  return runService(monitorService, argv);
}
