/**
 * A hart's worker thread: builds its view of the machine (RAM, devices over shared state)
 * and runs the hart until told to exit. Idle harts sleep on a futex (WFI) until an
 * interrupt or their next timer deadline, so an idle guest costs next to no host CPU.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { writeSync } from 'node:fs';

// The hart's loop runs in chunks, so it gets optimized as a whole function anyway; compiled
// mid-loop (on-stack replacement) it allocated on every instruction (measured: ~20% slower).
setFlagsFromString('--no-use-osr');
// Translated blocks are many small functions that each must reach V8's optimizing tier
// to beat the hart's own interpreter (in V8's bytecode interpreter a block runs slower
// than that). A smaller profiler budget, and less waiting after a block's inline caches
// change (a branch taken for the first time), get them there sooner: boot -4% hart CPU.
setFlagsFromString('--interrupt-budget=16384');
setFlagsFromString('--minimum-invocations-after-ic-update=20');
import { wait } from '../common/futex.js';
import { buildAddressSpace, type BoardConfig } from './board/virt-map.js';
import { MachineState, TIMEBASE_HZ } from './board/machine-state.js';
import { Hart } from './hart/hart.js';
import { codeTrackViews } from '../common/guest-memory.js';
import { CTL, REQ, STATE } from './hart/state.js';

export interface HartWorkerData {
  hartId: number;
  ram: SharedArrayBuffer;
  machine: SharedArrayBuffer;
  config: BoardConfig;
  resetPc: number;
  /** RAM-page code tracking shared by harts and DMA (common/guest-memory.ts). */
  codeTrack: SharedArrayBuffer;
}

const data = workerData as HartWorkerData;
const m = new MachineState(data.machine, data.config.harts);
const bus = buildAddressSpace(data.ram, m, data.config);
const hart = new Hart({
  hartId: data.hartId,
  bus,
  state: data.machine,
  stateOffset: m.hartStateOffset(data.hartId),
  mtime: () => m.mtime(),
  mtimecmp: m.mtimecmp,
  misaLetters: 'acdfimsu',
  codeTrack: codeTrackViews(data.codeTrack, data.config.ramSize),
  resetPc: data.resetPc,
  // TSEMU_JIT_THRESHOLD: block entries before translation (0: interpreter only)
  jitThreshold: process.env.TSEMU_JIT_THRESHOLD !== undefined ? Number(process.env.TSEMU_JIT_THRESHOLD) : undefined,
});
hart.reset(data.resetPc);
const ctl = hart.ctl;

/**
 * Instructions per chunk: the hart takes interrupts and this loop sees requests (pause,
 * reset, exit) between chunks, and a chunk ends early at a trap, WFI or a state change.
 * 16 Ki instructions is well under a millisecond; each chunk boundary costs the hart
 * a return to this loop and a fresh dispatch (4 Ki: boot +7% hart CPU).
 */
const CHUNK = 16384;

// TSEMU_DEBUG_HART=1: print where each hart is once a second (a developer aid).
const debug = process.env.TSEMU_DEBUG_HART === '1';
let nextDebug = 0;

function run(): void {
  Atomics.store(ctl, CTL.STATE, STATE.RUNNING);
  for (;;) {
    if (debug && performance.now() >= nextDebug) {
      nextDebug = performance.now() + 1000;
      // fs.writeSync: the worker's process.stderr is flushed by its event loop, which never runs
      writeSync(2, `[hart${data.hartId}] pc=${hart.pc.toString(16)} priv=${hart.priv} instret=${hart.instret} wfi=${hart.wfi} mcause=${hart.mcause.toString(16)} mepc=${hart.mepc.toString(16)} scause=${hart.scause.toString(16)} sepc=${hart.sepc.toString(16)} stval=${hart.stval.toString(16)} mip=${hart.mip().toString(16)} mie=${hart.mie.toString(16)} mstatus=${hart.mstatus.toString(16)} irq=${Atomics.load(ctl, CTL.IRQ).toString(16)} blocks=${hart.blocksTranslated}\n`);
    }
    if (Atomics.load(ctl, CTL.REQUEST) !== 0) {
      if (Atomics.load(ctl, CTL.REQUEST) & REQ.RESET) {
        Atomics.and(ctl, CTL.REQUEST, ~REQ.RESET);
        hart.reset(data.resetPc);
      }
      if (hart.handleRequests() === 'exit') return;
    }
    hart.step(CHUNK);
    if (hart.wfi) {
      const seen = Atomics.load(ctl, CTL.WAKE);
      if (hart.checkInterrupts()) continue;
      if (!hart.wfi) continue;
      const ms = hart.msUntilTimer(TIMEBASE_HZ);
      if (ms > 0) {
        Atomics.store(ctl, CTL.STATE, STATE.WFI);
        wait(ctl, CTL.WAKE, seen, Math.min(ms, 1000));
        Atomics.store(ctl, CTL.STATE, STATE.RUNNING);
      }
    }
  }
}

try {
  run();
  parentPort?.postMessage({ kind: 'exited', hartId: data.hartId });
} catch (e) {
  hart.publish();
  parentPort?.postMessage({ kind: 'error', hartId: data.hartId, message: (e as Error).stack ?? String(e) });
}
