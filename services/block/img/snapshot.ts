/** `tsemu-img snapshot [-l | -a snapshot | -c snapshot | -d snapshot] filename` */
import { has, last, parseArgs } from './args.js';
import { CommandError, open, type Out } from './common.js';
import { snapshotTable } from './info.js';

export async function snapshot(argv: string[], io: Out): Promise<number> {
  const p = parseArgs(argv, { short: 'hla:c:d:f:qU', long: ['object=', 'image-opts', 'force-share'] });
  const filename = p.operands[0];
  if (!filename) throw new CommandError('Expecting one image file name');
  const actions = ['l', 'a', 'c', 'd'].filter((k) => has(p, k));
  if (actions.length > 1) throw new CommandError('Cannot mix \'-l\', \'-a\', \'-c\', \'-d\'');
  const action = actions[0] ?? 'l';
  const img = await open(filename, { format: last(p, 'f'), readOnly: action === 'l', backing: false });
  try {
    const s = img.snapshots;
    if (!s) throw new CommandError(`Could not ${action === 'l' ? 'list' : 'change'} snapshots: this format does not support snapshots`);
    const name = last(p, action)!;
    try {
      if (action === 'l') {
        const list = await s.list();
        if (list.length) io.out(`Snapshot list:\n${snapshotTable(list)}`);
      } else if (action === 'c') await s.create(name);
      else if (action === 'a') await s.apply(name);
      else await s.delete(name);
    } catch (e) {
      const verb = { a: 'apply', c: 'create', d: 'delete', l: 'list' }[action];
      const msg = (e as Error).message;
      throw new CommandError(msg.startsWith('Could not') ? msg : `Could not ${verb} snapshot '${name}': ${msg}`);
    }
    return 0;
  } finally {
    await img.close();
  }
}
