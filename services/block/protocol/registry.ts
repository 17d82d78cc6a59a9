/**
 * Which protocol a filename names, as QEMU spells them: a host path (`file`), `nbd://HOST:PORT/EXPORT`,
 * `nbd+unix:///EXPORT?socket=PATH`, `rbd:pool/image[@snap][:opt=val...]`. Protocol drivers register
 * here; a filename no driver claims is a host file. One home for this choice: openImage, tsemu-img
 * create and the virtio-blk driver all go through openProtocol/createProtocol.
 */
import { FileProtocol } from './file.js';
import { BlockError, type BlockProtocol } from '../format/types.js';
import { isNbdFilename } from '../nbd/uri.js';
import { isRbdFilename, RBD_CREATE_OPTIONS } from './rbd-spec.js';

export interface ProtocolOpenOptions {
  readOnly?: boolean;
  /** QEMU's cache mode ("writeback" default, "none", "writethrough", "directsync", "unsafe"). */
  cache?: string;
  /** Driver options in QEMU's spelling (-blockdev file.server.host=..., rbd conf=...). */
  options?: Record<string, string>;
}

export interface ProtocolDriver {
  /** QEMU's driver name: "file", "nbd", "rbd". */
  readonly name: string;
  /** True when `filename` is spelled for this protocol (a URL scheme or prefix). */
  claims(filename: string): boolean;
  open(filename: string, opts: ProtocolOpenOptions): Promise<BlockProtocol>;
  /**
   * Makes a new, empty object of `size` bytes (qemu-img create) and opens it read-write.
   * Protocols that cannot create (NBD) leave it out; create then opens the existing export.
   */
  create?(filename: string, size: number, opts: ProtocolOpenOptions): Promise<BlockProtocol>;
  /**
   * The `qemu-img create -o` names this protocol takes (its create options, in the order
   * qemu-img shows them); create gets those the image format does not take itself, by name,
   * in `opts.options` (sizes as a count of bytes).
   */
  readonly createOptions?: readonly string[];
}

const drivers: ProtocolDriver[] = [];

export function registerProtocol(driver: ProtocolDriver): void {
  const i = drivers.findIndex((d) => d.name === driver.name);
  if (i >= 0) drivers[i] = driver;
  else drivers.push(driver);
}

/** QEMU's cache modes, for checking what a user typed. */
export const CACHE_MODES = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'];

function writeThrough(cache: string | undefined): boolean {
  return cache !== undefined && ['writethrough', 'none', 'directsync'].includes(cache);
}

const file: ProtocolDriver = {
  name: 'file',
  claims: () => true,
  open: (filename, opts) =>
    FileProtocol.open(filename, { readOnly: opts.readOnly, writeThrough: writeThrough(opts.cache), unsafe: opts.cache === 'unsafe' }),
  async create(filename, size) {
    const f = await FileProtocol.open(filename, { create: true });
    try {
      await f.truncate(size);
    } catch (e) {
      await f.close().catch(() => {});
      throw e;
    }
    return f;
  },
};

/**
 * A built-in driver that loads on first use, so that a command never pays for the modules of
 * protocols it does not touch (tsemu-img on a host file loads no NBD or librbd code). The
 * module registers its real driver when it loads, which replaces this stand-in.
 */
function builtin(name: string, claims: (filename: string) => boolean, load: () => Promise<unknown>, createOptions?: readonly string[]): ProtocolDriver {
  const real = async (): Promise<ProtocolDriver> => {
    await load();
    const d = drivers.find((x) => x.name === name);
    if (!d || d === stub) throw new BlockError(`protocol driver '${name}' did not register`, 'ENOTSUP');
    return d;
  };
  const stub: ProtocolDriver = {
    name,
    claims,
    open: async (filename, opts) => (await real()).open(filename, opts),
    ...(createOptions && {
      create: async (filename: string, size: number, opts: ProtocolOpenOptions) => (await real()).create!(filename, size, opts),
      createOptions,
    }),
  };
  return stub;
}

// nbd cannot create (create opens the export); rbd creates, with its own -o options
registerProtocol(builtin('nbd', isNbdFilename, () => import('./nbd.js')));
registerProtocol(builtin('rbd', isRbdFilename, () => import('./rbd.js'), RBD_CREATE_OPTIONS));

/** The driver for a filename: the first registered one that claims it, else `file`. */
export function protocolFor(filename: string): ProtocolDriver {
  return drivers.find((d) => d.claims(filename)) ?? file;
}

export function protocolNames(): string[] {
  return ['file', ...drivers.map((d) => d.name)].sort();
}

export function openProtocol(filename: string, opts: ProtocolOpenOptions = {}): Promise<BlockProtocol> {
  return protocolFor(filename).open(filename, opts);
}

/** For qemu-img create: a new object, or (for protocols that cannot create) the existing one, resized check left to the caller. */
export async function createProtocol(filename: string, size: number, opts: ProtocolOpenOptions = {}): Promise<BlockProtocol> {
  const d = protocolFor(filename);
  if (d.create) return d.create(filename, size, opts);
  const p = await d.open(filename, { ...opts, readOnly: false });
  return p;
}

export { BlockError };
