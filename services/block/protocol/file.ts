/**
 * The `file` protocol: an image's bytes in a host file.
 * Reads: short ones the page cache holds at once on this thread (preadCached), the rest
 * through libuv's pool (fs.read on the handle's fd: the callback API costs about half of
 * what FileHandle.read does per request). Writes: a writeback file's go through a native
 * thread of its own in call order (see writeInOrder); cache=writethrough|none|directsync
 * write through the pool and fdatasync after each. cache=none/directsync would be O_DIRECT
 * in QEMU; Node cannot align buffers for it, so those modes flush after every write
 * instead (as honest as O_DSYNC, never less). Flush is fsync.
 */

import { open, type FileHandle } from 'node:fs/promises';
import { constants, read as fsRead, write as fsWrite } from 'node:fs';
import { BlockError, type BlockProtocol } from '../format/types.js';
import { native, type NativeFileWriter } from '../../common/native.js';
import { strerrorOf } from '../../common/errno.js';

/**
 * Reads of at most this many bytes first try the page cache on this thread (native
 * preadCached: never waits for the disk); longer ones, and whatever is not cached, go to
 * libuv's thread pool. TSEMU_FILE_CACHED_READ=0 sends every read to the pool.
 */
const CACHED_READ_MAX = 64 << 10;
let preadCached: ((fd: number, bytes: Uint8Array, offset: number) => number) | null | undefined;

function cachedReader(): typeof preadCached {
  if (preadCached === undefined) {
    try {
      preadCached = process.env.TSEMU_FILE_CACHED_READ === '0' ? null : native().preadCached;
    } catch {
      preadCached = null; // the addon is not built: the pool does it all
    }
  }
  return preadCached;
}

function readAt(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, buf, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
}

function writeAt(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, buf, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
}

export interface FileOpenOptions {
  readOnly?: boolean;
  /** Create the file (truncating it) if true. */
  create?: boolean;
  /** Flush after every write (cache=writethrough|none|directsync). */
  writeThrough?: boolean;
  /** cache=unsafe: flushes do nothing (qemu-img convert's default for its output). */
  unsafe?: boolean;
}

/** An errno name from a Node error, for BlockError. */
export function errnoOf(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO';
}

export class FileProtocol implements BlockProtocol {
  readonly driver = 'file';
  private closed = false;
  /** Set by writeInOrder(): writes go through a native thread, in the order they were called. */
  private writer: NativeFileWriter | null = null;
  /** The last write given to the writer (they complete in order): settled means all are. */
  private writerTail: Promise<unknown> = Promise.resolve();
  /** Set once the writer could not start: the pool it is. */
  private writerOff = false;

  private constructor(
    readonly filename: string,
    private readonly fh: FileHandle,
    readonly readOnly: boolean,
    private readonly writeThrough: boolean,
    private readonly unsafe = false,
  ) {}

  static async open(filename: string, opts: FileOpenOptions = {}): Promise<FileProtocol> {
    const readOnly = !!opts.readOnly;
    let flags = readOnly ? constants.O_RDONLY : constants.O_RDWR;
    if (opts.create) flags |= constants.O_CREAT | constants.O_TRUNC;
    try {
      const fh = await open(filename, flags, 0o644);
      const st = await fh.stat();
      if (st.isDirectory()) {
        await fh.close();
        throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      }
      return new FileProtocol(filename, fh, readOnly, !!opts.writeThrough, !!opts.unsafe);
    } catch (e) {
      const code = errnoOf(e);
      throw new BlockError(`Could not open '${filename}': ${strerrorOf(code, (e as Error).message)}`, code);
    }
  }

  get fd(): number | undefined {
    return this.closed ? undefined : this.fh.fd;
  }

  private check(write: boolean): void {
    if (this.closed) throw new BlockError(`'${this.filename}' is closed`, 'EBADF');
    if (write && this.readOnly) throw new BlockError(`'${this.filename}' is opened read-only`, 'EROFS');
  }

  private fail(what: string, e: unknown): never {
    if (e instanceof BlockError) throw e;
    const code = errnoOf(e);
    throw new BlockError(`${what} '${this.filename}': ${strerrorOf(code, (e as Error).message)}`, code);
  }

  async size(): Promise<number> {
    this.check(false);
    try {
      return (await this.fh.stat()).size;
    } catch (e) {
      this.fail('Could not stat', e);
    }
  }

  async allocatedSize(): Promise<number | undefined> {
    this.check(false);
    try {
      const st = await this.fh.stat();
      return st.blocks * 512;
    } catch {
      return undefined;
    }
  }

  async pread(buf: Uint8Array, offset: number): Promise<void> {
    this.check(false);
    try {
      let done = 0;
      const cached = buf.length <= CACHED_READ_MAX ? cachedReader() : null;
      if (cached) {
        while (done < buf.length) {
          const n = cached(this.fh.fd, done ? buf.subarray(done) : buf, offset + done);
          if (n < 0) break;
          if (n === 0) {
            buf.fill(0, done);
            return;
          }
          done += n;
        }
      }
      while (done < buf.length) {
        const bytesRead = await readAt(this.fh.fd, buf, done, buf.length - done, offset + done);
        if (bytesRead === 0) {
          buf.fill(0, done);
          return;
        }
        done += bytesRead;
      }
    } catch (e) {
      this.fail('Could not read', e);
    }
  }

  /**
   * Writes are issued from one native thread, in the order pwrite was called: each starts
   * in the kernel as soon as the one before it returned, with no event-loop turn in between
   * (a bulk copy such as convert queues its chunks ahead and keeps the disk busy), and
   * completions come back in batches (a 4 KiB write costs about half of a pool write's
   * hand-off). The first write of a writeback file turns it on; cache modes that flush after
   * every write keep the pool. Returns false where that is not available (the addon
   * missing, TSEMU_FILE_WRITER=0), and writes go through the pool.
   */
  writeInOrder(): boolean {
    this.check(true);
    if (this.writer) return true;
    if (this.writerOff || this.writeThrough || process.env.TSEMU_FILE_WRITER === '0') return false;
    try {
      this.writer = new (native().FileWriter)(this.fh.fd);
    } catch {
      this.writerOff = true;
      return false;
    }
    return true;
  }

  async pwrite(buf: Uint8Array, offset: number): Promise<void> {
    this.check(true);
    if (this.writer || this.writeInOrder()) {
      const p = this.writer!.write(buf, offset);
      this.writerTail = p.catch(() => {});
      try {
        await p;
      } catch (e) {
        this.fail('Could not write', e);
      }
      return;
    }
    try {
      let done = 0;
      while (done < buf.length) {
        const bytesWritten = await writeAt(this.fh.fd, buf, done, buf.length - done, offset + done);
        if (bytesWritten === 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
        done += bytesWritten;
      }
      if (this.writeThrough) await this.fh.datasync();
    } catch (e) {
      this.fail('Could not write', e);
    }
  }

  async flush(): Promise<void> {
    this.check(false);
    if (this.readOnly || this.unsafe) return;
    try {
      await this.fh.sync();
    } catch (e) {
      this.fail('Could not flush', e);
    }
  }

  async truncate(size: number): Promise<void> {
    this.check(true);
    // after the writes queued before it (one landing past a shrunk end would grow the file again)
    await this.writerTail;
    try {
      await this.fh.truncate(size);
    } catch (e) {
      this.fail('Could not resize', e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writer) {
      await this.writerTail;
      this.writer.close();
      this.writer = null;
    }
    await this.fh.close();
  }
}
