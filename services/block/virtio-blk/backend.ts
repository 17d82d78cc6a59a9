/**
 * The virtio-blk device backend (virtio 1.2, 5.2): it serves the queues of a virtio-pci
 * function whose register file the machine keeps in shared memory
 * (services/common/virtio/pci-state.ts), reading the split rings and the data buffers
 * straight from guest RAM and doing the I/O through a BlockImage.
 *
 * Offered: VERSION_1, INDIRECT_DESC, SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES, MQ
 * (with more than one queue) and RO (read-only images). Requests: IN, OUT, FLUSH, GET_ID,
 * DISCARD, WRITE_ZEROES; anything else is UNSUPP. Sector ranges past the end, data not a
 * multiple of 512 bytes and format errors are IOERR, as QEMU reports them.
 *
 * Requests run concurrently (each is a promise); a completion goes to the used ring in the
 * order it finishes. A failure of the image follows QEMU's werror/rerror policy: `report`
 * completes it with IOERR, `ignore` as done, `stop` keeps it and asks the machine to stop the
 * VM (run state io-error) until `cont`, after which the request is tried again; `enospc`
 * (werror's default) stops on ENOSPC and reports anything else. Each such failure is told to
 * the machine through the function's IOERR words (pci-state.ts) for QMP's BLOCK_IO_ERROR. In-flight heads are marked in shared memory, so a backend that
 * replaces a dead one finishes what it left: see `recover` and pci-state.ts.
 */
import { constants } from 'node:os';
import { wake, waitAsync } from '../../common/futex.js';
import type { GuestMemory } from '../../common/guest-memory.js';
import { logger } from '../../common/log.js';
import { FN, ISR_CONFIG, ISR_QUEUE, Q, STATUS, VirtioFnState, F_INDIRECT_DESC, F_VERSION_1, packIoError, type IoErrorAction } from '../../common/virtio/pci-state.js';
import { gather, SplitQueue, subSegments, VirtqueueError, VRING_AVAIL_F_NO_INTERRUPT, type Chain } from '../../common/virtio/split-queue.js';
import type { BlockImage } from '../format/types.js';

const log = logger('block');

export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_MQ = 12;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

const SECTOR = 512;
const e2ns = (t0: bigint) => Number(process.hrtime.bigint() - t0);
const ID_BYTES = 20;
/** Per discard / write-zeroes request: sectors and segments (QEMU's defaults). */
export const MAX_DISCARD_SECTORS = 0x3fffff;
export const MAX_DISCARD_SEG = 1;
/** Bytes of struct virtio_blk_config we fill (through write_zeroes_may_unmap and padding). */
export const BLK_CONFIG_LEN = 0x3c;

/** QEMU's -drive werror= / rerror= actions (BlockdevOnError). */
export type ErrorPolicy = 'ignore' | 'report' | 'stop' | 'enospc';
export const ERROR_POLICIES: readonly ErrorPolicy[] = ['ignore', 'report', 'stop', 'enospc'];

export interface VirtioBlkOptions {
  /** GET_ID's answer (-drive serial=); at most 20 bytes are returned. */
  serial?: string;
  /** On write, flush, discard and write-zeroes failures; QEMU's default: enospc. */
  werror?: ErrorPolicy;
  /** On read failures; QEMU's default: report. */
  rerror?: ErrorPolicy;
}

class RequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface LiveQueue {
  index: number;
  ring: SplitQueue;
  w: Int32Array;
  inflight: Uint8Array;
  broken: boolean;
}

export class VirtioBlkBackend {
  private stopped = false;
  private running: Promise<void> | undefined;
  private queues: (LiveQueue | undefined)[] = [];
  /** Bumped at each device reset: completions of an older generation are dropped. */
  private generation = 0;
  private resetSeq = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly w: Int32Array;
  private readonly serial: Uint8Array;
  private lastError = '';
  private readonly werror: ErrorPolicy;
  private readonly rerror: ErrorPolicy;
  /** Requests an error stopped, waiting for the machine's `cont` (FN.IOERR_RESUME). */
  private stalled: ((go: boolean) => void)[] = [];
  private resumeSeq = 0;
  /** Counters for tests and Query. */
  readonly stats = { requests: 0, redone: 0, errors: 0 };
  /** What QMP's query-blockstats reports (BlockDeviceStats), counted per request. */
  readonly io = {
    rdBytes: 0, wrBytes: 0, unmapBytes: 0,
    rdOps: 0, wrOps: 0, flushOps: 0, unmapOps: 0,
    failedRd: 0, failedWr: 0, failedFlush: 0, failedUnmap: 0,
    invalidRd: 0, invalidWr: 0, invalidFlush: 0, invalidUnmap: 0,
    rdNs: 0, wrNs: 0, flushNs: 0, unmapNs: 0,
    wrHighest: 0,
  };

  constructor(
    private readonly mem: GuestMemory,
    private readonly st: VirtioFnState,
    private readonly irqWord: Int32Array,
    private readonly image: BlockImage,
    opts: VirtioBlkOptions = {},
  ) {
    this.w = st.w;
    this.serial = new TextEncoder().encode(opts.serial ?? '').subarray(0, ID_BYTES);
    this.werror = opts.werror ?? 'enospc';
    this.rerror = opts.rerror ?? 'report';
  }

  /** The features this device offers. */
  features(): bigint {
    const bits = [F_VERSION_1, F_INDIRECT_DESC, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES];
    if (this.st.numQueues() > 1) bits.push(VIRTIO_BLK_F_MQ);
    if (this.image.readOnly) bits.push(VIRTIO_BLK_F_RO);
    return bits.reduce((f, b) => f | (1n << BigInt(b)), 0n);
  }

  /** Fills features and configuration, finishes a dead predecessor's work, and serves. */
  start(): void {
    const w = this.w;
    const f = this.features();
    Atomics.store(w, FN.DEVICE_FEATURES_LO, Number(f & 0xffffffffn) | 0);
    Atomics.store(w, FN.DEVICE_FEATURES_HI, Number(f >> 32n) | 0);
    const c = new DataView(this.st.config.buffer, this.st.config.byteOffset, BLK_CONFIG_LEN);
    const queueMax = Atomics.load(w, FN.QUEUE_MAX);
    c.setBigUint64(0x00, BigInt(Math.floor(this.image.size / SECTOR)), true); // capacity
    c.setUint32(0x0c, queueMax - 2, true); // seg_max: the header and status take two
    c.setUint32(0x14, SECTOR, true); // blk_size
    c.setUint16(0x22, this.st.numQueues(), true); // num_queues
    c.setUint32(0x24, MAX_DISCARD_SECTORS, true);
    c.setUint32(0x28, MAX_DISCARD_SEG, true);
    c.setUint32(0x2c, 1, true); // discard_sector_alignment (in sectors)
    c.setUint32(0x30, MAX_DISCARD_SECTORS, true);
    c.setUint32(0x34, MAX_DISCARD_SEG, true);
    c.setUint8(0x38, 1); // write_zeroes_may_unmap
    Atomics.store(w, FN.CONFIG_LEN, BLK_CONFIG_LEN);
    this.resetSeq = Atomics.load(w, FN.RESET_SEQ);
    this.resumeSeq = Atomics.load(w, FN.IOERR_RESUME);
    if (Atomics.load(w, FN.RESET_ACK) !== this.resetSeq) this.forgetQueues();
    else this.recover();
    Atomics.store(w, FN.BACKEND_READY, 1);
    this.running = this.run();
  }

  state(): string {
    return this.lastError ? `error: ${this.lastError}` : this.stopped ? 'stopped' : 'running';
  }

  /** Stops taking requests and waits for those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    // requests an error stopped stay in flight: a successor backend redoes them
    for (const go of this.stalled.splice(0)) go(false);
    Atomics.add(this.w, FN.NOTIFY_SEQ, 1);
    wake(this.w, FN.NOTIFY_SEQ);
    await this.running;
    await Promise.allSettled([...this.pending]);
  }

  private async run(): Promise<void> {
    const w = this.w;
    while (!this.stopped) {
      const seq = Atomics.load(w, FN.NOTIFY_SEQ);
      try {
        await this.poll();
      } catch (e) {
        log.error('virtio-blk: polling the queues failed', e);
      }
      if (this.stopped) break;
      if (Atomics.load(w, FN.NOTIFY_SEQ) === seq) await waitAsync(w, FN.NOTIFY_SEQ, seq, 1000);
    }
  }

  /** Takes every new request of every enabled queue; handles a device reset. */
  private async poll(): Promise<void> {
    const w = this.w;
    const resume = Atomics.load(w, FN.IOERR_RESUME);
    if (resume !== this.resumeSeq) {
      this.resumeSeq = resume;
      for (const go of this.stalled.splice(0)) go(true);
    }
    const resetSeq = Atomics.load(w, FN.RESET_SEQ);
    if (resetSeq !== this.resetSeq) {
      // the driver reset the device: nothing in flight may write its rings afterwards
      this.generation++;
      for (const go of this.stalled.splice(0)) go(false);
      this.queues = [];
      await Promise.allSettled([...this.pending]);
      this.resetSeq = resetSeq;
      this.lastError = '';
      this.forgetQueues();
      return;
    }
    const status = Atomics.load(w, FN.STATUS);
    if (!(status & STATUS.DRIVER_OK) || status & STATUS.DEVICE_NEEDS_RESET) return;
    Atomics.store(w, FN.NOTIFY_PENDING_LO, 0);
    Atomics.store(w, FN.NOTIFY_PENDING_HI, 0);
    const n = this.st.numQueues();
    for (let i = 0; i < n; i++) {
      const q = this.queues[i] ?? this.open(i);
      if (q && !q.broken) this.take(q);
    }
  }

  /** After a reset: no progress, nothing in flight; tells the transport it is done. */
  private forgetQueues(): void {
    for (let i = 0; i < this.st.numQueues(); i++) {
      const r = this.st.queue(i);
      Atomics.store(r.w, Q.LAST_AVAIL, 0);
      Atomics.store(r.w, Q.USED_IDX, 0);
      Atomics.store(r.w, Q.COMPLETING, 0);
      r.inflight.fill(0);
    }
    Atomics.store(this.w, FN.RESET_ACK, this.resetSeq);
  }

  private open(i: number): LiveQueue | undefined {
    const a = this.st.queueAddrs(i);
    if (!a.enabled) return undefined;
    const r = this.st.queue(i);
    let ring: SplitQueue;
    try {
      ring = new SplitQueue(this.mem, a.size, a.desc, a.driver, a.device);
    } catch (e) {
      this.deviceError(`queue ${i}: ${(e as Error).message}`);
      return undefined;
    }
    const q: LiveQueue = { index: i, ring, w: r.w, inflight: r.inflight, broken: false };
    this.queues[i] = q;
    return q;
  }

  /**
   * A restarted backend: finish a completion the dead one was publishing, forget marks of
   * heads that are still in the available ring (marked but not yet taken), and redo every
   * head still marked in flight. Each request so completes once.
   */
  private recover(): void {
    const status = Atomics.load(this.w, FN.STATUS);
    if (!(status & STATUS.DRIVER_OK)) return;
    for (let i = 0; i < this.st.numQueues(); i++) {
      const q = this.open(i);
      if (!q) continue;
      const used = q.ring.usedIdx();
      const completing = Atomics.load(q.w, Q.COMPLETING);
      if (completing !== 0 && used === ((Atomics.load(q.w, Q.COMPLETING_IDX) + 1) & 0xffff)) q.inflight[completing - 1] = 0;
      Atomics.store(q.w, Q.COMPLETING, 0);
      Atomics.store(q.w, Q.USED_IDX, used);
      const last = Atomics.load(q.w, Q.LAST_AVAIL);
      const avail = q.ring.availIdx();
      try {
        for (let k = last; k !== avail; k = (k + 1) & 0xffff) q.inflight[q.ring.availHead(k)] = 0;
      } catch (e) {
        this.breakQueue(q, e as Error);
        continue;
      }
      for (let head = 0; head < q.ring.size; head++) {
        if (q.inflight[head]) {
          this.stats.redone++;
          this.submit(q, head);
        }
      }
    }
  }

  private take(q: LiveQueue): void {
    const avail = q.ring.availIdx();
    let last = Atomics.load(q.w, Q.LAST_AVAIL);
    if (((avail - last) & 0xffff) > q.ring.size) {
      this.breakQueue(q, new VirtqueueError(`available index ${avail} runs ${(avail - last) & 0xffff} ahead of ${last}`));
      return;
    }
    while (last !== avail) {
      let head: number;
      try {
        head = q.ring.availHead(last);
      } catch (e) {
        this.breakQueue(q, e as Error);
        return;
      }
      if (q.inflight[head]) {
        this.breakQueue(q, new VirtqueueError(`head ${head} made available twice`));
        return;
      }
      q.inflight[head] = 1; // marked before it counts as taken (see recover)
      last = (last + 1) & 0xffff;
      Atomics.store(q.w, Q.LAST_AVAIL, last);
      this.submit(q, head);
    }
  }

  private submit(q: LiveQueue, head: number): void {
    const gen = this.generation;
    this.stats.requests++;
    const p = this.handle(q, head).then(
      (len) => {
        if (len !== undefined) this.complete(q, head, len, gen);
      },
      (e: unknown) => log.error('virtio-blk: request failed', e),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Does one request; returns the bytes written to the chain (undefined: queue broken). */
  private async handle(q: LiveQueue, head: number): Promise<number | undefined> {
    let chain: Chain;
    try {
      chain = q.ring.readChain(head);
      if (chain.readableBytes < 16) throw new VirtqueueError('request without its 16-byte header');
      if (chain.writableBytes < 1) throw new VirtqueueError('request without a status byte');
    } catch (e) {
      this.breakQueue(q, e as Error);
      return undefined;
    }
    const mem = this.mem;
    const last = chain.writable[chain.writable.length - 1]!;
    const statusGpa = last.gpa + last.len - 1;
    const gen = this.generation;
    let status = VIRTIO_BLK_S_OK;
    let written = 0;
    let kind: 'rd' | 'wr' | 'flush' | 'unmap' | undefined;
    let done = 0;
    const t0 = process.hrtime.bigint();
    for (;;) {
      status = VIRTIO_BLK_S_OK;
      written = 0;
      done = 0;
      try {
        const hdr = new DataView(gather(mem, chain.readable, 0, 16).buffer);
        const type = hdr.getUint32(0, true);
        const sector = Number(hdr.getBigUint64(8, true));
        switch (type) {
          case VIRTIO_BLK_T_IN: {
            kind = 'rd';
            const len = chain.writableBytes - 1;
            done = len;
            const segs = subSegments(chain.writable, 0, len);
            const off = this.range(sector, len);
            let at = off;
            await Promise.all(segs.map((s) => {
              const o = at;
              at += s.len;
              return this.image.read(mem.slice(s.gpa, s.len), o);
            }));
            for (const s of segs) mem.dmaWritten(s.gpa, s.len);
            written = len;
            break;
          }
          case VIRTIO_BLK_T_OUT: {
            kind = 'wr';
            if (this.image.readOnly) throw new RequestError(VIRTIO_BLK_S_IOERR, 'write to a read-only device');
            const len = chain.readableBytes - 16;
            done = len;
            const segs = subSegments(chain.readable, 16, len);
            let at = this.range(sector, len);
            await Promise.all(segs.map((s) => {
              const o = at;
              at += s.len;
              return this.image.write(mem.slice(s.gpa, s.len), o);
            }));
            this.io.wrHighest = Math.max(this.io.wrHighest, at);
            break;
          }
          case VIRTIO_BLK_T_FLUSH:
            kind = 'flush';
            if (!this.image.readOnly) await this.image.flush();
            break;
          case VIRTIO_BLK_T_GET_ID: {
            const n = Math.min(ID_BYTES, chain.writableBytes - 1);
            const id = new Uint8Array(n);
            id.set(this.serial.subarray(0, n));
            let done = 0;
            for (const s of subSegments(chain.writable, 0, n)) {
              mem.slice(s.gpa, s.len).set(id.subarray(done, done + s.len));
              mem.dmaWritten(s.gpa, s.len);
              done += s.len;
            }
            written = n;
            break;
          }
          case VIRTIO_BLK_T_DISCARD:
          case VIRTIO_BLK_T_WRITE_ZEROES: {
            kind = type === VIRTIO_BLK_T_DISCARD ? 'unmap' : 'wr';
            if (this.image.readOnly) throw new RequestError(VIRTIO_BLK_S_IOERR, 'discard on a read-only device');
            const bytes = chain.readableBytes - 16;
            if (bytes % 16 !== 0 || bytes === 0) throw new RequestError(VIRTIO_BLK_S_UNSUPP, 'bad discard segment list');
            if (bytes / 16 > MAX_DISCARD_SEG) throw new RequestError(VIRTIO_BLK_S_UNSUPP, 'too many discard segments');
            const segs = new DataView(gather(mem, chain.readable, 16, bytes).buffer);
            for (let i = 0; i < bytes; i += 16) {
              const s = Number(segs.getBigUint64(i, true));
              const num = segs.getUint32(i + 8, true);
              const flags = segs.getUint32(i + 12, true);
              const unmap = (flags & 1) !== 0;
              if (flags & ~1 || (type === VIRTIO_BLK_T_DISCARD && unmap)) throw new RequestError(VIRTIO_BLK_S_UNSUPP, 'unknown discard flags');
              if (num > MAX_DISCARD_SECTORS) throw new RequestError(VIRTIO_BLK_S_IOERR, 'discard too long');
              const off = this.range(s, num * SECTOR);
              done += num * SECTOR;
              if (type === VIRTIO_BLK_T_DISCARD) await this.image.discard(off, num * SECTOR);
              else await this.image.writeZeroes(off, num * SECTOR, unmap);
            }
            break;
          }
          default:
            status = VIRTIO_BLK_S_UNSUPP;
        }
      } catch (e) {
        if (e instanceof VirtqueueError) {
          this.breakQueue(q, e);
          return undefined;
        }
        this.stats.errors++;
        log.warn(`virtio-blk: request failed: ${(e as Error).message}`);
        if (e instanceof RequestError) status = e.status; // refused before any I/O: no policy, as QEMU's
        else {
          const action = this.onError(kind === 'rd', e);
          if (action === 'stop') {
            // kept in flight until the machine's cont, then done again from its descriptors
            if (!(await new Promise<boolean>((go) => this.stalled.push(go))) || gen !== this.generation) return undefined;
            continue;
          }
          status = action === 'ignore' ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
        }
      }
      break;
    }
    if (kind) this.account(kind, done, status, e2ns(t0));
    mem.u8[statusGpa - mem.base] = status;
    mem.dmaWritten(statusGpa, 1);
    return written + 1;
  }

  /**
   * What the policy says to do with a failed request (QEMU's blk_get_error_action), told to
   * the machine for BLOCK_IO_ERROR (and, for stop, to stop the VM).
   */
  private onError(read: boolean, e: unknown): IoErrorAction {
    // BlockError names it in `errno`, Node's system errors in `code`
    const names = constants.errno as Record<string, number>;
    const err = e as { errno?: unknown; code?: unknown };
    const name = [err.errno, err.code].find((x): x is string => typeof x === 'string' && x in names);
    const errno = name ? names[name]! : constants.errno.EIO;
    const nospace = errno === constants.errno.ENOSPC;
    const policy = read ? this.rerror : this.werror;
    const action: IoErrorAction = policy === 'enospc' ? (nospace ? 'stop' : 'report') : policy;
    Atomics.store(this.w, FN.IOERR_INFO, packIoError({ errno, write: !read, action, nospace }));
    Atomics.add(this.w, FN.IOERR_SEQ, 1);
    Atomics.add(this.irqWord, 0, 1);
    wake(this.irqWord, 0);
    return action;
  }

  /** Counts a finished request as QEMU's block accounting does (invalid: refused before I/O). */
  private account(kind: 'rd' | 'wr' | 'flush' | 'unmap', bytes: number, status: number, ns: number): void {
    const io = this.io;
    if (status === VIRTIO_BLK_S_OK) {
      if (kind === 'rd') (io.rdOps++, (io.rdBytes += bytes), (io.rdNs += ns));
      else if (kind === 'wr') (io.wrOps++, (io.wrBytes += bytes), (io.wrNs += ns));
      else if (kind === 'flush') (io.flushOps++, (io.flushNs += ns));
      else (io.unmapOps++, (io.unmapBytes += bytes), (io.unmapNs += ns));
    } else if (status === VIRTIO_BLK_S_UNSUPP) {
      if (kind === 'rd') io.invalidRd++;
      else if (kind === 'wr') io.invalidWr++;
      else if (kind === 'flush') io.invalidFlush++;
      else io.invalidUnmap++;
    } else if (kind === 'rd') io.failedRd++;
    else if (kind === 'wr') io.failedWr++;
    else if (kind === 'flush') io.failedFlush++;
    else io.failedUnmap++;
  }

  /** The image changed size (block_resize): new capacity, and a configuration change interrupt. */
  resized(): void {
    const c = new DataView(this.st.config.buffer, this.st.config.byteOffset, BLK_CONFIG_LEN);
    c.setBigUint64(0x00, BigInt(Math.floor(this.image.size / SECTOR)), true);
    Atomics.add(this.w, FN.CONFIG_GENERATION, 1);
    if (Atomics.load(this.w, FN.STATUS) & STATUS.DRIVER_OK) this.interrupt(ISR_CONFIG);
  }

  /** Byte offset of a sector range, or IOERR when it is not whole sectors inside the disk. */
  private range(sector: number, len: number): number {
    const off = sector * SECTOR;
    if (len % SECTOR !== 0) throw new RequestError(VIRTIO_BLK_S_IOERR, `length ${len} is not a multiple of ${SECTOR}`);
    if (!Number.isSafeInteger(off) || off + len > this.image.size) throw new RequestError(VIRTIO_BLK_S_IOERR, `sectors ${sector}+${len / SECTOR} past the end`);
    return off;
  }

  /** Publishes a completion in the crash-safe order of pci-state.ts. */
  private complete(q: LiveQueue, head: number, len: number, gen: number): void {
    // the device was reset (perhaps not yet noticed by poll): the rings are no longer ours
    if (gen !== this.generation || this.queues[q.index] !== q || Atomics.load(this.w, FN.RESET_SEQ) !== this.resetSeq) return;
    const idx = Atomics.load(q.w, Q.USED_IDX);
    q.ring.writeUsed(idx, head, len);
    Atomics.store(q.w, Q.COMPLETING_IDX, idx);
    Atomics.store(q.w, Q.COMPLETING, head + 1);
    q.ring.publishUsed((idx + 1) & 0xffff);
    Atomics.store(q.w, Q.USED_IDX, (idx + 1) & 0xffff);
    q.inflight[head] = 0;
    Atomics.store(q.w, Q.COMPLETING, 0);
    if (!(q.ring.availFlags() & VRING_AVAIL_F_NO_INTERRUPT)) this.interrupt(ISR_QUEUE);
  }

  private interrupt(bits: number): void {
    Atomics.or(this.w, FN.ISR, bits);
    Atomics.add(this.irqWord, 0, 1);
    wake(this.irqWord, 0);
  }

  /** A driver error on a queue: stop using it and ask for a reset (QEMU's virtio_error). */
  private breakQueue(q: LiveQueue, e: Error): void {
    q.broken = true;
    this.deviceError(`queue ${q.index}: ${e.message}`);
  }

  private deviceError(msg: string): void {
    this.lastError = msg;
    log.error(`virtio-blk: ${msg}; the device needs a reset`);
    Atomics.or(this.w, FN.STATUS, STATUS.DEVICE_NEEDS_RESET);
    this.interrupt(ISR_CONFIG);
  }
}
