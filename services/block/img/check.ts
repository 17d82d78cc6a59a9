/** `tsemu-img check [-f fmt] [--output=human|json] [-r leaks|all] filename`: exit 0 clean, 2 corrupt, 3 leaks, 1 failed. */
import type { CheckResult } from '../format/types.js';
import { last, parseArgs } from './args.js';
import { CommandError, open, type Out } from './common.js';

/** qemu-img check's JSON object, keys in the order qemu-img prints them. */
export function checkJson(r: CheckResult): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (r.imageEndOffset) o['image-end-offset'] = r.imageEndOffset;
  if (r.totalClusters) o['total-clusters'] = r.totalClusters;
  if (r.corruptions) o.corruptions = r.corruptions;
  if (r.corruptionsFixed) o['corruptions-fixed'] = r.corruptionsFixed;
  o['check-errors'] = r.checkErrors;
  if (r.leaks) o.leaks = r.leaks;
  if (r.leaksFixed) o['leaks-fixed'] = r.leaksFixed;
  if (r.allocatedClusters) o['allocated-clusters'] = r.allocatedClusters;
  o.filename = r.filename;
  if (r.compressedClusters) o['compressed-clusters'] = r.compressedClusters;
  o.format = r.format;
  if (r.fragmentedClusters) o['fragmented-clusters'] = r.fragmentedClusters;
  return o;
}

/** printf's %.2f: the double's exact decimal value, rounded half to even (JS toFixed rounds 3.125 up). */
export function fixed2(x: number): string {
  const exact = x.toFixed(30);
  const [int, frac] = exact.split('.') as [string, string];
  const keep = frac.slice(0, 2);
  const rest = frac.slice(2);
  const half = '5'.padEnd(rest.length, '0');
  let up = rest > half;
  if (rest === half) up = Number(keep[1]) % 2 === 1;
  if (!up) return `${int}.${keep}`;
  const cents = Number(int) * 100 + Number(keep) + 1;
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

function human(r: CheckResult): string {
  let s = '';
  if (!r.corruptions && !r.leaks && !r.checkErrors) s += 'No errors were found on the image.\n';
  else {
    if (r.corruptions) s += `\n${r.corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`;
    if (r.leaks) s += `\n${r.leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n`;
    if (r.checkErrors) s += `\n${r.checkErrors} internal errors have occurred during the check.\n`;
  }
  if (r.totalClusters && r.allocatedClusters) {
    const alloc = r.allocatedClusters;
    s += `${alloc}/${r.totalClusters} = ${fixed2((100 * alloc) / r.totalClusters)}% allocated, ` +
      `${fixed2((100 * (r.fragmentedClusters ?? 0)) / alloc)}% fragmented, ${fixed2((100 * (r.compressedClusters ?? 0)) / alloc)}% compressed clusters\n`;
  }
  if (r.imageEndOffset) s += `Image end offset: ${r.imageEndOffset}\n`;
  return s;
}

export async function check(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hf:r:qU', long: ['output=', 'object=', 'image-opts', 'force-share'] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  const output = last(p, 'output') ?? 'human';
  if (output !== 'human' && output !== 'json') throw new CommandError('--output must be used with human or json as argument.');
  const r = last(p, 'r');
  if (r !== undefined && r !== 'leaks' && r !== 'all') throw new CommandError(`Unknown option value for -r (expecting 'leaks' or 'all'): ${r}`);
  const img = await open(filename, { format: last(p, 'f'), readOnly: r === undefined, backing: false, forCheck: true });
  try {
    let res: CheckResult;
    try {
      res = await img.check(r);
    } catch (e) {
      const msg = (e as Error).message;
      if (msg === 'This image format does not support checks') throw new CommandError(msg, 63);
      throw new CommandError(msg.startsWith('Cannot repair') ? msg : `Check failed: ${msg}`);
    }
    if (output === 'human') for (const m of res.messages) io.err(m + '\n');
    if (r && (res.leaksFixed || res.corruptionsFixed)) {
      if (output === 'human') {
        io.out(`The following inconsistencies were found and repaired:\n\n    ${res.leaksFixed} leaked clusters\n    ${res.corruptionsFixed} corruptions\n\nDouble checking the fixed image now...\n`);
      }
      const fixedLeaks = res.leaksFixed;
      const fixedCorruptions = res.corruptionsFixed;
      res = await img.check();
      res.leaksFixed = fixedLeaks;
      res.corruptionsFixed = fixedCorruptions;
    }
    io.out(output === 'json' ? JSON.stringify(checkJson(res), null, 4) + '\n' : human(res));
    if (res.checkErrors) return 1;
    if (res.corruptions) return 2;
    if (res.leaks) return 3;
    return 0;
  } finally {
    await img.close();
  }
}
