/**
 * Run control through QMP on tsemu: `stop` pauses every hart at once and the guest clock
 * with them, `cont` resumes both, `info registers` shows the paused harts' real registers,
 * x/xp/memsave/pmemsave read guest memory.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, tempDir } from '../helpers/procs.js';
import { buildGuest, exited, qmpConnect, startVm } from './helpers.js';

const TIMEBASE_HZ = 10_000_000;

test('stop pauses the harts and the guest clock; cont resumes; info registers shows the paused harts', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-runctl-');
  const vm = await startVm(t, 'tsemu', dir, buildGuest('clock'));
  const qmp = await qmpConnect(t, vm);
  await qmp.negotiate();
  const guestTime = async () => {
    const out = await qmp.hmp('xp /1gx 0x80001000');
    const m = /^0000000080001000: 0x([0-9a-f]{16})\r\n$/.exec(out);
    t.truthy(m, out);
    return BigInt(`0x${m![1]}`);
  };
  await sleep(300);
  await qmp.execute('stop');
  t.like(await qmp.execute('query-status'), { status: 'paused', running: false });
  const t1 = await guestTime();
  t.true(t1 > 0n, 'the guest ran and read its clock');
  const regs1 = await qmp.hmp('info registers -a');
  await sleep(3000);
  t.is(await guestTime(), t1, 'nothing runs while paused');
  t.is(await qmp.hmp('info registers -a'), regs1, 'paused harts do not move');
  // hart 0 is in its loop with t1 = 0x80001000 and t2 = the time it stored (or one newer)
  const cpu0 = regs1.split('CPU#1')[0]!;
  const pc = BigInt(`0x${/ pc {7}([0-9a-f]{16})/.exec(cpu0)![1]}`);
  t.true(pc >= 0x80000000n && pc < 0x80000040n, `pc ${pc.toString(16)}`);
  t.regex(cpu0, /x6\/t1 {4}0000000080001000/);
  const t2reg = BigInt(`0x${/x7\/t2 {4}([0-9a-f]{16})/.exec(cpu0)![1]}`);
  t.true(t2reg >= t1 && t2reg - t1 < BigInt(TIMEBASE_HZ), `t2 holds the time the guest stored (t2 ${t2reg}, stored ${t1})`);
  t.regex(regs1, /CPU#1\r\n V {6}= {3}0\r\n pc {7}000000008000/);

  await qmp.execute('cont');
  await sleep(300);
  await qmp.execute('stop');
  const t2 = await guestTime();
  // 3 s paused, about 0.3 s running: the guest clock saw only the running part
  const ranFor = Number(t2 - t1) / TIMEBASE_HZ;
  t.true(ranFor > 0.1 && ranFor < 2, `the guest clock advanced ${ranFor} s across a 3 s pause`);

  // memory: x (virtual = physical in M-mode), xp, memsave and pmemsave agree with the ELF
  const words = await qmp.hmp('xp /2wx 0x80000000');
  t.regex(words, /^0000000080000000: 0x[0-9a-f]{8} 0x[0-9a-f]{8}\r\n$/);
  t.is(await qmp.hmp('x /2wx 0x80000000'), words);
  t.is(await qmp.hmp('xp /2wx 0x10'), '0000000000000010: Cannot access memory\r\n');
  await qmp.execute('pmemsave', { val: 0x80000000, size: 8, filename: join(dir, 'p.bin') });
  await qmp.execute('memsave', { val: 0x80000000, size: 8, filename: join(dir, 'm.bin'), 'cpu-index': 1 });
  const p = readFileSync(join(dir, 'p.bin'));
  t.deepEqual(readFileSync(join(dir, 'm.bin')), p);
  const w = /0x([0-9a-f]{8}) 0x([0-9a-f]{8})/.exec(words)!;
  t.is(p.readUInt32LE(0), Number(`0x${w[1]}`));
  t.is(p.readUInt32LE(4), Number(`0x${w[2]}`));

  // system_reset while paused: RESET, still paused (as QEMU)
  await qmp.execute('system_reset');
  await qmp.event('RESET', 5000, true);
  t.like(await qmp.execute('query-status'), { status: 'paused' });
  await qmp.execute('quit');
  t.is(await exited(vm.child), 0);
});
