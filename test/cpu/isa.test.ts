/**
 * Per-instruction tests: each bare-metal program in test/cpu/isa/*.S checks one area of
 * RV64GC (+ Zba/Zbb/Zbs, Zicsr, privileged architecture, Sv39/Sv48, PMP) against its own
 * expected values, printing "PASS <name>" and exiting 0 through the sifive_test device,
 * or printing "FAIL test n: ..." and exiting with status n.
 *
 * Each program runs on the oracle, qemu-system-riscv64 (which proves the program right),
 * and then on tsemu with the same arguments, which must give the same exit status and the
 * same UART output. TSEMU_ISA_ORACLE_ONLY=1 runs the oracle alone. Programs marked
 * `# oracle: none` (extensions QEMU 7.2 lacks) run on tsemu alone and rely on their own
 * checks; those that expand EMULATOR_INSTALL (test/cpu/guest/emul.h) are first checked
 * on QEMU in a build with -DORACLE_EMULATION, which emulates the missing instructions.
 *
 * Environment: TSEMU_ISA_ONLY=name,name runs only those programs;
 * TSEMU_ISA_TIMEOUT_MS sets the per-run time limit for tsemu (default 30000).
 */
import test from 'ava';
import { join } from 'node:path';
import {
  buildProgram,
  describeRun,
  Limiter,
  listPrograms,
  machineArgs,
  QEMU,
  REPO_ROOT,
  requireTool,
  runMachine,
  type RunResult,
} from '../helpers/riscv-build.js';

const ORACLE_ONLY = process.env.TSEMU_ISA_ORACLE_ONLY === '1';
const ONLY = (process.env.TSEMU_ISA_ONLY ?? '').split(',').filter(Boolean);
const QEMU_TIMEOUT_MS = 20_000;
const TSEMU_TIMEOUT_MS = Number(process.env.TSEMU_ISA_TIMEOUT_MS ?? 30_000);
const TSEMU = join(REPO_ROOT, 'bin/tsemu');

/** Two machines at a time (2-core CI machines); builds share the same slots. */
const slots = new Limiter(2);

function passed(name: string, r: RunResult): boolean {
  return !r.timedOut && r.status === 0 && r.stdout.endsWith(`PASS ${name}\n`);
}

const programs = listPrograms().filter((p) => ONLY.length === 0 || ONLY.includes(p.name));

test('the ISA test programs are there', (t) => {
  t.true(programs.length > 0 || ONLY.length > 0, 'no programs in test/cpu/isa');
});

for (const prog of programs) {
  test(`isa ${prog.name}${prog.oracle ? '' : ' (no oracle)'}`, async (t) => {
    const elf = await slots.run(() => buildProgram(prog));
    const args = machineArgs(elf);

    let oracle: RunResult | undefined;
    if (prog.emulated) {
      const emulElf = await slots.run(() =>
        buildProgram(prog, { defines: ['ORACLE_EMULATION'], outName: `${prog.name}.emulated` }),
      );
      const qemu = requireTool(QEMU);
      const emulArgs = machineArgs(emulElf);
      const r = await slots.run(() => runMachine(qemu, emulArgs, QEMU_TIMEOUT_MS));
      if (!passed(prog.name, r)) {
        t.fail(`the oracle with emulated instructions does not pass ${prog.name} (so the program is wrong):\n` +
          `${QEMU} ${emulArgs.join(' ')}\n${describeRun('qemu', r)}`);
        return;
      }
      t.log(`qemu (emulated instructions): ${r.ms} ms`);
    }
    if (prog.oracle) {
      const qemu = requireTool(QEMU);
      oracle = await slots.run(() => runMachine(qemu, args, QEMU_TIMEOUT_MS));
      if (!passed(prog.name, oracle)) {
        t.fail(`the oracle does not pass ${prog.name} (so the program is wrong):\n` +
          `${QEMU} ${args.join(' ')}\n${describeRun('qemu', oracle)}`);
        return;
      }
      t.log(`qemu: ${oracle.ms} ms`);
    }
    if (ORACLE_ONLY) {
      if (!prog.oracle) t.log('not run as is: no oracle, and TSEMU_ISA_ORACLE_ONLY=1');
      t.pass();
      return;
    }

    // once in the interpreter, once with every block translated at its first entry
    for (const [how, threshold] of [['interpreter', '0'], ['translator', '1']] as const) {
      const emu = await slots.run(() => runMachine(process.execPath, [TSEMU, ...args], TSEMU_TIMEOUT_MS, { TSEMU_JIT_THRESHOLD: threshold }));
      const cmd = `TSEMU_JIT_THRESHOLD=${threshold} bin/tsemu ${args.join(' ')}`;
      if (oracle) {
        t.is(emu.status, oracle.status, `exit status differs from the oracle's (${how})\n${cmd}\n${describeRun('tsemu', emu)}`);
        t.is(emu.stdout, oracle.stdout, `UART output differs from the oracle's (${how})\n${cmd}\n${describeRun('tsemu', emu)}`);
      } else {
        t.true(passed(prog.name, emu), `${how}: ${cmd}\n${describeRun('tsemu', emu)}`);
      }
      t.log(`tsemu (${how}): ${emu.ms} ms`);
    }
  });
}
