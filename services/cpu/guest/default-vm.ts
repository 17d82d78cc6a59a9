/**
 * The default VM's files, fetched and built when missing: what `npm start` boots.
 *
 *   const vm = await ensureDefaultVm({ progress: (m) => process.stderr.write(`${m}\n`) });
 *   // -bios vm.firmware -kernel vm.kernel -initrd vm.initrd -append vm.append
 *
 * The first call needs the network (about 115 MB from the Debian mirror) and takes some
 * tens of seconds; later calls read the manifest and return at once. The initramfs is
 * rebuilt only when the kernel, busybox or the init script changed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fetchGuest, type GuestManifest } from './apt-fetch.js';
import { buildInitramfs, DEFAULT_MODULES, initScript } from './initramfs.js';
import { loadModuleDb, resolveLoadOrder } from './modules.js';
import { guestPaths } from './paths.js';

export interface DefaultVm {
  /** OpenSBI fw_dynamic.bin (generic platform): -bios */
  firmware: string;
  /** Debian's riscv64 kernel as a RISC-V Linux Image: -kernel */
  kernel: string;
  /** gzip newc cpio with busybox and DEFAULT_MODULES: -initrd */
  initrd: string;
  /** kernel command line: the console on the virt board's ns16550a UART */
  append: string;
  kernelRelease: string;
  /** module names /init loads, in order */
  modules: string[];
  manifest: GuestManifest;
}

export interface DefaultVmOptions {
  /** cache root (default: $TSEMU_CACHE, $XDG_CACHE_HOME/tsemu, ~/.cache/tsemu) */
  cache?: string;
  /** Debian mirror (default: the host's apt sources) */
  mirror?: string;
  /** keyring to verify the mirror with (default: the host's debian-archive-keyring) */
  keyring?: string;
  progress?: (msg: string) => void;
}

export async function ensureDefaultVm(opts: DefaultVmOptions = {}): Promise<DefaultVm> {
  const paths = guestPaths(opts.cache);
  const { manifest } = await fetchGuest({ cache: opts.cache, mirror: opts.mirror, keyring: opts.keyring, progress: opts.progress });
  const order = resolveLoadOrder(loadModuleDb(manifest.modulesDir), DEFAULT_MODULES);
  const names = order.load.map((m) => m.name);
  const bb = statSync(manifest.busybox);
  const key = createHash('sha256')
    .update(JSON.stringify({ kernelRelease: manifest.kernelRelease, modules: order.load, busybox: [bb.size, bb.mtimeMs], init: initScript(manifest.kernelRelease, names) }))
    .digest('hex');
  const stamp = `${paths.defaultInitramfs}.key`;
  const current = existsSync(paths.defaultInitramfs) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === key;
  if (!current) {
    opts.progress?.(`building ${paths.defaultInitramfs} (modules: ${names.join(' ')})`);
    await buildInitramfs(manifest, { output: paths.defaultInitramfs, modules: DEFAULT_MODULES });
    writeFileSync(stamp, `${key}\n`);
  }
  return {
    firmware: manifest.firmware,
    kernel: manifest.kernel,
    initrd: paths.defaultInitramfs,
    append: 'console=ttyS0',
    kernelRelease: manifest.kernelRelease,
    modules: names,
    manifest,
  };
}
