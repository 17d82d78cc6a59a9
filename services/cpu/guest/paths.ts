/**
 * Where the guest tooling keeps what it fetches and builds, and the one error type whose
 * message the `tsemu guest` commands print as their single line.
 *
 * Cache root: `$TSEMU_CACHE`, else `$XDG_CACHE_HOME/tsemu`, else `~/.cache/tsemu`.
 * Under it, `guest/` holds the private apt tree, the unpacked packages, the manifest
 * and the default initramfs.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** A failure meant for the user: one line, no stack trace. */
export class GuestError extends Error {}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSEMU_CACHE) return resolve(env.TSEMU_CACHE);
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'tsemu');
  return join(env.HOME || homedir(), '.cache', 'tsemu');
}

export interface GuestPaths {
  /** <cache>/guest */
  root: string;
  /** the private apt tree: apt.conf, sources.list, lists/, archives/, status */
  apt: string;
  aptConf: string;
  sourcesList: string;
  lists: string;
  archives: string;
  /** one directory per unpacked package: pkgs/<package>/ */
  pkgs: string;
  /** kernel images tsemu made loadable (only when the package's was compressed) */
  kernel: string;
  manifest: string;
  /** the initramfs `npm start` boots */
  defaultInitramfs: string;
}

export function guestPaths(cache: string = cacheRoot()): GuestPaths {
  const root = join(resolve(cache), 'guest');
  const apt = join(root, 'apt');
  return {
    root,
    apt,
    aptConf: join(apt, 'apt.conf'),
    sourcesList: join(apt, 'sources.list'),
    lists: join(apt, 'lists'),
    archives: join(apt, 'archives'),
    pkgs: join(root, 'pkgs'),
    kernel: join(root, 'kernel'),
    manifest: join(root, 'manifest.json'),
    defaultInitramfs: join(root, 'initramfs.cpio.gz'),
  };
}
