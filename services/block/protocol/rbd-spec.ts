/**
 * How QEMU names an RBD image, parsed and written back:
 *
 *   rbd:pool/[namespace/]image[@snapshot][:key=value[:key=value...]]
 *
 * where a backslash escapes the next character (`mon_host=10.0.0.1\:6789`), `conf=` names a
 * ceph.conf, `id=` the client (client.ID) and every other key is a Ceph option given to
 * rados_conf_set in order (keyring, key, mon_host, auth_supported, rados_osd_op_timeout...);
 * and -blockdev's driver=rbd options: pool, namespace, image, snapshot, conf, user,
 * server.N.host / server.N.port (the monitors), auth-client-required.
 */
import { BlockError } from '../format/types.js';

export interface RbdSpec {
  pool: string;
  /** '' for the pool's default namespace. */
  namespace: string;
  image: string;
  snapshot?: string;
  conf?: string;
  user?: string;
  /** Ceph options for rados_conf_set, in order. */
  options: [string, string][];
}

const bad = (msg: string) => new BlockError(msg, 'EINVAL');

/** Splits `s` at the first unescaped `delim`: [before, after] (after undefined when absent). */
function nextToken(s: string, delim: string): [string, string | undefined] {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === delim) return [s.slice(0, i), s.slice(i + 1)];
  }
  return [s, undefined];
}

const unescape = (s: string): string => s.replace(/\\(.)/gs, '$1');
const escape = (s: string): string => s.replace(/[\\:@/]/g, (c) => `\\${c}`);

export function isRbdFilename(filename: string): boolean {
  return filename.startsWith('rbd:');
}

/** `rbd:pool/[namespace/]image[@snap][:opt=val...]`, as qemu_rbd_parse_filename reads it. */
export function parseRbdFilename(filename: string): RbdSpec {
  if (!isRbdFilename(filename)) throw bad(`'${filename}' is not an rbd: name`);
  let rest: string | undefined = filename.slice(4);
  const [pool, afterPool] = nextToken(rest, '/');
  if (!pool || afterPool === undefined) throw bad('Pool name is required');
  rest = afterPool;
  let image: string;
  let snapshot: string | undefined;
  const [beforeOpts, opts] = nextToken(rest, ':');
  const [imagePart, snap] = nextToken(beforeOpts, '@');
  image = imagePart;
  if (snap !== undefined) snapshot = unescape(snap);
  let namespace = '';
  const [first, second] = nextToken(image, '/');
  if (second !== undefined) [namespace, image] = [unescape(first), second];
  image = unescape(image);
  if (!image) throw bad('Image name is required');
  if (snapshot === '') throw bad('Snapshot name is empty');
  const spec: RbdSpec = { pool: unescape(pool), namespace, image, snapshot, options: [] };
  let kv = opts;
  while (kv !== undefined && kv !== '') {
    const [pair, more] = nextToken(kv, ':');
    kv = more;
    const [name, value] = nextToken(pair, '=');
    if (value === undefined) throw bad(`conf option ${unescape(name)} has no value`);
    const k = unescape(name);
    const v = unescape(value);
    if (k === 'conf') spec.conf = v;
    else if (k === 'id') spec.user = v;
    else spec.options.push([k, v]);
  }
  return spec;
}

/** -blockdev driver=rbd,pool=P,image=I[,namespace=N][,snapshot=S][,conf=C][,user=U][,server.0.host=H,server.0.port=P...] */
export function rbdSpecFromOptions(o: Record<string, string>): RbdSpec {
  const pool = o.pool;
  const image = o.image;
  if (!pool) throw bad("Parameter 'pool' is missing");
  if (!image) throw bad("Parameter 'image' is missing");
  const spec: RbdSpec = { pool, namespace: o.namespace ?? '', image, snapshot: o.snapshot, conf: o.conf, user: o.user, options: [] };
  const mons: string[] = [];
  for (let n = 0; o[`server.${n}.host`] !== undefined; n++) {
    const host = o[`server.${n}.host`]!;
    const port = o[`server.${n}.port`];
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    mons.push(port ? `${h}:${port}` : h);
  }
  if (mons.length) spec.options.push(['mon_host', mons.join(',')]);
  if (o['auth-client-required']) spec.options.push(['auth_client_required', o['auth-client-required'].replace(/,/g, ';')]);
  if (o['key-secret'] !== undefined) {
    // QEMU's key-secret names a -object secret; tsemu has no secret objects yet
    throw new BlockError("key-secret is not supported by tsemu (no -object secret): give the key in a keyring named by conf=", 'ENOTSUP');
  }
  return spec;
}

/** The rbd: name of `spec`, escaped so parseRbdFilename reads it back. */
export function formatRbdFilename(spec: RbdSpec): string {
  let s = `rbd:${escape(spec.pool)}/`;
  if (spec.namespace) s += `${escape(spec.namespace)}/`;
  s += escape(spec.image);
  if (spec.snapshot !== undefined) s += `@${escape(spec.snapshot)}`;
  if (spec.conf !== undefined) s += `:conf=${escape(spec.conf)}`;
  if (spec.user !== undefined) s += `:id=${escape(spec.user)}`;
  for (const [k, v] of spec.options) s += `:${escape(k)}=${escape(v)}`;
  return s;
}
