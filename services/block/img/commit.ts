/**
 * `tsemu-img commit [-f fmt] [-t cache] [-b base] [-d] filename`: writes what the image holds
 * into its backing file, then (unless -d) empties the image so reads go to the backing file.
 */
import type { BlockImage } from '../format/types.js';
import { has, last, parseArgs } from './args.js';
import { CommandError, open, type Out } from './common.js';

export async function commit(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:t:b:dpqr:', long: ['object=', 'image-opts'] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  const top = await open(filename, { format: last(p, 'f'), readOnly: false, backing: true });
  let base: BlockImage | undefined;
  try {
    const info = await top.getInfo();
    if (!top.backing || !info.fullBackingFilename) throw new CommandError(`Image '${filename}' does not have a backing file`);
    const b = last(p, 'b');
    if (b && b !== info.fullBackingFilename && b !== info.backingFilename) {
      throw new CommandError(`Committing into '${b}' (not the immediate backing file) is not supported by tsemu yet`);
    }
    base = await open(info.fullBackingFilename, { format: top.backing.format, readOnly: false, backing: true });
    const chunk = Math.max(top.granularity, 1 << 20);
    const buf = new Uint8Array(chunk);
    if (base.size < top.size) await base.resize(top.size);
    for (let pos = 0; pos < top.size; pos += chunk) {
      const n = Math.min(chunk, top.size - pos);
      for (const e of await top.blockStatus(pos, n)) {
        if (e.depth !== 0 || !(e.present ?? e.data)) continue;
        if (e.zero) { await base.writeZeroes(e.offset, e.length, false); continue; }
        const part = buf.subarray(0, e.length);
        await top.read(part, e.offset);
        await base.write(part, e.offset);
      }
    }
    await base.flush();
    if (!has(p, 'd') && 'makeEmpty' in top) await (top as BlockImage & { makeEmpty(): Promise<void> }).makeEmpty();
    if (!has(p, 'q')) io.out('Image committed.\n');
    return 0;
  } finally {
    await base?.close();
    await top.close();
  }
}
