/** `tsemu-img info [-f fmt] [--output=human|json] [--backing-chain] filename` */
import type { ImageInfo, SnapshotInfo } from '../format/types.js';
import { has, last, parseArgs } from './args.js';
import { chain, CommandError, open, type Out } from './common.js';
import { humanSize } from './sizes.js';

export function snapshotJson(s: SnapshotInfo): Record<string, unknown> {
  return {
    icount: s.icount ?? 0,
    'vm-clock-nsec': s.vmClockNsec % 1e9,
    name: s.name,
    'date-sec': s.dateSec,
    'date-nsec': s.dateNsec,
    'vm-clock-sec': Math.floor(s.vmClockNsec / 1e9),
    id: s.id,
    'vm-state-size': s.vmStateSize,
  };
}

/** qemu-img info's JSON object, keys in qemu-img's order. */
export function infoJson(i: ImageInfo): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (i.snapshots.length) o.snapshots = i.snapshots.map(snapshotJson);
  if (i.backingFilenameFormat) o['backing-filename-format'] = i.backingFilenameFormat;
  o['virtual-size'] = i.virtualSize;
  o.filename = i.filename;
  if (i.clusterSize) o['cluster-size'] = i.clusterSize;
  o.format = i.format;
  if (i.actualSize !== undefined) o['actual-size'] = i.actualSize;
  if (i.formatSpecific) o['format-specific'] = i.formatSpecific;
  if (i.fullBackingFilename) o['full-backing-filename'] = i.fullBackingFilename;
  if (i.backingFilename) o['backing-filename'] = i.backingFilename;
  o['dirty-flag'] = !!i.dirty;
  return o;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
function lpad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

export function snapshotTable(list: SnapshotInfo[]): string {
  let s = `${pad('ID', 9)} ${pad('TAG', 17)} ${lpad('VM SIZE', 7)}${lpad('DATE', 20)}${lpad('VM CLOCK', 13)}${lpad('ICOUNT', 11)}\n`;
  for (const sn of list) {
    const d = new Date(sn.dateSec * 1000);
    const two = (n: number) => String(n).padStart(2, '0');
    const date = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    const ms = Math.floor(sn.vmClockNsec / 1e6);
    const clock = `${two(Math.floor(ms / 3600000))}:${two(Math.floor(ms / 60000) % 60)}:${two(Math.floor(ms / 1000) % 60)}.${String(ms % 1000).padStart(3, '0')}`;
    const icount = sn.icount === undefined || sn.icount < 0 ? '' : String(sn.icount);
    s += `${pad(sn.id, 9)} ${pad(sn.name, 17)} ${lpad(humanSize(sn.vmStateSize), 7)}${lpad(date, 20)}${lpad(clock, 13)}${lpad(icount, 11)}\n`;
  }
  return s;
}

function specificLines(data: Record<string, unknown>, indent: string): string {
  let s = '';
  for (const [k, v] of Object.entries(data)) {
    const key = k.replace(/-/g, ' ');
    if (Array.isArray(v)) {
      s += `${indent}${key}:\n`;
      v.forEach((item, n) => {
        s += `${indent}    [${n}]:\n`;
        for (const [ik, iv] of Object.entries(item as Record<string, unknown>)) {
          if (Array.isArray(iv)) {
            s += `${indent}        ${ik}:\n`;
            iv.forEach((x, m) => { s += `${indent}            [${m}]: ${x}\n`; });
          } else s += `${indent}        ${ik}: ${iv}\n`;
        }
      });
    } else s += `${indent}${key}: ${v}\n`;
  }
  return s;
}

export function infoHuman(i: ImageInfo): string {
  let s = `image: ${i.filename}\nfile format: ${i.format}\n`;
  s += `virtual size: ${humanSize(i.virtualSize)} (${i.virtualSize} bytes)\n`;
  s += `disk size: ${i.actualSize === undefined ? 'unavailable' : humanSize(i.actualSize)}\n`;
  if (i.clusterSize) s += `cluster_size: ${i.clusterSize}\n`;
  if (i.backingFilename) {
    s += `backing file: ${i.backingFilename}`;
    if (i.fullBackingFilename && i.fullBackingFilename !== i.backingFilename) s += ` (actual path: ${i.fullBackingFilename})`;
    s += '\n';
  }
  if (i.backingFilenameFormat) s += `backing file format: ${i.backingFilenameFormat}\n`;
  if (i.dirty) s += 'cleanly shut down: no\n';
  if (i.snapshots.length) s += `Snapshot list:\n${snapshotTable(i.snapshots)}`;
  if (i.formatSpecific) s += `Format specific information:\n${specificLines(i.formatSpecific.data, '    ')}`;
  return s;
}

export async function info(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:U', long: ['output=', 'backing-chain', 'force-share', 'image-opts', 'object='] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  const output = last(p, 'output') ?? 'human';
  if (output !== 'human' && output !== 'json') throw new CommandError(`--output must be used with human or json as argument.`);
  const img = await open(filename, { format: last(p, 'f'), backing: has(p, 'backing-chain') });
  try {
    const list = has(p, 'backing-chain') ? chain(img) : [img];
    const infos: ImageInfo[] = [];
    for (const i of list) infos.push(await i.getInfo());
    if (output === 'json') {
      const j = has(p, 'backing-chain') ? infos.map(infoJson) : infoJson(infos[0]!);
      io.out(JSON.stringify(j, null, 4) + '\n');
    } else {
      io.out(infos.map(infoHuman).join('\n'));
    }
    return 0;
  } finally {
    await img.close();
  }
}
