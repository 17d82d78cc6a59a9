/**
 * `tsemu-img rebase [-f fmt] [-u] -b backing_file [-F backing_fmt] filename`
 * Safe mode (no -u) copies into the image every range it does not hold itself where the old
 * and new backing files differ, so the guest-visible content stays the same; then the header
 * names the new backing file. `-b ""` removes the backing file (all its data copied in).
 */
import { dirname, isAbsolute, join } from 'node:path';
import type { BlockImage } from '../format/types.js';
import { has, last, parseArgs } from './args.js';
import { CommandError, open, type Out } from './common.js';

interface Rebasable extends BlockImage {
  changeBackingFile(filename: string | undefined, format: string | undefined): Promise<void>;
}

export async function rebase(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:F:b:t:T:upqU', long: ['object=', 'image-opts', 'force-share'] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  if (!has(p, 'b')) throw new CommandError('Must specify backing file (-b)');
  const unsafe = has(p, 'u');
  const newName = last(p, 'b')!;
  let newFmt = last(p, 'F');
  const img = await open(filename, { format: last(p, 'f'), readOnly: false, backing: !unsafe });
  let fresh: BlockImage | undefined;
  try {
    if (!('changeBackingFile' in img)) throw new CommandError(`Could not change the backing file to '${newName}': Operation not supported`);
    if (newName) {
      const path = isAbsolute(newName) ? newName : join(dirname(filename), newName);
      if (!unsafe || !newFmt) {
        fresh = await open(path, { format: newFmt, backing: true }).catch((e: Error) => {
          throw new CommandError(`Could not open new backing file '${path}': ${e.message.replace(/^Could not open '[^']*': /, '')}`);
        });
        newFmt ??= fresh.format;
      }
    }
    if (!unsafe) {
      const chunk = Math.max(img.granularity, 1 << 20);
      const a = new Uint8Array(chunk);
      const b = new Uint8Array(chunk);
      for (let pos = 0; pos < img.size; pos += chunk) {
        const n = Math.min(chunk, img.size - pos);
        for (const e of await img.blockStatus(pos, n)) {
          if (e.depth === 0 && (e.present ?? e.data)) continue;
          const oldPart = a.subarray(0, e.length);
          await img.read(oldPart, e.offset);
          const newPart = b.subarray(0, e.length);
          newPart.fill(0);
          if (fresh && e.offset < fresh.size) {
            const m = Math.min(e.length, fresh.size - e.offset);
            await fresh.read(newPart.subarray(0, m), e.offset);
          }
          // Copy only granules that differ.
          const g = img.granularity;
          for (let i = 0; i < e.length; i += g) {
            const m = Math.min(g, e.length - i);
            if (Buffer.compare(oldPart.subarray(i, i + m), newPart.subarray(i, i + m)) !== 0) {
              await img.write(oldPart.subarray(i, i + m), e.offset + i);
            }
          }
        }
      }
    }
    await (img as Rebasable).changeBackingFile(newName || undefined, newName ? newFmt : undefined);
    void io;
    return 0;
  } finally {
    await fresh?.close();
    await img.close();
  }
}
