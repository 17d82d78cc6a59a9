/** What every tsemu-img command shares: opening images as qemu-img does, printing errors. */
import { parseKeyValues } from '../../common/cli-args.js';
import { rbdNameFromOptions } from '../../common/rbd-name.js';
import { openImage } from '../format/open.js';
import { BlockError, type BlockImage } from '../format/types.js';

export const PROG = 'tsemu-img';

/** A failure the command reports as "tsemu-img: message" with exit status 1 (or `status`). */
export class CommandError extends Error {
  constructor(message: string, readonly status = 1) {
    super(message);
  }
}

export interface Out {
  out(s: string): void;
  err(s: string): void;
}

export const stdio: Out = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

let imageOpts = false;

/** --image-opts: image names given as QEMU's driver options (driver=raw,file.driver=rbd,file.pool=...). */
export function useImageOpts(on: boolean): void {
  imageOpts = on;
}

/**
 * An --image-opts value as a name and format: driver=rbd,pool=..,image=..[,key-secret=..]
 * (the bytes, as raw), driver=file,filename=.., or a format node (driver=raw|qcow2|qed) over
 * file.driver=rbd (file.pool=...) or file.filename=.
 */
export function imageOptsName(spec: string): { filename: string; format: string } {
  const kv = parseKeyValues(spec);
  const driver = kv.get('driver');
  const rbd = (prefix: string) => {
    try {
      return rbdNameFromOptions((k) => kv.get(prefix + k));
    } catch (e) {
      throw new CommandError(`--image-opts ${spec}: driver rbd ${(e as Error).message}`);
    }
  };
  if (driver === 'rbd') return { filename: rbd(''), format: 'raw' };
  if (driver === 'file') return { filename: kv.get('filename') ?? '', format: 'raw' };
  if (!driver) throw new CommandError(`--image-opts ${spec}: Parameter 'driver' is missing`);
  const fileDriver = kv.get('file.driver');
  const filename = fileDriver === 'rbd' ? rbd('file.') : kv.get('file.filename');
  if (!filename) throw new CommandError(`--image-opts ${spec}: needs file.filename= or file.driver=rbd`);
  return { filename, format: driver };
}

/** Opens an image the way qemu-img does: "Could not open 'x': reason" on failure. */
export async function open(
  filename: string, opts: { format?: string; readOnly?: boolean; backing?: boolean; cache?: string; forCheck?: boolean } = {},
): Promise<BlockImage> {
  // under --image-opts, a source image is given as options (an output name stays a name)
  if (imageOpts && /(^|,)driver=/.test(filename)) {
    const o = imageOptsName(filename);
    filename = o.filename;
    opts = { ...opts, format: o.format };
  }
  try {
    return await openImage(filename, { readOnly: opts.readOnly ?? true, format: opts.format, backing: opts.backing, cache: opts.cache, forCheck: opts.forCheck });
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.startsWith('Could not open')) throw new CommandError(msg);
    throw new CommandError(`Could not open '${filename}': ${msg}`);
  }
}

export function errorText(e: unknown): string {
  if (e instanceof CommandError || e instanceof BlockError) return e.message;
  return (e as Error)?.message ?? String(e);
}

/** The chain from `img` down: [img, backing, backing's backing, ...]. */
export function chain(img: BlockImage): BlockImage[] {
  const out: BlockImage[] = [];
  for (let b: BlockImage | undefined = img; b; b = b.backing) out.push(b);
  return out;
}
