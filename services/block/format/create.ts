/**
 * Creating an image file in a format, with qemu-img create's option names
 * (-o cluster_size=,refcount_bits=,compat=,lazy_refcounts=,preallocation=,backing_file=,backing_fmt=;
 * QED: cluster_size=,table_size=,backing_file=,backing_fmt=).
 */
import { createProtocol, protocolFor } from '../protocol/registry.js';
import type { QedCreateOptions } from './qed/create.js';
import { BlockError } from './types.js';

export interface CreateRequest {
  filename: string;
  format: string;
  size: number;
  /** -o options in qemu's spelling. */
  options: Map<string, string>;
}

const KNOWN: Record<string, string[]> = {
  raw: ['size', 'preallocation'],
  qcow2: ['size', 'cluster_size', 'refcount_bits', 'compat', 'lazy_refcounts', 'preallocation', 'backing_file', 'backing_fmt',
    'compression_type', 'extended_l2', 'encryption', 'data_file'],
  qed: ['size', 'cluster_size', 'table_size', 'preallocation', 'backing_file', 'backing_fmt'],
};

function onOff(v: string | undefined, name: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (['on', 'yes', 'true'].includes(v)) return true;
  if (['off', 'no', 'false'].includes(v)) return false;
  throw new BlockError(`Parameter '${name}' expects 'on' or 'off'`, 'EINVAL');
}

/** table_size is a count of clusters; qemu reads it as an integer (no suffixes). */
function tableSize(v: string): number {
  if (!/^\d+$/.test(v)) throw new BlockError("Parameter 'table-size' expects integer", 'EINVAL');
  return Number(v);
}

/**
 * The -o names `qemu-img create` takes for an image of `format` at `filename`: the format's,
 * then those of the protocol under it that the format does not take itself (qemu-img appends
 * the protocol's create options to the format's; qcow2 on RBD keeps cluster_size for its
 * clusters, raw on RBD hands it to the protocol as the object size).
 */
export function createOptionNames(format: string, filename: string): { format: string[]; protocol: string[] } {
  const known = KNOWN[format];
  if (!known) throw new BlockError(`Unknown file format '${format}'`, 'EINVAL');
  return { format: known, protocol: (protocolFor(filename).createOptions ?? []).filter((k) => !known.includes(k)) };
}

/** A protocol's -o value as its create gets it: sizes (`*_size`) as a count of bytes. */
export function protocolOptionValue(name: string, value: string, parseSize: (s: string, what?: string) => number): string {
  return name.endsWith('_size') ? String(parseSize(value, name.replace('_', ' '))) : value;
}

export async function createImage(req: CreateRequest, parseSize: (s: string, what?: string) => number): Promise<void> {
  const { format: known, protocol: protocolKnown } = createOptionNames(req.format, req.filename);
  const protocolOptions: Record<string, string> = {};
  for (const [k, v] of req.options) {
    if (protocolKnown.includes(k)) protocolOptions[k] = protocolOptionValue(k, v, parseSize);
    else if (!known.includes(k)) throw new BlockError(`Invalid parameter '${k}'`, 'EINVAL');
  }
  // qemu-img rounds a size up to whole 512-byte sectors.
  req = { ...req, size: Math.ceil(req.size / 512) * 512 };
  const o = req.options;
  const prealloc = o.get('preallocation') ?? 'off';
  const qcow2 = req.format === 'qcow2' ? {
    clusterSize: o.has('cluster_size') ? parseSize(o.get('cluster_size')!, 'cluster size') : undefined,
    refcountBits: o.has('refcount_bits') ? Number(o.get('refcount_bits')) : undefined,
    compat: o.get('compat'),
    lazyRefcounts: onOff(o.get('lazy_refcounts'), 'lazy_refcounts'),
    preallocation: prealloc as 'off' | 'metadata',
    backingFile: o.get('backing_file'),
    backingFormat: o.get('backing_fmt'),
    compressionType: o.get('compression_type'),
  } : undefined;
  const qed: QedCreateOptions | undefined = req.format === 'qed' ? {
    clusterSize: o.has('cluster_size') ? parseSize(o.get('cluster_size')!, 'cluster size') : undefined,
    tableSize: o.has('table_size') ? tableSize(o.get('table_size')!) : undefined,
    backingFile: o.get('backing_file'),
    backingFormat: o.get('backing_fmt'),
  } : undefined;
  // each format's code loads only when an image of it is made
  const qedCode = qed ? await import('./qed/create.js') : undefined;
  const qcow2Code = qcow2 ? await import('./qcow2/create.js') : undefined;
  if (qed) {
    if (prealloc !== 'off') throw new BlockError(`Preallocation mode '${prealloc}' is not supported by tsemu's QED (off)`, 'ENOTSUP');
    qedCode!.checkQedCreate(req.size, qed);
  } else if (qcow2) {
    if (!['off', 'metadata'].includes(prealloc)) {
      throw new BlockError(`Preallocation mode '${prealloc}' is not supported by tsemu's qcow2 (off, metadata)`, 'ENOTSUP');
    }
    if (onOff(o.get('extended_l2'), 'extended_l2')) throw new BlockError('Extended L2 entries are not supported by tsemu', 'ENOTSUP');
    if (o.get('encryption') && onOff(o.get('encryption'), 'encryption')) throw new BlockError('Encrypted images are not supported by tsemu', 'ENOTSUP');
    if (o.get('data_file')) throw new BlockError('External data files are not supported by tsemu', 'ENOTSUP');
    qcow2Code!.checkQcow2Create(req.size, qcow2);
  } else if (!['off', 'full', 'falloc'].includes(prealloc)) {
    throw new BlockError(`Invalid parameter '${prealloc}'`, 'EINVAL');
  }
  const file = await createProtocol(req.filename, qcow2 || qed ? 0 : req.size, { options: protocolOptions });
  try {
    if (qed) {
      await qedCode!.createQed(file, req.size, qed);
      return;
    }
    if (!qcow2) {
      if (prealloc !== 'off') {
        const chunk = new Uint8Array(1 << 20);
        for (let off = 0; off < req.size; off += chunk.length) {
          await file.pwrite(chunk.subarray(0, Math.min(chunk.length, req.size - off)), off);
        }
      }
      await file.flush();
      return;
    }
    await qcow2Code!.createQcow2(file, req.size, qcow2);
  } finally {
    await file.close();
  }
}
