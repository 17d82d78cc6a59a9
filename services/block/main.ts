/**
 * `tsemu service block`: the block service process.
 * Device drivers register in the table as they are built; Attach for any other driver
 * is refused with the list of those it has.
 */
import { BlockService } from '../../proto/gen/block.js';
import { DeviceTable, deviceServiceHandlers } from '../common/devices.js';
import { runService, type ServiceDefinition } from '../common/service-runtime.js';
import { attachVirtioBlk } from './virtio-blk/driver.js';
import { blockCommand } from './virtio-blk/drives.js';
import { unary } from '../common/devices.js';

export const blockService: ServiceDefinition = {
  name: 'block',
  summary: 'The block service: image formats (raw, qcow2, QED) over protocols (file, NBD, RBD),\nserving virtio-blk queues straight from guest RAM.',
  async start(server) {
    const table = new DeviceTable('block');
    table.registerDriver('virtio-blk-pci', attachVirtioBlk);
    server.addService(BlockService, {
      ...deviceServiceHandlers(table),
      blockCommand: unary(async (req: { command: string; argumentsJson: string }) => blockCommand(req.command, req.argumentsJson)),
    });
    return () => table.stopAll();
  },
};

export function main(argv: string[]): Promise<void> {
  return runService(blockService, argv);
}
