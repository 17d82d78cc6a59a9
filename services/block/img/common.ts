/** What every tsemu-img command shares: opening images as qemu-img does, printing errors. */
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

/** Opens an image the way qemu-img does: "Could not open 'x': reason" on failure. */
export async function open(
  filename: string, opts: { format?: string; readOnly?: boolean; backing?: boolean; cache?: string; forCheck?: boolean } = {},
): Promise<BlockImage> {
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
