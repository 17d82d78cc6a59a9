/**
 * Hostile QMP clients: invalid JSON, deep nesting, a message over 1 MiB, floods, clients
 * that never finish a message or never read. The monitor answers with errors or drops
 * that client, keeps serving the others, and does not crash.
 */
import test from 'ava';
import { createConnection, type Socket } from 'node:net';
import { sleep, tempDir } from '../helpers/procs.js';
import { buildGuest, exited, qmpConnect, startVm, type Vm } from './helpers.js';
import { QmpClient } from '../../services/monitor/qmp-client.js';
import type { ExecutionContext } from 'ava';

async function negotiated(t: ExecutionContext, vm: Vm): Promise<QmpClient> {
  const c = await qmpConnect(t, vm);
  await c.negotiate();
  return c;
}

function closed(c: QmpClient): Promise<void> {
  return new Promise((r) => {
    if (c.socket.destroyed) r();
    else c.socket.once('close', () => r());
  });
}

test('hostile clients get errors or are dropped; the others are served; the monitor lives on', async (t) => {
  t.timeout(120000);
  const dir = tempDir(t, 'tsemu-hostile-');
  const vm = await startVm(t, 'tsemu', dir, buildGuest('idle'), ['-S']);
  const good = await negotiated(t, vm);
  const alive = async (what: string) => t.like(await good.execute('query-status', undefined, 10000), { status: 'prelaunch' }, what);

  // invalid JSON: an error each, and the connection goes on
  const bad = await negotiated(t, vm);
  for (const text of ['{"execute": bad}', '}', '{"execute": "query-status",, }', '{"a" 1}', 'nul', '"\\q"', '{"execute": "\u0000"}']) {
    const before = bad.raw.length;
    bad.send(`${text}\n`);
    const r = await bad.waitFor((m) => bad.raw.indexOf(m) >= before, 5000, true);
    t.like(r, { error: { class: 'GenericError' } }, text);
  }
  bad.send('\x00\xff\xfe garbage \x01\n');
  t.like(await bad.execute('query-status'), { status: 'prelaunch' }, 'still served after garbage');

  // nesting deeper than QEMU's 1024: an error, and the connection goes on
  const before = bad.raw.length;
  bad.send(`${'['.repeat(5000)}${']'.repeat(5000)}\n`);
  t.like(await bad.waitFor((m) => bad.raw.indexOf(m) >= before, 5000, true), { error: { class: 'GenericError', desc: 'JSON nesting depth limit exceeded' } });
  t.like(await bad.execute('query-status'), { status: 'prelaunch' });
  const objs = `${'{"a": '.repeat(3000)}1${'}'.repeat(3000)}`;
  bad.send(`{"execute": "query-status", "arguments": ${objs}}\n`);
  t.like(await bad.execute('query-status'), { status: 'prelaunch' });

  // a message over 1 MiB: an error, then the client is dropped
  const big = await negotiated(t, vm);
  const gone = closed(big);
  big.send(`{"execute": "query-status", "id": "${'a'.repeat(2 << 20)}"}\n`);
  await gone;
  t.true(big.raw.some((m) => (m.error as { desc?: string } | undefined)?.desc?.includes('longer than')), 'told why');
  await alive('after the big message');

  // half-open: connections that send nothing, half a message, or never read
  const idle: Socket[] = [];
  for (let i = 0; i < 40; i++) {
    const s = createConnection(vm.qmpPath);
    s.on('error', () => {});
    s.pause();
    if (i % 2) s.write('{"execute": "qmp_capabilities"');
    idle.push(s);
  }
  t.teardown(() => idle.forEach((s) => s.destroy()));
  await sleep(300);
  await alive('with 40 half-open clients');

  // a client that floods and never reads its replies is dropped
  const deaf = await negotiated(t, vm);
  deaf.socket.pause();
  const deafGone = new Promise<void>((r) => deaf.socket.once('end', () => r()));
  deaf.send('{"execute": "query-qmp-schema"}\n'.repeat(3000));
  await alive('while a client floods without reading');
  deaf.socket.resume();
  await Promise.race([deafGone, closed(deaf)]);
  t.pass('the deaf client was dropped');

  // a flood that is read: every reply, in order, and the others are not held up
  const flood = await negotiated(t, vm);
  const n = 3000;
  let text = '';
  for (let i = 0; i < n; i++) text += `{"execute": "query-status", "id": ${i}}\n`;
  flood.send(text);
  const t0 = Date.now();
  await alive('during a flood');
  t.true(Date.now() - t0 < 5000, 'another client answered promptly during the flood');
  await flood.waitFor((m) => m.id === n - 1, 60000, true);
  const ids = flood.raw.filter((m) => typeof m.id === 'number').map((m) => m.id);
  t.deepEqual(ids, Array.from({ length: n }, (_, i) => i), 'every reply, in order');

  // many clients at once, each in order
  const many = await Promise.all(Array.from({ length: 10 }, () => negotiated(t, vm)));
  const replies = await Promise.all(many.map((c) => Promise.all(Array.from({ length: 20 }, () => c.execute('query-name')))));
  t.true(replies.every((r) => r.length === 20));

  // the monitor is alive and the machine quits cleanly
  const last = await negotiated(t, vm);
  await last.execute('quit');
  t.is(await exited(vm.child), 0);
});
