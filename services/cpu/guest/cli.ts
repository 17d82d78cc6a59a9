/**
 * `tsemu guest ...`: fetch Debian's riscv64 guest packages and build initramfs images.
 * bin/tsemu routes `tsemu guest ARGS` here: `process.exitCode = await main(ARGS)`.
 * A failure is one line on stderr and status 1.
 */
import { has, last, parseArgs, UsageError, type OptionSpec } from '../../common/cli-args.js';
import { logger } from '../../common/log.js';
import { fetchGuest, readValidManifest } from './apt-fetch.js';
import { buildInitramfs, DEFAULT_MODULES } from './initramfs.js';
import { cacheRoot, GuestError, guestPaths } from './paths.js';

const log = logger('cpu.guest');

export const USAGE = `usage: tsemu guest boot [tsemu options...]
       tsemu guest fetch [--mirror URL] [--keyring FILE] [--refresh] [--cache DIR] [-q]
       tsemu guest initramfs [--modules LIST] [--init FILE] [--output FILE] [--cache DIR] [-q]
       tsemu guest paths [--cache DIR]

fetch       download Debian trixie's riscv64 linux-image-riscv64 (and the versioned
            kernel package it depends on), busybox-static and opensbi with apt, from
            the Debian mirror the host's apt uses, and unpack them into the cache.
            Does nothing when everything is already there (--refresh: ask the mirror
            for newer versions).
initramfs   build a gzip-compressed newc cpio with busybox, an /init script and the
            chosen kernel modules (with their dependencies, decompressed).
paths       print the manifest of fetched files (JSON).
boot        fetch what is missing, build the initramfs, and boot the default VM
            (-M virt -smp 2 -m 512M -nographic with Debian's kernel and OpenSBI);
            further tsemu options are passed on (e.g. -smp 4). Ctrl-A X quits.

Options:
  --mirror URL      Debian mirror (default: the host's, from /etc/apt/sources.list*)
  --keyring FILE    OpenPGP keyring to verify the mirror with
                    (default: /usr/share/keyrings/debian-archive-keyring.gpg)
  --refresh         run apt-get update and fetch newer versions
  --modules LIST    modules or aliases, comma-separated; 'none' for none; '+a,+b' adds to
                    the default (${DEFAULT_MODULES.join(',')})
  --init FILE       use FILE as /init instead of tsemu's script
  --output FILE     where the initramfs goes (default CACHE/guest/initramfs.cpio.gz)
  --cache DIR       cache root (default $TSEMU_CACHE, $XDG_CACHE_HOME/tsemu, ~/.cache/tsemu)
  -q, --quiet       no progress messages
  -h, --help        this text
`;

const COMMON = { cache: { value: true }, quiet: { aliases: ['q'] }, help: { aliases: ['h'] } } satisfies Record<string, OptionSpec>;
const OPTIONS: Record<string, Record<string, OptionSpec>> = {
  fetch: { ...COMMON, mirror: { value: true }, keyring: { value: true }, refresh: {} },
  initramfs: { ...COMMON, modules: { value: true }, init: { value: true }, output: { value: true, aliases: ['o'] } },
  paths: { cache: { value: true }, help: { aliases: ['h'] } },
};

/** "--modules" values: a list, 'none', or '+extra' items added to the default set. */
export function parseModuleList(spec: string | undefined): string[] {
  if (spec === undefined) return [...DEFAULT_MODULES];
  const items = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0 || (items.length === 1 && items[0] === 'none')) return [];
  if (items.every((s) => s.startsWith('+'))) return [...DEFAULT_MODULES, ...items.map((s) => s.slice(1))];
  if (items.some((s) => s.startsWith('+'))) throw new UsageError(`--modules '${spec}': either a list or '+' additions to the default, not both`);
  return items;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (cmd === undefined) {
    process.stderr.write('tsemu guest: name a command: boot, fetch, initramfs or paths (see tsemu guest --help)\n');
    return 1;
  }
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === 'boot') return boot(argv.slice(1));
  const fail = (msg: string) => {
    process.stderr.write(`tsemu guest${OPTIONS[cmd] ? ` ${cmd}` : ''}: ${msg}\n`);
    return 1;
  };
  const spec = OPTIONS[cmd];
  if (!spec) return fail(`unknown command '${cmd}' (fetch, initramfs or paths; see tsemu guest --help)`);
  try {
    const args = parseArgs(argv.slice(1), spec);
    if (has(args, 'help')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (args.positional.length) throw new UsageError(`unexpected argument '${args.positional[0]}' (see tsemu guest --help)`);
    const cache = last(args, 'cache') ?? cacheRoot();
    const progress = has(args, 'quiet') ? undefined : (m: string) => process.stderr.write(`tsemu guest: ${m}\n`);
    const paths = guestPaths(cache);

    if (cmd === 'fetch') {
      const r = await fetchGuest({ cache, mirror: last(args, 'mirror'), keyring: last(args, 'keyring'), refresh: has(args, 'refresh'), progress });
      const m = r.manifest;
      progress?.(r.changed ? `fetched ${mb(r.downloadedBytes)}` : 'already fetched: nothing to do');
      process.stdout.write(
        [
          `kernel    ${m.kernel}  (${m.kernelFormat})`,
          `modules   ${m.modulesDir}`,
          `busybox   ${m.busybox}`,
          `firmware  ${m.firmware}`,
          `manifest  ${r.manifestPath}`,
          '',
        ].join('\n'),
      );
      return 0;
    }

    const manifest = readValidManifest(paths);
    if (!manifest) throw new GuestError(`nothing fetched in ${paths.root} yet: run 'tsemu guest fetch' first`);
    if (cmd === 'paths') {
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
      return 0;
    }

    const modules = parseModuleList(last(args, 'modules'));
    const r = await buildInitramfs(manifest, { output: last(args, 'output') ?? paths.defaultInitramfs, modules, init: last(args, 'init') });
    if (r.builtin.length) progress?.(`built into the kernel, not loaded: ${r.builtin.join(' ')}`);
    progress?.(`modules in load order: ${r.load.map((m) => m.name).join(' ') || 'none'}`);
    process.stdout.write(`${r.output}\n`);
    progress?.(`${r.members} members, ${mb(r.bytes)} compressed`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) return fail(`${e.message} (see tsemu guest --help)`);
    if (e instanceof GuestError) return fail(e.message);
    log.debug('unexpected failure', e);
    return fail((e as Error).message ?? String(e));
  }
}

/** `tsemu guest boot`: the default VM (what `npm start` runs). */
async function boot(extra: string[]): Promise<number> {
  const { ensureDefaultVm } = await import('./default-vm.js');
  let vm;
  try {
    vm = await ensureDefaultVm({ progress: (m) => process.stderr.write(`tsemu guest: ${m}\n`) });
  } catch (e) {
    process.stderr.write(`tsemu guest boot: ${(e as Error).message}\n`);
    return 1;
  }
  const { main: tsemu } = await import('../main.js');
  await tsemu(['-M', 'virt', '-smp', '2', '-m', '512M', '-nographic', '-bios', vm.firmware, '-kernel', vm.kernel, '-initrd', vm.initrd, '-append', vm.append, ...extra]);
  return 0;
}
