/**
 * One seed of the differential test: generate the program, run the user image on
 * qemu-riscv64 (the reference), check that the bare image on qemu-system-riscv64 prints the
 * same dump (so the two wrappers agree), then run the bare image on tsemu and compare value
 * by value; on a difference, bisect over prefixes of the sequence to name the first unit
 * whose result differs.
 */
import { generate, prefix, type InsnClass, type Program } from './gen.js';
import { buildImage, runBare, runUser, tsemuEnvForSeed, unitAt, type Dump, type Machine } from './tools.js';
import { CONSTANT_ENTRIES, DUMP_NAMES } from './wrap.js';

export interface SeedOptions {
  count?: number;
  /** Instruction classes to leave out of the program. */
  exclude?: readonly InsnClass[];
  /** Only check the reference against qemu-system-riscv64, do not run tsemu. */
  oracleOnly?: boolean;
  /** Asked when tsemu differs: whether to spend the time to bisect. */
  mayBisect?: () => boolean;
  /** Progress lines (bisection steps). */
  log?: (line: string) => void;
}

export interface SeedReport {
  readonly seed: number;
  readonly count: number;
  readonly ok: boolean;
  /** A human-readable account: what ran, what matched, the first difference, the bisection. */
  readonly text: string;
  readonly ms: number;
}

export interface Difference {
  readonly index: number;
  readonly name: string;
  readonly expected: bigint;
  readonly actual: bigint;
}

export const hex64 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

/** The differing dump entries, in dump order (x, f, fcsr, memory checksums). */
export function compare(expected: readonly bigint[], actual: readonly bigint[]): Difference[] {
  const out: Difference[] = [];
  expected.forEach((e, index) => {
    if (actual[index] !== e) out.push({ index, name: DUMP_NAMES[index], expected: e, actual: actual[index] });
  });
  return out;
}

function describe(diffs: readonly Difference[], who: string, limit = 12): string {
  const lines = diffs.slice(0, limit).map(
    (d) =>
      `  ${d.name.padEnd(22)} expected ${hex64(d.expected)}  ${who} ${hex64(d.actual)}` +
      (CONSTANT_ENTRIES.has(d.index) ? '  (a register the sequence never writes)' : ''),
  );
  if (diffs.length > limit) lines.push(`  ... and ${diffs.length - limit} more`);
  return lines.join('\n');
}

/** A side-by-side listing of two dumps, differences marked. */
export function sideBySide(expected: readonly bigint[], actual: readonly bigint[] | undefined, who: string): string {
  const lines = [`  ${'value'.padEnd(22)} ${'reference'.padEnd(18)} ${actual ? who : ''}`];
  expected.forEach((e, i) => {
    const a = actual?.[i];
    const mark = a === undefined ? '' : a === e ? '  =' : `  ${hex64(a)}  <-- differs`;
    lines.push(`  ${DUMP_NAMES[i].padEnd(22)} ${hex64(e)}${mark}`);
  });
  return lines.join('\n');
}

/** Builds both images and runs the reference on qemu-riscv64 and the bare image on a machine. */
async function runPair(p: Program, machine: Machine): Promise<{ ref: Dump; bare: Dump; bareElf: string }> {
  const [userElf, bareElf] = await Promise.all([buildImage(p, 'user'), buildImage(p, 'bare')]);
  const env = machine === 'tsemu' ? tsemuEnvForSeed(p.seed) : undefined;
  const [ref, bare] = await Promise.all([runUser(userElf), runBare(machine, bareElf, env)]);
  return { ref, bare, bareElf };
}

/** Registers named in a unit's lines (sp as x2); fcsr too for floating-point lines. */
function operandIndexes(lines: readonly string[]): number[] {
  const set = new Set<number>();
  for (const line of lines) {
    for (const m of line.matchAll(/\b(x|f)(\d+)\b|\bsp\b/g)) {
      if (m[0] === 'sp') set.add(2);
      else set.add((m[1] === 'x' ? 0 : 32) + Number(m[2]));
    }
    if (/^\s*(c\.)?f|fflags|fcsr/.test(line)) set.add(64);
  }
  return [...set].sort((a, b) => a - b);
}

/**
 * Finds the first unit at which tsemu's result differs: a binary search over prefixes that
 * keeps "prefix lo agrees, prefix hi differs" until they are adjacent.
 */
async function bisect(p: Program, log: (line: string) => void): Promise<string> {
  interface Probe {
    ref: readonly bigint[];
    sut: Dump;
    agree: boolean;
  }
  const probe = async (n: number): Promise<Probe> => {
    const { ref, bare: sut } = await runPair(prefix(p, n), 'tsemu');
    if (!ref.ok) throw new Error(`bisection: the reference failed on prefix ${n}: ${ref.error}`);
    const agree = sut.ok && !sut.exitProblem && compare(ref.values, sut.values).length === 0;
    log(`bisect seed ${p.seed}: prefix of ${n} units ${agree ? 'agrees' : 'differs'}`);
    return { ref: ref.values, sut, agree };
  };
  const what = (r: Probe): string =>
    !r.sut.ok
      ? r.sut.error
      : compare(r.ref, r.sut.values).length > 0
        ? describe(compare(r.ref, r.sut.values), 'tsemu')
        : (r.sut.exitProblem ?? 'agrees');
  let lo = 0;
  let hi = p.units.length;
  let loProbe = await probe(0);
  if (!loProbe.agree) return `even the empty sequence differs (the wrapper or the initial state):\n${what(loProbe)}`;
  let hiProbe: Probe | undefined;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const r = await probe(mid);
    if (r.agree) {
      lo = mid;
      loProbe = r;
    } else {
      hi = mid;
      hiProbe = r;
    }
  }
  hiProbe ??= await probe(hi);
  const unit = p.units[hi - 1];
  const out = [
    `first differing unit: #${hi - 1} (the first ${hi - 1} units agree):`,
    ...unit.lines.map((l) => (l.endsWith(':') ? `    ${l}` : `      ${l}`)),
    `after it:\n${what(hiProbe)}`,
    'its operands, per the reference (before -> after):',
  ];
  const sutAfter = hiProbe.sut.ok ? hiProbe.sut.values : undefined;
  for (const i of operandIndexes(unit.lines)) {
    const got = sutAfter ? `   tsemu after ${hex64(sutAfter[i])}` : '';
    out.push(`  ${DUMP_NAMES[i].padEnd(10)} ${hex64(loProbe.ref[i])} -> ${hex64(hiProbe.ref[i])}${got}`);
  }
  return out.join('\n');
}

/** Runs one seed end to end. Throws only for an infrastructure problem (a missing tool, a build error). */
export async function checkSeed(seed: number, opts: SeedOptions = {}): Promise<SeedReport> {
  const start = Date.now();
  const count = opts.count ?? 300;
  const log = opts.log ?? (() => {});
  const exclude = opts.exclude ?? [];
  const p = generate(seed, { count, exclude });
  const head = `seed ${seed}, ${count} units${exclude.length ? ` without ${exclude.join(',')}` : ''}`;
  const done = (ok: boolean, lines: string[]): SeedReport => ({ seed, count, ok, text: lines.join('\n'), ms: Date.now() - start });

  const oracle = await runPair(p, 'qemu');
  if (!oracle.ref.ok) return done(false, [`${head}: the reference run failed: ${oracle.ref.error}`]);
  if (oracle.ref.exitProblem) return done(false, [`${head}: ${oracle.ref.exitProblem}`]);
  const ref = oracle.ref.values;
  if (!oracle.bare.ok) return done(false, [`${head}: the bare-metal image failed on qemu-system-riscv64: ${oracle.bare.error}`]);
  const wrapperDiffs = compare(ref, oracle.bare.values);
  if (wrapperDiffs.length > 0) {
    return done(false, [
      `${head}: the wrappers disagree: qemu-riscv64 (user) and qemu-system-riscv64 (bare) print different dumps`,
      describe(wrapperDiffs, 'qemu-system'),
    ]);
  }
  if (oracle.bare.exitProblem) return done(false, [`${head}: ${oracle.bare.exitProblem}`]);
  const lines = [`${head}: qemu-riscv64 and qemu-system-riscv64 agree (${DUMP_NAMES.length} values)`];
  if (opts.oracleOnly) return done(true, lines);

  const sut = await runBare('tsemu', oracle.bareElf, tsemuEnvForSeed(seed));
  lines.push(`${head}: tsemu runs it ${seed % 2 === 1 ? 'through the block translator' : 'in the interpreter'}`);
  if (sut.ok) {
    const diffs = compare(ref, sut.values);
    if (diffs.length === 0 && !sut.exitProblem) return done(true, [...lines, `${head}: tsemu agrees`]);
    if (diffs.length === 0) return done(false, [...lines, `${head}: the dump agrees but ${sut.exitProblem}`]);
    lines.push(
      `${head}: tsemu differs from the reference in ${diffs.length} of ${DUMP_NAMES.length} values; the first is ${diffs[0].name}:`,
      describe(diffs, 'tsemu'),
    );
    if (sut.exitProblem) lines.push(`(also: ${sut.exitProblem})`);
  } else {
    lines.push(`${head}: tsemu failed: ${sut.error}`);
    if (sut.trap) {
      const u = await unitAt(oracle.bareElf, sut.trap.epc);
      if (u !== undefined) {
        lines.push(`mepc is in unit #${u}:`, ...p.units[u].lines.map((l) => (l.endsWith(':') ? `    ${l}` : `      ${l}`)));
      } else {
        lines.push('mepc is outside the generated sequence');
      }
    }
  }
  if (opts.mayBisect?.() ?? true) {
    lines.push(await bisect(p, log));
  } else {
    lines.push('(not bisected)');
  }
  return done(false, lines);
}
