/**
 * `tsemu service display`: the display service process.
 * Device drivers register in the table as they are built; Attach for any other driver
 * is refused with the list of those it has.
 */
import { DisplayService } from '../../proto/gen/display.js';
import { DeviceTable, deviceServiceHandlers } from '../common/devices.js';
import { runService, type ServiceDefinition } from '../common/service-runtime.js';

export const displayService: ServiceDefinition = {
  name: 'display',
  summary: 'The display service: qxl devices, the SPICE server and the web viewer.',
  async start(server) {
    const table = new DeviceTable('display');
    server.addService(DisplayService, deviceServiceHandlers(table));
    return () => table.stopAll();
  },
};

export function main(argv: string[]): Promise<void> {
  return runService(displayService, argv);
}
