/**
 * QEMU's rbd driver options (-blockdev driver=rbd,pool=..., --image-opts driver=rbd,...) as
 * the `rbd:pool/[namespace/]image[@snapshot][:opt=val...]` name tsemu's rbd protocol opens
 * (services/block/protocol/rbd-spec.ts reads it back). Shared by the machine's command line
 * and tsemu-img.
 */

/** Backslash-escapes what rbd: names split on: the pool/image/snapshot parts on `/@:`, option values on `:`. */
export const rbdEscape = (s: string): string => s.replace(/[\\:@/]/g, (c) => `\\${c}`);
export const rbdEscapeValue = (s: string): string => s.replace(/[\\:]/g, (c) => `\\${c}`);

/** An rbd: name's parts (services/block/protocol/rbd-spec.ts parses a name into one). */
export interface RbdSpec {
  pool: string;
  /** '' for the pool's default namespace. */
  namespace: string;
  image: string;
  snapshot?: string;
  conf?: string;
  user?: string;
  /** The id of the secret object with the client's key. */
  keySecret?: string;
  /** Ceph options for rados_conf_set, in order. */
  options: [string, string][];
}

/** The rbd: name of `spec`, escaped so parseRbdFilename reads it back. */
export function formatRbdFilename(spec: RbdSpec): string {
  let s = `rbd:${rbdEscape(spec.pool)}/`;
  if (spec.namespace) s += `${rbdEscape(spec.namespace)}/`;
  s += rbdEscape(spec.image);
  if (spec.snapshot !== undefined) s += `@${rbdEscape(spec.snapshot)}`;
  if (spec.conf !== undefined) s += `:conf=${rbdEscapeValue(spec.conf)}`;
  if (spec.user !== undefined) s += `:id=${rbdEscapeValue(spec.user)}`;
  if (spec.keySecret !== undefined) s += `:key-secret=${rbdEscapeValue(spec.keySecret)}`;
  for (const [k, v] of spec.options) s += `:${rbdEscapeValue(k)}=${rbdEscapeValue(v)}`;
  return s;
}

/**
 * The rbd: name for options read through `get`: pool, image, namespace, snapshot, conf,
 * user, key-secret, server.N.host/port (mon_host), auth-client-required.
 */
export function rbdNameFromOptions(get: (key: string) => string | undefined): string {
  const pool = get('pool');
  const image = get('image');
  if (!pool || !image) throw new Error('needs pool= and image=');
  const options: [string, string][] = [];
  const mons: string[] = [];
  for (let n = 0; get(`server.${n}.host`) !== undefined; n++) {
    const host = get(`server.${n}.host`)!;
    const port = get(`server.${n}.port`);
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    mons.push(port ? `${h}:${port}` : h);
  }
  if (mons.length) options.push(['mon_host', mons.join(',')]);
  const auth = get('auth-client-required');
  if (auth) options.push(['auth_client_required', auth]);
  return formatRbdFilename({
    pool, namespace: get('namespace') ?? '', image, snapshot: get('snapshot'), conf: get('conf'), user: get('user'),
    keySecret: get('key-secret') ?? get('password-secret'), options,
  });
}
