/**
 * The native addon (native/), loaded once per thread. Its build is part of `npm install`.
 * Everything here is low level: use shm.ts and futex.ts instead.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeShm {
  fd: number;
  size: number;
  buffer: SharedArrayBuffer;
}

export type FutexResult = 'ok' | 'not-equal' | 'timed-out';

/** native/src/socket-writer.cc: a connection's output sent in order from a thread of its own. */
export interface NativeSocketWriter {
  /** Queues `bytes` (copied), then `length` bytes of file `fd` from `offset` (fd -1: zeros); returns the queued cost. */
  send(bytes: Uint8Array, fd?: number, offset?: number, length?: number): number;
  /** One 'below' event once the queued cost is at most `limit`. */
  notifyBelow(limit: number): void;
  /** Stops the thread now (what is queued is dropped); a 'closed' event follows. */
  close(): void;
  readonly queued: number;
}

export type SocketWriterEvent = 'below' | 'error' | 'closed';

/** native/src/file-writer.cc: positional writes to one file from a thread of its own, in the order given. */
export interface NativeFileWriter {
  /** Queues a pwrite of `bytes` (not copied: unchanged until the promise settles) at `offset`. */
  write(bytes: Uint8Array, offset: number): Promise<void>;
  /** Waits for the queue to drain, then ends the thread. */
  close(): void;
}

export interface NativeAddon {
  SocketWriter: new (fd: number, onEvent: (kind: SocketWriterEvent, message?: string) => void, sndbuf?: number) => NativeSocketWriter;
  FileWriter: new (fd: number) => NativeFileWriter;
  /** native/src/file-read.cc: what the page cache holds, read at once (-1: not cached, read through the pool). */
  preadCached(fd: number, bytes: Uint8Array, offset: number): number;
  /** `size` zero bytes at a page-aligned address (see alignedBuffer below). */
  alignedBuffer(size: number): ArrayBuffer;
  shmCreate(size: number, name?: string | null, reserve?: boolean): NativeShm;
  shmOpen(target: number | string, expectSize?: number): NativeShm;
  shmUnlink(name: string): void;
  closeFd(fd: number): void;
  futexWait(arr: Int32Array, index: number, expected: number, timeoutMs?: number): FutexResult;
  futexWake(arr: Int32Array, index: number, count?: number): number;
  futexWaitAsync(arr: Int32Array, index: number, expected: number, timeoutMs?: number): Promise<FutexResult>;
  setParentDeathSignal(signal: number): number;
  gettid(): number;
  schedYield(): void;
}

/** The repository root, found from this file whether it runs from source or from dist/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('tsemu: cannot find the project root');
    dir = up;
  }
  return dir;
}

let loaded: NativeAddon | undefined;

export function native(): NativeAddon {
  if (loaded) return loaded;
  const path = join(projectRoot(), 'native/build/Release/tsemu_native.node');
  if (!existsSync(path)) {
    throw new Error(`tsemu: the native addon is not built (${path}); run npm install`);
  }
  const require = createRequire(import.meta.url);
  loaded = require(path) as NativeAddon;
  return loaded;
}

/**
 * A zeroed buffer for bulk I/O at a page-aligned address, from the addon where it is built
 * (else an ordinary one). A large Uint8Array starts 16 bytes into a page, and the kernel's
 * copy into such memory (read, recv) runs at about half speed on some CPUs (rep movsb on
 * AMD EPYC: 512 MiB of pread into it took 75 ms, into an aligned buffer 40 ms).
 */
export function alignedBuffer(size: number): Uint8Array {
  if (size >= 65536) {
    try {
      return new Uint8Array(native().alignedBuffer(size));
    } catch {
      // (no addon: an ordinary buffer)
    }
  }
  return new Uint8Array(size);
}
