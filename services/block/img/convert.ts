/**
 * `tsemu-img convert [-c] [-p] [-n] [-f fmt] [-O fmt] [-o options] [-l snapshot] [-S sparse] [-m n]
 *   filename [filename2 ...] output_filename`
 *
 * Sources are concatenated. Work goes in chunks to `-m` concurrent tasks; ranges the source
 * reports as holes or zeros, and blocks of `-S` bytes that read as zeros, are not written to
 * a new target (it reads as zeros already). `-c` deflates clusters on a worker-thread pool.
 * As qemu-img, the chunks are written in order, one at a time, while the tasks read ahead;
 * `-W` lets them write as they come. A raw file target takes its writes through a native
 * writer thread, in the order they are queued: a task queues its chunk as soon as the one
 * before it is queued (not written), so the writes run back to back in the kernel. In order, a qcow2 target is laid out as its source
 * and writers do not contend for the target file (on two cores that is worth 10-15%).
 */
import { createImage } from '../format/create.js';
import type { BlockExtent, BlockImage } from '../format/types.js';
import { isZero, isZeroRange } from '../format/qcow2/entries.js';
import { has, last, parseArgs, parseOptionList } from './args.js';
import { CommandError, open, type Out } from './common.js';
import type { DeflatePool } from './deflate-pool.js';
import { parseSize } from './sizes.js';
import { CACHE_MODES } from '../protocol/registry.js';
import { alignedBuffer } from '../../common/native.js';

interface Source {
  img: BlockImage;
  view: BlockImage;
  start: number;
  status: StatusCache;
}

/** How far ahead one block status query looks (qemu-img asks for up to the end, in 2 GiB steps). */
const STATUS_WINDOW = 1 << 30;

/**
 * Block status for the chunks of one source, asked once per window instead of once per
 * chunk, as qemu-img does: a raw NBD source costs one NBD_CMD_BLOCK_STATUS round trip for
 * the whole window (the server reports one extent for a fully allocated export) rather than
 * one before every read. Tasks asking inside a window still being fetched share its query.
 */
class StatusCache {
  private windows: Array<{ start: number; end: number; extents: Promise<BlockExtent[]> }> = [];

  constructor(private readonly view: BlockImage) {}

  /** The extents of [a, b), clipped to it. */
  async get(a: number, b: number): Promise<BlockExtent[]> {
    for (const w of this.windows) {
      if (w.start <= a && a < w.end) {
        const extents = await w.extents;
        const covered = extents.length ? Math.min(w.end, extents[extents.length - 1]!.offset + extents[extents.length - 1]!.length) : w.start;
        // (a source that answered for less than the window is asked again from here)
        if (b <= covered) return clip(extents, a, b);
      }
    }
    const end = Math.min(this.view.size, a + Math.max(STATUS_WINDOW, b - a));
    const w = { start: a, end, extents: this.view.blockStatus(a, end - a) };
    this.windows.push(w);
    if (this.windows.length > 4) this.windows.shift();
    const extents = await w.extents;
    return clip(extents, a, b);
  }
}

function clip(extents: BlockExtent[], a: number, b: number): BlockExtent[] {
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = extents[mid]!;
    if (e.offset + e.length <= a) lo = mid + 1;
    else hi = mid;
  }
  const out: BlockExtent[] = [];
  for (let i = lo; i < extents.length; i++) {
    const e = extents[i]!;
    if (e.offset >= b) break;
    const s = Math.max(a, e.offset);
    const t = Math.min(b, e.offset + e.length);
    out.push(s === e.offset && t === e.offset + e.length ? e : { ...e, offset: s, length: t - s, hostOffset: e.hostOffset === undefined ? undefined : e.hostOffset + (s - e.offset) });
  }
  return out;
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
      sources.push({ img, view, start: total, status: new StatusCache(view) });
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
    // Raw writes go to the file protocol as they are called: with the writer thread keeping
    // their order, a chunk's turn comes once the chunk before it is queued.
    const queued = inOrder && !compress && out.format === 'raw' && out.protocol.writeInOrder?.() === true;
    const step = async (pos: number, whole: Uint8Array, words: Int32Array, turn: Promise<void>, myTurnDone: () => void): Promise<void> => {
      const len = Math.min(chunk, total - pos);
      const buf = whole.subarray(0, len);
      // Gather the chunk from whichever sources it spans, skipping holes.
      const holes: Array<[number, number]> = [];
      for (const s of sources) {
        const a = Math.max(pos, s.start);
        const b = Math.min(pos + len, s.start + s.view.size);
        if (a >= b) continue;
        const status = await s.status.get(a - s.start, b - s.start);
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
        const writes: Promise<void>[] = [];
        const flushRun = async (end: number) => {
          if (runStart >= 0) {
            const w = o.write(buf.subarray(runStart, end), pos + runStart);
            if (queued) {
              w.catch(() => {}); // (awaited below; this only keeps an early failure handled)
              writes.push(w);
            } else await w;
          }
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
        if (queued) {
          // the next chunk may queue its writes now; this task's buffer is free once they are done
          myTurnDone();
          await Promise.all(writes);
        }
      }
      done += len;
      report();
    };
    let lastWrite = Promise.resolve();
    const worker = async () => {
      // one buffer per task for the whole run: a fresh 2 MiB buffer per chunk costs the
      // allocation and its page faults every time
      // (page-aligned: the kernel copies into it at full speed; see alignedBuffer)
      if (next >= total) return; // (no chunk left for this task: a small image needs fewer buffers)
      const whole = alignedBuffer(chunk);
      const words = new Int32Array(whole.buffer, 0, chunk >>> 2);
      while (next < total) {
        const pos = next;
        next += chunk;
        // this chunk's writes wait for the previous chunk's (when in order)
        const previous = lastWrite;
        let mine!: () => void;
        lastWrite = new Promise((resolve) => (mine = resolve));
        try {
          await step(pos, whole, words, previous, mine);
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
    // The target and the sources close at once (an NBD source's disconnect need not wait for
    // the target's file close); the first failure, in this order, is the one reported.
    const closing = [
      out?.close(),
      ...sources.map(async (s) => {
        if (s.view !== s.img) await s.view.close();
        await s.img.close();
      }),
    ];
    for (const r of await Promise.allSettled(closing)) if (r.status === 'rejected') throw r.reason;
  }
}
