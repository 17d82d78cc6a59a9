/**
 * Split virtqueues (virtio 1.2, 2.7) as a device reads them from guest RAM, with the
 * checks a device owes a hostile or broken driver: ring and buffer addresses inside RAM,
 * descriptor indices inside the table, no loops, chains no longer than the queue (and an
 * indirect table no longer than its own length), no nested indirect tables, device-
 * writable buffers only after the device-readable ones. A broken chain is a
 * VirtqueueError; the device then stops using the queue and asks for a reset, as QEMU's
 * virtio_error does.
 *
 * Layout (legacy alignment rules do not apply to the modern transport):
 *   descriptor table  16 bytes each: addr u64, len u32, flags u16, next u16
 *   driver (avail)    flags u16, idx u16, ring[size] u16, used_event u16
 *   device (used)     flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16
 * Indices are free-running u16. The used index is stored with Atomics after the element
 * it publishes, so a driver on another thread sees the element first.
 */
import type { GuestMemory } from '../guest-memory.js';

export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
export const VRING_USED_F_NO_NOTIFY = 1;

/** Most entries an indirect table may have (Linux uses at most seg_max + 2). */
export const MAX_INDIRECT = 1024;

export class VirtqueueError extends Error {}

/** A guest buffer of a chain. */
export interface Segment {
  gpa: number;
  len: number;
}

export interface Chain {
  head: number;
  /** Device-readable buffers, in order. */
  readable: Segment[];
  /** Device-writable buffers, in order (after all readable ones). */
  writable: Segment[];
  readableBytes: number;
  writableBytes: number;
}

export class SplitQueue {
  private readonly descOff: number;
  private readonly availOff: number;
  private readonly usedOff: number;

  constructor(
    readonly mem: GuestMemory,
    readonly size: number,
    readonly desc: number,
    readonly driver: number,
    readonly device: number,
  ) {
    if (!Number.isInteger(size) || size < 1 || size > 32768) throw new VirtqueueError(`invalid queue size ${size}`);
    if (desc % 16 !== 0 || driver % 2 !== 0 || device % 4 !== 0) throw new VirtqueueError('misaligned ring');
    const check = (gpa: number, len: number, what: string) => {
      if (!mem.contains(gpa, len)) throw new VirtqueueError(`${what} at 0x${gpa.toString(16)} (+${len}) is outside RAM`);
      return gpa - mem.base;
    };
    this.descOff = check(desc, 16 * size, 'descriptor table');
    this.availOff = check(driver, 6 + 2 * size, 'driver area');
    this.usedOff = check(device, 6 + 8 * size, 'device area');
  }

  /** The driver's available index. */
  availIdx(): number {
    return Atomics.load(this.mem.u16, (this.availOff + 2) >> 1);
  }

  availFlags(): number {
    return Atomics.load(this.mem.u16, this.availOff >> 1);
  }

  /** The head the driver put at available-ring position `idx` (free-running). */
  availHead(idx: number): number {
    const head = this.mem.view.getUint16(this.availOff + 4 + 2 * (idx % this.size), true);
    if (head >= this.size) throw new VirtqueueError(`available ring names descriptor ${head} of ${this.size}`);
    return head;
  }

  usedIdx(): number {
    return Atomics.load(this.mem.u16, (this.usedOff + 2) >> 1);
  }

  /** Writes used element `idx` (free-running), not yet published. */
  writeUsed(idx: number, head: number, len: number): void {
    const o = this.usedOff + 4 + 8 * (idx % this.size);
    this.mem.view.setUint32(o, head, true);
    this.mem.view.setUint32(o + 4, len, true);
  }

  /** Publishes used elements up to `idx` (exclusive, free-running u16). */
  publishUsed(idx: number): void {
    Atomics.store(this.mem.u16, (this.usedOff + 2) >> 1, idx & 0xffff);
  }

  /** Tells the driver not to notify (or to notify again). */
  setNoNotify(on: boolean): void {
    Atomics.store(this.mem.u16, this.usedOff >> 1, on ? VRING_USED_F_NO_NOTIFY : 0);
  }

  /** Reads and checks the chain starting at `head`. */
  readChain(head: number, indirectAllowed = true): Chain {
    if (!Number.isInteger(head) || head < 0 || head >= this.size) throw new VirtqueueError(`chain head ${head} out of range`);
    const chain: Chain = { head, readable: [], writable: [], readableBytes: 0, writableBytes: 0 };
    const v = this.mem.view;
    let tableOff = this.descOff;
    let tableLen = this.size;
    let i = head;
    let steps = 0;
    let limit = this.size;
    let indirect = false;
    for (;;) {
      if (++steps > limit) throw new VirtqueueError(`descriptor chain from ${head} is longer than ${limit} (a loop?)`);
      const d = tableOff + 16 * i;
      const addr = Number(v.getBigUint64(d, true));
      const len = v.getUint32(d + 8, true);
      const flags = v.getUint16(d + 12, true);
      const next = v.getUint16(d + 14, true);
      if (flags & VRING_DESC_F_INDIRECT) {
        if (!indirectAllowed) throw new VirtqueueError('indirect descriptor without VIRTIO_F_INDIRECT_DESC');
        if (indirect) throw new VirtqueueError('nested indirect descriptor table');
        if (flags & VRING_DESC_F_NEXT) throw new VirtqueueError('indirect descriptor with NEXT');
        if (steps !== 1) throw new VirtqueueError('indirect descriptor inside a chain');
        if (len === 0 || len % 16 !== 0) throw new VirtqueueError(`indirect table length ${len} is not a multiple of 16`);
        if (len / 16 > MAX_INDIRECT) throw new VirtqueueError(`indirect table of ${len / 16} entries (at most ${MAX_INDIRECT})`);
        if (!this.mem.contains(addr, len)) throw new VirtqueueError(`indirect table at 0x${addr.toString(16)} (+${len}) is outside RAM`);
        indirect = true;
        tableOff = addr - this.mem.base;
        tableLen = len / 16;
        limit = tableLen;
        steps = 0;
        i = 0;
        continue;
      }
      if (!this.mem.contains(addr, len)) throw new VirtqueueError(`buffer at 0x${addr.toString(16)} (+${len}) is outside RAM`);
      if (flags & VRING_DESC_F_WRITE) {
        chain.writable.push({ gpa: addr, len });
        chain.writableBytes += len;
      } else {
        if (chain.writable.length > 0) throw new VirtqueueError('device-readable buffer after a device-writable one');
        chain.readable.push({ gpa: addr, len });
        chain.readableBytes += len;
      }
      if (chain.readableBytes + chain.writableBytes > 0xffffffff) throw new VirtqueueError('chain longer than 4 GiB');
      if (!(flags & VRING_DESC_F_NEXT)) return chain;
      if (next >= tableLen) throw new VirtqueueError(`descriptor ${i} links to ${next}, outside its table of ${tableLen}`);
      i = next;
    }
  }
}

/** Copies `len` bytes starting `skip` bytes into the segments out of guest RAM. */
export function gather(mem: GuestMemory, segs: readonly Segment[], skip: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let got = 0;
  for (const s of segs) {
    if (got === len) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, len - got);
    out.set(mem.slice(s.gpa + skip, n), got);
    got += n;
    skip = 0;
  }
  if (got < len) throw new VirtqueueError(`chain holds ${got} bytes, ${len} needed`);
  return out;
}

/** The segments covering [skip, skip+len) of a segment list (for I/O straight to RAM). */
export function subSegments(segs: readonly Segment[], skip: number, len: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    if (len === 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, len);
    if (n > 0) out.push({ gpa: s.gpa + skip, len: n });
    len -= n;
    skip = 0;
  }
  if (len > 0) throw new VirtqueueError('chain shorter than the request');
  return out;
}
