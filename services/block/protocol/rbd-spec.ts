/**
 * How QEMU names an RBD image, parsed and written back:
 *
 *   rbd:pool/[namespace/]image[@snapshot][:key=value[:key=value...]]
 *
 * where a backslash escapes the next character (`mon_host=10.0.0.1\:6789`), `conf=` names a
 * ceph.conf, `id=` the client (client.ID), `key-secret=` (or its old name `password-secret=`)
 * a secret object holding the client's key (QEMU's -drive file.key-secret=, here also inside
 * the name: services/common/secret.ts) and every other key is a Ceph option given to
 * rados_conf_set in order (keyring, key, mon_host, auth_supported, rados_osd_op_timeout...).
 * -blockdev driver=rbd's options become such a name on tsemu's command line
 * (services/cpu/board/virtio-pci-block.ts, rbdFilename).
 */
import { BlockError } from '../format/types.js';
import { formatRbdFilename, type RbdSpec } from '../../common/rbd-name.js';

export { formatRbdFilename, type RbdSpec };

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

/**
 * What `qemu-img create -o` takes for an RBD image besides its format's options: the object
 * size (`cluster_size`, a power of 2, at least 4 KiB) and the secret holding the client's key.
 */
export const RBD_CREATE_OPTIONS: readonly string[] = ['cluster_size', 'password-secret'];

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
    else if (k === 'key-secret' || k === 'password-secret') spec.keySecret = v;
    else spec.options.push([k, v]);
  }
  return spec;
}
