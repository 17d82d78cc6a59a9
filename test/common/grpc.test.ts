/**
 * gRPC plumbing (services/common/grpc.ts): address spellings, a server with Health and
 * Lifecycle, and the client helpers the supervisor and tests use.
 */
import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import {
  call,
  connect,
  formatAddress,
  parseAddress,
  requestShutdown,
  serve,
  serviceInfo,
  waitHealthy,
} from '../../services/common/grpc.js';
import { version } from '../../services/common/version.js';
import { HealthCheckResponse_ServingStatus, HealthClient, type HealthCheckResponse } from '../../proto/gen/health.js';
import { tempDir } from '../helpers/procs.js';

test('parseAddress reads unix and tcp spellings', (t) => {
  t.deepEqual(parseAddress('unix:/run/x.sock'), { kind: 'unix', path: '/run/x.sock', host: '', port: 0 });
  t.is(parseAddress('unix:///run/x.sock').path, '/run/x.sock');
  t.is(parseAddress('unix:rel/x.sock').path, resolve('rel/x.sock'));
  t.deepEqual(parseAddress('tcp:localhost:5000'), { kind: 'tcp', path: '', host: 'localhost', port: 5000 });
  t.deepEqual(parseAddress('127.0.0.1:0'), { kind: 'tcp', path: '', host: '127.0.0.1', port: 0 });
  t.deepEqual(parseAddress('[::1]:80'), { kind: 'tcp', path: '', host: '[::1]', port: 80 });
  t.is(formatAddress(parseAddress('tcp:localhost:5000')), 'localhost:5000');
  t.is(formatAddress(parseAddress('unix:/run/x.sock')), 'unix:/run/x.sock');
});

test('parseAddress: bad addresses are errors that quote them', (t) => {
  t.throws(() => parseAddress('unix:'), { message: "bad address 'unix:': unix: needs a socket path" });
  t.throws(() => parseAddress('localhost'), { message: /bad address 'localhost': expected unix:PATH or HOST:PORT/ });
  t.throws(() => parseAddress('host:port'), { message: /bad address 'host:port'/ });
  t.throws(() => parseAddress('host:99999'), { message: /port out of range/ });
  t.throws(() => parseAddress(''), { message: /bad address ''/ });
});

test('serve: Health and Lifecycle on a unix socket, removed at close', async (t) => {
  const dir = tempDir(t);
  const address = `unix:${join(dir, 'x.sock')}`;
  const reasons: string[] = [];
  const handle = await serve({ name: 'x', version: version(), listen: [address], onShutdown: (r) => reasons.push(r) }, () => {});
  t.teardown(() => handle.close(100));
  t.deepEqual(handle.addresses, [address]);
  t.true(existsSync(join(dir, 'x.sock')));
  await waitHealthy(address, 20000);

  const info = await serviceInfo(address, 20000);
  t.is(info.name, 'x');
  t.is(info.version, version());
  t.is(info.pid, process.pid);
  t.deepEqual(info.listening, [address]);
  t.true(info.uptimeSeconds >= 0);

  const client = connect(HealthClient, address);
  t.teardown(() => client.close());
  const check = (service: string) =>
    call<{ service: string }, HealthCheckResponse>(client, client.check, { service }, 20000);
  t.is((await check('')).status, HealthCheckResponse_ServingStatus.SERVING);
  t.is((await check('x')).status, HealthCheckResponse_ServingStatus.SERVING);
  t.is((await check('other')).status, HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN);
  handle.setStatus(HealthCheckResponse_ServingStatus.NOT_SERVING);
  t.is((await check('')).status, HealthCheckResponse_ServingStatus.NOT_SERVING);
  await t.throwsAsync(waitHealthy(address, 300), { message: /did not become healthy in 300 ms \(status 2\)/ });
  handle.setStatus(HealthCheckResponse_ServingStatus.SERVING);

  await requestShutdown(address, 'test says so', 20000);
  const deadline = Date.now() + 20000;
  while (reasons.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(reasons, ['test says so']);

  await handle.close(1000);
  t.false(existsSync(join(dir, 'x.sock')), 'close removes the socket file');
});

test('serve on tcp port 0 reports the port it got', async (t) => {
  const handle = await serve({ name: 'tcp', version: version(), listen: ['127.0.0.1:0'], onShutdown: () => {} }, () => {});
  t.teardown(() => handle.close(100));
  const [address] = handle.addresses;
  t.regex(address!, /^127\.0\.0\.1:\d+$/);
  t.not(address, '127.0.0.1:0');
  await waitHealthy(address!, 20000);
  t.is((await serviceInfo(address!, 20000)).name, 'tcp');
});

test('serve refuses a live socket or a file that is not one, takes over a stale socket, refuses a bad address', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'taken.sock');
  writeFileSync(path, '');
  await t.throwsAsync(serve({ name: 'x', version: '0', listen: [`unix:${path}`], onShutdown: () => {} }, () => {}), {
    message: /cannot listen on unix:.*taken\.sock: .*taken\.sock exists and is not a socket/,
  });
  // a socket file nobody accepts on (its process was killed): removed and listened on again
  const stale = join(dir, 'stale.sock');
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
  const again = await serve({ name: 'stale', version: '0', listen: [`unix:${stale}`], onShutdown: () => {} }, () => {});
  t.teardown(() => again.close(100));
  await waitHealthy(`unix:${stale}`, 20000);
  // a live one is another instance's
  await t.throwsAsync(serve({ name: 'x', version: '0', listen: [`unix:${stale}`], onShutdown: () => {} }, () => {}), {
    message: /cannot listen on unix:.*stale\.sock: another instance is listening on/,
  });
  await t.throwsAsync(serve({ name: 'x', version: '0', listen: ['nowhere'], onShutdown: () => {} }, () => {}), {
    message: /bad address 'nowhere'/,
  });
  await t.throwsAsync(
    serve({ name: 'x', version: '0', listen: [`unix:${join(dir, 'no/such/dir/x.sock')}`], onShutdown: () => {} }, () => {}),
    { message: /cannot listen on unix:/ },
  );
});

test('waitHealthy on nothing fails with the address and the last error', async (t) => {
  const dir = tempDir(t);
  const address = `unix:${join(dir, 'none.sock')}`;
  const e = await t.throwsAsync(waitHealthy(address, 300));
  t.true(e!.message.startsWith(`service at ${address} did not become healthy in 300 ms (`));
  await t.throwsAsync(serviceInfo(address, 300));
});
