/** `tsemu-img map [-f fmt] [--output=human|json] [--start-offset=N] [--max-length=N] filename` */
import type { BlockExtent } from '../format/types.js';
import { last, parseArgs } from './args.js';
import { chain, CommandError, open, type Out } from './common.js';
import { parseSize } from './sizes.js';

export function mapJsonLine(e: BlockExtent): string {
  const present = e.present ?? e.data;
  let s = `{ "start": ${e.offset}, "length": ${e.length}, "depth": ${e.depth}, "present": ${present}, "zero": ${e.zero}, "data": ${e.data}`;
  if (e.hostOffset !== undefined && !e.compressed) s += `, "offset": ${e.hostOffset}`;
  return s + '}';
}

export async function map(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:U', long: ['output=', 'start-offset=', 'max-length=', 'object=', 'image-opts', 'force-share'] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  const output = last(p, 'output') ?? 'human';
  if (output !== 'human' && output !== 'json') throw new CommandError('--output must be used with human or json as argument.');
  const img = await open(filename, { format: last(p, 'f'), backing: true });
  try {
    const start = last(p, 'start-offset') ? parseSize(last(p, 'start-offset')!) : 0;
    const maxLen = last(p, 'max-length') ? parseSize(last(p, 'max-length')!) : img.size;
    const len = Math.max(0, Math.min(img.size - start, maxLen));
    const extents = len ? await img.blockStatus(start, len) : [];
    if (output === 'json') {
      io.out(`[${extents.map(mapJsonLine).join(',\n')}]\n`);
      return 0;
    }
    const names = chain(img).map((i) => i.protocol.filename);
    const col = (s: string) => s.padEnd(16);
    const hex = (n: number) => (n ? `0x${n.toString(16)}` : '0');
    io.out(`${col('Offset')}${col('Length')}${col('Mapped to')}File\n`);
    let s = '';
    for (const e of extents) {
      if (e.compressed) { io.out(s); throw new CommandError('File contains external, encrypted or compressed clusters.'); }
      if (!e.data || e.hostOffset === undefined) continue;
      s += `${col(hex(e.offset))}${col(hex(e.length))}${col(hex(e.hostOffset))}${names[e.depth] ?? filename}\n`;
    }
    io.out(s);
    return 0;
  } finally {
    await img.close();
  }
}
