/**
 * `tsemu service net`: the net service process.
 * Device drivers register in the table as they are built; Attach for any other driver
 * is refused with the list of those it has.
 */
import { NetService } from '../../proto/gen/net.js';
import { DeviceTable, deviceServiceHandlers } from '../common/devices.js';
import { runService, type ServiceDefinition } from '../common/service-runtime.js';

export const netService: ServiceDefinition = {
  name: 'net',
  summary: 'The net service: virtio-net queues served from guest RAM, user/tap/socket networks.',
  async start(server) {
    const table = new DeviceTable('net');
    server.addService(NetService, deviceServiceHandlers(table));
    return () => table.stopAll();
  },
};

export function main(argv: string[]): Promise<void> {
  return runService(netService, argv);
}
