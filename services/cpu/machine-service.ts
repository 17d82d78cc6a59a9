/**
 * The machine's own gRPC service (tsemu.machine.Machine), served by the `tsemu` process
 * on <runtime-dir>/machine.sock so that the monitor service and tools can steer the VM.
 * Run states use QEMU's names (RunState in qapi/run-state.json).
 */
import { MachineService, type Registers, type Status } from '../../proto/gen/machine.js';
import { ServiceError } from '../common/devices.js';
import { unary } from '../common/devices.js';
import { call, connect, grpc as grpcNs, serve, type ServerHandle } from '../common/grpc.js';
import { version } from '../common/version.js';
import type { Supervisor } from './supervisor.js';
import { QueryReply } from '../../proto/gen/common.js';
import { BlockClient } from '../../proto/gen/block.js';
import { DisplayClient } from '../../proto/gen/display.js';
import { NetClient } from '../../proto/gen/net.js';

export type RunState = 'prelaunch' | 'running' | 'paused' | 'shutdown' | 'internal-error';

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
}

export async function serveMachine(
  machine: MachineControl,
  supervisor: Supervisor,
  onShutdown: (reason: string) => void,
): Promise<ServerHandle> {
  const status = (): Status => {
    const state = machine.runState();
    return { running: state === 'running', state, name: machine.name, harts: machine.harts };
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
          if (machine.runState() !== 'paused' && machine.runState() !== 'prelaunch') {
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
      });
    },
  );
}
