/**
 * `tsemu-nbd`: serve a disk image over NBD, in qemu-nbd's spellings.
 * The server lands with the NBD issue; until then it says so plainly.
 */
import { version } from '../../common/version.js';

export const USAGE = `Usage: tsemu-nbd [OPTIONS] FILE
Exports a disk image as a Network Block Device (NBD), in qemu-nbd's spellings.

  -h, --help                display this help and exit
  -V, --version             output version information and exit

Connection properties:
  -p, --port=PORT           port to listen on (default '10809')
  -b, --bind=IFACE          interface to bind to (default '0.0.0.0')
  -k, --socket=PATH         path to the unix socket
  -e, --shared=NUM          device can be shared by NUM clients (default '1')
  -t, --persistent          don't exit on the last connection
  -x, --export-name=NAME    expose export by name

Block device options:
  -f, --format=FORMAT       set image format (raw, qcow2, qed, ...)
  -r, --read-only           export read-only
      --cache=MODE          set cache mode used to access the disk image
`;

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.includes('-V') || argv.includes('--version')) {
    process.stdout.write(`tsemu-nbd version ${version()}\n`);
    return 0;
  }
  process.stderr.write('tsemu-nbd: serving images is not implemented yet\n');
  return 1;
}
