/**
 * A write-back cache of metadata clusters (L2 tables, refcount blocks), as QEMU's
 * Qcow2Cache: tables are read once, changed in memory, and written back on flush or
 * eviction. Crash safety comes from dependencies: before a cache writes any table it
 * writes back the cache it depends on and flushes the protocol, so
 *   - a refcount increment is on disk before an L2 entry that uses the cluster, and
 *   - an L2 entry that drops a cluster is on disk before the refcount that frees it.
 * A crash then leaves at worst clusters with a refcount and no user (leaks).
 */
import type { BlockProtocol } from '../types.js';
import { Mutex } from '../mutex.js';

interface Entry {
  buf: Uint8Array;
  dirty: boolean;
}

export class MetadataCache {
  private readonly entries = new Map<number, Entry>();
  private dependency: MetadataCache | undefined;
  /** When false (lazy refcounts, cache=unsafe), no ordering flushes are issued. */
  ordered = true;
  /**
   * Write-back runs one at a time: readers share the image lock, and two of them evicting
   * at once must not let a table overtake the dependency write the other one started.
   */
  private readonly writeback = new Mutex();

  constructor(
    private readonly protocol: BlockProtocol,
    private readonly clusterSize: number,
    private readonly capacity: number,
    /** Called with a table's offset and bytes before they are written (overlap checks). */
    private readonly beforeWrite?: (offset: number) => void,
  ) {}

  /** The table at `offset`, read from the protocol when not cached. Keep no reference across awaits that may evict. */
  async get(offset: number): Promise<Uint8Array> {
    const hit = this.entries.get(offset);
    if (hit) {
      // Map order is LRU order: move to the back.
      this.entries.delete(offset);
      this.entries.set(offset, hit);
      return hit.buf;
    }
    const buf = new Uint8Array(this.clusterSize);
    await this.protocol.pread(buf, offset);
    await this.makeRoom();
    const raced = this.entries.get(offset);
    if (raced) return raced.buf;
    this.entries.set(offset, { buf, dirty: false });
    return buf;
  }

  /** Puts a new table (zeroed or copied) in the cache, dirty, without reading. */
  async install(offset: number, buf: Uint8Array): Promise<Uint8Array> {
    await this.makeRoom();
    this.entries.set(offset, { buf, dirty: true });
    return buf;
  }

  markDirty(offset: number): void {
    const e = this.entries.get(offset);
    if (e) e.dirty = true;
  }

  /** Forgets a table (it was freed); its pending changes are dropped. */
  drop(offset: number): void {
    this.entries.delete(offset);
  }

  /** Forgets clean and dirty tables alike (after an apply that rewrote them on disk). */
  clear(): void {
    this.entries.clear();
  }

  /**
   * Makes this cache write back `other` (and flush) before any of its own tables. If
   * `other` already waits for this cache, that order is honoured first: this cache is
   * written now, so the two orders never mix.
   */
  async dependOn(other: MetadataCache): Promise<void> {
    if (other === this || this.dependency === other) return;
    if (other.dependency === this) {
      await this.flush();
      if (this.ordered) await this.protocol.flush();
      other.dependency = undefined;
    }
    this.dependency = other;
  }

  hasDirty(): boolean {
    for (const e of this.entries.values()) if (e.dirty) return true;
    return false;
  }

  private async writeDependency(): Promise<void> {
    const dep = this.dependency;
    if (!dep) return;
    this.dependency = undefined;
    if (dep.hasDirty()) {
      await dep.flush();
      if (this.ordered) await this.protocol.flush();
    }
  }

  private writeEntry(offset: number, e: Entry): Promise<void> {
    if (!e.dirty) return Promise.resolve();
    return this.writeback.run(async () => {
      if (!e.dirty) return;
      await this.writeDependency();
      this.beforeWrite?.(offset);
      e.dirty = false;
      await this.protocol.pwrite(e.buf, offset);
    });
  }

  /** Writes one table back now (a new L2 table before the L1 entry that points to it). */
  async flushOne(offset: number): Promise<void> {
    const e = this.entries.get(offset);
    if (e) await this.writeEntry(offset, e);
  }

  /** Writes back every dirty table (no protocol flush: the caller orders that). */
  async flush(): Promise<void> {
    await this.writeDependency();
    for (const [offset, e] of [...this.entries]) await this.writeEntry(offset, e);
  }

  /** Evicts the least recently used clean table, or writes back the oldest dirty one when all are dirty. */
  private async makeRoom(): Promise<void> {
    while (this.entries.size >= this.capacity) {
      let victim: [number, Entry] | undefined;
      for (const kv of this.entries) if (!kv[1].dirty) { victim = kv; break; }
      victim ??= this.entries.entries().next().value as [number, Entry];
      const [offset, e] = victim;
      await this.writeEntry(offset, e);
      if (this.entries.get(offset) === e && !e.dirty) this.entries.delete(offset);
    }
  }
}
