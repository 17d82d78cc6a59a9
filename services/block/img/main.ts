/**
 * `tsemu-img`: create, inspect, check, convert and change disk images, in qemu-img's
 * spellings. Each command lives in its own module; failures print "tsemu-img: message"
 * and exit with status 1 (check and compare have qemu-img's own statuses).
 */
import { version } from '../../common/version.js';
import { addSecretObject, clearSecrets } from '../../common/secret.js';
import { CommandError, errorText, PROG, stdio, useImageOpts, type Out } from './common.js';

export const USAGE = `usage: tsemu-img [standard options] command [command options]
tsemu disk image utility, in qemu-img's spellings

    -h, --help       display this help and exit
    -V, --version    output version information and exit

Command syntax:
  bench [-c count] [-d depth] [-f fmt] [-n] [-o offset] [-s buffer_size] [-S step_size] [-t cache] [-w] filename
  check [--output=ofmt] [-f fmt] [-r [leaks | all]] filename
  commit [-f fmt] [-t cache] [-b base] [-d] filename
  compare [-f fmt] [-F fmt] [-s] filename1 filename2
  convert [-c] [-p] [-n] [-f fmt] [-t cache] [-O output_fmt] [-o options] [-l snapshot_param] [-S sparse_size] [-m num_tasks] filename [filename2 [...]] output_filename
  create [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]
  info [-f fmt] [--output=ofmt] [--backing-chain] filename
  map [-f fmt] [--output=ofmt] filename
  snapshot [-l | -a snapshot | -c snapshot | -d snapshot] filename
  rebase [-f fmt] [-u] -b backing_file [-F backing_fmt] filename
  resize [-f fmt] [--shrink] filename [+ | -]size

Supported formats: raw qcow2 qed
`;

type Command = (argv: string[], io: Out) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  bench: async () => (await import('./bench.js')).bench,
  check: async () => (await import('./check.js')).check,
  commit: async () => (await import('./commit.js')).commit,
  compare: async () => (await import('./compare.js')).compare,
  convert: async () => (await import('./convert.js')).convert,
  create: async () => (await import('./create.js')).create,
  info: async () => (await import('./info.js')).info,
  map: async () => (await import('./map.js')).map,
  snapshot: async () => (await import('./snapshot.js')).snapshot,
  rebase: async () => (await import('./rebase.js')).rebase,
  resize: async () => (await import('./resize.js')).resize,
};

export async function main(argv: string[], io: Out = stdio): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    io.err(`${PROG}: Not enough arguments\nTry '${PROG} --help' for more information\n`);
    return 1;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    io.out(USAGE);
    return 0;
  }
  if (first === '-V' || first === '--version') {
    io.out(`${PROG} version ${version()}\n`);
    return 0;
  }
  const load = COMMANDS[first];
  if (!load) {
    io.err(`${PROG}: Command not found: ${first}\n`);
    return 1;
  }
  try {
    const rest = argv.slice(1);
    clearSecrets();
    // --object secret,... for rbd names' key-secret=ID; --image-opts: images given as options
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      const obj = a === '--object' ? rest[++i] : a.startsWith('--object=') ? a.slice(9) : undefined;
      if (obj !== undefined) {
        try {
          addSecretObject(obj);
        } catch (e) {
          throw new CommandError((e as Error).message);
        }
      }
      if (a === '--') break;
    }
    useImageOpts(rest.includes('--image-opts'));
    return await (await load())(rest, io);
  } catch (e) {
    io.err(`${PROG}: ${errorText(e)}\n`);
    if (!(e instanceof CommandError) && process.env.TSEMU_DEBUG) io.err(`${(e as Error).stack}\n`);
    return e instanceof CommandError ? e.status : 1;
  }
}
