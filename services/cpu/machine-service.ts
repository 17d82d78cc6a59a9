/**
 * The machine's own gRPC service (tsemu.machine.Machine), served by the `tsemu` process
 * on <runtime-dir>/machine.sock so that the monitor service and tools can steer the VM.
 * Run states use QEMU's names (RunState in qapi/run-state.json).
 */
import {
  MachineService,
  type BlockCommandReply,
  type CpusReply,
  type MachineEvent,
  type MemoryReply,
  type Registers,
  type Status,
} from '../../proto/gen/machine.js';
import { ServiceError } from '../common/devices.js';
import { unary } from '../common/devices.js';
import { call, connect, grpc as grpcNs, serve, type ServerHandle } from '../common/grpc.js';
import { version } from '../common/version.js';
import type { Supervisor } from './supervisor.js';
import { QueryReply } from '../../proto/gen/common.js';
import { BlockClient } from '../../proto/gen/block.js';
import { DisplayClient } from '../../proto/gen/display.js';
import { NetClient } from '../../proto/gen/net.js';
import { ROM_BASE, ROM_SIZE } from './board/boot-rom.js';
import { TEST_BASE, TEST_SIZE } from './board/sifive-test.js';
import { RTC_BASE, RTC_SIZE } from './board/goldfish-rtc.js';
import { CLINT_BASE, CLINT_SIZE } from './board/clint.js';
import { PLIC_BASE, PLIC_SIZE } from './board/plic.js';
import { UART0_BASE, UART0_SIZE } from './board/uart.js';
import { DRAM_BASE } from './board/virt-map.js';

export type RunState = 'prelaunch' | 'running' | 'paused' | 'io-error' | 'shutdown' | 'internal-error';

/** What the machine exposes for control; the board implements it. */
export interface MachineControl {
  readonly name: string;
  readonly harts: number;
  runState(): RunState;
  stop(): void;
  cont(): void;
  reset(): void;
  /** A hart's registers (exact while paused). */
  registers(hart: number): Registers;
  /** Runs a paused hart for `count` instructions. */
  step(hart: number, count: number): Promise<Registers>;
  /** Ends the run (QMP quit); `why` is SHUTDOWN's reason. */
  quit(code: number, why: string): void;
  /** Run-control events: STOP, RESUME, RESET, SHUTDOWN with QMP's data. */
  onEvent(listener: (event: string, data?: Record<string, unknown>) => void): () => void;
  /** Guest-physical RAM or ROM; undefined where there is none. */
  readPhysical(addr: number, size: number): Uint8Array | undefined;
  readonly ramSize: number;
}

/** Events in order with sequence numbers, fanned out to every Events stream. */
class EventHub {
  seq = 0;
  private readonly streams = new Set<grpcNs.ServerWritableStream<unknown, MachineEvent>>();

  emit(event: string, data?: Record<string, unknown>): void {
    // wall-clock microseconds, as QEMU's g_get_real_time()
    const now = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    const ev: MachineEvent = {
      seq: ++this.seq,
      event,
      dataJson: data ? JSON.stringify(data) : '',
      seconds: Math.floor(now / 1e6),
      microseconds: now % 1e6,
    };
    for (const s of this.streams) {
      s.write(ev);
      if (event === 'SHUTDOWN') s.end();
    }
    if (event === 'SHUTDOWN') this.streams.clear();
  }

  add(s: grpcNs.ServerWritableStream<unknown, MachineEvent>): void {
    this.streams.add(s);
    const drop = () => this.streams.delete(s);
    s.on('cancelled', drop);
    s.on('close', drop);
    s.on('error', drop);
  }
}

const MAX_READ = 1 << 20;

/**
 * Reads guest memory as `hart` sees it: through its Sv39/48/57 page tables when satp
 * turns translation on and the hart is below M-mode, else physical. Stops at the first
 * byte that cannot be read.
 */
export function readGuest(machine: MachineControl, hart: number, addr: bigint, size: number, physical: boolean): Uint8Array {
  const out = new Uint8Array(size);
  let done = 0;
  const regs = physical ? undefined : machine.registers(hart);
  const satp = regs ? BigInt(regs.csrs['satp'] ?? '0') : 0n;
  const mode = Number(satp >> 60n);
  const levels = mode === 8 ? 3 : mode === 9 ? 4 : mode === 10 ? 5 : 0;
  const translate = (va: bigint): number | undefined => {
    if (!levels || regs!.priv === 3) return va < 2n ** 53n ? Number(va) : undefined;
    // the bits above the VA's top must copy it (Sv39: 63..39 equal bit 38)
    const top = BigInt(12 + 9 * levels - 1);
    const high = va >> top;
    if (high !== 0n && high !== (1n << (64n - top)) - 1n) return undefined;
    let table = (satp & ((1n << 44n) - 1n)) << 12n;
    for (let level = levels - 1; level >= 0; level--) {
      const vpn = (va >> BigInt(12 + 9 * level)) & 0x1ffn;
      const raw = machine.readPhysical(Number(table + vpn * 8n), 8);
      if (!raw) return undefined;
      const pte = new DataView(raw.buffer).getBigUint64(0, true);
      if ((pte & 1n) === 0n) return undefined;
      const ppn = (pte >> 10n) & ((1n << 44n) - 1n);
      if (pte & 0xan) {
        const span = 1n << BigInt(12 + 9 * level);
        return Number(((ppn << 12n) & ~(span - 1n)) | (va & (span - 1n)));
      }
      table = ppn << 12n;
    }
    return undefined;
  };
  while (done < size) {
    const va = BigInt.asUintN(64, addr + BigInt(done));
    const chunk = Math.min(size - done, 4096 - Number(va & 0xfffn));
    const pa = translate(va);
    const bytes = pa === undefined ? undefined : machine.readPhysical(pa, chunk);
    if (!bytes) break;
    out.set(bytes, done);
    done += chunk;
  }
  return out.subarray(0, done);
}

/** HMP's info mtree for the virt board, in QEMU's layout. */
function mtreeText(ramSize: number): string {
  const hex = (n: number) => n.toString(16).padStart(16, '0');
  const rows: [number, number, string, string][] = [
    [ROM_BASE, ROM_SIZE, 'rom', 'riscv_virt_board.mrom'],
    [TEST_BASE, TEST_SIZE, 'i/o', 'riscv.sifive.test'],
    [RTC_BASE, RTC_SIZE, 'i/o', 'goldfish_rtc'],
    [CLINT_BASE, CLINT_SIZE, 'i/o', 'riscv.aclint'],
    [PLIC_BASE, PLIC_SIZE, 'i/o', 'riscv.sifive.plic'],
    [UART0_BASE, UART0_SIZE, 'i/o', 'serial'],
    [DRAM_BASE, ramSize, 'ram', 'riscv_virt_board.ram'],
  ];
  return (
    'address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n' +
    rows.map(([b, s, k, n]) => `    ${hex(b)}-${hex(b + s - 1)} (prio 0, ${k}): ${n}\n`).join('') +
    '\n'
  );
}

/** HMP's info qtree: the devices of the board, as QEMU lists them on main-system-bus. */
function qtreeText(): string {
  const dev = (name: string, base: number, size: number) =>
    `  dev: ${name}, id ""\n    mmio ${base.toString(16).padStart(16, '0')}/${size.toString(16).padStart(16, '0')}\n`;
  return (
    'bus: main-system-bus\n  type System\n' +
    dev('goldfish_rtc', RTC_BASE, 0x24) +
    dev('serial-mm', UART0_BASE, 8) +
    dev('riscv.sifive.plic', PLIC_BASE, PLIC_SIZE) +
    dev('riscv.aclint.swi', CLINT_BASE, 0x4000) +
    dev('riscv.aclint.mtimer', CLINT_BASE + 0x4000, 0x8000) +
    dev('riscv.sifive.test', TEST_BASE, TEST_SIZE)
  );
}

/** Block commands on a machine without drives (with drives, the block service answers). */
function blockCommand(command: string, args: Record<string, unknown>): BlockCommandReply {
  const ok = (v: unknown): BlockCommandReply => ({ returnJson: JSON.stringify(v), errorClass: '', errorDesc: '' });
  const str = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : '');
  switch (command) {
    case 'query-block':
    case 'query-blockstats':
    case 'query-named-block-nodes':
      return ok([]);
    case 'block_resize':
      return { returnJson: '', errorClass: 'GenericError', errorDesc: `Cannot find device='${str('device')}' nor node-name='${str('node-name')}'` };
    case 'blockdev-snapshot-internal-sync':
    case 'blockdev-snapshot-delete-internal-sync':
      // QEMU looks the name up as a device and then as a node name
      return { returnJson: '', errorClass: 'GenericError', errorDesc: `Cannot find device='${str('device')}' nor node-name='${str('device')}'` };
    default:
      return { returnJson: '', errorClass: 'CommandNotFound', errorDesc: `The command ${command} has not been found` };
  }
}

export async function serveMachine(
  machine: MachineControl,
  supervisor: Supervisor,
  onShutdown: (reason: string) => void,
  hasDisks = false,
): Promise<ServerHandle> {
  const hub = new EventHub();
  machine.onEvent((e, d) => hub.emit(e, d));
  supervisor.on('service-exit', (svc: string, code: number | null, signal: string | null) =>
    hub.emit('SERVICE_DOWN', { service: svc, reason: signal ?? `status ${code}` }),
  );
  supervisor.on('service-start', (svc: string, address: string) => hub.emit('SERVICE_UP', { service: svc, address }));
  const status = (): Status => {
    const state = machine.runState();
    return { running: state === 'running', state, name: machine.name, harts: machine.harts, eventSeq: hub.seq };
  };
  return serve(
    { name: 'machine', version: version(), listen: [`unix:${supervisor.socketPath('machine')}`], onShutdown },
    (server) => {
      server.addService(MachineService, {
        queryStatus: unary(async () => status()),
        stop: unary(async () => {
          machine.stop();
          return status();
        }),
        cont: unary(async () => {
          machine.cont();
          return status();
        }),
        systemReset: unary(async () => {
          machine.reset();
          return status();
        }),
        queryRegisters: unary(async (req: { hart: number }) => {
          if (req.hart >= machine.harts) throw new ServiceError(grpcNs.status.INVALID_ARGUMENT, `no hart ${req.hart}`);
          return machine.registers(req.hart);
        }),
        step: unary(async (req: { hart: number; count: number }) => {
          if (req.hart >= machine.harts) throw new ServiceError(grpcNs.status.INVALID_ARGUMENT, `no hart ${req.hart}`);
          if (!['paused', 'prelaunch', 'io-error'].includes(machine.runState())) {
            throw new ServiceError(grpcNs.status.FAILED_PRECONDITION, 'the machine is running: stop it first');
          }
          return machine.step(req.hart, Math.max(1, req.count || 1));
        }),
        queryDevices: unary(async (): Promise<QueryReply> => {
          const devices: QueryReply['devices'] = [];
          for (const s of supervisor.list()) {
            const ctor = s.name === 'block' ? BlockClient : s.name === 'display' ? DisplayClient : s.name === 'net' ? NetClient : undefined;
            if (!ctor) continue;
            const client = connect(ctor, s.address);
            try {
              const r = await call<{ id: string }, QueryReply>(client, client.query, { id: '' });
              devices.push(...r.devices);
            } finally {
              client.close();
            }
          }
          return { devices };
        }),
        quit: unary(async (req: { reason: string }) => {
          machine.quit(0, req.reason || 'host-qmp-quit');
          return status();
        }),
        systemPowerdown: unary(async () => {
          // QEMU's riscv virt has no power button either: the event, and nothing pressed
          hub.emit('POWERDOWN');
          return status();
        }),
        readMemory: unary(async (req: { addr: string; size: number; physical: boolean; hart: number }): Promise<MemoryReply> => {
          let addr: bigint;
          try {
            addr = BigInt.asUintN(64, BigInt(req.addr));
          } catch {
            throw new ServiceError(grpcNs.status.INVALID_ARGUMENT, `bad address '${req.addr}'`);
          }
          if (req.hart >= machine.harts) throw new ServiceError(grpcNs.status.INVALID_ARGUMENT, `no hart ${req.hart}`);
          if (req.size > MAX_READ) throw new ServiceError(grpcNs.status.INVALID_ARGUMENT, `at most ${MAX_READ} bytes at a time`);
          return { data: Buffer.from(readGuest(machine, req.hart, addr, req.size, req.physical)) };
        }),
        queryCpus: unary(
          async (): Promise<CpusReply> => ({
            cpus: Array.from({ length: machine.harts }, (_, h) => ({
              cpuIndex: h,
              // the harts are threads of this process; Node does not tell their thread ids
              threadId: process.pid,
              qomPath: `/machine/soc0/harts[${h}]`,
              state: machine.registers(h).state,
            })),
          }),
        ),
        info: unary(async (req: { topic: string }) => {
          if (req.topic === 'mtree') return { text: mtreeText(machine.ramSize) };
          if (req.topic === 'qtree') return { text: qtreeText() };
          throw new ServiceError(grpcNs.status.INVALID_ARGUMENT, `no info '${req.topic}'`);
        }),
        blockCommand: unary(async (req: { command: string; argumentsJson: string }): Promise<BlockCommandReply> => {
          const block = hasDisks ? supervisor.get('block') : undefined;
          if (!block) return blockCommand(req.command, req.argumentsJson ? (JSON.parse(req.argumentsJson) as Record<string, unknown>) : {});
          const client = connect(BlockClient, block.address);
          try {
            return await call<{ command: string; argumentsJson: string }, BlockCommandReply>(client, client.blockCommand, req, 60_000);
          } finally {
            client.close();
          }
        }),
        events: (s: grpcNs.ServerWritableStream<unknown, MachineEvent>) => hub.add(s),
      });
    },
  );
}
