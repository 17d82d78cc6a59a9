/**
 * `tsemu-img compare [-f fmt] [-F fmt] [-s] filename1 filename2`: exit 0 identical, 1 different, 2 error.
 * As qemu-img, images of different sizes compare equal when the larger one's extra part reads as zeros
 * (unless -s, strict).
 */
import { isZero } from '../format/qcow2/entries.js';
import { has, last, parseArgs } from './args.js';
import { CommandError, errorText, open, type Out } from './common.js';

export async function compare(argv: string[], io: Out): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    io.err(`tsemu-img: ${errorText(e)}\n`);
    return 2;
  }
}

async function run(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:F:spqU', long: ['object=', 'image-opts', 'force-share'] });
  const [n1, n2] = p.operands;
  if (!n1 || !n2) throw new CommandError('Expecting two image file names');
  const a = await open(n1, { format: last(p, 'f') });
  const b = await open(n2, { format: last(p, 'F') ?? last(p, 'f') }).catch(async (e) => { await a.close(); throw e; });
  const quiet = has(p, 'q');
  try {
    const common = Math.min(a.size, b.size);
    const chunk = 1 << 20;
    const ba = new Uint8Array(chunk);
    const bb = new Uint8Array(chunk);
    for (let pos = 0; pos < common; pos += chunk) {
      const n = Math.min(chunk, common - pos);
      const [sa, sb] = [await a.blockStatus(pos, n), await b.blockStatus(pos, n)];
      const allZero = (s: typeof sa) => s.every((e) => e.zero);
      if (allZero(sa) && allZero(sb)) continue;
      await a.read(ba.subarray(0, n), pos);
      await b.read(bb.subarray(0, n), pos);
      if (Buffer.compare(ba.subarray(0, n), bb.subarray(0, n)) !== 0) {
        let i = 0;
        while (ba[i] === bb[i]) i++;
        const at = Math.floor((pos + i) / 512) * 512;
        if (!quiet) io.out(`Content mismatch at offset ${at}!\n`);
        return 1;
      }
    }
    if (a.size !== b.size) {
      if (has(p, 's')) {
        if (!quiet) io.out('Strict mode: Image size mismatch!\n');
        return 1;
      }
      if (!quiet) io.out('Warning: Image size mismatch!\n');
      const big = a.size > b.size ? a : b;
      for (let pos = common; pos < big.size; pos += chunk) {
        const n = Math.min(chunk, big.size - pos);
        const st = await big.blockStatus(pos, n);
        if (st.every((e) => e.zero)) continue;
        await big.read(ba.subarray(0, n), pos);
        if (!isZero(ba.subarray(0, n))) {
          let i = 0;
          while (ba[i] === 0) i++;
          if (!quiet) io.out(`Content mismatch at offset ${Math.floor((pos + i) / 512) * 512}!\n`);
          return 1;
        }
      }
    }
    if (!quiet) io.out('Images are identical.\n');
    return 0;
  } finally {
    await a.close();
    await b.close();
  }
}
