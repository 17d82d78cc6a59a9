/**
 * The block translator: a hot run of guest instructions becomes one JavaScript function,
 * which V8 then compiles to machine code. What it saves over the interpreter is the
 * per-instruction work: fetch, decode lookup, dispatch, and register numbers and
 * immediates become constants, x0 folds away, a loop back to the block's start is a
 * JavaScript loop.
 *
 * A block starts at a pc the interpreter found hot and runs straight on through
 * not-taken branches (a forward branch or short `j` to a later instruction of the block
 * stays inside it), up to a jump that leaves, the page end or MAX_BLOCK instructions.
 * Its code is the interpreter's fast path written out per instruction (same memory
 * model: 64-bit loads/stores are one 8-byte access, single-copy atomic), with the
 * registers in JavaScript locals; everything else calls the hart's own slow paths, so
 * traps, MMIO, self-modifying code and CSRs behave exactly as in the interpreter.
 *
 * Contract with the hart (hart.ts runChunk):
 *  - called as fn(h, rT, wT) (the read and write TLBs' entries, tlb.ts) with h.budget >= MAX_BLOCK; returns the next
 *    pc and leaves h.budget lowered by the instructions it retired;
 *  - every call out of a block (BlockHost) first sets h.pc to the instruction's pc and
 *    h.budget as the interpreter has it there (already lowered for that instruction), so
 *    traps and instret reads see what they would in the interpreter;
 *  - after a slow op that changed the pc or cached state it returns h.pc with
 *    h.refetch set, and the hart reloads what it caches;
 *  - an exit runs the target's block directly when it exists (`chain`, at most MAX_CHAIN
 *    deep): in the same page by slot, elsewhere (another page, a JALR) when the hart's
 *    fetch cache holds the target page; so one call from the hart may retire many
 *    blocks; the budget check at each link keeps the chunk's instruction count exact.
 * Blocks embed virtual pcs: the hart keeps them per decoded page with the virtual page
 * they were made for, and drops them when the page is reached through another mapping.
 */
import { accessSize, Op } from './decode.js';
import { bitmanip, divide, mulh64, shift, umulhi } from './int64.js';
import { TLB_SIZE } from './tlb.js';

/** tlb.ts tlbIndex as a mask on lo >>> 10. */
const TLB_INDEX_MASK = (TLB_SIZE - 1) << 2;

/** Longest block, in instructions; the hart enters a block only with this much budget. */
export const MAX_BLOCK = 64;

export interface BlockInsn {
  pc: number;
  /** The decoded words (decode.ts): a, imm, b. */
  w: number;
  imm: number;
  b: number;
  /**
   * For a conditional branch, the ways the interpreter saw it go before the block was made
   * (hart.ts waysSeen): 1 taken, 2 fell through, 3 both, 0 not known; a way it took only
   * rarely counts as not seen. The block makes a way not seen (1 or 2) a plain exit rather
   * than code of its own: V8 optimizes a block with feedback only for what has run, and
   * code the block had not yet run would be a deoptimization (and a recompile) the first
   * time it did.
   */
  seen: number;
}

/** A conditional branch the interpreter saw only fall through (BlockInsn.seen; 0 for other instructions). */
const neverTaken = (ins: BlockInsn) => ins.seen === 2;

function isBranch(op: number): boolean {
  return op >= Op.BEQ && op <= Op.BGEU;
}

/**
 * What a block calls back into (implemented by Hart). Every call out of a block is one
 * of these, with constant arguments: the cold paths carry no arithmetic or property
 * access of their own, so V8 optimizes a block without feedback for paths it has not
 * seen taken yet (each such path would otherwise be a deoptimization and a recompile).
 * `b, n` are the budget at block entry and the instructions retired with this one.
 */
export interface BlockHost {
  pc: number;
  budget: number;
  /** True when the chunk must end at the next block boundary (the hart's own flag). */
  endChunk: boolean;
  /** Blocks entered from other blocks and not yet returned (chain); reset by each chunk. */
  chainDepth: number;
  /**
   * The block for virtual `pc` if its page is in the fetch cache (so its translation is
   * current) and was translated at this virtual address; else undefined.
   */
  blockFor(pc: number): BlockFn | undefined;
  /**
   * Runs an instruction the block does not inline. Returns NaN to go on, or the pc the
   * block must return (the budget then already set): a jump, a trap, a state change.
   */
  blockSlow(w: number, imm: number, bits: number, pc: number, b: number, n: number): number;
  blockWideJump(rs1: number, imm: number, pc: number, b: number, n: number): never;
  blockPause(next: number, b: number, n: number): void;
}

/**
 * The calls out of a block, as free functions the block closes over: a block then holds
 * their targets as constants and needs no property lookup or call feedback for them.
 */
const CALLS = {
  blockSlow: (h: BlockHost, w: number, imm: number, bits: number, pc: number, b: number, n: number) => h.blockSlow(w, imm, bits, pc, b, n),
  blockWideJump: (h: BlockHost, rs1: number, imm: number, pc: number, b: number, n: number): never => h.blockWideJump(rs1, imm, pc, b, n),
  blockPause: (h: BlockHost, next: number, b: number, n: number) => h.blockPause(next, b, n),
  /**
   * The block's one exit site calls this for every way out, with its exit-table entry:
   * `slot` -2 is a slow path's own pc `t` (the budget already set); otherwise it leaves for
   * `target` (or `t` when slot is DYN) with the budget at b - n. When `slot` is a slot of
   * this page, or FAR or DYN (a target in another page, or not constant: a JALR), and the
   * target's block exists, runs it from here (as QEMU chains translation blocks) instead
   * of returning to the dispatch loop. -1: return to the loop (a stop before a slow
   * instruction). The choices are made here, not at the exit site: code a block runs only
   * on some exits would be code V8 optimized without feedback, and the first such exit a
   * deoptimization.
   */
  chain: (h: BlockHost, fns: BlockFns, slot: number, b: number, n: number, t: number, x: number,
    rT: Int32Array, wT: Int32Array): number => {
    if (slot === -2) return t;
    const nb = b - n;
    h.budget = nb;
    const target = slot === DYN ? t : x;
    // The page cannot have been dropped or rebased since this block was entered: that
    // happens only in the hart's dispatch loop, and a chain runs without returning to it.
    if (slot !== -1 && nb >= MAX_BLOCK && h.chainDepth < MAX_CHAIN && !h.endChunk) {
      const f = slot >= 0 ? fns[slot] : h.blockFor(target);
      if (f !== undefined) {
        h.chainDepth++;
        const r = f(h, rT, wT);
        h.chainDepth--;
        return r;
      }
    }
    return target;
  },
};

/** chain's slot for a target outside the block's page (looked up by pc). */
const FAR = -3;

/** chain's slot for a JALR's target (in T at the exit site): looked up by pc like FAR. */
const DYN = -4;

/** How deep blocks may call blocks (each is a host stack frame). */
const MAX_CHAIN = 32;

/**
 * A decoded page's blocks by entry slot (DecodedPage.fn): one array for the page's life,
 * emptied when the page's code or mapping changes, never replaced (blocks close over it;
 * an object field they loaded instead would cost V8 a deoptimization each time it changed).
 */
export type BlockFns = (BlockFn | undefined)[];

export type BlockFn = (h: BlockHost, rT: Int32Array, wT: Int32Array) => number;

/** The arrays a block closes over (the hart's registers and RAM views). */
export interface BlockEnv {
  x32: Int32Array;
  ram8: Uint8Array;
  ram16: Int16Array;
  ramU16: Uint16Array;
  ram32: Int32Array;
  /** RAM as doubles: LD/SD move 8 bytes in one access (single-copy atomic) through them. */
  ramF64: Float64Array;
  codePages: Uint8Array;
  fenceWord: Int32Array;
}

/**
 * True if `op` ends a block (the block includes it): jumps, and what changes the pc or
 * mode. CSR instructions do not: when one changes what the hart caches, the hart's slow
 * path says so and the block leaves there (blockSlow returns a pc).
 */
export function endsBlock(op: number): boolean {
  switch (op) {
    case Op.JAL: case Op.JALR:
    case Op.FENCE_I: case Op.ECALL: case Op.EBREAK: case Op.MRET: case Op.SRET: case Op.WFI:
    case Op.SFENCE_VMA: case Op.ILLEGAL:
      return true;
    default:
      return false;
  }
}

const TWO53 = 9007199254740992;

/** Splits a JS integer (|v| < 2^53) into int32 halves. */
function halves(v: number): [number, number] {
  const hi = Math.floor(v / 4294967296);
  return [(v - hi * 4294967296) | 0, hi | 0];
}

/** A block's function body and its exit table (retired count, target pc, chain slot). */
export interface BlockSource {
  src: string;
  exN: number[];
  exT: number[];
  exS: number[];
}

/**
 * Where a block's code ends and which of its jumps stay inside it. `last` is the last
 * position translated: the first that ends the block (a JALR, a system instruction, a
 * JAL that leaves it). `inner` maps the pc of each position that a branch or JAL before
 * it targets (forward, at or before `last`) to that position.
 */
export function layout(insns: readonly BlockInsn[]): { last: number; inner: Map<number, number> } {
  const at = new Map<number, number>();
  insns.forEach((ins, k) => at.set(ins.pc, k));
  const forward = (k: number): number => {
    const ins = insns[k]!;
    const j = at.get(ins.pc + ins.imm);
    return j !== undefined && j > k ? j : -1;
  };
  let last = insns.length - 1;
  for (let k = 0; k < insns.length; k++) {
    const op = insns[k]!.w & 1023;
    if (endsBlock(op) && !(op === Op.JAL && forward(k) >= 0)) {
      last = k;
      break;
    }
  }
  // a JAL whose target lies past the end leaves the block, which then ends there: repeat
  // until every inner JAL's target is inside
  for (let changed = true; changed;) {
    changed = false;
    for (let k = 0; k < last; k++) {
      if ((insns[k]!.w & 1023) === Op.JAL && forward(k) > last) {
        last = k;
        changed = true;
        break;
      }
    }
  }
  const inner = new Map<number, number>();
  for (let k = 0; k < last; k++) {
    const op = insns[k]!.w & 1023;
    if (op === Op.JAL || (isBranch(op) && !neverTaken(insns[k]!))) {
      const j = forward(k);
      if (j > 0 && j <= last) inner.set(insns[j]!.pc, j);
    }
  }
  return { last, inner };
}

/**
 * JavaScript source of the block's function body.
 *
 * Registers live in JavaScript locals inside a block (`lo5`/`hi5`: the int32 halves of x5),
 * always int32 (as x32 would hold them: branches compare them with ===), loaded once at entry and stored back once at the block's one exit site (and before a
 * JALR leaves): V8 keeps them in machine registers, where the register file in shared
 * memory would be a load or store with a bounds check per use, and in V8's own
 * interpreter (where a block runs before it is optimized) locals are register moves
 * where an array element is an inline-cache call. Every register a block touches is
 * loaded at entry, so the exit site can store all the block writes whatever way it
 * leaves. Around calls to the hart's code (blockSlow and the x32 helpers) the locals
 * are stored first and reloaded after, so the hart sees and changes the real registers.
 */
export function blockSource(insns: readonly BlockInsn[]): BlockSource {
  const start = insns[0]!.pc;
  // a branch back to the start makes the body a JavaScript loop
  const loops = insns.some((ins) => isBranch(ins.w & 1023) && !neverTaken(ins) && ins.pc + ins.imm === start);
  const out: string[] = [];
  const used = new Set<number>();
  const written = new Set<number>();
  const lo = (r: number) => {
    if (r === 0) return '0';
    used.add(r);
    return `lo${r}`;
  };
  const hi = (r: number) => {
    if (r === 0) return '0';
    used.add(r);
    return `hi${r}`;
  };
  /** The locals of destination rd (not the x0 sink, 32). */
  const dl = (rd: number) => {
    used.add(rd);
    written.add(rd);
    return `lo${rd}`;
  };
  const dh = (rd: number) => `hi${rd}`;
  const setConst = (rd: number, v: number) => {
    if (rd === 32) return;
    const [l, h] = halves(v);
    out.push(`${dl(rd)} = ${l}; ${dh(rd)} = ${h};`);
  };
  /** Writes a sign-extended 32-bit value held in JS expression `v`. */
  const setW = (rd: number, v: string) => {
    if (rd === 32) return;
    out.push(`${dl(rd)} = ${v}; ${dh(rd)} = ${dl(rd)} >> 31;`);
  };
  // placeholders for what depends on the whole block: store all it writes, reload all it uses
  const STORE = '\u0001S\u0001';
  const RELOAD = '\u0001R\u0001';
  /** Stores registers to x32 before a helper that reads them there. */
  const sync = (...rs: number[]) => rs.filter((r) => r !== 0 && r !== 32)
    .map((r) => `x32[${2 * r}] = ${lo(r)}; x32[${2 * r + 1}] = ${hi(r)};`).join(' ');
  /** Reloads rd's locals after a helper wrote it in x32. */
  const reload = (rd: number) => `${dl(rd)} = x32[${2 * rd}]; ${dh(rd)} = x32[${2 * rd + 1}];`;
  // `B` is the budget at entry (or at the top of this loop iteration).
  // Every way out but a JALR's is an entry of the exit table, taken by setting E and
  // breaking out to the block's one exit site: a way out never taken before V8 optimized
  // the block then costs it no deoptimization (a constant store and a jump need no type
  // feedback; the exit site itself is warm from the first exit the block took).
  const exN: number[] = [];
  const exT: number[] = [];
  const exS: number[] = [];
  const addExit = (n: number, target: number, slot: number): number => {
    exN.push(n);
    exT.push(target);
    exS.push(slot);
    return exN.length - 1;
  };
  const vbase = Math.floor(start / 4096) * 4096;
  /** Leaves for constant pc `target` after k+1 instructions; chained when it is in this page. */
  const exitTo = (k: number, target: number) =>
    `{ E = ${addExit(k + 1, target, target >= vbase && target < vbase + 4096 ? (target - vbase) >> 1 : FAR)}; break out; }`;
  /**
   * Stops before instruction k (k retired), which needs a slow path (a TLB miss, MMIO, a
   * misaligned access, a store to code): the block returns its pc + 1, which tells the
   * hart to run that one instruction in the interpreter.
   */
  const stop = (k: number, pc: number) => `{ E = ${addExit(k, pc + 1, -1)}; break out; }`;
  // Forward jumps inside the block (an if's branch over its body, a `j` over an else)
  // are JavaScript breaks: every target opens a labelled block at the top (the farthest
  // outermost) that closes just before the target, so any jump to it is inside its
  // label. The block retires fewer instructions than its positions when it jumps: D
  // counts those skipped, and every count handed out of the block is positions - D.
  const { last, inner } = layout(insns);
  const counted = inner.size > 0;
  /** The instructions retired by the time position n is reached, as a JS expression. */
  const n = (positions: number) => (counted ? `${positions} - D` : `${positions}`);
  const taken = (k: number, target: number) => {
    const j = inner.get(target);
    if (j !== undefined && j > k) {
      // forward, inside the block: skip to it (the instructions jumped over did not retire)
      return `{ D += ${j - k - 1}; break F${j}; }`;
    }
    if (target === start && loops) {
      // back to the top: go round again while the budget lasts
      return `{ B -= ${n(k + 1)}; D = 0; if (B < ${MAX_BLOCK}) { E = ${addExit(0, start, -1)}; break out; } continue; }`;
    }
    return exitTo(k, target);
  };
  /**
   * A conditional branch at position k on JS condition `cond`: a way the interpreter never
   * saw it go is a plain exit (BlockInsn.seen).
   */
  const branch = (k: number, cond: string, next: number) => {
    const ins = insns[k]!;
    const target = ins.pc + ins.imm;
    if (neverTaken(ins)) return `if (${cond}) ${exitTo(k, target)}`;
    if (ins.seen === 1 && k < last) return `if (${cond}) ${taken(k, target)} else ${exitTo(k, next)}`;
    return `if (${cond}) ${taken(k, target)}`;
  };
  /**
   * The carry (1 or 0) out of `sum`, the int32 low word of `addend` plus another low word,
   * both taken as unsigned: the sum wrapped below the addend.
   */
  const carry = (sum: string, addend: string) => `((${sum} >>> 0) < (${addend} >>> 0) ? 1 : 0)`;
  // Conditions are written without && and || (and without ?: choosing between
  // computations): V8 optimizes a block with feedback only for the code that has run, so
  // the right side of a && the block had never needed would be a deoptimization (and a
  // recompile) the first time it is; bitwise forms run every part every time.
  /** An int32 JS expression that is 0 exactly when x[rs1] === x[rs2]. */
  const equal = (rs1: number, rs2: number) => (rs2 === 0 ? `(${lo(rs1)} | ${hi(rs1)})`
    : rs1 === 0 ? `(${lo(rs2)} | ${hi(rs2)})`
    : `((${lo(rs1)} ^ ${lo(rs2)}) | (${hi(rs1)} ^ ${hi(rs2)}))`);
  /**
   * 1 if the 64-bit value (h1, low word l1) is below (h2, l2), else 0, with the high words
   * in locals h1 and h2 (signed or, for an unsigned compare, >>> 0) and the low words given
   * as unsigned expressions.
   */
  const less = (l1: string, l2: string) => `((h1 < h2) | ((h1 === h2) & ((${l1}) < (${l2}))))`;
  const ea = (rs1: number, imm: number) => (rs1 === 0 ? `${imm}` : `${hi(rs1)} * 4294967296 + (${lo(rs1)} >>> 0) + ${imm}`);
  /**
   * A load or store's address rs1 + imm as int32 halves in locals l (low) and g (high),
   * and its TLB entry's index in t (tlb.ts): no 64-bit double arithmetic on the way to a hit.
   */
  const addr = (rs1: number, imm: number) => {
    const L = lo(rs1);
    const H = hi(rs1);
    const sum = rs1 === 0 ? `l = ${imm}; g = ${imm >> 31};`
      : imm === 0 ? `l = ${L}; g = ${H};`
      : `l = (${L} + ${imm}) | 0; g = (${H} + ${imm > 0 ? carry('l', L) : `((l >>> 0) > (${L} >>> 0) ? -1 : 0)`}) | 0;`;
    return `${sum} t = (l >>> 10) & ${TLB_INDEX_MASK};`;
  };

  let k = 0;
  let ended = false;
  const targets = [...new Set(inner.values())].sort((p, q) => q - p);
  if (targets.length > 0) out.push(targets.map((j) => `F${j}: {`).join(' '));
  for (; k <= last && !ended; k++) {
    const { pc, w, imm, b } = insns[k]!;
    if (counted && targets.includes(k)) out.push('}');
    const op = w & 1023;
    const rd = (w >>> 10) & 63;
    const rs1 = (w >>> 16) & 63;
    const rs2 = (w >>> 22) & 63;
    const len = (w & (1 << 28)) !== 0 ? 4 : 2;
    const next = pc + len;
    switch (op) {
      case Op.ADDI:
        if (rd === 32) break;
        if (rs1 === 0) setConst(rd, imm);
        else if (imm === 0) out.push(`${dl(rd)} = ${lo(rs1)}; ${dh(rd)} = ${hi(rs1)};`);
        // int32 halves; the carry out of the low word is the unsigned wrap of its sum
        else out.push(`{ const l = (${lo(rs1)} + ${imm}) | 0; ${dh(rd)} = (${hi(rs1)} + ${imm >> 31} + ${carry('l', lo(rs1))}) | 0; ${dl(rd)} = l; }`);
        break;
      case Op.ADD:
        if (rd === 32) break;
        // mv (c.mv is add rd, x0, rs2)
        if (rs1 === 0 || rs2 === 0) out.push(`${dl(rd)} = ${lo(rs1 + rs2)}; ${dh(rd)} = ${hi(rs1 + rs2)};`);
        else out.push(`{ const l = (${lo(rs1)} + ${lo(rs2)}) | 0; ${dh(rd)} = (${hi(rs1)} + ${hi(rs2)} + ${carry('l', lo(rs1))}) | 0; ${dl(rd)} = l; }`);
        break;
      case Op.SUB:
        if (rd === 32) break;
        out.push(`{ const a = ${lo(rs1)}; const c = ${lo(rs2)}; ${dh(rd)} = (${hi(rs1)} - ${hi(rs2)} - ((a >>> 0) < (c >>> 0) ? 1 : 0)) | 0; ${dl(rd)} = (a - c) | 0; }`);
        break;
      case Op.LUI:
        setConst(rd, imm);
        break;
      case Op.AUIPC:
        setConst(rd, pc + imm);
        break;
      case Op.JAL:
        setConst(rd, next);
        out.push(taken(k, pc + imm));
        // a jump forward inside the block goes on with the instructions it jumped over
        // (other jumps reach them); any other ends the block
        if (!((inner.get(pc + imm) ?? -1) > k)) ended = true;
        break;
      case Op.JALR:
        out.push(`{ const t = ${ea(rs1, imm)};`);
        setConst(rd, next);
        out.push(`if (t >= ${TWO53} || t <= -${TWO53}) { ${STORE} blockWideJump(h, ${rs1}, ${imm}, ${pc}, B, ${n(k + 1)}); }`);
        // out through the one exit site like every other way out (its stores and the
        // chain call are warm there: a block V8 optimized while it looped, before its
        // return was ever taken, is not deoptimized by the first return)
        out.push(`T = t - (t & 1 ? 1 : 0); E = ${addExit(k + 1, NaN, DYN)}; break out; }`);
        ended = true;
        break;
      case Op.BEQ:
        out.push(branch(k, `${equal(rs1, rs2)} === 0`, next));
        break;
      case Op.BNE:
        out.push(branch(k, `${equal(rs1, rs2)} !== 0`, next));
        break;
      case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: {
        const u = op === Op.BLTU || op === Op.BGEU ? ' >>> 0' : '';
        const lt = less(`${lo(rs1)} >>> 0`, `${lo(rs2)} >>> 0`);
        out.push(`{ const h1 = ${hi(rs1)}${u}; const h2 = ${hi(rs2)}${u}; ${branch(k, `${lt} ${op === Op.BLT || op === Op.BLTU ? '!==' : '==='} 0`, next)} }`);
        break;
      }
      case Op.LD: case Op.LW: case Op.LWU: case Op.LH: case Op.LHU: case Op.LB: case Op.LBU: {
        const size = accessSize(op);
        out.push(addr(rs1, imm));
        out.push(`if (((rT[t] ^ (l & -4096)) | (rT[t + 1] ^ g)) !== 0) ${stop(k, pc)}`);
        out.push('o = (rT[t + 2] + (l & 4095)) >>> 0;');
        if (size > 1) out.push(`if ((o & ${size - 1}) !== 0) ${stop(k, pc)}`);
        if (rd === 32) {
          // a load to x0 still faults like a load; nothing to keep
          break;
        }
        const L = dl(rd);
        const H = dh(rd);
        switch (op) {
          // one 8-byte read of guest RAM (single-copy atomic), split through the scratch
          case Op.LD: out.push(`sF[0] = ramF64[o >>> 3]; ${L} = s32[0]; ${H} = s32[1];`); break;
          case Op.LW: out.push(`${L} = ram32[o >>> 2]; ${H} = ${L} >> 31;`); break;
          case Op.LWU: out.push(`${L} = ram32[o >>> 2]; ${H} = 0;`); break;
          case Op.LH: out.push(`${L} = ram16[o >>> 1]; ${H} = ${L} >> 31;`); break;
          case Op.LHU: out.push(`${L} = ramU16[o >>> 1]; ${H} = 0;`); break;
          case Op.LB: out.push(`${L} = (ram8[o] << 24) >> 24; ${H} = ${L} >> 31;`); break;
          default: out.push(`${L} = ram8[o]; ${H} = 0;`); break;
        }
        break;
      }
      case Op.SD: case Op.SW: case Op.SH: case Op.SB: {
        const size = accessSize(op);
        out.push(addr(rs1, imm));
        out.push(`if (((wT[t] ^ (l & -4096)) | (wT[t + 1] ^ g)) !== 0) ${stop(k, pc)}`);
        out.push('o = (wT[t + 2] + (l & 4095)) >>> 0;');
        let fast: string;
        switch (op) {
          case Op.SD: fast = `s32[0] = ${lo(rs2)}; s32[1] = ${hi(rs2)}; ramF64[o >>> 3] = sF[0];`; break;
          case Op.SW: fast = `ram32[o >>> 2] = ${lo(rs2)};`; break;
          case Op.SH: fast = `ram16[o >>> 1] = ${lo(rs2)};`; break;
          default: fast = `ram8[o] = ${lo(rs2)};`; break;
        }
        const bad = size === 1 ? `codePages[o >>> 12]` : `((o & ${size - 1}) | codePages[o >>> 12])`;
        out.push(`if (${bad} !== 0) ${stop(k, pc)}`);
        out.push(fast);
        break;
      }
      case Op.SLTI: case Op.SLTIU: {
        if (rd === 32) break;
        const u = op === Op.SLTIU ? ' >>> 0' : '';
        out.push(`{ const h1 = ${hi(rs1)}${u}; const h2 = ${imm >> 31}${u}; ${dl(rd)} = ${less(`${lo(rs1)} >>> 0`, `${imm >>> 0}`)}; ${dh(rd)} = 0; }`);
        break;
      }
      case Op.XORI: case Op.ORI: case Op.ANDI: {
        if (rd === 32) break;
        const o2 = op === Op.XORI ? '^' : op === Op.ORI ? '|' : '&';
        out.push(`{ const l = ${lo(rs1)} ${o2} ${imm}; ${dh(rd)} = ${hi(rs1)} ${o2} ${imm >> 31}; ${dl(rd)} = l; }`);
        break;
      }
      case Op.SLLI: case Op.SRLI: case Op.SRAI: {
        if (rd === 32) break;
        const s = imm & 63;
        out.push(`{ const l = ${lo(rs1)}; const u = ${hi(rs1)};`);
        const L = dl(rd);
        const H = dh(rd);
        if (s === 0) out.push(`${L} = l; ${H} = u;`);
        else if (op === Op.SLLI) {
          if (s < 32) out.push(`${H} = (u << ${s}) | (l >>> ${32 - s}); ${L} = l << ${s};`);
          else out.push(`${H} = l << ${s - 32}; ${L} = 0;`);
        } else if (op === Op.SRLI) {
          if (s < 32) out.push(`${L} = (l >>> ${s}) | (u << ${32 - s}); ${H} = (u >>> ${s}) | 0;`);
          else out.push(`${L} = (u >>> ${s - 32}) | 0; ${H} = 0;`);
        } else {
          if (s < 32) out.push(`${L} = (l >>> ${s}) | (u << ${32 - s}); ${H} = u >> ${s};`);
          else out.push(`${L} = u >> ${s - 32}; ${H} = u >> 31;`);
        }
        out.push('}');
        break;
      }
      case Op.SLL: case Op.SRL: case Op.SRA:
        if (rd !== 32) out.push(`${sync(rs1)} shift(x32, ${op}, ${rd}, ${rs1}, ${lo(rs2)} & 63); ${reload(rd)}`);
        break;
      case Op.SLT: case Op.SLTU: {
        if (rd === 32) break;
        const u = op === Op.SLTU ? ' >>> 0' : '';
        out.push(`{ const h1 = ${hi(rs1)}${u}; const h2 = ${hi(rs2)}${u}; ${dl(rd)} = ${less(`${lo(rs1)} >>> 0`, `${lo(rs2)} >>> 0`)}; ${dh(rd)} = 0; }`);
        break;
      }
      case Op.XOR: case Op.OR: case Op.AND: {
        if (rd === 32) break;
        const o2 = op === Op.XOR ? '^' : op === Op.OR ? '|' : '&';
        out.push(`{ const l = ${lo(rs1)} ${o2} ${lo(rs2)}; ${dh(rd)} = ${hi(rs1)} ${o2} ${hi(rs2)}; ${dl(rd)} = l; }`);
        break;
      }
      case Op.ADDIW: setW(rd, `(${lo(rs1)} + ${imm}) | 0`); break;
      case Op.ADDW: setW(rd, `(${lo(rs1)} + ${lo(rs2)}) | 0`); break;
      case Op.SUBW: setW(rd, `(${lo(rs1)} - ${lo(rs2)}) | 0`); break;
      case Op.SLLIW: setW(rd, `${lo(rs1)} << ${imm & 31}`); break;
      case Op.SRLIW: setW(rd, `(${lo(rs1)} >>> ${imm & 31}) | 0`); break;
      case Op.SRAIW: setW(rd, `${lo(rs1)} >> ${imm & 31}`); break;
      case Op.SLLW: setW(rd, `${lo(rs1)} << (${lo(rs2)} & 31)`); break;
      case Op.SRLW: setW(rd, `(${lo(rs1)} >>> (${lo(rs2)} & 31)) | 0`); break;
      case Op.SRAW: setW(rd, `${lo(rs1)} >> (${lo(rs2)} & 31)`); break;
      case Op.MUL:
        // the low 64 bits from int32 halves: the 32x32 high word (umulhi) and two cross terms
        if (rd !== 32) {
          out.push(`{ const a0 = ${lo(rs1)}, a1 = ${hi(rs1)}, b0 = ${lo(rs2)}, b1 = ${hi(rs2)};`);
          out.push(`${dh(rd)} = (umulhi(a0, b0) + Math.imul(a1, b0) + Math.imul(a0, b1)) | 0; ${dl(rd)} = Math.imul(a0, b0); }`);
        }
        break;
      case Op.MULH: case Op.MULHU: case Op.MULHSU:
        if (rd !== 32) out.push(`mulh64(s32, ${op}, ${lo(rs1)}, ${hi(rs1)}, ${lo(rs2)}, ${hi(rs2)}); ${dl(rd)} = s32[0]; ${dh(rd)} = s32[1];`);
        break;
      case Op.SH1ADD: case Op.SH2ADD: case Op.SH3ADD: case Op.ADD_UW: {
        // address arithmetic the kernel does everywhere with Zba: inline
        if (rd === 32) break;
        const s = op === Op.ADD_UW ? 0 : op - Op.SH1ADD + 1;
        const sl = s === 0 ? lo(rs1) : `(${lo(rs1)} << ${s})`;
        const sh = op === Op.ADD_UW ? '0' : `((${hi(rs1)} << ${s}) | (${lo(rs1)} >>> ${32 - s}))`;
        out.push(`{ const a = ${sl}; const l = (a + ${lo(rs2)}) | 0; ${dh(rd)} = (${sh} + ${hi(rs2)} + ${carry('l', 'a')}) | 0; ${dl(rd)} = l; }`);
        break;
      }
      case Op.ZEXT_H:
        if (rd !== 32) out.push(`${dl(rd)} = ${lo(rs1)} & 65535; ${dh(rd)} = 0;`);
        break;
      case Op.MULW: setW(rd, `Math.imul(${lo(rs1)}, ${lo(rs2)})`); break;
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU:
      case Op.DIVW: case Op.DIVUW: case Op.REMW: case Op.REMUW:
        // never traps (division by zero has a result): int64.ts divide
        if (rd !== 32) out.push(`divide(s32, ${op}, ${lo(rs1)}, ${hi(rs1)}, ${lo(rs2)}, ${hi(rs2)}); ${dl(rd)} = s32[0]; ${dh(rd)} = s32[1];`);
        break;
      case Op.FENCE:
        out.push('Atomics.add(fenceWord, 0, 0);');
        if (imm === 0x010) out.push(`blockPause(h, ${next}, B, ${n(k + 1)});`);
        break;
      default:
        if (op >= Op.SH1ADD && op <= Op.CZERO_NEZ) {
          // the rest of Zba/Zbb/Zbs/Zicond: never trap, plain int32 code (int64.ts)
          if (rd !== 32) out.push(`${sync(rs1, rs2)} bitmanip(x32, ${op}, ${rd}, ${rs1}, ${rs2}, ${imm}); ${reload(rd)}`);
          break;
        }
        // the hart's own code for everything else; it may trap, jump or change state, and
        // reads and writes any register in x32
        out.push(STORE);
        out.push(`T = blockSlow(h, ${w}, ${imm}, ${b}, ${pc}, B, ${n(k + 1)});`);
        out.push(RELOAD);
        out.push(`if (T === T) { E = ${addExit(0, 0, -2)}; break out; }`);
        if (endsBlock(op)) {
          out.push(exitTo(k, next));
          ended = true;
        }
        break;
    }
  }
  if (!ended) {
    const last = insns[k - 1]!;
    const next = last.pc + ((last.w & (1 << 28)) !== 0 ? 4 : 2);
    out.push(exitTo(k - 1, next));
  }
  const regs = [...used].sort((p, q) => p - q);
  const store = [...written].sort((p, q) => p - q).map((r) => `x32[${2 * r}] = lo${r}; x32[${2 * r + 1}] = hi${r};`).join(' ');
  const load = regs.map((r) => `lo${r} = x32[${2 * r}]; hi${r} = x32[${2 * r + 1}];`).join(' ');
  const body = out.join('\n').replaceAll(STORE, store).replaceAll(RELOAD, load);
  const decl = regs.length === 0 ? '' : `\nlet ${regs.map((r) => `lo${r} = x32[${2 * r}], hi${r} = x32[${2 * r + 1}]`).join(', ')};`;
  const head = `let l = 0, g = 0, t = 0, o = 0, E = 0, T = 0, D = 0;${decl}`;
  // the one exit site: -2 is a slow path's own pc (budget already set), -1 no chaining
  const tail = exN.length === 0 ? '' : `\n${store}\nreturn chain(h, fns, EXS[E], B, EXN[E]${counted ? ' - D' : ''}, T, EXT[E], rT, wT);`;
  return {
    src: loops
      ? `let B = h.budget; ${head}\nout: for (;;) {\n${body}\n}${tail}`
      : `const B = h.budget; ${head}\nout: {\n${body}\n}${tail}`,
    exN, exT, exS,
  };
}

/**
 * Where LD and SD split and join a register's halves around one 8-byte RAM access: one
 * per thread (a block runs to completion on its hart's thread), not shared memory.
 */
const SCRATCH_F = new Float64Array(1);
const SCRATCH_32 = new Int32Array(SCRATCH_F.buffer);

/** Compiles a block over `env`'s arrays. */
export function compileBlock(insns: readonly BlockInsn[], env: BlockEnv, fns: BlockFns): BlockFn {
  const { src, exN, exT, exS } = blockSource(insns);
  const factory = new Function(
    'x32', 'ram8', 'ram16', 'ramU16', 'ram32', 'ramF64', 'codePages', 'fenceWord', 'sF', 's32', 'EXN', 'EXT', 'EXS',
    'fns', 'chain', 'mulh64', 'umulhi', 'divide', 'shift', 'bitmanip', 'blockSlow', 'blockWideJump', 'blockPause',
    `'use strict'; return function block(h, rT, wT) {\n${src}\n};`,
  ) as (...args: unknown[]) => BlockFn;
  return factory(env.x32, env.ram8, env.ram16, env.ramU16, env.ram32, env.ramF64, env.codePages, env.fenceWord,
    SCRATCH_F, SCRATCH_32, Int32Array.from(exN), Float64Array.from(exT), Int32Array.from(exS),
    fns, CALLS.chain, mulh64, umulhi, divide, shift, bitmanip, CALLS.blockSlow, CALLS.blockWideJump, CALLS.blockPause);
}
