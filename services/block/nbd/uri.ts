/**
 * Where an NBD export is, from the names QEMU and libnbd accept:
 *
 *   nbd://HOST[:PORT]/EXPORT            nbds://...         (TCP; nbds requires TLS)
 *   nbd+unix:///EXPORT?socket=PATH      nbds+unix://...    (unix socket)
 *   nbd:HOST:PORT[:exportname=NAME]     nbd:unix:PATH[:exportname=NAME]   (QEMU's legacy syntax)
 *
 * Query parameters (the NBD URI spec's, libnbd's spellings): socket=, tls-certificates=DIR
 * (also tls-creds=DIR: a directory laid out as QEMU's tls-creds-x509 dir=, with ca-cert.pem,
 * client-cert.pem, client-key.pem), tls-hostname=, tls-verify-peer=0|1, and tsemu's
 * reconnect-delay=SECONDS (QEMU's -blockdev driver=nbd option of that name). The same keys
 * may come as driver options (-blockdev driver=nbd,tls-creds=...,reconnect-delay=...).
 */
import { BlockError } from '../format/types.js';
import { NBD_PORT } from './wire.js';

export type NbdAddress = { type: 'inet'; host: string; port: number } | { type: 'unix'; path: string };

export interface NbdTarget {
  address: NbdAddress;
  exportName: string;
  /** TLS: required (nbds, or a certificate directory given). */
  tls?: { dir?: string; hostname?: string; verifyPeer: boolean };
  /** Seconds requests wait for a reconnect after the server drops (0: fail at once). */
  reconnectDelay: number;
}

/** True when `filename` is spelled as an NBD export. */
export function isNbdFilename(filename: string): boolean {
  return /^nbds?(\+tcp|\+unix)?:\/\//.test(filename) || filename.startsWith('nbd:');
}

function bad(filename: string, why: string): BlockError {
  return new BlockError(`Could not open '${filename}': ${why}`, 'EINVAL');
}

function port(filename: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw bad(filename, `invalid port '${text}'`);
  return n;
}

export function parseNbdFilename(filename: string, options: Record<string, string> = {}): NbdTarget {
  const params = new Map<string, string>();
  let address: NbdAddress;
  let exportName = '';
  let tlsRequired = false;
  if (filename.startsWith('nbd:') && !filename.startsWith('nbd://')) {
    // QEMU's legacy nbd:HOST:PORT[:exportname=X] and nbd:unix:PATH[:exportname=X]
    let rest = filename.slice(4);
    const ex = rest.indexOf(':exportname=');
    if (ex >= 0) {
      exportName = rest.slice(ex + ':exportname='.length);
      rest = rest.slice(0, ex);
    }
    if (rest.startsWith('unix:')) {
      if (!rest.slice(5)) throw bad(filename, 'no socket path');
      address = { type: 'unix', path: rest.slice(5) };
    } else {
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(rest);
      if (!m) throw bad(filename, 'expected nbd:HOST:PORT or nbd:unix:PATH');
      address = { type: 'inet', host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? port(filename, m[2]) : NBD_PORT };
    }
  } else {
    let url: URL;
    try {
      url = new URL(filename);
    } catch {
      throw bad(filename, 'invalid NBD URI');
    }
    const scheme = url.protocol.slice(0, -1);
    tlsRequired = scheme.startsWith('nbds');
    for (const [k, v] of url.searchParams) params.set(k, v);
    // The export name is the path without its leading '/', percent-decoded (doc/uri.md).
    const path = url.pathname.startsWith('/') ? url.pathname.slice(1) : url.pathname;
    try {
      exportName = decodeURIComponent(path);
    } catch {
      throw bad(filename, 'invalid export name encoding');
    }
    if (scheme.endsWith('+unix')) {
      const socket = params.get('socket');
      if (!socket) throw bad(filename, "nbd+unix needs a 'socket' parameter");
      address = { type: 'unix', path: socket };
    } else {
      if (!url.hostname) throw bad(filename, 'no host name');
      address = { type: 'inet', host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? port(filename, url.port) : NBD_PORT };
    }
  }
  for (const [k, v] of Object.entries(options)) if (!params.has(k)) params.set(k, v);
  const dir = params.get('tls-certificates') ?? params.get('tls-creds');
  const delayText = params.get('reconnect-delay') ?? '0';
  const reconnectDelay = Number(delayText);
  if (!Number.isFinite(reconnectDelay) || reconnectDelay < 0) throw bad(filename, `invalid reconnect-delay '${delayText}'`);
  const target: NbdTarget = { address, exportName, reconnectDelay };
  if (tlsRequired || dir) {
    target.tls = { dir, hostname: params.get('tls-hostname'), verifyPeer: params.get('tls-verify-peer') !== '0' };
  }
  return target;
}

/** The canonical URI for a target (what `filename` reports after parsing). */
export function describeAddress(a: NbdAddress): string {
  return a.type === 'unix' ? `unix:${a.path}` : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
