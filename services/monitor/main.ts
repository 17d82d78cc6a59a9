/**
 * `tsemu service monitor`: the monitor service process. It will serve QMP and HMP to
 * operators (issue: QMP monitor service); today it answers its control calls and lists
 * no endpoints.
 */
import { MonitorService, type Endpoint } from '../../proto/gen/monitor.js';
import { grpc } from '../common/grpc.js';
import { ServiceError, unary } from '../common/devices.js';
import { runService, type ServiceDefinition } from '../common/service-runtime.js';

export const monitorService: ServiceDefinition = {
  name: 'monitor',
  summary: 'The monitor service: QMP and HMP for operators, over TCP, unix sockets and WebSocket.',
  async start(server) {
    const endpoints: Endpoint[] = [];
    server.addService(MonitorService, {
      listen: unary(async (ep: Endpoint) => {
        throw new ServiceError(grpc.status.UNIMPLEMENTED, `the monitor cannot serve ${ep.kind} yet`);
      }),
      list: unary(async () => ({ endpoints, clients: 0 })),
      attach: unary(async () => {
        throw new ServiceError(grpc.status.UNIMPLEMENTED, 'the monitor has no machine connection yet');
      }),
    });
    return async () => {};
  },
};

export function main(argv: string[]): Promise<void> {
  return runService(monitorService, argv);
}
