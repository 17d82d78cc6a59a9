/**
 * The same QMP script sent to qemu-system-riscv64 (Debian's) and to tsemu, each running an
 * idle guest with -smp 2, gives replies of the same shape: keys and JSON types, `id`
 * values, error classes and messages (unknown command, bad arguments, before negotiation, malformed
 * requests), and the same events in the same order.
 */
import test from 'ava';
import { tempDir } from '../helpers/procs.js';
import { buildGuest, exited, qmpConnect, startVm } from './helpers.js';
import type { Json } from '../../services/monitor/json.js';
import type { QmpClient } from '../../services/monitor/qmp-client.js';

/** Raw lines, as an operator's script would send them. */
const SCRIPT: string[] = [
  '{"execute": "query-status", "id": 1}',
  '{"execute": "qmp_capabilities", "id": "neg"}',
  '{"execute": "qmp_capabilities"}',
  '{"execute": "query-status", "id": {"x": [1, 2]}}',
  '{"execute": "no-such-command", "id": 2}',
  '{"execute": "query-status", "arguments": {"x": 1}, "id": 3}',
  '{"execute": "stop", "arguments": 5}',
  '{"execute": 5}',
  '{"foo": 1}',
  '[1, 2]',
  '"str"',
  '{"execute": bad}',
  '{"execute": "query-status", "id": 4, "extra": 2}',
  '{"execute": "query-version", "id": 5}',
  '{"execute": "query-name"}',
  '{"execute": "query-uuid"}',
  '{"execute": "query-target"}',
  '{"execute": "query-kvm"}',
  '{"execute": "query-cpus-fast"}',
  '{"execute": "query-commands"}',
  '{"execute": "cont", "id": "c1"}',
  '{"execute": "query-status"}',
  '{"execute": "stop", "id": "s1"}',
  '{"execute": "stop", "id": "s2"}',
  '{"execute": "query-status"}',
  '{"execute": "cont"}',
  '{"execute": "system_reset"}',
  '{"execute": "system_powerdown"}',
  '{"execute": "query-block"}',
  '{"execute": "query-named-block-nodes"}',
  '{"execute": "block_resize", "arguments": {"device": "d0", "size": 1024}}',
  '{"execute": "block_resize", "arguments": {"device": "d0", "size": "x"}}',
  '{"execute": "block_resize", "arguments": {"device": "d0"}}',
  '{"execute": "blockdev-snapshot-internal-sync", "arguments": {"device": "d0", "name": "s"}}',
  '{"execute": "blockdev-snapshot-delete-internal-sync", "arguments": {"device": "d0", "name": "s"}}',
  '{"execute": "memsave", "arguments": {"val": 2147483648, "size": 16}}',
  '{"execute": "memsave", "arguments": {"val": 2147483648, "size": 16, "filename": "/nonexistent/m.bin"}}',
  '{"execute": "memsave", "arguments": {"val": 2147483648, "size": 16, "filename": "/dev/null", "cpu-index": 5}}',
  '{"execute": "pmemsave", "arguments": {"val": 2147483648, "size": 16, "filename": "/dev/null"}}',
  '{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}',
  '{"execute": "human-monitor-command", "arguments": {}}',
  '{"execute": "human-monitor-command", "arguments": {"command-line": "stop"}, "id": "h"}',
  '{"id": 6}',
  '{"execute": "query-status", "arguments": null}',
  '{"execute": "query-status", "id": null}',
  '{"execute": "memsave", "arguments": {"val": 18446744073709551615, "size": 16, "filename": "/dev/null"}}',
  '{"execute": "memsave", "arguments": {"val": -1, "size": -1, "filename": "/dev/null"}}',
  '{"execute": "human-monitor-command", "arguments": {"command-line": "info status", "cpu-index": 9}}',
  '{"execute": "quit", "id": "q"}',
];

/** What must agree: keys and JSON types; `id`, error classes and messages by value. */
function shape(v: Json | undefined, key = ''): unknown {
  if (key === 'id' || key === 'class' || key === 'desc') return v;
  if (Array.isArray(v)) return v.length ? ['array of', shape(v[0]!)] : ['array'];
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k], k)]));
  }
  return v === null ? 'null' : typeof v === 'bigint' ? 'number' : typeof v;
}

interface Transcript {
  greeting: unknown;
  replies: unknown[];
  events: string[];
}

async function run(c: QmpClient): Promise<Transcript> {
  const replies: unknown[] = [];
  for (const line of SCRIPT) {
    const before = c.raw.length;
    c.send(`${line}\n`);
    const r = await c.waitFor((m) => !('event' in m) && !('QMP' in m) && c.raw.indexOf(m) >= before, 15000, true);
    replies.push(shape(r));
  }
  // the SHUTDOWN of quit may come with the reply
  await c.event('SHUTDOWN', 5000, true);
  const events = c.raw.filter((m) => 'event' in m).map((m) => m.event as string);
  return { greeting: shape(c.raw[0]!), replies, events };
}

test('tsemu answers a QMP script with the shapes, ids, error classes and messages, and events of qemu-system-riscv64', async (t) => {
  t.timeout(90000);
  const dir = tempDir(t, 'tsemu-qmp-');
  const elf = buildGuest('idle');
  const [qemu, tsemu] = await Promise.all([startVm(t, 'qemu', dir, elf, ['-S']), startVm(t, 'tsemu', dir, elf, ['-S'])]);
  const [qc, tc] = await Promise.all([qmpConnect(t, qemu), qmpConnect(t, tsemu)]);
  const [q, ts] = await Promise.all([run(qc), run(tc)]);
  t.deepEqual(ts.greeting, q.greeting, 'greeting');
  for (let i = 0; i < SCRIPT.length; i++) t.deepEqual(ts.replies[i], q.replies[i], SCRIPT[i]);
  t.deepEqual(ts.events, q.events, 'events');
  t.deepEqual(q.events, ['RESUME', 'STOP', 'RESUME', 'RESET', 'POWERDOWN', 'STOP', 'SHUTDOWN']);
  t.is(await exited(tsemu.child), 0, 'quit ends tsemu with status 0');
  await exited(qemu.child);
});

test('a guest that powers off: SHUTDOWN (guest-shutdown), then tsemu ends with status 0, as QEMU does', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-qmp-off-');
  const elf = buildGuest('poweroff');
  const [qemu, tsemu] = await Promise.all([startVm(t, 'qemu', dir, elf, ['-S']), startVm(t, 'tsemu', dir, elf, ['-S'])]);
  const [qc, tc] = await Promise.all([qmpConnect(t, qemu), qmpConnect(t, tsemu)]);
  const events = async (c: QmpClient) => {
    await c.negotiate();
    const gone = new Promise((r) => c.once('close', r));
    c.send('{"execute": "cont"}\n');
    await gone;
    return c.raw.filter((m) => 'event' in m).map((m) => ({ event: m.event, data: m.data }));
  };
  const [q, ts] = await Promise.all([events(qc), events(tc)]);
  // Debian's QEMU 7.2 leaves at once on sifive_test's PASS, without a SHUTDOWN event (seen
  // in its transcript); tsemu says SHUTDOWN first, as QEMU does for other guest power-offs
  t.deepEqual(q[0], { event: 'RESUME', data: undefined });
  t.deepEqual(ts, [
    { event: 'RESUME', data: undefined },
    { event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' } },
  ]);
  t.is(await exited(tsemu.child), 0);
  t.is(await exited(qemu.child), 0);
});
