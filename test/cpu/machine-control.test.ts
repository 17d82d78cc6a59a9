/**
 * Run control of the machine over its gRPC service: -S holds the harts at the reset
 * vector, Step runs one instruction, Cont and Stop pause every hart at once, and the
 * registers of a paused hart are exact (they do not move until Cont).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildProgram, REPO_ROOT } from '../helpers/riscv-build.js';
import { call, connect, waitHealthy } from '../../services/common/grpc.js';
import { MachineClient, type Registers, type Status } from '../../proto/gen/machine.js';

test('stop, step, cont and registers of paused harts', async (t) => {
  const elf = await buildProgram({ name: 'control-spin', source: join(REPO_ROOT, 'test/cpu/control/spin.S'), oracle: false, emulated: false });
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/tsemu'), '-M', 'virt', '-bios', 'none', '-nographic', '-smp', '2', '-m', '64M', '-kernel', elf, '-S'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, TSEMU_READY_FD: '3' },
  });
  t.teardown(() => child.kill('SIGKILL'));
  const ready = await new Promise<{ machine: string }>((res, rej) => {
    let buf = '';
    child.stdio[3]!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) res(JSON.parse(buf.slice(0, nl)));
    });
    child.once('exit', (c) => rej(new Error(`tsemu exited early: ${c}`)));
  });
  await waitHealthy(ready.machine);
  const m = connect(MachineClient, ready.machine);
  t.teardown(() => m.close());
  const status = () => call<object, Status>(m, m.queryStatus, {});
  const regs = (hart: number) => call<{ hart: number }, Registers>(m, m.queryRegisters, { hart });

  t.is((await status()).state, 'prelaunch');
  t.is((await status()).harts, 2);
  // held at the reset vector until cont
  const r0 = await regs(0);
  t.is(r0.pc, '0x1000');
  t.is(r0.state, 'paused');
  t.is(r0.priv, 3);
  // one instruction: auipc t0, 0 -> t0 = 0x1000, pc = 0x1004
  const s1 = await call<{ hart: number; count: number }, Registers>(m, m.step, { hart: 0, count: 1 });
  t.is(s1.pc, '0x1004');
  t.is(s1.x[5], '0x1000');
  t.is((await regs(1)).pc, '0x1000', 'the other hart did not move');

  await call(m, m.cont, {});
  t.is((await status()).state, 'running');
  await new Promise((r) => setTimeout(r, 300));
  const st = await call<object, Status>(m, m.stop, {});
  t.is(st.state, 'paused');
  const a = await regs(0);
  const b = await regs(0);
  t.is(a.state, 'paused');
  t.deepEqual(a, b, 'a paused hart does not move');
  const count1 = BigInt(a.x[10]!);
  t.true(count1 > 0n, 'the guest ran');
  await new Promise((r) => setTimeout(r, 200));
  t.is(BigInt((await regs(0)).x[10]!), count1, 'still paused');
  await call(m, m.cont, {});
  await new Promise((r) => setTimeout(r, 200));
  await call(m, m.stop, {});
  t.true(BigInt((await regs(0)).x[10]!) > count1, 'cont resumed it');
  // stepping from the loop advances the counter by one every two instructions
  const c0 = BigInt((await regs(0)).x[10]!);
  const s2 = await call<{ hart: number; count: number }, Registers>(m, m.step, { hart: 0, count: 4 });
  t.is(BigInt(s2.x[10]!), c0 + 2n);

  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  child.kill('SIGTERM');
  t.is(await exited, 0);
});
