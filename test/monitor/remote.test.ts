/**
 * Endpoints beyond the local socket: QMP over WebSocket for browser tools, and the rules
 * for listeners not on loopback: TLS and a secret, or an explicit insecure=on; failed
 * secrets are logged and rate-limited.
 */
import test from 'ava';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, sleep, spawnChild, tempDir } from '../helpers/procs.js';
import { buildGuest, exited } from './helpers.js';
import { QmpClient } from '../../services/monitor/qmp-client.js';

function freePort(): Promise<number> {
  return freePorts(1).then(([p]) => p!);
}

/** `n` distinct free ports (all held open until each is known, so none comes back twice). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<Server>((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => res(s));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
  return ports;
}

async function waitPort(port: number, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

function startTsemu(elf: string, qmp: string) {
  const child = spawn(process.execPath, [binPath('tsemu'), '-M', 'virt', '-bios', 'none', '-kernel', elf, '-smp', '2', '-m', '64M', '-display', 'none', '-serial', 'null', '-S', '-qmp', qmp], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stderr: () => err };
}

/** A minimal WebSocket client: masked text frames out, text frames in. */
async function wsConnect(port: number, path = '/') {
  const s = createConnection(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const key = randomBytes(16).toString('base64');
  s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  let head = '';
  const messages: string[] = [];
  let closed = false;
  s.on('close', () => (closed = true));
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!head) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      head = buf.subarray(0, i).toString();
      buf = buf.subarray(i + 4);
    }
    while (buf.length >= 2) {
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      if ((buf[0]! & 0x0f) === 1) messages.push(buf.subarray(off, off + len).toString());
      buf = buf.subarray(off + len);
    }
  });
  const send = (text: string, masked = true) => {
    const p = Buffer.from(text);
    const mask = masked ? randomBytes(4) : Buffer.alloc(0);
    const h = p.length < 126 ? Buffer.from([0x81, (masked ? 0x80 : 0) | p.length]) : Buffer.from([0x81, (masked ? 0x80 : 0) | 126, p.length >> 8, p.length & 0xff]);
    if (masked) for (let i = 0; i < p.length; i++) p[i]! ^= mask[i & 3]!;
    s.write(Buffer.concat([h, mask, p]));
  };
  const next = async (from: number, ms = 10000) => {
    const deadline = Date.now() + ms;
    while (messages.length <= from) {
      if (Date.now() > deadline || closed) throw new Error(`no message ${from}: ${JSON.stringify(messages)}`);
      await sleep(20);
    }
    return JSON.parse(messages[from]!) as Record<string, unknown>;
  };
  return { s: s as Socket, head: () => head, messages, send, next, closed: () => closed };
}

test('QMP over WebSocket: greeting, commands and events in text frames; unmasked frames end it', async (t) => {
  t.timeout(60000);
  const port = await freePort();
  const vm = startTsemu(buildGuest('idle'), `tcp:127.0.0.1:${port},server=on,wait=off,websocket=on`);
  t.teardown(() => vm.child.kill('SIGKILL'));
  await waitPort(port);
  const ws = await wsConnect(port);
  t.teardown(() => ws.s.destroy());
  const greeting = await ws.next(0);
  t.regex(ws.head(), /^HTTP\/1\.1 101 Switching Protocols/);
  t.truthy((greeting.QMP as { version: unknown }).version);
  ws.send('{"execute": "qmp_capabilities", "id": 1}');
  t.deepEqual(await ws.next(1), { return: {}, id: 1 });
  ws.send('{"execute": "cont"}');
  t.is((await ws.next(2)).event, 'RESUME');
  t.deepEqual(await ws.next(3), { return: {} });
  ws.send('{"execute": "query-status", "id": "x"}');
  t.like(await ws.next(4), { return: { status: 'running' }, id: 'x' });
  ws.send('{"execute": }');
  t.like(await ws.next(5), { error: { class: 'GenericError' } });

  const rude = await wsConnect(port);
  t.teardown(() => rude.s.destroy());
  await rude.next(0);
  rude.send('{"execute": "qmp_capabilities"}', false);
  for (let i = 0; i < 100 && !rude.closed(); i++) await sleep(20);
  t.true(rude.closed(), 'an unmasked client frame ends the connection');

  // not WebSocket at all: refused, the endpoint lives on
  const plain = createConnection(port, '127.0.0.1');
  plain.write('{"execute": "qmp_capabilities"}\r\n\r\n');
  const reply = await new Promise<string>((r) => plain.once('data', (d) => r(d.toString())));
  t.regex(reply, /^HTTP\/1\.1 400/);
  plain.destroy();

  ws.send('{"execute": "quit"}');
  t.is(await exited(vm.child), 0);
});

test('a listener not on loopback needs TLS and a secret, or insecure=on', async (t) => {
  t.timeout(60000);
  const elf = buildGuest('idle');
  const port = await freePort();
  const refused = startTsemu(elf, `tcp:0.0.0.0:${port},server=on,wait=off`);
  t.teardown(() => refused.child.kill('SIGKILL'));
  t.is(await exited(refused.child), 1);
  t.regex(refused.stderr(), /not on loopback: give tls-cert=FILE,tls-key=FILE and secret-file=FILE \(or insecure=on/);

  const open = startTsemu(elf, `tcp:0.0.0.0:${port},server=on,wait=off,insecure=on`);
  t.teardown(() => open.child.kill('SIGKILL'));
  await waitPort(port);
  const c = await QmpClient.connect(`tcp:127.0.0.1:${port}`);
  await c.negotiate();
  await c.execute('quit');
  c.close();
  t.is(await exited(open.child), 0);
});

test('TLS and a secret: nothing before authenticate; a wrong secret is logged, refused and rate-limited', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-tls-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'correct horse battery staple\n', { mode: 0o600 });
  const port = await freePort();
  const vm = startTsemu(buildGuest('idle'), `tcp:0.0.0.0:${port},server=on,wait=off,tls-cert=${cert},tls-key=${key},secret-file=${secretFile}`);
  t.teardown(() => vm.child.kill('SIGKILL'));
  await waitPort(port);
  const tls = { ca: readFileSync(cert), servername: 'localhost' };

  const c1 = await QmpClient.connect(`tcp:127.0.0.1:${port}`, { tls });
  t.teardown(() => c1.close());
  t.truthy(c1.greeting.QMP.version);
  await t.throwsAsync(c1.execute('qmp_capabilities'), { message: /Authentication required/ });
  await t.throwsAsync(c1.execute('authenticate', { secret: 'wrong' }), { message: /Authentication failed/ });
  await new Promise<void>((r) => (c1.socket.destroyed ? r() : c1.socket.once('close', () => r())));

  // right away, even the right secret is refused: this address must wait
  const c2 = await QmpClient.connect(`tcp:127.0.0.1:${port}`, { tls });
  t.teardown(() => c2.close());
  await t.throwsAsync(c2.execute('authenticate', { secret: 'correct horse battery staple' }), { message: /Authentication failed/ });
  await sleep(2200);
  const c3 = await QmpClient.connect(`tcp:127.0.0.1:${port}`, { tls });
  t.teardown(() => c3.close());
  await c3.execute('authenticate', { secret: 'correct horse battery staple' });
  await c3.negotiate();
  t.like(await c3.execute('query-status'), { status: 'prelaunch' });
  t.regex(vm.stderr(), /authentication failed from 127\.0\.0\.1/);
  t.regex(vm.stderr(), /rate-limited/);

  // clear text on the TLS port gets no greeting
  const plain = createConnection(port, '127.0.0.1');
  const got = await new Promise<string>((r) => {
    let s = '';
    plain.on('data', (d) => (s += d.toString()));
    plain.on('close', () => r(s));
    plain.on('error', () => r(s));
    plain.write('{"execute": "qmp_capabilities"}\n');
  });
  t.false(got.includes('"QMP"'));
  await c3.execute('quit');
  t.is(await exited(vm.child), 0);
});

test('a secret on loopback endpoints too: HMP asks for it, WebSocket takes ?token=', async (t) => {
  t.timeout(60000);
  const dir = tempDir(t, 'tsemu-secret-');
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 's3cret\n', { mode: 0o600 });
  const [hport, wport] = await freePorts(2);
  const elf = buildGuest('idle');
  const { child, stderr } = spawnChild(t, [binPath('tsemu'), '-M', 'virt', '-bios', 'none', '-kernel', elf, '-m', '64M', '-display', 'none', '-serial', 'null', '-S',
    '-monitor', `tcp:127.0.0.1:${hport},server=on,wait=off,secret-file=${secretFile}`,
    '-qmp', `tcp:127.0.0.1:${wport},server=on,wait=off,websocket=on,secret-file=${secretFile}`]);
  const listening = async (port: number) => waitPort(port).catch((e: Error) => {
    throw new Error(`${e.message} (tsemu ${child.exitCode === null ? 'still runs' : `exited ${child.exitCode}`}; stderr: ${stderr() || 'nothing'})`);
  });
  await listening(hport);
  await listening(wport);

  const hmp = createConnection(hport, '127.0.0.1');
  t.teardown(() => hmp.destroy());
  let text = '';
  hmp.on('data', (d) => (text += d.toString()));
  const until = async (re: RegExp) => {
    for (let i = 0; i < 200 && !re.test(text); i++) await sleep(25);
    t.regex(text, re);
  };
  await until(/^Password: $/);
  hmp.write('s3cret\r');
  await until(/monitor - type 'help' for more information\r\n\(qemu\) $/);
  t.false(text.includes('s3cret'), 'the secret is not echoed');
  hmp.write('info status\r');
  await until(/VM status: paused \(prelaunch\)\r\n\(qemu\) $/);

  const bad = await wsConnect(wport, '/?token=wrong');
  for (let i = 0; i < 100 && !bad.head(); i++) await sleep(20);
  t.regex(bad.head(), /^HTTP\/1\.1 401/);
  bad.s.destroy();
  await sleep(1100); // the failure made this address wait
  const ws = await wsConnect(wport, '/?token=s3cret');
  t.teardown(() => ws.s.destroy());
  await ws.next(0);
  ws.send('{"execute": "qmp_capabilities"}');
  t.deepEqual(await ws.next(1), { return: {} });
  ws.send('{"execute": "quit"}');
  t.is(await exited(child), 0);
});
