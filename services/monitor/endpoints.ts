/**
 * Where operators connect: QMP or HMP on a unix socket or TCP, optionally TLS, optionally
 * WebSocket, in QEMU's chardev spelling (`tcp:HOST:PORT,server=on,wait=off`,
 * `unix:PATH,server=on,wait=off`, `...,websocket=on`).
 *
 * A listener that is not on loopback carries the VM to anyone who can reach it, so it
 * needs TLS (`tls-cert=FILE,tls-key=FILE`) and a secret (`secret-file=FILE`) and will not
 * start without them unless `insecure=on` says so. Clients give the secret with the
 * `authenticate` command (QMP), at the `Password:` prompt (HMP), or as `?token=` /
 * `Authorization: Bearer` in the WebSocket upgrade. Failures are logged and each peer
 * address must wait longer after each one (1 s doubling, up to a minute).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { resolve } from 'node:path';
import { logger } from '../common/log.js';
import { claimSocketPath } from '../common/unix-socket.js';
import { HmpSession, QmpSession, type Session, type Transport } from './session.js';
import { FrameReader, frame, handshake } from './websocket.js';
import type { MachineLink } from './machine-link.js';
import { DEFAULT_LIMITS } from './json.js';

const log = logger('monitor');

export interface EndpointSpec {
  kind: 'qmp' | 'hmp';
  unix?: string;
  host?: string;
  port?: number;
  websocket: boolean;
  tlsCert?: string;
  tlsKey?: string;
  secretFile?: string;
  insecure: boolean;
  wait: boolean;
}

/** Parses `tcp:HOST:PORT,opt=val,...` or `unix:PATH,...` with QEMU's chardev options. */
export function parseEndpoint(kind: string, address: string, options: Record<string, string> = {}): EndpointSpec {
  if (kind !== 'qmp' && kind !== 'hmp') throw new Error(`unknown monitor kind '${kind}' (qmp or hmp)`);
  const [addr, ...opts] = address.split(',');
  const o: Record<string, string> = { ...options };
  for (const x of opts) {
    const eq = x.indexOf('=');
    if (eq < 0) o[x === 'nowait' ? 'wait' : x] = x === 'nowait' ? 'off' : 'on';
    else o[x.slice(0, eq)] = x.slice(eq + 1);
  }
  const on = (k: string, dflt: boolean) => {
    const v = o[k];
    if (v === undefined) return dflt;
    if (v === 'on' || v === 'yes' || v === 'true') return true;
    if (v === 'off' || v === 'no' || v === 'false') return false;
    throw new Error(`${address}: ${k}=${v}: expected on or off`);
  };
  const known = new Set(['server', 'wait', 'websocket', 'tls-cert', 'tls-key', 'secret-file', 'insecure']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new Error(`${address}: unknown option '${k}'`);
  if (!on('server', true)) throw new Error(`${address}: the monitor only listens (server=on)`);
  const spec: EndpointSpec = {
    kind,
    websocket: on('websocket', false),
    tlsCert: o['tls-cert'],
    tlsKey: o['tls-key'],
    secretFile: o['secret-file'],
    insecure: on('insecure', false),
    wait: on('wait', true),
  };
  if (addr!.startsWith('unix:')) {
    spec.unix = resolve(addr!.slice(5));
    if (!addr!.slice(5)) throw new Error(`${address}: unix: needs a path`);
  } else {
    const m = /^(?:tcp:)?(\[[^\]]*\]|[^:]*):(\d+)$/.exec(addr!);
    if (!m) throw new Error(`${address}: expected unix:PATH or tcp:HOST:PORT`);
    spec.host = m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0';
    spec.port = Number(m[2]);
    if (spec.port > 65535) throw new Error(`${address}: port out of range`);
  }
  if ((spec.tlsCert === undefined) !== (spec.tlsKey === undefined)) throw new Error(`${address}: tls-cert and tls-key go together`);
  return spec;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}

/** Failed secrets per peer address: each failure doubles the wait before the next try. */
export class AuthLimiter {
  private readonly failures = new Map<string, { count: number; until: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  check(secret: Buffer, given: string, peer: string): boolean {
    const key = peer.replace(/:\d+$/, '');
    const f = this.failures.get(key);
    if (f && this.now() < f.until) {
      log.warn(`monitor: authentication from ${peer} refused: rate-limited after ${f.count} failure(s)`);
      return false;
    }
    const a = createHash('sha256').update(secret).digest();
    const b = createHash('sha256').update(given).digest();
    if (timingSafeEqual(a, b)) {
      this.failures.delete(key);
      return true;
    }
    const count = (f?.count ?? 0) + 1;
    this.failures.set(key, { count, until: this.now() + Math.min(60000, 1000 * 2 ** (count - 1)) });
    log.warn(`monitor: authentication failed from ${peer} (${count} failure(s))`);
    return false;
  }
}

export interface RunningEndpoint {
  spec: EndpointSpec;
  /** The address bound, with the port chosen when 0 was asked. */
  address: string;
  clients(): number;
  close(): Promise<void>;
}

function socketTransport(sock: Socket, peer: string): Transport {
  return {
    write: (t) => {
      if (sock.destroyed || !sock.writable) return false;
      sock.write(t);
      return true;
    },
    buffered: () => sock.writableLength,
    pause: () => sock.pause(),
    resume: () => sock.resume(),
    close: () => {
      sock.end();
      setTimeout(() => sock.destroy(), 2000).unref();
    },
    peer,
  };
}

function wsTransport(sock: Socket, peer: string): Transport {
  return {
    write: (t) => {
      if (sock.destroyed || !sock.writable) return false;
      // one message per frame: split what the session wrote at its line ends
      for (const m of t.split('\r\n')) if (m) sock.write(frame(0x1, Buffer.from(m)));
      return true;
    },
    buffered: () => sock.writableLength,
    pause: () => sock.pause(),
    resume: () => sock.resume(),
    close: () => {
      if (!sock.destroyed) sock.end(frame(0x8, Buffer.from([0x03, 0xe8])));
      setTimeout(() => sock.destroy(), 2000).unref();
    },
    peer,
  };
}

export async function openEndpoint(spec: EndpointSpec, link: MachineLink, limiter: AuthLimiter): Promise<RunningEndpoint> {
  const remote = spec.host !== undefined && !isLoopback(spec.host);
  const where = spec.unix ? `unix:${spec.unix}` : `tcp:${spec.host}:${spec.port}`;
  if (remote && !spec.insecure && !(spec.tlsCert && spec.secretFile)) {
    throw new Error(
      `${where} is not on loopback: give tls-cert=FILE,tls-key=FILE and secret-file=FILE (or insecure=on to serve it in the clear to anyone)`,
    );
  }
  let secret: Buffer | undefined;
  if (spec.secretFile) {
    try {
      secret = Buffer.from(readFileSync(spec.secretFile, 'utf8').trim());
    } catch (e) {
      throw new Error(`${where}: cannot read secret-file: ${(e as Error).message}`);
    }
    if (secret.length === 0) throw new Error(`${where}: secret-file is empty`);
  }
  const check = secret ? (given: string, peer: string) => limiter.check(secret!, given, peer) : undefined;
  const sessions = new Set<Session>();

  const onConnection = (sock: Socket) => {
    const peer = spec.unix ? `unix:${spec.unix}` : `${sock.remoteAddress}:${sock.remotePort}`;
    sock.setNoDelay?.(true);
    if (!spec.unix) sock.setKeepAlive(true, 30000);
    sock.on('error', (e) => log.debug(`monitor client ${peer}: ${e.message}`));
    const start = (t: Transport, preAuthed: boolean) => {
      const opts = { link, secret: preAuthed ? undefined : check, onClose: () => sessions.delete(s) };
      const s: Session = spec.kind === 'qmp' ? new QmpSession(t, opts) : new HmpSession(t, opts);
      sessions.add(s);
      sock.on('close', () => s.ended());
      s.start();
      return s;
    };
    if (!spec.websocket) {
      const s = start(socketTransport(sock, peer), false);
      sock.on('data', (d: Buffer) => s.input(d));
      return;
    }
    // an upgrade that does not come in time is a half-open connection: drop it
    const timer = setTimeout(() => sock.destroy(), 10000);
    let authed = false;
    handshake(sock, (up) => {
      const token = new URL(up.path, 'http://x').searchParams.get('token') ?? /^Bearer\s+(.+)$/i.exec(up.headers.authorization ?? '')?.[1];
      if (check && token !== undefined && token !== null) {
        if (!check(token, peer)) return '401 Unauthorized';
        authed = true;
      }
      return undefined;
    }).then(
      ({ rest }) => {
        clearTimeout(timer);
        const t = wsTransport(sock, peer);
        const s = start(t, authed);
        const reader = new FrameReader(DEFAULT_LIMITS.maxMessage, {
          text: (m) => (s instanceof QmpSession ? s.message(m) : s.input(`${m}\r`)),
          ping: (p) => sock.write(frame(0xa, p)),
          close: (code, why) => {
            log.debug(`websocket client ${peer} closed: ${code} ${why}`);
            const payload = Buffer.alloc(2);
            payload.writeUInt16BE(code);
            if (!sock.destroyed) sock.end(frame(0x8, payload));
            s.ended();
          },
        });
        sock.on('data', (d: Buffer) => reader.push(d));
        if (rest.length) reader.push(rest);
      },
      (e: Error) => {
        clearTimeout(timer);
        log.debug(`websocket client ${peer}: ${e.message}`);
      },
    );
  };

  let server: Server;
  if (spec.tlsCert) {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(spec.tlsCert);
      key = readFileSync(spec.tlsKey!);
    } catch (e) {
      throw new Error(`${where}: cannot read TLS files: ${(e as Error).message}`);
    }
    server = createTlsServer({ cert, key, handshakeTimeout: 10000 }, onConnection);
    server.on('tlsClientError', (e) => log.warn(`monitor: TLS handshake failed: ${e.message}`));
  } else {
    server = createServer(onConnection);
  }
  // no client can make us accept without bound
  server.maxConnections = 256;
  if (spec.unix) {
    await claimSocketPath(spec.unix).catch((e: Error) => {
      throw new Error(`cannot listen on ${where}: ${e.message}`);
    });
  }
  await new Promise<void>((res, rej) => {
    server.once('error', (e) => rej(new Error(`cannot listen on ${where}: ${e.message}`)));
    if (spec.unix) server.listen(spec.unix, () => res());
    else server.listen(spec.port!, spec.host, () => res());
  });
  server.on('error', (e) => log.error(`monitor listener ${where}: ${e.message}`));
  const a = server.address();
  const address = spec.unix ? `unix:${spec.unix}` : `tcp:${spec.host}:${typeof a === 'object' && a ? a.port : spec.port}`;
  log.info(`${spec.kind} listening on ${address}${spec.websocket ? ' (websocket)' : ''}${spec.tlsCert ? ' (tls)' : ''}`);
  return {
    spec,
    address,
    clients: () => sessions.size,
    close: async () => {
      // a reply in flight (quit's) still goes out
      await Promise.race([Promise.all([...sessions].map((s) => s.idle())), new Promise((r) => setTimeout(r, 1000))]);
      for (const s of sessions) s.close();
      await new Promise<void>((res) => server.close(() => res()));
      if (spec.unix) {
        try {
          unlinkSync(spec.unix);
        } catch {
          // gone already
        }
      }
    },
  };
}
