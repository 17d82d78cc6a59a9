/**
 * QEMU's rbd driver options (-blockdev driver=rbd,pool=..., --image-opts driver=rbd,...) as
 * the `rbd:pool/[namespace/]image[@snapshot][:opt=val...]` name tsemu's rbd protocol opens
 * (services/block/protocol/rbd-spec.ts reads it back). Shared by the machine's command line
 * and tsemu-img.
 */

/** Backslash-escapes what rbd: names split on: the pool/image/snapshot parts on `/@:`, option values on `:`. */
export const rbdEscape = (s: string): string => s.replace(/[\\:@/]/g, (c) => `\\${c}`);
export const rbdEscapeValue = (s: string): string => s.replace(/[\\:]/g, (c) => `\\${c}`);

/**
 * The rbd: name for options read through `get`: pool, image, namespace, snapshot, conf,
 * user, key-secret, server.N.host/port (mon_host), auth-client-required.
 */
export function rbdNameFromOptions(get: (key: string) => string | undefined): string {
  const pool = get('pool');
  const image = get('image');
  if (!pool || !image) throw new Error('needs pool= and image=');
  let name = `rbd:${rbdEscape(pool)}/`;
  const ns = get('namespace');
  if (ns) name += `${rbdEscape(ns)}/`;
  name += rbdEscape(image);
  const snap = get('snapshot');
  if (snap !== undefined) name += `@${rbdEscape(snap)}`;
  const conf = get('conf');
  if (conf !== undefined) name += `:conf=${rbdEscapeValue(conf)}`;
  const user = get('user');
  if (user !== undefined) name += `:id=${rbdEscapeValue(user)}`;
  const secret = get('key-secret') ?? get('password-secret');
  if (secret !== undefined) name += `:key-secret=${rbdEscapeValue(secret)}`;
  const mons: string[] = [];
  for (let n = 0; get(`server.${n}.host`) !== undefined; n++) {
    const host = get(`server.${n}.host`)!;
    const port = get(`server.${n}.port`);
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    mons.push(port ? `${h}:${port}` : h);
  }
  if (mons.length) name += `:mon_host=${rbdEscapeValue(mons.join(','))}`;
  const auth = get('auth-client-required');
  if (auth) name += `:auth_client_required=${rbdEscapeValue(auth)}`;
  return name;
}
