/**
 * The differential test by hand:
 *
 *   node dist/test/cpu/diff/run.js --seed 123 [--count 500] [--oracle-only] [--no-bisect]
 *                                  [--dump] [--print-asm user|bare]
 *
 * prints the comparison of qemu-riscv64 (reference), qemu-system-riscv64 and tsemu for one
 * generated program. TSEMU_DIFF_ORACLE_ONLY=1 has the effect of --oracle-only.
 */
import { checkSeed, sideBySide } from './diff.js';
import { CLASSES, generate, parseClasses } from './gen.js';
import { buildImage, MissingToolError, requireTools, runBare, runUser } from './tools.js';
import { assemble, type Variant } from './wrap.js';

const USAGE = `usage: node dist/test/cpu/diff/run.js --seed N [--count N] [--exclude CLASSES] [--oracle-only]
                                      [--no-bisect] [--dump] [--print-asm user|bare]
  --seed N        the program's seed (required)
  --count N       units in the sequence (default 300)
  --exclude LIST  instruction classes to leave out, comma-separated, of
                  ${CLASSES.join(',')} (also TSEMU_DIFF_EXCLUDE)
  --oracle-only   only compare qemu-riscv64 with qemu-system-riscv64 (also TSEMU_DIFF_ORACLE_ONLY=1)
  --no-bisect     on a difference, do not look for the first differing unit
  --dump          also print every dumped value side by side (reference, tsemu)
  --print-asm V   print the generated assembly of the user or bare image and stop
`;

async function main(argv: string[]): Promise<number> {
  let seed: number | undefined;
  let count = 300;
  let oracleOnly = process.env.TSEMU_DIFF_ORACLE_ONLY === '1';
  let bisect = true;
  let dump = false;
  let printAsm: Variant | undefined;
  let exclude = parseClasses(process.env.TSEMU_DIFF_EXCLUDE ?? '');
  const num = (s: string | undefined, what: string): number => {
    const n = Number(s);
    if (s === undefined || !Number.isSafeInteger(n) || n < 0) throw new Error(`${what} needs a non-negative integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') seed = num(argv[++i], '--seed');
    else if (a === '--count') count = num(argv[++i], '--count');
    else if (a === '--exclude') exclude = parseClasses(argv[++i] ?? '');
    else if (a === '--oracle-only') oracleOnly = true;
    else if (a === '--no-bisect') bisect = false;
    else if (a === '--dump') dump = true;
    else if (a === '--print-asm') {
      const v = argv[++i];
      if (v !== 'user' && v !== 'bare') throw new Error('--print-asm needs user or bare');
      printAsm = v;
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (seed === undefined) throw new Error(`--seed is required\n${USAGE}`);
  if (printAsm) {
    process.stdout.write(assemble(generate(seed, { count, exclude }), printAsm));
    return 0;
  }
  requireTools();
  const report = await checkSeed(seed, {
    count,
    exclude,
    oracleOnly,
    mayBisect: () => bisect,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${report.text}\n`);
  if (dump) {
    const p = generate(seed, { count, exclude });
    const ref = await runUser(await buildImage(p, 'user'));
    if (ref.ok) {
      const sut = oracleOnly ? undefined : await runBare('tsemu', await buildImage(p, 'bare'));
      process.stdout.write(`${sideBySide(ref.values, sut?.ok ? sut.values : undefined, 'tsemu')}\n`);
    }
  }
  process.stdout.write(`${report.ok ? 'PASS' : 'FAIL'} (${report.ms} ms)\n`);
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`diff: ${e instanceof MissingToolError ? e.message : e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
