/**
 * Several harts at once: test/cpu/smp/smp.S, where every hart adds to shared counters with
 * amoadd.d, lr.d/sc.d, lr.w/sc.w and under a ticket spinlock (Linux's patterns), and hart 0
 * checks the sums and then interrupts each other hart through the CLINT's msip.
 *
 * It runs with -smp 2, 4 and 8 (more harts than the CI machines' two cores, too) on the
 * oracle, qemu-system-riscv64, which proves the program right, and then on tsemu, which
 * must exit 0 with the same UART output (but the "info:" lines, SC retry counts that vary
 * from run to run).
 *
 * A ticket lock hands over in ticket order, so when there are more busy harts than host
 * cores most hand-overs wait for the host to schedule the next holder (lock-waiter
 * preemption): the number of lock rounds shrinks as the harts grow, to keep the run short.
 *
 * Environment: TSEMU_SMP_HARTS=2,4 runs only those configurations;
 * TSEMU_SMP_ORACLE_ONLY=1 runs the oracle alone; TSEMU_SMP_TIMEOUT_MS sets the time limit
 * of a tsemu run (default 50000).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUILD_DIR, CC, CFLAGS, describeRun, GUEST_DIR, QEMU, REPO_ROOT, requireTool, runMachine, type RunResult,
} from '../helpers/riscv-build.js';

const SOURCE = join(REPO_ROOT, 'test/cpu/smp/smp.S');
const TSEMU = join(REPO_ROOT, 'bin/tsemu');
const ORACLE_ONLY = process.env.TSEMU_SMP_ORACLE_ONLY === '1';
const ONLY = (process.env.TSEMU_SMP_HARTS ?? '').split(',').filter(Boolean).map(Number);
const QEMU_TIMEOUT_MS = 30_000;
const TSEMU_TIMEOUT_MS = Number(process.env.TSEMU_SMP_TIMEOUT_MS ?? 50_000);

interface Config {
  harts: number;
  /** rounds of amoadd.d, and of each lr/sc loop, per hart */
  k: number;
  /** rounds of the ticket lock per hart */
  kLock: number;
}

const CONFIGS: Config[] = [
  { harts: 2, k: 200_000, kLock: 2000 },
  { harts: 4, k: 200_000, kLock: 200 },
  { harts: 8, k: 200_000, kLock: 50 },
].filter((c) => ONLY.length === 0 || ONLY.includes(c.harts));

/**
 * Builds smp.S for one configuration. smp.S goes first on the command line, so that its
 * entry (in .text.init) is at 0x80000000 ahead of start.S: QEMU 7.2 enters an ELF kernel
 * at its lowest address, tsemu at its entry, and both must land on smp_entry.
 */
async function buildSmp(c: Config): Promise<string> {
  const cc = requireTool(CC);
  const name = `smp-${c.harts}`;
  const args = [
    ...CFLAGS, '-Wl,-e,smp_entry',
    `-DNHARTS=${c.harts}`, `-DK_AMO=${c.k}`, `-DK_LRSC=${c.k}`, `-DK_LOCK=${c.kLock}`,
    SOURCE, join(GUEST_DIR, 'start.S'),
  ];
  const hash = createHash('sha256').update(JSON.stringify(args));
  for (const f of [SOURCE, ...['start.S', 'rt.h', 'link.ld'].map((g) => join(GUEST_DIR, g))]) hash.update(readFileSync(f));
  const digest = hash.digest('hex');
  mkdirSync(BUILD_DIR, { recursive: true });
  const elf = join(BUILD_DIR, `${name}.elf`);
  const stamp = join(BUILD_DIR, `${name}.sha256`);
  if (existsSync(elf) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return elf;
  const tmp = `${elf}.${process.pid}.tmp`;
  const r = await runMachine(cc, [...args, '-o', tmp], 60_000);
  if (r.status !== 0) throw new Error(describeRun(`building ${name} failed:\n${cc} ${[...args, '-o', tmp].join(' ')}`, r));
  renameSync(tmp, elf);
  writeFileSync(stamp, digest);
  return elf;
}

const machineArgs = (elf: string, harts: number): string[] =>
  ['-M', 'virt', '-bios', 'none', '-nographic', '-m', '128M', '-smp', String(harts), '-kernel', elf];

/** The output but for the lines that vary between runs. */
const stable = (out: string): string => out.split('\n').filter((l) => !l.startsWith('info:')).join('\n');
const info = (out: string): string => out.split('\n').filter((l) => l.startsWith('info:')).join('; ');
const passed = (r: RunResult): boolean => !r.timedOut && r.status === 0 && r.stdout.endsWith('PASS smp\n');

test('the smp configurations are there', (t) => {
  t.true(CONFIGS.length > 0 || ONLY.length > 0);
});

// One machine at a time: each wants every host core.
for (const c of CONFIGS) {
  test.serial(`smp: ${c.harts} harts (amoadd.d, lr/sc.d, lr/sc.w ${c.k} each, ticket lock ${c.kLock}, IPIs)`, async (t) => {
    t.timeout(QEMU_TIMEOUT_MS + TSEMU_TIMEOUT_MS + 30_000);
    const elf = await buildSmp(c);
    const args = machineArgs(elf, c.harts);

    const qemu = requireTool(QEMU);
    const oracle = await runMachine(qemu, args, QEMU_TIMEOUT_MS);
    if (!passed(oracle)) {
      t.fail(`the oracle does not pass (so the program is wrong):\n${QEMU} ${args.join(' ')}\n${describeRun('qemu', oracle)}`);
      return;
    }
    t.log(`qemu: ${oracle.ms} ms, ${info(oracle.stdout)}`);
    if (ORACLE_ONLY) {
      t.pass();
      return;
    }

    const emu = await runMachine(process.execPath, [TSEMU, ...args], TSEMU_TIMEOUT_MS);
    const cmd = `bin/tsemu ${args.join(' ')}`;
    t.is(emu.status, 0, `${cmd}\n${describeRun('tsemu', emu)}`);
    t.is(stable(emu.stdout), stable(oracle.stdout), `UART output differs from the oracle's\n${cmd}\n${describeRun('tsemu', emu)}`);
    t.log(`tsemu: ${emu.ms} ms, ${info(emu.stdout)}`);
  });
}
