/**
 * NBD servers for tests: tsemu-nbd, qemu-nbd and nbdkit on unix sockets in a test's temp
 * dir, started and waited for (listening on the socket), killed at teardown.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { binPath, sleep, spawnChild, type Child } from '../helpers/procs.js';

export interface Served {
  proc: Child;
  sock: string;
  uri: string;
}

let serial = 0;

export function nbdUri(sock: string, name = ''): string {
  return `nbd+unix:///${encodeURIComponent(name)}?socket=${sock}`;
}

/**
 * True once a process listens on unix socket `path`: the file appears at bind(), before
 * listen(), so its existence alone races. /proc/net/unix flags a listening socket with
 * __SO_ACCEPTCON (0x10000); checking it costs the server nothing, where a probe connection
 * would end a qemu-nbd started without -t.
 */
function listening(path: string): boolean {
  if (!existsSync(path)) return false;
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[7] === path && (parseInt(f[3]!, 16) & 0x10000) !== 0) return true;
  }
  return false;
}

async function waitForSocket(p: Child, sock: string, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let exited = false;
  void p.exited.then(() => (exited = true));
  while (!listening(sock)) {
    if (exited) throw new Error(`${what} exited before listening: ${p.stderr()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${sock}: ${p.stderr()}`);
    await sleep(20);
  }
}

/** `tsemu-nbd ARGS -k SOCK FILE` */
export async function tsemuNbd(t: ExecutionContext, dir: string, file: string, args: string[] = [], name = ''): Promise<Served> {
  const sock = join(dir, `tsemu-nbd-${++serial}.sock`);
  const proc = spawnChild(t, [binPath('tsemu-nbd'), ...args, '-k', sock, file]);
  await waitForSocket(proc, sock, 'tsemu-nbd');
  return { proc, sock, uri: nbdUri(sock, name) };
}

/** `qemu-nbd ARGS -k SOCK FILE` */
export async function qemuNbd(t: ExecutionContext, dir: string, file: string, args: string[] = [], name = ''): Promise<Served> {
  const sock = join(dir, `qemu-nbd-${++serial}.sock`);
  const proc = spawnChild(t, [...args, '-k', sock, file], { command: 'qemu-nbd' });
  await waitForSocket(proc, sock, 'qemu-nbd');
  return { proc, sock, uri: nbdUri(sock, name) };
}

/** `nbdkit -f -U SOCK ARGS` (plugin and its parameters in ARGS) */
export async function nbdkit(t: ExecutionContext, dir: string, args: string[], name = ''): Promise<Served> {
  const sock = join(dir, `nbdkit-${++serial}.sock`);
  const proc = spawnChild(t, ['-f', '-U', sock, ...args], { command: 'nbdkit' });
  await waitForSocket(proc, sock, 'nbdkit');
  return { proc, sock, uri: nbdUri(sock, name) };
}

/** A raw connection, for speaking (or mangling) the protocol by hand. */
export function rawConnect(sock: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(sock, () => resolve(s));
    s.once('error', reject);
  });
}

/** Collects what a raw socket receives; `take(n)` waits for n more bytes (or the end). */
export class Received {
  private buf = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(s: Socket) {
    s.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    s.on('end', end);
    s.on('close', end);
    s.on('error', end);
  }

  /** The next `n` bytes, or null if the peer closed first. */
  async take(n: number, timeoutMs = 10_000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.ended) return null;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} bytes`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Resolves true when the peer has closed the connection. */
  async closed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await sleep(20);
    return this.ended;
  }
}

/**
 * A throwaway x509 PKI in QEMU's tls-creds-x509 layout (also what nbdkit and libnbd read):
 * DIR/ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem, all
 * for "localhost". Made with openssl; returns DIR.
 */
export function makePki(dir: string): string {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: pki, stdio: 'pipe' });
  const key = (name: string) => `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ${name}`;
  sh(`${key('ca-key.pem')} && openssl req -x509 -new -key ca-key.pem -out ca-cert.pem -days 2 -subj /CN=tsemu-test-ca`);
  for (const who of ['server', 'client']) {
    const usage = who === 'server' ? 'serverAuth' : 'clientAuth';
    sh(`${key(`${who}-key.pem`)} && openssl req -new -key ${who}-key.pem -out ${who}.csr -subj /CN=localhost && ` +
      `printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=${usage}\\n' > ${who}.ext && ` +
      `openssl x509 -req -in ${who}.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile ${who}.ext -out ${who}-cert.pem`);
  }
  return pki;
}
