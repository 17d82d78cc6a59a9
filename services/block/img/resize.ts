/** `tsemu-img resize [-f fmt] [--shrink] [--preallocation=off] filename [+|-]size` */
import { has, last, parseArgs } from './args.js';
import { CommandError, open, type Out } from './common.js';
import { parseSize } from './sizes.js';

export async function resize(argv: string[], io: Out): Promise<number> {
  // A leading '-' size would read as an option: qemu-img takes it after '--' or as the last operand.
  const sizeArg = argv.at(-1);
  const rest = sizeArg && /^-\d/.test(sizeArg) ? argv.slice(0, -1) : argv;
  const p = parseArgs(rest, { short: 'hf:qU', long: ['shrink', 'preallocation=', 'object=', 'image-opts'] });
  const operands = rest === argv ? p.operands : [...p.operands, sizeArg!];
  const [filename, text] = operands;
  if (!filename || !text) throw new CommandError('Expecting image file name and size');
  const img = await open(filename, { format: last(p, 'f'), readOnly: false, backing: true });
  try {
    let size: number;
    if (text.startsWith('+')) size = img.size + parseSize(text.slice(1));
    else if (text.startsWith('-')) size = img.size - parseSize(text.slice(1));
    else size = parseSize(text);
    if (size < 0) throw new CommandError('New image size must be positive');
    if (size < img.size && !has(p, 'shrink')) {
      throw new CommandError('Use the --shrink option to perform a shrink operation.');
    }
    if (size < img.size) {
      io.err("tsemu-img: warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.\n");
    }
    try {
      await img.resize(size);
    } catch (e) {
      throw new CommandError((e as Error).message);
    }
    if (!has(p, 'q')) io.out('Image resized.\n');
    return 0;
  } finally {
    await img.close();
  }
}
