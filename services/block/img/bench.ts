/**
 * `tsemu-img bench [-c count] [-d depth] [-f fmt] [-n] [-o offset] [-s size] [-S step] [-t cache] [-w] filename`:
 * `count` requests of `size` bytes, `depth` in flight, at offsets advancing by `step` (wrapping),
 * and qemu-img bench's two lines of output.
 */
import { has, last, parseArgs } from './args.js';
import { CommandError, open, type Out } from './common.js';
import { parseSize } from './sizes.js';

export async function bench(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hc:d:f:no:qs:S:t:wU', long: ['flush-interval=', 'no-drain', 'pattern=', 'object=', 'image-opts', 'force-share'] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  const count = Number(last(p, 'c') ?? 75000);
  const depth = Number(last(p, 'd') ?? 64);
  const size = parseSize(last(p, 's') ?? '4096', 'buffer size');
  const step = has(p, 'S') ? parseSize(last(p, 'S')!, 'step size') : size;
  const start = has(p, 'o') ? parseSize(last(p, 'o')!, 'offset') : 0;
  const write = has(p, 'w');
  const flushEvery = Number(last(p, 'flush-interval') ?? 0);
  if (!(count > 0) || !(depth > 0)) throw new CommandError('Invalid request count or depth');
  const img = await open(filename, { format: last(p, 'f'), readOnly: !write, cache: last(p, 't') ?? 'writeback' });
  try {
    if (start + size > img.size) throw new CommandError('Offset + buffer size beyond the image end');
    io.out(`Sending ${count} ${write ? 'write' : 'read'} requests, ${size} bytes each, ${depth} in parallel (starting at offset ${start}, step size ${step})\n`);
    const pattern = Number(last(p, 'pattern') ?? 0xa5);
    let offset = start;
    let issued = 0;
    const t0 = process.hrtime.bigint();
    const worker = async () => {
      const buf = new Uint8Array(size).fill(pattern);
      while (issued < count) {
        issued++;
        const at = offset;
        offset += step;
        if (offset + size > img.size) offset = start;
        if (write) {
          await img.write(buf, at);
          if (flushEvery && issued % flushEvery === 0) await img.flush();
        } else await img.read(buf, at);
      }
    };
    await Promise.all(Array.from({ length: depth }, worker));
    if (write) await img.flush();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    io.out(`Run completed in ${secs.toFixed(3)} seconds.\n`);
    return 0;
  } finally {
    await img.close();
  }
}
