/**
 * `tsemu-img commit [-f fmt] [-t cache] [-b base] [-d] [-q] filename`: writes what the image
 * (and, with -b, every image between it and `base`) holds into the base, by default the
 * immediate backing file. Then, as qemu-img, the image is emptied so reads go to the backing
 * file, unless -d is given or a base was named explicitly (the images above the base keep
 * their data; those between are now stale, as qemu-img warns in its documentation).
 */
import { resolve } from 'node:path';
import type { BlockImage } from '../format/types.js';
import { has, last, parseArgs } from './args.js';
import { chain, CommandError, open, type Out } from './common.js';

export async function commit(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:t:b:dpqr:', long: ['object=', 'image-opts'] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  const top = await open(filename, { format: last(p, 'f'), readOnly: false, backing: true, cache: last(p, 't') });
  let base: BlockImage | undefined;
  try {
    const images = chain(top);
    if (images.length < 2) throw new CommandError(`Image '${filename}' does not have a backing file`);
    const named = last(p, 'b');
    let depth = 1;
    if (named !== undefined) {
      depth = images.findIndex((i, n) => n > 0 && resolve(i.protocol.filename) === resolve(named));
      if (depth < 1) throw new CommandError(`Backing file '${named}' not found in the backing chain of '${filename}'`);
    }
    const target = images[depth]!;
    base = await open(target.protocol.filename, { format: target.format, readOnly: false, backing: true });
    const chunk = Math.max(top.granularity, 1 << 20);
    const buf = new Uint8Array(chunk);
    if (base.size < top.size) await base.resize(top.size);
    for (let pos = 0; pos < top.size; pos += chunk) {
      const n = Math.min(chunk, top.size - pos);
      for (const e of await top.blockStatus(pos, n)) {
        // What the images above the base hold: allocated at a depth shallower than the base.
        if (e.depth >= depth || !(e.present ?? e.data)) continue;
        if (e.zero) { await base.writeZeroes(e.offset, e.length, false); continue; }
        const part = buf.subarray(0, e.length);
        await top.read(part, e.offset);
        await base.write(part, e.offset);
      }
    }
    await base.flush();
    const empty = !has(p, 'd') && named === undefined;
    if (empty && 'makeEmpty' in top) await (top as BlockImage & { makeEmpty(): Promise<void> }).makeEmpty();
    if (!has(p, 'q')) io.out('Image committed.\n');
    return 0;
  } finally {
    await base?.close();
    await top.close();
  }
}
