/**
 * The librbd binding (native/src/rbd*.cc, built as tsemu_rbd.node only where librbd-dev and
 * libradospp-dev are installed). Every call returns a promise and none blocks the event loop: data I/O goes
 * through rbd_aio_*, the rest runs on libuv's thread pool. Failures reject with an Error
 * whose `code` is librbd's errno name and whose message names the step, as QEMU's rbd
 * driver words it ("error opening pool rbd: No such file or directory").
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../common/native.js';
import { BlockError } from '../format/types.js';

export interface RbdConnectOptions {
  /** A ceph.conf to read; without it, Ceph's default places (their absence is fine). */
  conf?: string;
  /** The client id ("admin" for client.admin). */
  id?: string;
  /** rados_conf_set pairs, in order (mon_host, keyring, key, rados_osd_op_timeout...). */
  options: [string, string][];
}

export interface RbdSnapshotEntry {
  id: number;
  name: string;
  /** The image size at the snapshot. */
  size: number;
  sec: number;
  nsec: number;
}

export interface RbdImageHandle {
  /** Resolves with the byte count read. */
  read(buf: Uint8Array, offset: number): Promise<number>;
  write(buf: Uint8Array, offset: number): Promise<number>;
  discard(offset: number, length: number): Promise<number>;
  writeZeroes(offset: number, length: number, unmap: boolean): Promise<number>;
  flush(): Promise<number>;
  stat(): Promise<{ size: number; objectSize: number }>;
  resize(size: number): Promise<void>;
  /**
   * [offset, length, ...] of the data objects in the range (whole objects), or null where
   * librbd cannot tell cheaply (no fast-diff, or its map invalid).
   */
  allocation(offset: number, length: number): Promise<number[] | null>;
  snapList(): Promise<RbdSnapshotEntry[]>;
  snapCreate(name: string): Promise<void>;
  snapRemove(name: string): Promise<void>;
  snapRollback(name: string): Promise<void>;
  /** Fails with EBUSY while requests are in flight. */
  close(): Promise<void>;
  readonly inFlight: number;
}

export interface RbdClusterHandle {
  /** `order`: log2 of the object size, 0 for librbd's default (22, 4 MiB objects). */
  createImage(pool: string, namespace: string, image: string, size: number, order?: number): Promise<void>;
  removeImage(pool: string, namespace: string, image: string): Promise<void>;
  /** A snapshot opens read-only. */
  openImage(pool: string, namespace: string, image: string, snapshot: string | null, readOnly: boolean): Promise<RbdImageHandle>;
  /** Lets go of the connection; it shuts down once its images are closed too. */
  shutdown(): Promise<void>;
}

export interface RbdAddon {
  connect(opts: RbdConnectOptions): Promise<RbdClusterHandle>;
  /** librbd's version, "1.16.0". */
  version(): string;
}

export const RBD_UNAVAILABLE = 'RBD support is not available: tsemu was built without librbd (install librbd-dev and libradospp-dev, and rebuild)';

let loaded: RbdAddon | undefined;

/** The binding, or a BlockError (ENOTSUP) saying plainly that this build has none. */
export function rbdAddon(): RbdAddon {
  if (loaded) return loaded;
  const path = join(projectRoot(), 'native/build/Release/tsemu_rbd.node');
  if (!existsSync(path)) throw new BlockError(RBD_UNAVAILABLE, 'ENOTSUP');
  try {
    loaded = createRequire(import.meta.url)(path) as RbdAddon;
  } catch (e) {
    // Built, but librbd.so is gone from the machine since.
    throw new BlockError(`${RBD_UNAVAILABLE}; loading it failed: ${(e as Error).message}`, 'ENOTSUP');
  }
  return loaded;
}
