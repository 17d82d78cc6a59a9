/**
 * Shared memory objects: guest RAM, device register files and rings live in these.
 *
 * An object is created by one process (usually the machine) and mapped by others as a
 * SharedArrayBuffer over the same pages. Anonymous objects (memfd, the default) vanish
 * when the last process lets go of them, so nothing is left behind after a crash; other
 * processes reach them through `path` (`/proc/<pid>/fd/<n>`) or an inherited fd. Named
 * objects (`/dev/shm/<name>`) outlive their creator until unlinked.
 */
import { native } from './native.js';

export interface CreateOptions {
  /** A POSIX shm name ("/tsemu-vm1-ram"); omitted: an anonymous memfd. */
  name?: string;
  /** Allocate every page now (default true): a full /dev/shm fails here, not later with SIGBUS. */
  reserve?: boolean;
}

export interface OpenOptions {
  /** Fail unless the object has exactly this many bytes. */
  size?: number;
}

export class SharedMemory {
  private closed = false;

  private constructor(
    /** The mapping; stays valid after close() while JS holds references to it. */
    readonly buffer: SharedArrayBuffer,
    /** The fd this process holds, until close(). Hand it to a child at spawn. */
    readonly fd: number,
    readonly size: number,
    /** The shm name when the object is named. */
    readonly name: string | undefined,
  ) {}

  static create(size: number, options: CreateOptions = {}): SharedMemory {
    const r = native().shmCreate(size, options.name ?? null, options.reserve ?? true);
    return new SharedMemory(r.buffer, r.fd, r.size, options.name);
  }

  /** Opens an object by fd, by path (`/proc/<pid>/fd/<n>`, `/dev/shm/x`) or by `/name`. */
  static open(target: number | string, options: OpenOptions = {}): SharedMemory {
    const r = native().shmOpen(target, options.size);
    const name = typeof target === 'string' && /^\/[^/]+$/.test(target) ? target : undefined;
    return new SharedMemory(r.buffer, r.fd, r.size, name);
  }

  /** A path another process on this host can open while this one holds the object. */
  get path(): string {
    return this.name ? `/dev/shm${this.name}` : `/proc/${process.pid}/fd/${this.fd}`;
  }

  /** Drops this process's fd; the mapping lives on until the buffer is collected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().closeFd(this.fd);
  }

  /** Removes a named object's name; the pages go when the last mapping does. */
  unlink(): void {
    if (this.name) native().shmUnlink(this.name);
  }
}
