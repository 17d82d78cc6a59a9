/**
 * The monitor's connection to the machine (tsemu.machine.Machine over gRPC): calls with
 * deadlines, and the machine's events followed in order, re-subscribed when the stream
 * breaks, so that every QMP client sees them with their timestamps.
 */
import { EventEmitter } from 'node:events';
import {
  MachineClient,
  type BlockCommandReply,
  type CpusReply,
  type InfoReply,
  type MachineEvent,
  type MemoryReply,
  type Registers,
  type Status,
} from '../../proto/gen/machine.js';
import { call, connect, type grpc } from '../common/grpc.js';
import { logger } from '../common/log.js';

const log = logger('monitor');

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export class MachineLink extends EventEmitter {
  readonly client: MachineClient;
  private stream: grpc.ClientReadableStream<MachineEvent> | undefined;
  private closed = false;
  private lastSeq = 0;
  private readonly seqWaiters: { seq: number; resolve: () => void }[] = [];

  constructor(readonly address: string) {
    super();
    this.client = connect(MachineClient, address);
    this.follow();
  }

  private follow(): void {
    if (this.closed) return;
    const s = this.client.events({});
    this.stream = s;
    s.on('data', (e: MachineEvent) => {
      this.lastSeq = Math.max(this.lastSeq, e.seq);
      const ev: QmpEvent = { event: e.event, timestamp: { seconds: e.seconds, microseconds: e.microseconds } };
      if (e.dataJson) ev.data = JSON.parse(e.dataJson) as Record<string, unknown>;
      this.emit('event', ev);
      this.release();
    });
    const again = () => {
      if (this.stream !== s) return;
      this.stream = undefined;
      if (!this.closed) setTimeout(() => this.follow(), 500).unref();
    };
    s.on('error', (e: Error) => {
      log.debug(`machine events: ${e.message}`);
      again();
    });
    s.on('end', again);
  }

  private release(): void {
    for (let i = this.seqWaiters.length - 1; i >= 0; i--) {
      const w = this.seqWaiters[i]!;
      if (w.seq <= this.lastSeq) {
        this.seqWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Resolves once the event numbered `seq` has been delivered (or after a second). */
  waitEvents(seq: number): Promise<void> {
    if (seq <= this.lastSeq) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { seq, resolve };
      this.seqWaiters.push(w);
      setTimeout(() => {
        const i = this.seqWaiters.indexOf(w);
        if (i >= 0) this.seqWaiters.splice(i, 1);
        resolve();
      }, 1000).unref();
    });
  }

  status(): Promise<Status> {
    return call(this.client, this.client.queryStatus, {});
  }

  /** Calls a run-control method and waits until its events were delivered. */
  async control(method: 'stop' | 'cont' | 'systemReset' | 'systemPowerdown' | 'quit', reason = ''): Promise<Status> {
    const c = this.client;
    const r: Status = await call(c, c[method] as never, (method === 'quit' ? { reason } : {}) as never, 10000);
    await this.waitEvents(r.eventSeq);
    return r;
  }

  registers(hart: number): Promise<Registers> {
    return call(this.client, this.client.queryRegisters, { hart });
  }

  cpus(): Promise<CpusReply> {
    return call(this.client, this.client.queryCpus, {});
  }

  info(topic: string): Promise<InfoReply> {
    return call(this.client, this.client.info, { topic });
  }

  /** Guest memory from `addr` (any 64-bit address); fewer bytes where it cannot be read. */
  async readMemory(addr: bigint, size: number, physical: boolean, hart = 0): Promise<Uint8Array> {
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = Math.min(size - done, 1 << 20);
      const at = `0x${BigInt.asUintN(64, addr + BigInt(done)).toString(16)}`;
      const r: MemoryReply = await call(this.client, this.client.readMemory, { addr: at, size: n, physical, hart });
      out.set(r.data, done);
      done += r.data.length;
      if (r.data.length < n) break;
    }
    return out.subarray(0, done);
  }

  block(command: string, args: unknown): Promise<BlockCommandReply> {
    return call(this.client, this.client.blockCommand, { command, argumentsJson: JSON.stringify(args ?? {}) });
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
    this.client.close();
  }
}
