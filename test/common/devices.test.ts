/** The device table behind Attach/Detach/Query (services/common/devices.ts). */
import test from 'ava';
import { DeviceTable, ServiceError, unary, type Backend } from '../../services/common/devices.js';
import { grpc } from '../../services/common/grpc.js';
import type { DeviceSpec } from '../../proto/gen/common.js';

const spec = (id: string, driver: string, props: Record<string, string> = {}): DeviceSpec => ({ id, driver, props, regions: [] });

function table(): { table: DeviceTable; stopped: string[] } {
  const stopped: string[] = [];
  const tbl = new DeviceTable('block');
  tbl.registerDriver('virtio-blk-pci', async (s) => {
    if (s.props.fail) throw new ServiceError(grpc.status.INVALID_ARGUMENT, `bad: ${s.props.fail}`);
    let state = 'running';
    const b: Backend = {
      state: () => state,
      stop: async () => {
        state = 'stopped';
        stopped.push(s.id);
      },
    };
    return b;
  });
  tbl.registerDriver('nvme', async () => ({ state: () => 'running', stop: async () => {} }));
  return { table: tbl, stopped };
}

const code = (e: unknown) => (e as ServiceError).code;

test('attach, query, detach', async (t) => {
  const { table: tbl, stopped } = table();
  t.deepEqual(tbl.query(), []);
  const info = await tbl.attach(spec('disk0', 'virtio-blk-pci', { drive: 'd0' }));
  t.deepEqual(info, { id: 'disk0', driver: 'virtio-blk-pci', props: { drive: 'd0' }, state: 'running' });
  t.deepEqual(tbl.query(), [info]);
  t.deepEqual(tbl.query('disk0'), [info]);
  await tbl.detach('disk0');
  t.deepEqual(stopped, ['disk0']);
  t.deepEqual(tbl.query(), []);
});

test('errors carry gRPC status codes and clear messages', async (t) => {
  const { table: tbl } = table();
  const unknown = await t.throwsAsync(tbl.attach(spec('d', 'floppy')), {
    instanceOf: ServiceError,
    message: "the block service has no driver 'floppy' (it has: nvme, virtio-blk-pci)",
  });
  t.is(code(unknown), grpc.status.INVALID_ARGUMENT);
  const none = await t.throwsAsync(new DeviceTable('net').attach(spec('n', 'e1000')), { message: /has no driver 'e1000' \(it has none yet\)/ });
  t.is(code(none), grpc.status.INVALID_ARGUMENT);
  const badId = await t.throwsAsync(tbl.attach(spec('0bad id', 'nvme')), { message: /Parameter 'id' expects an identifier/ });
  t.is(code(badId), grpc.status.INVALID_ARGUMENT);
  await tbl.attach(spec('d', 'nvme'));
  const dup = await t.throwsAsync(tbl.attach(spec('d', 'nvme')), { message: "Duplicate device ID 'd'" });
  t.is(code(dup), grpc.status.ALREADY_EXISTS);
  const missing = await t.throwsAsync(tbl.detach('nope'), { message: "Device 'nope' not found" });
  t.is(code(missing), grpc.status.NOT_FOUND);
  t.is(code(t.throws(() => tbl.query('nope'))), grpc.status.NOT_FOUND);
  await t.throwsAsync(tbl.attach(spec('e', 'virtio-blk-pci', { fail: 'no drive' })), { message: 'bad: no drive' });
  t.deepEqual(tbl.query().map((d) => d.id), ['d'], 'a failed attach adds nothing');
});

test('stopAll stops every backend and empties the table', async (t) => {
  const { table: tbl, stopped } = table();
  await tbl.attach(spec('a', 'virtio-blk-pci'));
  await tbl.attach(spec('b', 'virtio-blk-pci'));
  await tbl.stopAll();
  t.deepEqual(stopped.sort(), ['a', 'b']);
  t.deepEqual(tbl.query(), []);
});

test('unary maps ServiceError to its code and anything else to INTERNAL', async (t) => {
  const run = (fn: () => Promise<unknown>) =>
    new Promise<{ err: Partial<grpc.ServiceError> | null; res: unknown }>((res) =>
      unary(fn)({ request: {} } as grpc.ServerUnaryCall<unknown, unknown>, (err, out) => res({ err: err as Partial<grpc.ServiceError> | null, res: out })),
    );
  t.deepEqual(await run(async () => ({ ok: 1 })), { err: null, res: { ok: 1 } });
  const a = await run(async () => {
    throw new ServiceError(grpc.status.NOT_FOUND, 'gone');
  });
  t.is(a.err?.code, grpc.status.NOT_FOUND);
  t.is(a.err?.details, 'gone');
  const b = await run(async () => {
    throw new Error('oops');
  });
  t.is(b.err?.code, grpc.status.INTERNAL);
  t.is(b.err?.details, 'oops');
});
