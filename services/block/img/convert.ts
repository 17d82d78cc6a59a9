/**
 * `tsemu-img convert [-c] [-p] [-n] [-f fmt] [-O fmt] [-o options] [-l snapshot] [-S sparse] [-m n]
 *   filename [filename2 ...] output_filename`
 *
 * Sources are concatenated. Work goes in chunks to `-m` concurrent tasks; ranges the source
 * reports as holes or zeros, and blocks of `-S` bytes that read as zeros, are not written to
 * a new target (it reads as zeros already). `-c` deflates clusters on a worker-thread pool.
 * As qemu-img, the chunks are written in order, one at a time, while the tasks read ahead;
 * `-W` lets them write as they come. In order, a qcow2 target is laid out as its source
 * and writers do not contend for the target file (on two cores that is worth 10-15%).
 */
import { createImage } from '../format/create.js';
import type { BlockImage } from '../format/types.js';
import { isZero, isZeroRange } from '../format/qcow2/entries.js';
import { has, last, parseArgs, parseOptionList } from './args.js';
import { CommandError, open, type Out } from './common.js';
import type { DeflatePool } from './deflate-pool.js';
import { parseSize } from './sizes.js';
import { CACHE_MODES } from '../protocol/registry.js';

interface Source {
  img: BlockImage;
  view: BlockImage;
  start: number;
}

export function parseSnapshotParam(text: string): string {
  if (!text.includes('=')) return text;
  const o = parseOptionList([text]);
  const v = o.get('snapshot.name') ?? o.get('snapshot.id');
  if (!v) throw new CommandError(`Failed in parsing snapshot param '${text}'`);
  return v;
}

export async function convert(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:O:o:l:s:S:m:cpnqWUt:T:', long: ['object=', 'image-opts', 'target-is-zero', 'force-share'] });
  if (p.operands.length < 2) throw new CommandError('Expecting image file name');
  const target = p.operands.at(-1)!;
  const names = p.operands.slice(0, -1);
  const outFmt = last(p, 'O') ?? 'raw';
  const compress = has(p, 'c');
  if (compress && outFmt !== 'qcow2') throw new CommandError(`Compression not supported for this file format`);
  const sparse = has(p, 'S') ? parseSize(last(p, 'S')!, 'sparse size') : 4096;
  const tasks = Math.max(1, Math.min(16, Number(last(p, 'm') ?? 8)));
  // the output's cache mode: unsafe unless asked, as qemu-img convert (no flush at the end)
  const cache = last(p, 't') ?? 'unsafe';
  if (!CACHE_MODES.includes(cache)) throw new CommandError(`Invalid cache option: ${cache}`);
  const snap = last(p, 'l') ?? last(p, 's');
  if (snap !== undefined && names.length > 1) throw new CommandError('No support for concatenating multiple snapshots');
  const sources: Source[] = [];
  // worker_threads loads only for -c
  const pool = compress ? new (await import('./deflate-pool.js')).DeflatePool() : undefined;
  let out: BlockImage | undefined;
  try {
    let total = 0;
    for (const n of names) {
      const img = await open(n, { format: last(p, 'f') });
      let view = img;
      if (snap !== undefined) {
        if (!img.snapshots) throw new CommandError(`Failed to load snapshot: snapshots are not supported by '${img.format}'`);
        try {
          view = await img.snapshots.open(parseSnapshotParam(snap));
        } catch (e) {
          throw new CommandError(`Failed to load snapshot: ${(e as Error).message.replace(/^Failed to load snapshot: /, '')}`);
        }
      }
      sources.push({ img, view, start: total });
      total += view.size;
    }
    const fresh = !has(p, 'n');
    if (fresh) {
      const options = parseOptionList(p.opts.get('o'));
      try {
        await createImage({ filename: target, format: outFmt, size: total, options }, parseSize);
      } catch (e) {
        throw new CommandError(`${target}: error while converting ${outFmt}: ${(e as Error).message}`);
      }
    }
    out = await open(target, { format: outFmt, readOnly: false, backing: false, cache });
    if (compress && !out.writeCompressed) throw new CommandError('Compression not supported for this file format');
    if (!fresh && out.size < total) throw new CommandError('Target image too small');
    const unit = Math.max(out.granularity, compress ? out.granularity : 0);
    const chunk = Math.max(unit, Math.ceil((2 << 20) / unit) * unit);
    let next = 0;
    let done = 0;
    const progress = has(p, 'p') && !has(p, 'q');
    const report = () => { if (progress) io.out(`    (${((100 * done) / Math.max(total, 1)).toFixed(2)}/100%)\r`); };
    report();
    const inOrder = !has(p, 'W');
    const step = async (pos: number, whole: Uint8Array, words: Int32Array, turn: Promise<void>): Promise<void> => {
      const len = Math.min(chunk, total - pos);
      const buf = whole.subarray(0, len);
      // Gather the chunk from whichever sources it spans, skipping holes.
      const holes: Array<[number, number]> = [];
      for (const s of sources) {
        const a = Math.max(pos, s.start);
        const b = Math.min(pos + len, s.start + s.view.size);
        if (a >= b) continue;
        const status = await s.view.blockStatus(a - s.start, b - a);
        for (const e of status) {
          const at = e.offset + s.start - pos;
          if (e.zero) {
            holes.push([at, e.length]);
            // not read: the reused buffer must hold zeros there
            buf.fill(0, at, at + e.length);
          }
          else await s.view.read(buf.subarray(at, at + e.length), e.offset);
        }
      }
      if (inOrder) await turn;
      const o = out!;
      const isHole = (a: number, n: number) => {
        for (const [h, l] of holes) if (h <= a && a + n <= h + l) return true;
        return false;
      };
      if (compress) {
        for (let a = 0; a < len; a += unit) {
          const n = Math.min(unit, len - a);
          const piece = buf.subarray(a, a + n);
          if (isHole(a, n) || isZero(piece)) {
            if (!fresh) await o.writeZeroes(pos + a, n, true);
            continue;
          }
          const full = n === unit ? piece : (() => { const f = new Uint8Array(unit); f.set(piece); return f; })();
          const packed = await pool!.compress(full);
          await o.writeCompressed!(piece, pos + a, packed ?? null);
        }
      } else {
        const g = sparse > 0 ? Math.max(512, sparse) : len;
        let runStart = -1;
        const flushRun = async (end: number) => {
          if (runStart >= 0) await o.write(buf.subarray(runStart, end), pos + runStart);
          runStart = -1;
        };
        for (let a = 0; a < len; a += g) {
          const n = Math.min(g, len - a);
          // (a block whose first word is not zero is data: one load decides most of them)
          const zero = sparse > 0 && (isHole(a, n) || ((a & 3 || words[a >>> 2] === 0) && isZeroRange(buf, words, a, a + n)));
          if (zero) {
            await flushRun(a);
            if (!fresh) await o.writeZeroes(pos + a, n, false);
          } else if (runStart < 0) runStart = a;
        }
        await flushRun(len);
      }
      done += len;
      report();
    };
    let lastWrite = Promise.resolve();
    const worker = async () => {
      // one buffer per task for the whole run: a fresh 2 MiB buffer per chunk costs the
      // allocation and its page faults every time
      const whole = new Uint8Array(chunk);
      const words = new Int32Array(whole.buffer, 0, chunk >>> 2);
      while (next < total) {
        const pos = next;
        next += chunk;
        // this chunk's writes wait for the previous chunk's (when in order)
        const previous = lastWrite;
        let mine!: () => void;
        lastWrite = new Promise((resolve) => (mine = resolve));
        try {
          await step(pos, whole, words, previous);
        } finally {
          mine();
        }
      }
    };
    await Promise.all(Array.from({ length: tasks }, worker));
    await out.flush();
    if (progress) io.out(`    (100.00/100%)\n`);
    return 0;
  } finally {
    await pool?.close();
    await out?.close();
    for (const s of sources) {
      if (s.view !== s.img) await s.view.close();
      await s.img.close();
    }
  }
}
