/** `tsemu-img create [-f fmt] [-b backing [-F backing_fmt]] [-u] [-o options] filename [size]` */
import { dirname, isAbsolute, join } from 'node:path';
import { createImage, createOptionNames, protocolOptionValue } from '../format/create.js';
import { has, last, parseArgs, parseOptionList } from './args.js';
import { CommandError, open, type Out } from './common.js';
import { parseSize } from './sizes.js';

/** How `-o help` shows each option's value (the rest are <str>). */
const OPTION_TYPES: Record<string, string> = {
  size: 'size', cluster_size: 'size', table_size: 'size', refcount_bits: 'num', lazy_refcounts: 'bool', extended_l2: 'bool', encryption: 'bool',
};

export async function create(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:F:b:o:uq', long: ['object='] });
  const [filename, sizeText] = p.operands;
  if (!filename) throw new CommandError('Expecting image file name');
  if (p.operands.length > 2) throw new CommandError(`Invalid parameter '${p.operands[2]}'`);
  const format = last(p, 'f') ?? 'raw';
  const options = parseOptionList(p.opts.get('o'));
  let names: { format: string[]; protocol: string[] };
  try {
    names = createOptionNames(format, filename);
  } catch (e) {
    throw new CommandError((e as Error).message);
  }
  if (options.has('help') || options.has('?')) {
    const all = [...names.format, ...names.protocol].sort();
    io.out(`Supported options:\n${all.map((n) => `  ${n}=<${OPTION_TYPES[n] ?? 'str'}>\n`).join('')}`);
    return 0;
  }
  if (has(p, 'b')) options.set('backing_file', last(p, 'b')!);
  if (has(p, 'F')) options.set('backing_fmt', last(p, 'F')!);
  if (options.has('backing_fmt') && !options.has('backing_file')) throw new CommandError('Backing format cannot be used without backing file');
  let size: number | undefined;
  if (sizeText !== undefined) size = parseSize(sizeText, 'image size');
  else if (options.has('size')) size = parseSize(options.get('size')!, 'image size');
  options.delete('size');
  const backing = options.get('backing_file');
  if (backing) {
    if (format !== 'qcow2' && format !== 'qed') throw new CommandError(`Backing file not supported for file format '${format}'`);
    const path = isAbsolute(backing) ? backing : join(dirname(filename), backing);
    if (!has(p, 'u') || size === undefined) {
      const b = await open(path, { format: options.get('backing_fmt'), readOnly: true, backing: false }).catch((e: Error) => {
        throw new CommandError(`${filename}: ${e.message}`);
      });
      if (size === undefined) size = b.size;
      if (!options.has('backing_fmt')) options.set('backing_fmt', b.format);
      await b.close();
    }
  }
  if (size === undefined) throw new CommandError(`${filename}: Image creation needs a size parameter`);
  const shown = [...options].filter(([k]) => !['backing_file', 'backing_fmt'].includes(k));
  let line = `Formatting '${filename}', fmt=${format}`;
  if (format === 'qcow2') {
    const o = new Map(shown);
    line += ` cluster_size=${o.has('cluster_size') ? parseSize(o.get('cluster_size')!) : 65536} extended_l2=off compression_type=zlib size=${size}`;
    if (backing) line += ` backing_file=${backing} backing_fmt=${options.get('backing_fmt')}`;
    if (o.has('compat')) line += ` compat=${o.get('compat')}`;
    if (o.has('preallocation')) line += ` preallocation=${o.get('preallocation')}`;
    line += ` lazy_refcounts=${o.get('lazy_refcounts') === 'on' ? 'on' : 'off'} refcount_bits=${o.get('refcount_bits') ?? 16}`;
  } else if (format === 'qed') {
    const o = new Map(shown);
    line += ` size=${size}`;
    if (backing) line += ` backing_file=${backing} backing_fmt=${options.get('backing_fmt')}`;
    line += ` cluster_size=${o.has('cluster_size') ? parseSize(o.get('cluster_size')!) : 65536}`;
    if (o.has('table_size')) line += ` table_size=${o.get('table_size')}`;
    if (o.has('preallocation')) line += ` preallocation=${o.get('preallocation')}`;
  } else {
    line += ` size=${size}`;
    if (options.has('preallocation')) line += ` preallocation=${options.get('preallocation')}`;
  }
  // then the protocol's own (raw on RBD: cluster_size=, password-secret=), as qemu-img appends them
  for (const k of names.protocol) {
    const v = options.get(k);
    if (v !== undefined) line += ` ${k}=${protocolOptionValue(k, v, parseSize)}`;
  }
  if (!has(p, 'q')) io.out(line + '\n');
  try {
    await createImage({ filename, format, size, options }, parseSize);
  } catch (e) {
    throw new CommandError(`${filename}: ${(e as Error).message}`);
  }
  return 0;
}
