/**
 * `tsemu-img`: create, inspect, check and convert disk images, in qemu-img's spellings.
 * Each command lands with the block service issue; until then it says so plainly.
 */
import { version } from '../../common/version.js';

export const USAGE = `usage: tsemu-img [standard options] command [command options]
tsemu disk image utility, in qemu-img's spellings

    -h, --help       display this help and exit
    -V, --version    output version information and exit

Command syntax:
  bench [-c count] [-d depth] [-f fmt] [-n] [-o offset] [-s buffer_size] [-t cache] [-w] filename
  check [--output=ofmt] [-f fmt] [-r [leaks | all]] filename
  commit [-f fmt] [-t cache] [-b base] [-d] filename
  compare [-f fmt] [-F fmt] filename1 filename2
  convert [-c] [-p] [-f fmt] [-O output_fmt] [-o options] [-l snapshot_param] filename [filename2 [...]] output_filename
  create [-f fmt] [-b backing_file [-F backing_fmt]] [-o options] filename [size]
  info [-f fmt] [--output=ofmt] [--backing-chain] filename
  map [-f fmt] [--output=ofmt] filename
  snapshot [-l | -a snapshot | -c snapshot | -d snapshot] filename
  rebase [-f fmt] [-u] -b backing_file [-F backing_fmt] filename
  resize [-f fmt] [--shrink] filename [+ | -]size

Supported formats: raw qcow2 qed (as they are built)
`;

const COMMANDS = ['bench', 'check', 'commit', 'compare', 'convert', 'create', 'info', 'map', 'snapshot', 'rebase', 'resize'];

export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    process.stderr.write("tsemu-img: Not enough arguments\nTry 'tsemu-img --help' for more information\n");
    return 1;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`tsemu-img version ${version()}\n`);
    return 0;
  }
  if (!COMMANDS.includes(first)) {
    process.stderr.write(`tsemu-img: Command not found: ${first}\n`);
    return 1;
  }
  process.stderr.write(`tsemu-img: '${first}' is not implemented yet\n`);
  return 1;
}
