/**
 * `tsemu-nbd`: serve a disk image over NBD, in qemu-nbd's spellings.
 *
 *   tsemu-nbd [-f FMT] [-r] [-x NAME] [-D TEXT] [-b ADDR] [-p PORT | -k SOCKET] [-e N] [-t]
 *             [--cache=MODE] [-n] [--fork] [--pid-file=PATH] FILE
 *
 * As qemu-nbd: one export (named by -x, "" by default) of any image openImage opens;
 * TCP 0.0.0.0:10809 unless -k names a unix socket (a stale socket file is replaced, and
 * removed at exit); at most -e clients at once (more wait for a free slot); without -t
 * the server exits when its last client disconnects. Errors print "tsemu-nbd: message" and
 * exit with status 1; SIGTERM/SIGINT flush the image and exit 0.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { version } from '../../common/version.js';
import { openImage } from '../format/open.js';
import type { BlockImage } from '../format/types.js';
import { errnoOf } from '../protocol/file.js';
import { strerrorOf } from '../../common/errno.js';
import { has, last, parseArgs, parseOptionList, type Parsed } from '../img/args.js';
import { NbdServer, type ServerTls } from './server.js';
import { NBD_PORT } from './wire.js';

const PROG = 'tsemu-nbd';

export const USAGE = `Usage: tsemu-nbd [OPTIONS] FILE
Exports a disk image as a Network Block Device (NBD), in qemu-nbd's spellings.

  -h, --help                display this help and exit
  -V, --version             output version information and exit

Connection properties:
  -p, --port=PORT           port to listen on (default '${NBD_PORT}')
  -b, --bind=IFACE          interface to bind to (default '0.0.0.0')
  -k, --socket=PATH         path to the unix socket
  -e, --shared=NUM          device can be shared by NUM clients (default '1')
  -t, --persistent          don't exit on the last connection
  -x, --export-name=NAME    expose export by name (default is empty string)
  -D, --description=TEXT    export a human-readable description

Block device options:
  -f, --format=FORMAT       set image format (raw, qcow2, ...)
  -r, --read-only           export read-only
  -n, --nocache             disable host cache
      --cache=MODE          set cache mode used to access the disk image, the
                            valid options are: 'none', 'writeback' (default),
                            'writethrough', 'directsync' and 'unsafe'

 Security:
      --object tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off]
                            TLS credentials: DIR holds ca-cert.pem, server-cert.pem
                            and server-key.pem (QEMU's layout)
      --tls-creds=ID        use the TLS credentials object ID: clients must
                            negotiate TLS (verify-peer, the default, asks them
                            for a certificate signed by the CA)

General purpose options:
      --fork                fork off the server process and exit the parent
                            once the server is running
      --pid-file=PATH       store the server's process ID in the given file
  -v, --verbose             display extra debugging information
`;

class UsageError extends Error {}

/** Long options to the short letters they stand for. */
const LONG: Record<string, string> = {
  port: 'p', bind: 'b', socket: 'k', shared: 'e', persistent: 't', 'export-name': 'x', description: 'D',
  format: 'f', 'read-only': 'r', nocache: 'n', verbose: 'v', help: 'h', version: 'V',
};

function parse(argv: string[]): Parsed {
  const p = parseArgs(argv, {
    short: 'hVp:b:k:e:tx:D:f:rnv',
    long: ['port=', 'bind=', 'socket=', 'shared=', 'persistent', 'export-name=', 'description=', 'format=', 'read-only', 'nocache',
      'cache=', 'fork', 'pid-file=', 'verbose', 'help', 'version', 'object=', 'tls-creds='],
  });
  for (const [long, short] of Object.entries(LONG)) {
    const v = p.opts.get(long);
    if (v) {
      p.opts.set(short, [...(p.opts.get(short) ?? []), ...v]);
      p.opts.delete(long);
    }
  }
  return p;
}

interface Options {
  file: string;
  format?: string;
  readOnly: boolean;
  cache?: string;
  exportName: string;
  description?: string;
  bind: string;
  port: number;
  socket?: string;
  shared: number;
  persistent: boolean;
  fork: boolean;
  pidFile?: string;
  tls?: ServerTls;
}

/** --object tls-creds-x509,... and --tls-creds=ID: the secure context, as qemu-nbd builds it. */
function tlsOptions(p: Parsed): ServerTls | undefined {
  const id = p.opts.get('tls-creds')?.at(-1);
  if (id === undefined) return undefined;
  const obj = (p.opts.get('object') ?? []).map((o) => parseOptionList([o])).find((o) => o.get('id') === id);
  if (!obj) throw new Error(`No TLS credentials with id '${id}'`);
  const type = [...obj.keys()][0];
  if (type !== 'tls-creds-x509' && obj.get('qom-type') !== 'tls-creds-x509') throw new Error(`Object with id '${id}' is not TLS credentials`);
  if ((obj.get('endpoint') ?? 'client') !== 'server') throw new Error('Expecting TLS credentials with a server endpoint');
  const dir = obj.get('dir');
  if (!dir) throw new Error(`TLS credentials '${id}' need dir=`);
  const file = (name: string) => {
    try {
      return readFileSync(join(dir, name));
    } catch (e) {
      throw new Error(`Unable to access credentials ${join(dir, name)}: ${describe(e)}`);
    }
  };
  const verifyPeer = !['off', 'no', 'false'].includes(obj.get('verify-peer') ?? 'on');
  return {
    context: createSecureContext({ ca: file('ca-cert.pem'), cert: file('server-cert.pem'), key: file('server-key.pem') }),
    verifyPeer,
  };
}

function describe(e: unknown): string {
  return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message;
}

function options(p: Parsed): Options {
  if (p.operands.length !== 1) throw new UsageError('Invalid number of arguments');
  const portText = last(p, 'p') ?? String(NBD_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new Error(`Invalid port number '${portText}'`);
  const sharedText = last(p, 'e') ?? '1';
  const shared = Number(sharedText);
  if (!/^\d+$/.test(sharedText) || shared < 0) throw new Error(`Invalid shared device number '${sharedText}'`);
  const cache = has(p, 'n') ? 'none' : p.opts.get('cache')?.at(-1);
  if (cache !== undefined && !['none', 'writeback', 'writethrough', 'directsync', 'unsafe'].includes(cache)) {
    throw new Error(`Invalid cache mode \`${cache}'`);
  }
  if (has(p, 'k') && (has(p, 'p') || has(p, 'b'))) throw new Error('-k cannot be used with -p or -b');
  return {
    file: p.operands[0]!,
    format: last(p, 'f'),
    readOnly: has(p, 'r'),
    cache,
    exportName: last(p, 'x') ?? '',
    description: last(p, 'D'),
    bind: last(p, 'b') ?? '0.0.0.0',
    port,
    socket: last(p, 'k'),
    // qemu-nbd: 0 means unlimited
    shared: shared === 0 ? Infinity : shared,
    persistent: has(p, 't'),
    fork: p.opts.has('fork'),
    pidFile: p.opts.get('pid-file')?.at(-1),
    tls: tlsOptions(p),
  };
}

/** --fork: runs the server in a detached child and returns once it listens (or failed). */
function forkServer(argv: string[]): Promise<number> {
  const script = process.argv[1]!;
  const child = spawn(process.execPath, [script, ...argv.filter((a) => a !== '--fork')], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, TSEMU_NBD_FORKED: '1' },
  });
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(c));
  return new Promise((resolve) => {
    child.on('message', (m) => {
      if ((m as { ready?: boolean }).ready) {
        child.stderr!.destroy();
        child.disconnect();
        child.unref();
        resolve(0);
      }
    });
    child.on('exit', (code) => resolve(code || 1));
  });
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try {
    const p = parse(argv);
    if (has(p, 'h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (has(p, 'V')) {
      process.stdout.write(`${PROG} version ${version()}\n`);
      return 0;
    }
    o = options(p);
  } catch (e) {
    const usage = e instanceof UsageError || (e as { errno?: string }).errno === 'EINVAL';
    // one line, as every tsemu command reports a mistake (qemu-nbd adds a second 'Try' line)
    process.stderr.write(`${PROG}: ${(e as Error).message}${usage ? ` (try '${PROG} --help')` : ''}\n`);
    return 1;
  }
  if (o.fork) return forkServer(argv);
  if (process.env.TSEMU_NBD_FORKED) process.stderr.on('error', () => {});

  let image: BlockImage;
  try {
    image = await openImage(o.file, { format: o.format, readOnly: o.readOnly, cache: o.cache });
  } catch (e) {
    process.stderr.write(`${PROG}: Failed to blk_new_open '${o.file}': ${(e as Error).message}\n`);
    return 1;
  }
  const nbd = new NbdServer([{ name: o.exportName, description: o.description, image, readOnly: o.readOnly || image.readOnly, multiConn: o.shared > 1 }], o.tls);
  return serve(nbd, image, o);
}

async function serve(nbd: NbdServer, image: BlockImage, o: Options): Promise<number> {
  const waiting: Socket[] = [];
  let active = 0;
  let stopping = false;
  let exit!: (code: number) => void;
  const exited = new Promise<number>((r) => (exit = r));

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    server.close();
    for (const s of waiting.splice(0)) s.destroy();
    await nbd.closeAll();
    try {
      await image.close();
    } catch (e) {
      process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
      code = 1;
    }
    if (o.socket) try { unlinkSync(o.socket); } catch { /* already gone */ }
    if (o.pidFile) try { unlinkSync(o.pidFile); } catch { /* already gone */ }
    exit(code);
  };

  const start = (sock: Socket) => {
    active++;
    void nbd.serve(sock).finally(() => {
      active--;
      const next = waiting.shift();
      if (next) start(next);
      else if (active === 0 && !o.persistent) void stop(0);
    });
  };

  const server: Server = createServer((sock) => {
    if (stopping) return void sock.destroy();
    if (active >= o.shared) {
      // As qemu-nbd: a client over the limit waits until a slot frees.
      waiting.push(sock);
      sock.on('close', () => {
        const i = waiting.indexOf(sock);
        if (i >= 0) waiting.splice(i, 1);
      });
      sock.on('error', () => {});
      return;
    }
    start(sock);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (o.socket) {
        try { unlinkSync(o.socket); } catch { /* none yet */ }
        server.listen(o.socket, resolve);
      } else server.listen(o.port, o.bind, resolve);
    });
  } catch (e) {
    const where = o.socket ?? `${o.bind}:${o.port}`;
    const code = errnoOf(e);
    process.stderr.write(`${PROG}: Failed to bind socket to ${where}: ${strerrorOf(code, (e as Error).message)}\n`);
    await image.close().catch(() => {});
    return 1;
  }
  server.on('error', (e) => process.stderr.write(`${PROG}: ${e.message}\n`));
  if (o.pidFile) writeFileSync(o.pidFile, `${process.pid}\n`);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => void stop(0));
  if (process.send) {
    process.send({ ready: true });
    process.disconnect();
  }
  return exited;
}
