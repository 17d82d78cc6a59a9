/**
 * HMP: on a -monitor socket with QEMU's banner and prompt, on stdio with -monitor stdio,
 * and behind Ctrl-A C on the -nographic console (QEMU's mon:stdio), and back.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { binPath, spawnChild, tempDir } from '../helpers/procs.js';
import { buildGuest, exited, waitSocket } from './helpers.js';
import { QmpClient } from '../../services/monitor/qmp-client.js';

/** Collects a stream's text; `until` resolves when it contains a pattern. */
function collector(stream: NodeJS.ReadableStream) {
  let text = '';
  const waiters: { re: RegExp; from: number; resolve: () => void }[] = [];
  stream.on('data', (d: Buffer) => {
    text += d.toString();
    for (const w of [...waiters]) {
      if (w.re.test(text.slice(w.from))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    text: () => text,
    mark: () => text.length,
    until(re: RegExp, from = 0, ms = 20000): Promise<void> {
      if (re.test(text.slice(from))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ re, from, resolve });
        setTimeout(() => reject(new Error(`no ${re} in ${JSON.stringify(text.slice(from))}`)), ms).unref();
      });
    },
  };
}

const args = (elf: string) => ['-M', 'virt', '-bios', 'none', '-kernel', elf, '-smp', '2', '-m', '64M'];

test('HMP on a -monitor unix socket: banner, prompt, echo, info, x, stop/cont, quit', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-hmp-');
  const sock = join(dir, 'hmp.sock');
  const { child, stderr, exited: ended } = spawnChild(t, [binPath('tsemu'), ...args(buildGuest('idle')), '-display', 'none', '-serial', 'null', '-monitor', `unix:${sock},server=on,wait=off`, '-S']);
  await waitSocket(sock, child);
  const c = createConnection(sock);
  t.teardown(() => c.destroy());
  const out = collector(c);
  await out.until(/monitor - type 'help' for more information\r\n\(qemu\) $/);
  let m = out.mark();
  c.write('info status\r');
  await out.until(/info status\r\nVM status: paused \(prelaunch\)\r\n\(qemu\) $/, m);
  m = out.mark();
  c.write('cont\r\ninfo status\r\n');
  await out.until(/VM status: running\r\n\(qemu\) $/, m);
  m = out.mark();
  c.write('xp /2wx 0x80000000\n');
  await out.until(/0000000080000000: 0x10500073 0x0000bff5\r\n\(qemu\) $/, m);
  m = out.mark();
  c.write('bogus\n');
  await out.until(/unknown command: 'bogus'\r\n\(qemu\) $/, m);
  m = out.mark();
  c.write('info cpus\n');
  await out.until(/\* CPU #0: thread_id=\d+\r\n {2}CPU #1: thread_id=\d+\r\n\(qemu\) $/, m);
  m = out.mark();
  c.write('stop\ninfo registers 1\n');
  await out.until(/CPU#1\r\n[^]*x31\/t6 {3}[0-9a-f]{16}\r\n[^]*\(qemu\) $/, m);
  m = out.mark();
  c.write('info mtree\n');
  await out.until(/0000000080000000-0000000083ffffff \(prio 0, ram\): riscv_virt_board.ram\r\n/, m);
  c.write('quit\n');
  const end = await ended;
  t.is(end.code, 0, `tsemu ended by ${end.signal ?? 'exit'}; stderr: ${stderr() || 'nothing'}`);
});

test('Ctrl-A C switches the -nographic console to the monitor and back; -monitor stdio starts there', async (t) => {
  t.timeout(60000);
  const elf = buildGuest('idle');
  const child = spawn(process.execPath, [binPath('tsemu'), ...args(elf), '-nographic'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const out = collector(child.stdout);
  // give the console a moment to be up, then Ctrl-A C
  await new Promise((r) => setTimeout(r, 1500));
  child.stdin.write('\x01c');
  await out.until(/monitor - type 'help' for more information\r\n[^]*\(qemu\) $/);
  let m = out.mark();
  child.stdin.write('info status\r');
  await out.until(/VM status: running\r\n\(qemu\) $/, m);
  m = out.mark();
  child.stdin.write('stop\r');
  await out.until(/\(qemu\) $/, m);
  // back to the console: keys go to the guest again, not to the monitor
  child.stdin.write('\x01c');
  m = out.mark();
  child.stdin.write('info status\r');
  await new Promise((r) => setTimeout(r, 500));
  t.false(out.text().slice(m).includes('VM status'), 'the guest got those keys');
  // and to the monitor once more: the prompt comes back
  m = out.mark();
  child.stdin.write('\x01c');
  await out.until(/\(qemu\) $/, m);
  m = out.mark();
  child.stdin.write('info status\r');
  await out.until(/VM status: paused\r\n\(qemu\) $/, m);
  child.stdin.write('\x01x');
  t.is(await exited(child), 0);

  const child2 = spawn(process.execPath, [binPath('tsemu'), ...args(elf), '-display', 'none', '-monitor', 'stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child2.kill('SIGKILL'));
  const out2 = collector(child2.stdout);
  await out2.until(/\(qemu\) $/);
  m = out2.mark();
  child2.stdin.write('info status\r');
  await out2.until(/VM status: running\r\n\(qemu\) $/, m);
  child2.stdin.write('quit\r');
  t.is(await exited(child2), 0);
});

test('Ctrl-A C next to -qmp: one monitor serves both, QMP clients see what HMP does', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-hmp-qmp-');
  const qmpPath = join(dir, 'qmp.sock');
  const child = spawn(process.execPath, [binPath('tsemu'), ...args(buildGuest('idle')), '-nographic', '-qmp', `unix:${qmpPath},server=on,wait=off`], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  await waitSocket(qmpPath, child);
  const qmp = await QmpClient.connect(`unix:${qmpPath}`);
  t.teardown(() => qmp.close());
  await qmp.negotiate();
  const out = collector(child.stdout);
  child.stdin.write('\x01c');
  await out.until(/\(qemu\) $/);
  child.stdin.write('stop\r');
  await qmp.event('STOP', 10000, true);
  t.like(await qmp.execute('query-status'), { status: 'paused' });
  await qmp.execute('cont');
  const m = out.mark();
  child.stdin.write('info status\r');
  await out.until(/VM status: running\r\n\(qemu\) $/, m);
  await qmp.execute('quit');
  t.is(await exited(child), 0);
});
