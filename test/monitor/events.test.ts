/**
 * Events and introspection: SERVICE_UP/SERVICE_DOWN when a device service process comes
 * or dies, guest-caused SHUTDOWN, and query-qmp-schema describing exactly the commands
 * and events the monitor has.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { binPath, tempDir } from '../helpers/procs.js';
import { buildGuest, exited, waitSocket } from './helpers.js';
import { QmpClient } from '../../services/monitor/qmp-client.js';
import { JsonSplitter, parseJson, toJson } from '../../services/monitor/json.js';

test('a device service that dies is reported to QMP clients as SERVICE_DOWN, and SERVICE_UP when it is back', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-events-');
  const qmpPath = join(dir, 'qmp.sock');
  const child = spawn(
    process.execPath,
    [binPath('tsemu'), '-M', 'virt', '-bios', 'none', '-kernel', buildGuest('idle'), '-m', '64M', '-display', 'none', '-serial', 'null', '--services', 'net', '-qmp', `unix:${qmpPath},server=on,wait=off`],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env: { ...process.env, TSEMU_READY_FD: '3' } },
  );
  t.teardown(() => child.kill('SIGKILL'));
  const ready = await new Promise<{ services: Record<string, { pid: number }> }>((res) => {
    let buf = '';
    child.stdio[3]!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) res(JSON.parse(buf.slice(0, nl)));
    });
  });
  await waitSocket(qmpPath, child);
  const qmp = await QmpClient.connect(`unix:${qmpPath}`);
  t.teardown(() => qmp.close());
  await qmp.negotiate();
  process.kill(ready.services.net!.pid, 'SIGKILL');
  const ev = await qmp.event('SERVICE_DOWN');
  t.like(ev, { data: { service: 'net', reason: 'SIGKILL' } });
  t.is(typeof ev.timestamp.seconds, 'number');
  t.is(typeof ev.timestamp.microseconds, 'number');
  // the supervisor starts it again, and says so
  const up = await qmp.event('SERVICE_UP', 20000, true);
  t.like(up, { data: { service: 'net' } });
  t.true(up.timestamp.seconds * 1e6 + up.timestamp.microseconds > ev.timestamp.seconds * 1e6 + ev.timestamp.microseconds);
  await qmp.execute('quit');
  t.is(await exited(child), 0);
});

test('query-qmp-schema lists every command of query-commands and every event, with types that resolve', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-schema-');
  const qmpPath = join(dir, 'qmp.sock');
  const child = spawn(process.execPath, [binPath('tsemu'), '-M', 'virt', '-bios', 'none', '-kernel', buildGuest('idle'), '-m', '64M', '-display', 'none', '-serial', 'null', '-S', '-qmp', `unix:${qmpPath},server=on,wait=off`], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await waitSocket(qmpPath, child);
  const qmp = await QmpClient.connect(`unix:${qmpPath}`);
  t.teardown(() => qmp.close());
  await qmp.negotiate(['oob']);
  // with oob on, exec-oob is understood, and refused for commands that are not out-of-band
  qmp.send('{"exec-oob": "query-status", "id": "o"}\n');
  t.like(await qmp.waitFor((m) => m.id === 'o', 5000, true), { error: { class: 'GenericError', desc: 'The command query-status does not support OOB' } });
  const schema = await qmp.execute<{ name: string; 'meta-type': string; 'arg-type'?: string; 'ret-type'?: string; members?: { type: string }[]; 'element-type'?: string }[]>('query-qmp-schema');
  const commands = (await qmp.execute<{ name: string }[]>('query-commands')).map((c) => c.name).sort();
  t.deepEqual(schema.filter((s) => s['meta-type'] === 'command').map((s) => s.name).sort(), commands);
  t.deepEqual(
    schema.filter((s) => s['meta-type'] === 'event').map((s) => s.name).sort(),
    ['BLOCK_IO_ERROR', 'POWERDOWN', 'RESET', 'RESUME', 'SERVICE_DOWN', 'SERVICE_UP', 'SHUTDOWN', 'STOP'],
  );
  const names = new Set(schema.map((s) => s.name));
  for (const s of schema) {
    for (const ref of [s['arg-type'], s['ret-type'], s['element-type'], ...(s.members ?? []).map((m) => m.type)]) {
      if (ref !== undefined) t.true(names.has(ref), `${s.name} refers to ${ref}`);
    }
  }
  await qmp.execute('quit');
  t.is(await exited(child), 0);
});

test('the JSON splitter finds messages without newlines, across chunks, and keeps 64-bit integers', (t) => {
  const s = new JsonSplitter();
  const pieces = [...s.push('{"a": "}{"}{"b"'), ...s.push(': [1, {"c": 2}]} "x" 12 ')];
  t.deepEqual(pieces, [{ text: '{"a": "}{"}' }, { text: '{"b": [1, {"c": 2}]}' }, { text: '"x"' }, { text: '12' }]);
  t.is(parseJson('18446744073709551615'), 18446744073709551615n);
  t.is(toJson({ return: {}, id: 18446744073709551615n }), '{"return": {}, "id": 18446744073709551615}');
  t.throws(() => parseJson('{"execute": bad}'), { message: "JSON parse error, invalid keyword 'bad'" });
});

test('-qmp without wait=off holds the guest until a client connects, as QEMU does', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-wait-');
  const qmpPath = join(dir, 'qmp.sock');
  const child = spawn(process.execPath, [binPath('tsemu'), '-M', 'virt', '-bios', 'none', '-kernel', buildGuest('idle'), '-m', '64M', '-display', 'none', '-serial', 'null', '-qmp', `unix:${qmpPath},server=on`], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await waitSocket(qmpPath, child);
  for (let i = 0; i < 100 && !err.includes('waiting'); i++) await new Promise((r) => setTimeout(r, 50));
  t.regex(err, /waiting for a monitor client to connect/);
  const qmp = await QmpClient.connect(`unix:${qmpPath}`);
  t.teardown(() => qmp.close());
  await qmp.negotiate();
  let status = '';
  for (let i = 0; i < 50 && status !== 'running'; i++) {
    status = (await qmp.execute<{ status: string }>('query-status')).status;
    if (status !== 'running') await new Promise((r) => setTimeout(r, 100));
  }
  t.is(status, 'running');
  await qmp.execute('quit');
  t.is(await exited(child), 0);
});
