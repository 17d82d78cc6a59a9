/**
 * `tsemu guest initramfs`: a gzip-compressed newc cpio the kernel unpacks as its root:
 *
 *   /init                 a shell script (below) or the user's --init FILE
 *   /bin/busybox          busybox-static, with the applet links /init needs before it runs
 *                         `busybox --install -s` (which links the rest)
 *   /dev/console, /dev/null  character devices 5:1 and 1:3, as QEMU users' initramfses
 *                         carry them: the kernel opens /dev/console for init before any
 *                         devtmpfs is mounted
 *   /lib/modules/KVER/... the chosen modules and what they need, decompressed (.ko: the
 *                         busybox insmod does not read .ko.xz), with a modules.dep for them
 *   /etc/tsemu/modules    the modules' paths in load order, which /init insmods
 *   proc sys tmp run root sbin usr/bin usr/sbin: empty directories
 *
 * /init mounts proc, sysfs, devtmpfs and devpts, loads the modules; with root=DEV on the
 * kernel command line it mounts DEV (rootfstype=, ro/rw) and switch_roots to its init
 * (init=, default /sbin/init), else it prints BANNER and runs
 * `setsid cttyhack sh`: a session leader with the console as its controlling tty, so job
 * control and Ctrl-C work. When that shell exits, init powers the machine off (init must
 * never exit: the kernel would panic).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CpioBuilder } from './cpio.js';
import { loadModuleDb, readModuleFile, resolveLoadOrder, uncompressedPath, type LoadOrder, type ModuleDb } from './modules.js';
import { GuestError } from './paths.js';

/** What the machine issue's VM needs: disk, network, PCI transport, root filesystem. */
export const DEFAULT_MODULES: readonly string[] = ['virtio_blk', 'virtio_net', 'virtio_pci', 'ext4'];

/** The line /init prints before starting the shell (boot tests wait for it). */
export const BANNER = 'tsemu initramfs ready';

/** Applets /init calls before `busybox --install -s` has made the other links. */
const EARLY_APPLETS = ['sh', 'mount', 'umount', 'mkdir', 'mknod', 'cat', 'echo', 'ls', 'ln', 'insmod', 'modprobe', 'setsid', 'cttyhack', 'uname', 'poweroff', 'reboot', 'sleep', 'switch_root'];

export interface InitramfsInput {
  kernelRelease: string;
  modulesDir: string;
  busybox: string;
}

export interface InitramfsOptions {
  /** module names or aliases; DEFAULT_MODULES if not given; [] for none */
  modules?: readonly string[];
  /** a file to use as /init instead of tsemu's script */
  init?: string;
  output: string;
  /** mtime of every member (default $SOURCE_DATE_EPOCH or 0): the same inputs give the same bytes */
  mtime?: number;
}

export interface InitramfsResult {
  output: string;
  bytes: number;
  members: number;
  load: LoadOrder['load'];
  builtin: string[];
}

export function initScript(kernelRelease: string, moduleNames: readonly string[]): string {
  return `#!/bin/sh
# /init of the tsemu initramfs (written by 'tsemu guest initramfs' for Linux ${kernelRelease}).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev || echo "init: cannot mount devtmpfs on /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
/bin/busybox --install -s

# kernel modules, each after what it needs (order resolved by tsemu from modules.dep)
while read -r m; do
  [ -n "$m" ] || continue
  insmod "$m" || echo "init: insmod $m failed"
done < /etc/tsemu/modules

# root=DEV on the kernel command line (rootfstype=, ro/rw, init= as Linux reads them):
# mount it and make it the root, as Debian's initramfs does; else stay here
root=; fstype=ext4; mode=rw; next=/sbin/init
for a in $(cat /proc/cmdline); do
  case "$a" in
    root=*) root="\${a#root=}" ;;
    rootfstype=*) fstype="\${a#rootfstype=}" ;;
    ro) mode=ro ;;
    rw) mode=rw ;;
    init=*) next="\${a#init=}" ;;
  esac
done
if [ -n "$root" ]; then
  n=0
  while [ ! -b "$root" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  mkdir -p /newroot
  if mount -t "$fstype" -o "$mode" "$root" /newroot; then
    echo "init: root $root ($fstype, $mode) mounted; starting $next"
    umount /dev/pts /run /sys /proc 2>/dev/null
    [ -d /newroot/dev ] && mount --move /dev /newroot/dev
    exec switch_root /newroot "$next"
  fi
  echo "init: cannot mount root $root; staying in the initramfs"
fi

echo
echo "${BANNER}: Linux $(uname -r) $(uname -m), modules: ${moduleNames.length ? moduleNames.join(' ') : 'none'}"
echo "Type 'exit' to power off."
setsid cttyhack sh
echo "init: the shell exited; powering off"
poweroff -f
`;
}

/** A modules.dep for the modules in the image, with their .ko names. */
function subsetModulesDep(db: ModuleDb, load: LoadOrder['load']): string {
  const included = new Set(load.map((m) => m.name));
  return load
    .map((m) => {
      const deps = (db.modules.get(m.name)?.deps ?? []).filter((d) => included.has(d)).map((d) => uncompressedPath(db.modules.get(d)!.path));
      return `${uncompressedPath(m.path)}:${deps.length ? ` ${deps.join(' ')}` : ''}\n`;
    })
    .join('');
}

/** Builds the cpio in memory. Exposed for tests; `buildInitramfs` writes it gzip-compressed. */
export async function initramfsCpio(input: InitramfsInput, opts: Omit<InitramfsOptions, 'output'>): Promise<{ cpio: CpioBuilder; order: LoadOrder }> {
  const db = loadModuleDb(input.modulesDir);
  const order = resolveLoadOrder(db, opts.modules ?? DEFAULT_MODULES);
  const envEpoch = Number(process.env.SOURCE_DATE_EPOCH);
  const cpio = new CpioBuilder({ mtime: opts.mtime ?? (Number.isInteger(envEpoch) && envEpoch >= 0 ? envEpoch : 0) });

  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'run', 'lib/modules']) cpio.dir(d);
  cpio.dir('dev', 0o755);
  cpio.charDevice('dev/console', 5, 1, 0o600);
  cpio.charDevice('dev/null', 1, 3, 0o666);
  cpio.dir('tmp', 0o1777);
  cpio.dir('root', 0o700);

  let busybox: Buffer;
  try {
    busybox = readFileSync(input.busybox);
  } catch (e) {
    throw new GuestError(`cannot read busybox '${input.busybox}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  cpio.file('bin/busybox', busybox, 0o755);
  for (const a of EARLY_APPLETS) cpio.symlink(`bin/${a}`, 'busybox');

  const kdir = `lib/modules/${input.kernelRelease}`;
  cpio.dir(kdir);
  const bodies = await Promise.all(order.load.map((m) => readModuleFile(join(input.modulesDir, m.path))));
  order.load.forEach((m, i) => cpio.file(`${kdir}/${uncompressedPath(m.path)}`, bodies[i]!, 0o644));
  cpio.file(`${kdir}/modules.dep`, subsetModulesDep(db, order.load));
  try {
    cpio.file(`${kdir}/modules.builtin`, readFileSync(join(input.modulesDir, 'modules.builtin')));
  } catch {
    // a kernel without modules.builtin: modprobe does without it
  }
  cpio.file('etc/tsemu/modules', order.load.map((m) => `/${kdir}/${uncompressedPath(m.path)}\n`).join(''));

  let init: Uint8Array;
  if (opts.init) {
    try {
      init = readFileSync(opts.init);
    } catch (e) {
      throw new GuestError(`cannot read init '${opts.init}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    init = Buffer.from(initScript(input.kernelRelease, order.load.map((m) => m.name)));
  }
  cpio.file('init', init, 0o755);
  return { cpio, order };
}

export async function buildInitramfs(input: InitramfsInput, opts: InitramfsOptions): Promise<InitramfsResult> {
  const { cpio, order } = await initramfsCpio(input, opts);
  const gz = gzipSync(cpio.toBuffer(), { level: 9 });
  mkdirSync(dirname(opts.output), { recursive: true });
  const tmp = `${opts.output}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, gz);
    renameSync(tmp, opts.output);
  } catch (e) {
    throw new GuestError(`cannot write '${opts.output}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { output: opts.output, bytes: gz.length, members: cpio.list().length, load: order.load, builtin: order.builtin };
}
