/**
 * QMP's block commands answered from real drives: tsemu and Debian's qemu-system-riscv64,
 * each paused (-S) with a small qcow2 on virtio-blk-pci, give query-block,
 * query-named-block-nodes and query-blockstats of the same shape, and the same errors for
 * an unknown device; block_resize and blockdev-snapshot-internal-sync change the image as
 * qemu-img sees it after quit.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../helpers/procs.js';
import { buildGuest, exited, qmpConnect, startVm } from './helpers.js';
import type { Json } from '../../services/monitor/json.js';
import type { QmpClient } from '../../services/monitor/qmp-client.js';

/** Keys and JSON types; error classes and messages by value. */
function shape(v: Json | undefined, key = ''): unknown {
  if (key === 'class' || key === 'desc') return v;
  if (Array.isArray(v)) return v.length ? ['array of', shape(v[0]!)] : ['array'];
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k], k)]));
  }
  return v === null ? 'null' : typeof v === 'bigint' ? 'number' : typeof v;
}

async function reply(c: QmpClient, execute: string, args?: Record<string, unknown>): Promise<Json> {
  const before = c.raw.length;
  c.send(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
  return c.waitFor((m) => !('event' in m) && !('QMP' in m) && c.raw.indexOf(m) >= before, 15000, true) as Promise<Json>;
}

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' });
const drive = (img: string) => ['-drive', `file=${img},format=qcow2,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0'];

/** The commands whose replies must have QEMU's shapes and error messages. */
const SCRIPT: [string, Record<string, unknown>?][] = [
  ['query-block'],
  ['query-named-block-nodes'],
  ['query-blockstats'],
  ['block_resize', { device: 'nope', size: 1 << 20 }],
  ['block_resize', { 'node-name': 'nope', size: 1 << 20 }],
  ['block_resize', { device: 'd0', size: 1000 }],
  ['blockdev-snapshot-internal-sync', { device: 'nope', name: 's1' }],
  ['blockdev-snapshot-delete-internal-sync', { device: 'nope', name: 's1' }],
  ['blockdev-snapshot-internal-sync', { device: 'd0', name: 's1' }],
  ['blockdev-snapshot-internal-sync', { device: 'd0', name: 's1' }],
  ['blockdev-snapshot-delete-internal-sync', { device: 'd0', name: 'none' }],
  ['blockdev-snapshot-internal-sync', { device: 'd0', name: 'tmp' }],
  ['blockdev-snapshot-delete-internal-sync', { device: 'd0', name: 'tmp' }],
  ['query-block'],
  ['block_resize', { device: 'd0', size: 32 << 20 }],
];

test('query-block, query-named-block-nodes, query-blockstats, block_resize and internal snapshots: QEMU shapes, errors, and qemu-img sees the changes', async (t) => {
  t.timeout(90000);
  const dir = tempDir(t, 'tsemu-blockqmp-');
  const elf = buildGuest('idle');
  const imgs = { qemu: join(dir, 'qemu.qcow2'), tsemu: join(dir, 'tsemu.qcow2') };
  for (const f of Object.values(imgs)) qemuImg('create', '-q', '-f', 'qcow2', f, '16M');
  const [qemu, tsemu] = await Promise.all([
    startVm(t, 'qemu', dir, elf, ['-S', ...drive(imgs.qemu)]),
    startVm(t, 'tsemu', dir, elf, ['-S', ...drive(imgs.tsemu)]),
  ]);
  const [qc, tc] = await Promise.all([qmpConnect(t, qemu), qmpConnect(t, tsemu)]);
  await Promise.all([qc.negotiate(), tc.negotiate()]);
  const got: Record<'qemu' | 'tsemu', Json[]> = { qemu: [], tsemu: [] };
  for (const [cmd, args] of SCRIPT) {
    const [q, ts] = await Promise.all([reply(qc, cmd, args), reply(tc, cmd, args)]);
    got.qemu.push(q);
    got.tsemu.push(ts);
    t.deepEqual(shape(ts), shape(q), `${cmd} ${JSON.stringify(args ?? {})}`);
  }
  // values that must agree too
  const block = (got.tsemu[0] as { return: Record<string, any>[] }).return;
  t.is(block.length, 1);
  t.is(block[0]!.device, 'd0');
  t.is(block[0]!.qdev, '/machine/peripheral-anon/device[0]/virtio-backend');
  t.is(block[0]!.inserted.image['virtual-size'], 16 << 20);
  t.is(block[0]!.inserted.drv, 'qcow2');
  t.deepEqual(block[0]!.inserted.cache, { writeback: true, direct: false, 'no-flush': false });
  const nodes = (got.tsemu[1] as { return: Record<string, any>[] }).return;
  t.deepEqual(nodes.map((n) => n.drv), ['qcow2', 'file']);
  t.is(nodes[0]!['node-name'], block[0]!.inserted['node-name']);
  const deleted = (got.tsemu[12] as { return: Record<string, any> }).return;
  t.is(deleted.name, 'tmp');
  const after = (got.tsemu[13] as { return: Record<string, any>[] }).return;
  t.deepEqual(after[0]!.inserted.image.snapshots.map((s: { name: string }) => s.name), ['s1']);
  // HMP info block names the drive, its node and its file
  const hmp = await tc.execute<string>('human-monitor-command', { 'command-line': 'info block' });
  t.regex(hmp, /^d0 \(#block\d+\): .*tsemu\.qcow2 \(qcow2\)\r\n {4}Attached to: +\/machine\/peripheral-anon\/device\[0\]\/virtio-backend\r\n {4}Cache mode: +writeback\r\n/);

  await Promise.all([qc.execute('quit'), tc.execute('quit')]);
  t.is(await exited(tsemu.child), 0);
  await exited(qemu.child);
  for (const f of Object.values(imgs)) {
    const info = JSON.parse(qemuImg('info', '--output=json', f)) as { 'virtual-size': number };
    t.is(info['virtual-size'], 32 << 20, `${f} grew`);
    t.regex(qemuImg('snapshot', '-l', f), /\n1 +s1 /, `${f} has s1`);
    t.notRegex(qemuImg('snapshot', '-l', f), / tmp /);
    qemuImg('check', '-q', f);
  }
});

test('a -blockdev drive is known by its node name; without drives the answers stay empty', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-blockqmp2-');
  const elf = buildGuest('idle');
  const img = join(dir, 'b.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', img, '8M');
  const vm = await startVm(t, 'tsemu', dir, elf, ['-S', '-blockdev', `driver=qcow2,node-name=n0,file.driver=file,file.filename=${img}`, '-device', 'virtio-blk-pci,drive=n0,id=vd0']);
  const c = await qmpConnect(t, vm);
  await c.negotiate();
  const block = await c.execute<Record<string, any>[]>('query-block');
  t.is(block[0]!.device, '');
  t.is(block[0]!.qdev, '/machine/peripheral/vd0/virtio-backend');
  t.is(block[0]!.inserted['node-name'], 'n0');
  await c.execute('block_resize', { 'node-name': 'n0', size: 12 << 20 });
  await c.execute('blockdev-snapshot-internal-sync', { device: 'n0', name: 'snap' });
  const stats = await c.execute<Record<string, any>[]>('query-blockstats');
  t.is(stats[0]!['node-name'], 'n0');
  t.is(typeof stats[0]!.stats.rd_bytes, 'number');
  await c.execute('quit');
  t.is(await exited(vm.child), 0);
  t.is((JSON.parse(qemuImg('info', '--output=json', img)) as { 'virtual-size': number })['virtual-size'], 12 << 20);
  t.regex(qemuImg('snapshot', '-l', img), / snap /);

  const bare = await startVm(t, 'tsemu', dir, elf, ['-S']);
  const b = await qmpConnect(t, bare);
  await b.negotiate();
  t.deepEqual(await b.execute('query-block'), []);
  const err = await b.execute('block_resize', { device: 'x', size: 512 }).catch((e: Error) => e.message);
  t.regex(String(err), /Cannot find device='x' nor node-name=''/);
  await b.execute('quit');
  await exited(bare.child);
});
