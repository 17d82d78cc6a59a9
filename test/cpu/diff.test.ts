/**
 * The differential test of the hart: random RV64GC + Zba/Zbb/Zbs programs (see diff/gen.ts)
 * run on qemu-riscv64 as a Linux executable (the reference) and on bin/tsemu as a bare-metal
 * image, compared value by value: x1..x31, f0..f31, fcsr, checksums of the data buffer. The
 * bare image also runs on qemu-system-riscv64, which proves the two wrappers agree.
 *
 * Environment:
 *   TSEMU_DIFF_ORACLE_ONLY=1   only check qemu-riscv64 against qemu-system-riscv64
 *   TSEMU_DIFF_SEEDS           the seeds: "1-20" (default) or "3,17,40-45"
 *   TSEMU_DIFF_COUNT           units per program (default 300)
 *   TSEMU_DIFF_EXCLUDE         instruction classes to leave out, e.g. "zb,amo" (see CLASSES
 *                              in diff/gen.ts); meant for a hart still being written
 *   TSEMU_DIFF_BISECT          how many differing seeds to bisect per run (default 1)
 *   TSEMU_DIFF_TIMEOUT_MS      the limit for one tsemu run (default 30000)
 *   TSEMU_DIFF_TSEMU_ARGS      extra arguments for bin/tsemu
 *   TSEMU_DIFF_SUT             a command to run instead of bin/tsemu (to try the harness)
 *
 * By hand, one seed: node dist/test/cpu/diff/run.js --seed 123 [--count 500]
 */
import test from 'ava';
import { checkSeed } from './diff/diff.js';
import { parseClasses } from './diff/gen.js';
import { requireTools } from './diff/tools.js';

function parseSeeds(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`TSEMU_DIFF_SEEDS: cannot read "${part}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let s = lo; s <= hi; s++) out.push(s);
  }
  return out;
}

const seeds = parseSeeds(process.env.TSEMU_DIFF_SEEDS ?? '1-20');
const count = Number(process.env.TSEMU_DIFF_COUNT ?? 300);
const exclude = parseClasses(process.env.TSEMU_DIFF_EXCLUDE ?? '');
const oracleOnly = process.env.TSEMU_DIFF_ORACLE_ONLY === '1';
let bisectBudget = Number(process.env.TSEMU_DIFF_BISECT ?? 1);
const mayBisect = (): boolean => bisectBudget-- > 0;

/** At most n of the seeds at a time (each one runs several processes). */
function limiter(n: number): <T>(job: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (job) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await job();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
const limit = limiter(2);

let toolsMissing: string | undefined;
try {
  requireTools();
} catch (e) {
  toolsMissing = e instanceof Error ? e.message : String(e);
}

for (const seed of seeds) {
  test(`seed ${seed}`, async (t) => {
    if (toolsMissing) {
      t.fail(toolsMissing);
      return;
    }
    // a bisection runs tsemu a dozen times or so
    t.timeout(oracleOnly ? 60_000 : 600_000);
    const report = await limit(() => checkSeed(seed, { count, exclude, oracleOnly, mayBisect, log: (l) => t.log(l) }));
    if (report.ok) {
      t.log(`${report.text.split('\n').at(-1)} (${report.ms} ms)`);
      t.pass();
    } else {
      t.fail(`${report.text}\n(reproduce: node dist/test/cpu/diff/run.js --seed ${seed} --count ${count}${exclude.length ? ` --exclude ${exclude.join(',')}` : ''})`);
    }
  });
}
