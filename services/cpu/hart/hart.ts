/**
 * One RISC-V RV64GC hart: the execute loop, traps and interrupts, CSRs, address
 * translation (Sv39/48/57) with a software TLB, and PMP.
 *
 * Representation (see DESIGN.md, performance notes): integer registers live in a
 * BigInt64Array in shared memory, with an Int32Array over the same bytes. 64-bit
 * arithmetic uses BigInt ops V8 lowers to machine ops; anything that needs a JS number
 * (addresses, shift amounts, word ops) reads the two 32-bit halves instead of converting,
 * because Number(bigint) is a slow runtime call. Virtual addresses and the pc are JS
 * numbers, exact while |address| < 2^53: Sv39 and Sv48 addresses always are, as signed
 * values; Sv57 addresses beyond that are reported as a page fault (documented limit).
 *
 * Decisions the spec leaves to us:
 * - A/D bits: updated by hardware during the walk (as QEMU does), atomically.
 * - Misaligned loads and stores are performed (byte by byte); misaligned AMOs, LR and
 *   SC raise address-misaligned exceptions.
 * - cycle counts retired instructions (as instret); hpm counters read 0.
 */
import type { AddressSpace } from '../bus.js';
import { Tlb, tlbIndex } from './tlb.js';
import { accessSize, decode16, decode32, Op } from './decode.js';
import {
  CSR, ENVCFG, EXC, IRQ, MEDELEG_WRITABLE, MIP_MEIP, MIP_MSIP, MIP_MTIP, MIP_SEIP, MIP_SSIP, MIP_STIP, MS,
  MSTATUS_WRITABLE, MSTATUS_XL, PRIV_M, PRIV_S, PRIV_U, S_INTERRUPTS, SSTATUS_MASK,
} from './csr.js';
import { CTL, F_OFFSET, PC_OFFSET, REQ, SNAP, SNAP_OFFSET, STATE, X_OFFSET } from './state.js';
import { wait as futexWait, wake as futexWake } from '../../common/futex.js';
import { execFp } from './fp-exec.js';
import { native } from '../../common/native.js';
import { codeTrackBytes, codeTrackViews } from '../../common/guest-memory.js';
import { compileBlock, endsBlock, MAX_BLOCK, type BlockEnv, type BlockFn, type BlockInsn } from './translate.js';
import { bitmanip, divide, mul, mulh, shift } from './int64.js';

/** Thrown (and caught in the run loop) when an instruction traps; state is already updated. */
export const TRAP = { trap: true };
/** Thrown after an instruction completed when the loop must reload its cached state. */
const RESTART = { restart: true };

/** CSRs whose writes change nothing the hart's loop caches or checks (execCsr). */
const QUIET_CSRS = new Set<number>([CSR.sscratch, CSR.sepc, CSR.scause, CSR.stval, CSR.mscratch, CSR.mepc, CSR.mcause, CSR.mtval]);

/** How much an entry after MAX_BLOCK straight-line instructions heats (others: 1). */
const LONG_RUN_HEAT = Number(process.env.TSEMU_LONG_HEAT ?? 4);

const ACC_R = 0;
const ACC_W = 1;
const ACC_X = 2;
const TWO32 = 4294967296;

/** What the machine gives a hart. */
export interface HartEnv {
  hartId: number;
  bus: AddressSpace;
  /** The shared block holding this hart's state (state.ts layout). */
  state: SharedArrayBuffer;
  stateOffset: number;
  /** Machine time in timebase ticks, shared by all harts. */
  mtime(): number;
  /** CLINT mtimecmp registers, one per hart. */
  mtimecmp: BigUint64Array;
  /** The ISA string's single letters and extensions, for misa. */
  misaLetters?: string;
  /**
   * The widest translation mode satp accepts: 8 Sv39, 9 Sv48 (default), 10 Sv57. Sv57 is
   * implemented but off by default: its upper-half addresses (Linux maps RAM at
   * 0xff60...) are beyond the 2^53 in which the hart keeps addresses exact.
   */
  maxSatpMode?: number;
  /**
   * Shared across harts and device backends, one entry per RAM page: `flags[p]` is set
   * while some hart holds page p decoded; whoever writes such a page clears it and bumps
   * `gens[p]`. A hart drops decoded pages whose generation moved at FENCE.I (and at once
   * for its own stores), so code written by another hart or by DMA is seen after a fence.
   */
  codeTrack?: { flags: Uint8Array; gens: Int32Array };
  /**
   * How many times a block entry runs in the interpreter before it is translated to a
   * JavaScript function (translate.ts); 0 turns the translator off. Default 20000: a block V8 has not optimized yet runs slower than the interpreter, and V8 compiles only so many blocks a second, so fewer, hotter blocks boot Linux faster (measured: hart CPU time of the boot, A/B side by side).
   */
  jitThreshold?: number;
  /** Where a reset starts (the boot ROM); a reset request while paused is taken at once. */
  resetPc?: number;
}

/** Shared by pages without translated blocks (never written). */
const NO_BLOCKS: (BlockFn | undefined)[] = new Array<BlockFn | undefined>(2048).fill(undefined);

class DecodedPage {
  readonly a = new Int32Array(2048);
  readonly imm = new Int32Array(2048);
  readonly b = new Int32Array(2048);
  /** RAM page index (or negative for ROM) and its generation when decoded. */
  key = 0;
  gen = 0;
  /** Translated blocks by entry slot (translate.ts), made for virtual page `jitBase`. */
  fn = NO_BLOCKS;
  jitBase = NaN;
  /** Block-entry counts by slot; a slot is translated when its count reaches the threshold. */
  readonly heat = new Uint16Array(2048);
  /**
   * How often the interpreter has seen each conditional branch go each way (up to 65535):
   * [2 * slot] taken, [2 * slot + 1] fallen through. A block makes a way never or rarely
   * seen a plain exit (translate.ts BlockInsn.seen).
   */
  readonly dir = new Uint16Array(4096);

  clear(): void {
    this.a.fill(0);
    this.dropBlocks();
  }

  /**
   * Forgets the blocks; they are made again for virtual page `vbase` (NaN: not yet known).
   * The fn array, once a page has one, stays the same object: blocks hold it to chain.
   */
  dropBlocks(vbase = NaN): void {
    if (this.fn !== NO_BLOCKS) this.fn.fill(undefined);
    this.heat.fill(0);
    this.dir.fill(0);
    this.jitBase = vbase;
  }
}

/** Counts a branch's way in DecodedPage.dir (saturating). */
function countWay(dir: Uint16Array, i: number): void {
  const c = dir[i]!;
  if (c !== 65535) dir[i] = c + 1;
}

/**
 * A branch's ways for a block (translate.ts BlockInsn.seen) from the interpreter's counts:
 * a way taken less than once in RARE_WAY times counts as not seen (the block exits there).
 */
function waysSeen(taken: number, fell: number): number {
  return (taken * RARE_WAY > fell ? 1 : 0) | (fell * RARE_WAY > taken ? 2 : 0);
}
const RARE_WAY = 64;

/** The low address bits an access by each load or store op must have clear (size - 1). */
const ALIGN = new Uint8Array(1024);
for (const op of [Op.LD, Op.LW, Op.LWU, Op.LH, Op.LHU, Op.LB, Op.LBU, Op.SD, Op.SW, Op.SH, Op.SB]) ALIGN[op] = accessSize(op) - 1;

const FETCH_CACHE = 256;
/** Bytes one PTE covers at each level: 4 KiB, 2 MiB, 1 GiB, 512 GiB, 256 TiB. */
const LEVEL_SPAN = [2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48];
/** Pages a leaf PTE at each level maps. */
const LEVEL_PAGES = [1, 2 ** 9, 2 ** 18, 2 ** 27, 2 ** 36];
/** 2^(12 + 9 * levels) for Sv39, Sv48, Sv57 (levels 3, 4, 5): the size of the VA space. */
const VA_SPAN = [0, 0, 0, 2 ** 39, 2 ** 48, 2 ** 57];

const VALID = 1 << 29;

export class Hart {
  readonly hartId: number;
  readonly x: BigInt64Array;
  readonly x32: Int32Array;
  readonly f: BigInt64Array;
  readonly f32: Int32Array;
  readonly ctl: Int32Array;
  private readonly pcShared: BigInt64Array;
  private readonly snap: BigInt64Array;
  private readonly bus: AddressSpace;
  private readonly ramBase: number;
  private readonly ramSize: number;
  private readonly ram8: Uint8Array;
  private readonly ram16: Int16Array;
  private readonly ramU16: Uint16Array;
  private readonly ram32: Int32Array;
  private readonly ram64: BigInt64Array;
  /** RAM and the integer registers as doubles, for 8-byte copies (Ram.f64 says why). */
  private readonly ramF64: Float64Array;
  readonly xF: Float64Array;
  private readonly env: HartEnv;

  // Numbers that outgrow V8's small integers (2^30) start as doubles (-0 is not a small
  // integer): a field that changes representation mid-run gives the Hart a new hidden
  // class, and every optimized function that touches it, each translated block among
  // them, is thrown away and compiled again.
  pc = -0;
  priv = PRIV_M;
  instret = -0;
  /** Instructions left in the current chunk. */
  budget = 0;
  /** Set by state changes the loop caches (mode, TLB set, WFI): ends the chunk. */
  endChunk = false;
  /** Set by a block that left through a slow path: the loop reloads its cached fetch state. */
  refetch = false;

  // CSRs
  mstatus = 0;
  misa: bigint;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-writable mip bits (SSIP, STIP, SEIP); device lines are in ctl[IRQ]. */
  mipSw = 0;
  mtvec = 0n;
  stvec = 0n;
  mscratch = 0n;
  sscratch = 0n;
  mepc = 0n;
  sepc = 0n;
  mcause = 0n;
  scause = 0n;
  mtval = 0n;
  stval = 0n;
  satp = 0n;
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  menvcfg = 0n;
  senvcfg = 0n;
  stimecmp = 0xffffffffffffffffn;
  fflags = 0;
  frm = 0;
  pmpcfg = new Uint8Array(16);
  pmpaddr: bigint[] = new Array<bigint>(16).fill(0n);
  private pmpLo = new Float64Array(16);
  private pmpHi = new Float64Array(16);
  private pmpActive = false;

  // LR/SC reservation: physical RAM offset and the value loaded (SC is a compare-and-swap)
  private resOff = -1.5;
  /** Blocks entered from blocks (translate.ts chain); reset by each chunk. */
  chainDepth = 0;
  private resVal = 0n;
  private resIsWord = false;

  // translation
  private readonly tlbs: Tlb[][]; // [priv 0..3][acc]
  private tlbR!: Tlb;
  private tlbW!: Tlb;
  private tlbX!: Tlb;
  /** Pages (RAM page index) with decoded code: a store there invalidates them. */
  private readonly codePages: Uint8Array;
  private readonly codeGens: Int32Array;
  private readonly decoded = new Map<number, DecodedPage>();
  private readonly pagePool: DecodedPage[] = [];
  /** virtual page -> decoded page, for the current TLB contents (cleared with them) */
  private readonly fcTag = new Float64Array(FETCH_CACHE).fill(NaN);
  private readonly fcPage: (DecodedPage | null)[] = new Array<DecodedPage | null>(FETCH_CACHE).fill(null);
  private readonly fcPhys = new Float64Array(FETCH_CACHE);
  private readonly fenceWord = new Int32Array(new SharedArrayBuffer(4));
  /** Counts this hart's invalidations of decoded pages (a block's store checks it). */
  private codeInvalidations = 0;
  /** Blocks translated so far (TSEMU_DEBUG_HART shows it). */
  blocksTranslated = 0;
  private readonly scratch64 = new BigInt64Array(1);
  private readonly scratch32 = new Int32Array(this.scratch64.buffer);
  private readonly scratchF64 = new Float64Array(this.scratch64.buffer);
  /** satp as walk() last saw it, and its root table's physical address. */
  private satpSeen = -1n;
  private satpTable = 0;
  /** The budget the current chunk started with (instret inside a chunk). */
  private chunkStart = 0;
  private fetchVBase = NaN;
  private fetchPhys = -0;

  wfi = false;

  /** Block entries before a block is translated (65536: never, the translator is off). */
  private readonly jitHot: number;
  private readonly noHeat = new Uint16Array(2048);
  private readonly noDir = new Uint16Array(4096);
  private readonly blockEnv: BlockEnv;

  constructor(env: HartEnv) {
    this.env = env;
    this.hartId = env.hartId;
    this.bus = env.bus;
    const ram = env.bus.ram;
    this.ramBase = ram.base;
    this.ramSize = ram.size;
    this.ram8 = ram.u8;
    this.ram16 = ram.i16;
    this.ramU16 = ram.u16;
    this.ram32 = ram.i32;
    this.ram64 = ram.i64;
    this.ramF64 = ram.f64;
    const o = env.stateOffset;
    this.ctl = new Int32Array(env.state, o, 64);
    this.x = new BigInt64Array(env.state, o + X_OFFSET, 34);
    this.x32 = new Int32Array(env.state, o + X_OFFSET, 68);
    this.xF = new Float64Array(env.state, o + X_OFFSET, 34);
    this.f = new BigInt64Array(env.state, o + F_OFFSET, 32);
    this.f32 = new Int32Array(env.state, o + F_OFFSET, 64);
    this.pcShared = new BigInt64Array(env.state, o + PC_OFFSET, 1);
    this.snap = new BigInt64Array(env.state, o + SNAP_OFFSET, SNAP.length);
    const track = env.codeTrack ?? codeTrackViews(new SharedArrayBuffer(codeTrackBytes(ram.size)), ram.size);
    this.codePages = track.flags;
    this.codeGens = track.gens;
    this.tlbs = [0, 1, 2, 3].map(() => [new Tlb(), new Tlb(), new Tlb()]);
    let misa = 2n << 62n;
    for (const c of env.misaLetters ?? 'acdfimsu') misa |= 1n << BigInt(c.charCodeAt(0) - 97);
    this.misa = misa;
    const hot = env.jitThreshold ?? 20000;
    // 0: interpreter only (heat never reaches Infinity); heat counts in 16 bits
    this.jitHot = hot === 0 ? Infinity : Math.min(Math.max(hot, 1), 65535);
    this.blockEnv = {
      x32: this.x32, ram8: this.ram8, ram16: this.ram16, ramU16: this.ramU16, ram32: this.ram32,
      ramF64: this.ramF64, codePages: this.codePages, fenceWord: this.fenceWord,
    };
    this.reset(0);
  }

  /** Power-on / warm reset state: M-mode at `pc`. */
  reset(pc: number): void {
    this.x.fill(0n);
    this.f.fill(0n);
    this.pc = pc;
    this.priv = PRIV_M;
    this.mstatus = 0;
    this.medeleg = 0;
    this.mideleg = 0;
    this.mie = 0;
    this.mipSw = 0;
    this.mtvec = this.stvec = this.mscratch = this.sscratch = 0n;
    this.mepc = this.sepc = this.mcause = this.scause = this.mtval = this.stval = 0n;
    this.satp = 0n;
    this.mcounteren = this.scounteren = this.mcountinhibit = 0;
    this.menvcfg = this.senvcfg = 0n;
    this.stimecmp = 0xffffffffffffffffn;
    this.fflags = this.frm = 0;
    this.pmpcfg.fill(0);
    this.pmpaddr.fill(0n);
    this.recomputePmp();
    this.resOff = -1;
    this.wfi = false;
    this.dropAllDecoded();
    this.flushTlb();
    this.modeChanged();
  }

  // ---------------------------------------------------------------- registers

  /** x[r] as a JS number (exact for |value| < 2^53). */
  xNum(r: number): number {
    return this.x32[2 * r + 1]! * TWO32 + (this.x32[2 * r]! >>> 0);
  }

  /** Sets x[r] from a JS integer number (|v| < 2^53). */
  setXNum(r: number, v: number): void {
    const hi = Math.floor(v / TWO32);
    this.x32[2 * r] = (v - hi * TWO32) | 0;
    this.x32[2 * r + 1] = hi | 0;
  }

  /** Writes the pc and CSR snapshot into shared memory (pause, stop, monitor). */
  publish(): void {
    this.pcShared[0] = BigInt(this.pc);
    const v: Record<string, bigint> = {
      mstatus: this.readMstatus(), misa: this.misa, medeleg: BigInt(this.medeleg), mideleg: BigInt(this.mideleg),
      mie: BigInt(this.mie), mip: BigInt(this.mip()), mtvec: this.mtvec, mscratch: this.mscratch, mepc: this.mepc,
      mcause: this.mcause, mtval: this.mtval, sstatus: this.readSstatus(),
      stvec: this.stvec, sscratch: this.sscratch, sepc: this.sepc, scause: this.scause, stval: this.stval,
      satp: this.satp, fcsr: BigInt((this.frm << 5) | this.fflags), instret: BigInt(this.instret),
      priv: BigInt(this.priv), menvcfg: this.menvcfg, stimecmp: this.stimecmp,
      mcounteren: BigInt(this.mcounteren), scounteren: BigInt(this.scounteren),
    };
    for (let i = 0; i < SNAP.length; i++) this.snap[i] = BigInt.asIntN(64, v[SNAP[i]!]!);
    Atomics.store(this.ctl, CTL.PRIV, this.priv);
  }

  // ---------------------------------------------------------------- the loop

  /**
   * Runs up to `limit` instructions; returns early at a trap, an interrupt-relevant
   * state change, WFI or a request. Interrupts are taken here, at chunk boundaries.
   */
  step(limit: number): void {
    this.checkInterrupts();
    if (this.wfi) return;
    this.budget = limit;
    this.endChunk = false;
    // a trap thrown from a chained block unwinds every level at once
    this.chainDepth = 0;
    const start = this.budget;
    this.chunkStart = start;
    try {
      this.runChunk();
    } catch (e) {
      if (e === TRAP) {
        // the trapping instruction did not retire
        this.instret += start - this.budget - 1;
        return;
      }
      if (e === RESTART) {
        this.instret += start - this.budget;
        return;
      }
      throw e;
    }
    this.instret += start - this.budget;
  }

  private runChunk(): void {
    const x32 = this.x32;
    const ram8 = this.ram8;
    const ram16 = this.ram16;
    const ramU16 = this.ramU16;
    const ram32 = this.ram32;
    const xF = this.xF;
    const ramF64 = this.ramF64;
    const codePages = this.codePages;
    const rT = this.tlbR.e;
    const wT = this.tlbW.e;
    // The pc is vb + off: vb the virtual base of the fetch page, off an int32 byte offset
    // into it, so the per-instruction path does int32 arithmetic only (a pc in one double
    // cost V8 a representation check on every instruction). lim is 4096 while the page
    // is current; 0 makes the next iteration look up the page of vb + off again.
    let vb = this.pc;
    let off = 0;
    let lim = 0;
    let pa: Int32Array = this.dummyA;
    let pimm: Int32Array = this.dummyA;
    let page: DecodedPage | null = null;

    // the budget lives in a local; slow paths that may trap see it in this.budget
    let budget = this.budget;
    let pfn: (BlockFn | undefined)[] = NO_BLOCKS;
    let pheat: Uint16Array = this.noHeat;
    let pdir: Uint16Array = this.noDir;
    // true where the pc is a block entry (after a jump, a block or a slow path)
    let entry = true;
    // straight-line instructions interpreted since the last entry: a block ends after
    // MAX_BLOCK of them, so the next one is an entry too (long unrolled code, such as a
    // hash's rounds, then becomes a chain of blocks as hot as its first one)
    let run = 0;
    const jitHot = this.jitHot;
    while (budget > 0) {
      if (!(off >= 0 && off < lim)) {
        const npc = vb + off;
        this.pc = npc;
        this.budget = budget - 1;
        page = this.fetchRefill(npc);
        vb = this.fetchVBase;
        off = (npc - vb) | 0;
        lim = 4096;
        pa = page.a;
        pimm = page.imm;
        // blocks embed virtual pcs: a page reached at another virtual address starts over
        if (page.jitBase !== vb) page.dropBlocks(vb);
        pfn = page.fn;
        pheat = page.heat;
        pdir = page.dir;
        // a block never crosses a page: the first instruction on a page may start one
        entry = true;
      }
      const pc = vb + off;
      const slot = off >> 1;
      if (entry) {
        entry = false;
        // an entry that ends a full MAX_BLOCK run of straight-line code (an unrolled hash
        // round, say) heats its successor faster: a block there retires many instructions
        // per entry, so it pays back its translation sooner than a short one
        const heat = run >= MAX_BLOCK ? LONG_RUN_HEAT : 1;
        run = 0;
        const blk = pfn[slot];
        if (blk !== undefined) {
          if (budget >= MAX_BLOCK) {
            this.budget = budget;
            let next = blk(this, rT, wT);
            budget = this.budget;
            // an odd pc: the block stopped before an instruction that needs a slow path;
            // interpret that one, and the next is an entry again
            if ((next & 1) !== 0) {
              next -= 1;
              entry = false;
              run = MAX_BLOCK - 1;
            } else {
              entry = true;
            }
            const d = next - vb;
            if (this.refetch) {
              this.refetch = false;
              vb = next; off = 0; lim = 0;
            } else if (d >= 0 && d < 4096) {
              off = d | 0;
            } else {
              vb = next; off = 0; lim = 0;
            }
            if (this.endChunk) {
              this.budget = budget;
              this.pc = next;
              return;
            }
            continue;
          }
        } else if ((pheat[slot] += heat) >= jitHot && page!.key >= 0) {
          this.pc = pc;
          this.budget = budget;
          if (this.compileAt(page!, slot, pc)) {
            pfn = page!.fn;
            entry = true;
            continue;
          }
        }
      }
      budget--;
      let w = pa[slot]!;
      if (w === 0) {
        this.pc = pc;
        this.budget = budget;
        w = this.decodeSlot(page!, slot, pc);
      }
      const imm = pimm[slot]!;
      const rd = (w >>> 10) & 63;
      const rs1 = (w >>> 16) & 63;
      const rs2 = (w >>> 22) & 63;
      const len = (w & (1 << 28)) !== 0 ? 4 : 2;

      switch (w & 1023) {
        // 64-bit add/sub on the 32-bit halves: plain number math, nothing allocated
        case Op.ADDI: {
          // the carry out of the low word is the unsigned wrap of its sum
          const lo = x32[2 * rs1]!;
          const l = (lo + imm) | 0;
          x32[2 * rd + 1] = (x32[2 * rs1 + 1]! + (imm >> 31) + ((l >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
          x32[2 * rd] = l;
          break;
        }
        case Op.ADD: {
          const lo = x32[2 * rs1]!;
          const l = (lo + x32[2 * rs2]!) | 0;
          x32[2 * rd + 1] = (x32[2 * rs1 + 1]! + x32[2 * rs2 + 1]! + ((l >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
          x32[2 * rd] = l;
          break;
        }
        case Op.SUB: {
          const a = x32[2 * rs1]!;
          const b = x32[2 * rs2]!;
          x32[2 * rd + 1] = (x32[2 * rs1 + 1]! - x32[2 * rs2 + 1]! - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
          x32[2 * rd] = (a - b) | 0;
          break;
        }
        case Op.LUI:
          x32[2 * rd] = imm;
          x32[2 * rd + 1] = imm >> 31;
          break;
        case Op.AUIPC:
          this.setXNum(rd, pc + imm);
          break;
        case Op.JAL: {
          this.setXNum(rd, pc + len);
          off += imm;
          entry = true;
          continue;
        }
        case Op.JALR: {
          const t = (x32[2 * rs1 + 1]! * TWO32 + (x32[2 * rs1]! >>> 0) + imm);
          if (t >= 9007199254740992 || t <= -9007199254740992) {
            this.pc = pc;
            this.budget = budget;
            this.wideJump(rs1, imm);
          }
          this.setXNum(rd, pc + len);
          const tp = t - (t & 1 ? 1 : 0);
          const d = tp - vb;
          if (d >= 0 && d < 4096) off = d | 0;
          else { vb = tp; off = 0; lim = 0; }
          entry = true;
          continue;
        }
        case Op.BEQ:
          if (x32[2 * rs1] === x32[2 * rs2] && x32[2 * rs1 + 1] === x32[2 * rs2 + 1]) { countWay(pdir, 2 * slot); off += imm; entry = true; continue; }
          countWay(pdir, 2 * slot + 1);
          break;
        case Op.BNE:
          if (x32[2 * rs1] !== x32[2 * rs2] || x32[2 * rs1 + 1] !== x32[2 * rs2 + 1]) { countWay(pdir, 2 * slot); off += imm; entry = true; continue; }
          countWay(pdir, 2 * slot + 1);
          break;
        case Op.BLT: {
          const h1 = x32[2 * rs1 + 1]!;
          const h2 = x32[2 * rs2 + 1]!;
          if (h1 < h2 || (h1 === h2 && (x32[2 * rs1]! >>> 0) < (x32[2 * rs2]! >>> 0))) { countWay(pdir, 2 * slot); off += imm; entry = true; continue; }
          countWay(pdir, 2 * slot + 1);
          break;
        }
        case Op.BGE: {
          const h1 = x32[2 * rs1 + 1]!;
          const h2 = x32[2 * rs2 + 1]!;
          if (h1 > h2 || (h1 === h2 && (x32[2 * rs1]! >>> 0) >= (x32[2 * rs2]! >>> 0))) { countWay(pdir, 2 * slot); off += imm; entry = true; continue; }
          countWay(pdir, 2 * slot + 1);
          break;
        }
        case Op.BLTU: {
          const h1 = x32[2 * rs1 + 1]! >>> 0;
          const h2 = x32[2 * rs2 + 1]! >>> 0;
          if (h1 < h2 || (h1 === h2 && (x32[2 * rs1]! >>> 0) < (x32[2 * rs2]! >>> 0))) { countWay(pdir, 2 * slot); off += imm; entry = true; continue; }
          countWay(pdir, 2 * slot + 1);
          break;
        }
        case Op.BGEU: {
          const h1 = x32[2 * rs1 + 1]! >>> 0;
          const h2 = x32[2 * rs2 + 1]! >>> 0;
          if (h1 > h2 || (h1 === h2 && (x32[2 * rs1]! >>> 0) >= (x32[2 * rs2]! >>> 0))) { countWay(pdir, 2 * slot); off += imm; entry = true; continue; }
          countWay(pdir, 2 * slot + 1);
          break;
        }
        case Op.LD: case Op.LW: case Op.LWU: case Op.LH: case Op.LHU: case Op.LB: case Op.LBU: {
          // the address as int32 halves: l + h * 2^32
          const b0 = x32[2 * rs1]!;
          const l = (b0 + imm) | 0;
          const h = (x32[2 * rs1 + 1]! + (imm >= 0 ? ((l >>> 0) < (b0 >>> 0) ? 1 : 0) : ((l >>> 0) > (b0 >>> 0) ? -1 : 0))) | 0;
          const t = tlbIndex(l);
          const op = w & 1023;
          let o = (rT[t + 2]! + (l & 4095)) >>> 0;
          // every other case (a TLB miss, MMIO, a misaligned access) through one call: the
          // first of them warms it for all (a path V8 optimized this loop without having
          // seen is a deoptimization of the whole interpreter when first taken)
          if (rT[t] !== (l & -4096) || rT[t + 1] !== h || (o & ALIGN[op]!) !== 0) {
            this.pc = pc;
            this.budget = budget;
            o = this.loadSlow(op, rd, h, l);
            if (o < 0) break;
          }
          switch (op) {
            case Op.LD: xF[rd] = ramF64[o >>> 3]!; break;
            case Op.LW: { const v = ram32[o >>> 2]!; x32[2 * rd] = v; x32[2 * rd + 1] = v >> 31; break; }
            case Op.LWU: x32[2 * rd] = ram32[o >>> 2]!; x32[2 * rd + 1] = 0; break;
            case Op.LH: { const v = ram16[o >>> 1]!; x32[2 * rd] = v; x32[2 * rd + 1] = v >> 31; break; }
            case Op.LHU: x32[2 * rd] = ramU16[o >>> 1]!; x32[2 * rd + 1] = 0; break;
            case Op.LB: { const v = (ram8[o]! << 24) >> 24; x32[2 * rd] = v; x32[2 * rd + 1] = v >> 31; break; }
            default: x32[2 * rd] = ram8[o]!; x32[2 * rd + 1] = 0; break;
          }
          break;
        }
        case Op.SD: case Op.SW: case Op.SH: case Op.SB: {
          const b0 = x32[2 * rs1]!;
          const l = (b0 + imm) | 0;
          const h = (x32[2 * rs1 + 1]! + (imm >= 0 ? ((l >>> 0) < (b0 >>> 0) ? 1 : 0) : ((l >>> 0) > (b0 >>> 0) ? -1 : 0))) | 0;
          const t = tlbIndex(l);
          const op = w & 1023;
          let o = (wT[t + 2]! + (l & 4095)) >>> 0;
          // as for loads, plus a store to a page holding decoded code
          if (wT[t] !== (l & -4096) || wT[t + 1] !== h || ((o & ALIGN[op]!) | codePages[o >>> 12]!) !== 0) {
            this.pc = pc;
            this.budget = budget;
            o = this.storeSlowAt(op, rs2, h, l, len);
            if (o < 0) break;
          }
          switch (op) {
            case Op.SD: ramF64[o >>> 3] = xF[rs2]!; break;
            case Op.SW: ram32[o >>> 2] = x32[2 * rs2]!; break;
            case Op.SH: ram16[o >>> 1] = x32[2 * rs2]!; break;
            default: ram8[o] = x32[2 * rs2]!; break;
          }
          break;
        }
        case Op.SLTI: {
          const h1 = x32[2 * rs1 + 1]!;
          const ih = imm >> 31;
          x32[2 * rd] = h1 < ih || (h1 === ih && (x32[2 * rs1]! >>> 0) < (imm >>> 0)) ? 1 : 0;
          x32[2 * rd + 1] = 0;
          break;
        }
        case Op.SLTIU: {
          const ih = imm >> 31 >>> 0;
          const h1 = x32[2 * rs1 + 1]! >>> 0;
          const lt = h1 < ih || (h1 === ih && (x32[2 * rs1]! >>> 0) < (imm >>> 0));
          x32[2 * rd] = lt ? 1 : 0;
          x32[2 * rd + 1] = 0;
          break;
        }
        case Op.XORI:
          x32[2 * rd] = x32[2 * rs1]! ^ imm;
          x32[2 * rd + 1] = x32[2 * rs1 + 1]! ^ (imm >> 31);
          break;
        case Op.ORI:
          x32[2 * rd] = x32[2 * rs1]! | imm;
          x32[2 * rd + 1] = x32[2 * rs1 + 1]! | (imm >> 31);
          break;
        case Op.ANDI:
          x32[2 * rd] = x32[2 * rs1]! & imm;
          x32[2 * rd + 1] = x32[2 * rs1 + 1]! & (imm >> 31);
          break;
        case Op.SLLI: {
          const lo = x32[2 * rs1]!;
          const hi = x32[2 * rs1 + 1]!;
          if (imm === 0) { x32[2 * rd] = lo; x32[2 * rd + 1] = hi; }
          else if (imm < 32) { x32[2 * rd + 1] = (hi << imm) | (lo >>> (32 - imm)); x32[2 * rd] = lo << imm; }
          else { x32[2 * rd + 1] = lo << (imm - 32); x32[2 * rd] = 0; }
          break;
        }
        case Op.SRLI: {
          const lo = x32[2 * rs1]!;
          const hi = x32[2 * rs1 + 1]!;
          if (imm === 0) { x32[2 * rd] = lo; x32[2 * rd + 1] = hi; }
          else if (imm < 32) { x32[2 * rd] = (lo >>> imm) | (hi << (32 - imm)); x32[2 * rd + 1] = hi >>> imm; }
          else { x32[2 * rd] = hi >>> (imm - 32); x32[2 * rd + 1] = 0; }
          break;
        }
        case Op.SRAI: {
          const lo = x32[2 * rs1]!;
          const hi = x32[2 * rs1 + 1]!;
          if (imm === 0) { x32[2 * rd] = lo; x32[2 * rd + 1] = hi; }
          else if (imm < 32) { x32[2 * rd] = (lo >>> imm) | (hi << (32 - imm)); x32[2 * rd + 1] = hi >> imm; }
          else { x32[2 * rd] = hi >> (imm - 32); x32[2 * rd + 1] = hi >> 31; }
          break;
        }
        case Op.SLL: case Op.SRL: case Op.SRA:
          shift(x32, w & 1023, rd, rs1, x32[2 * rs2]! & 63);
          break;
        case Op.SLT: {
          const h1 = x32[2 * rs1 + 1]!;
          const h2 = x32[2 * rs2 + 1]!;
          x32[2 * rd] = h1 < h2 || (h1 === h2 && (x32[2 * rs1]! >>> 0) < (x32[2 * rs2]! >>> 0)) ? 1 : 0;
          x32[2 * rd + 1] = 0;
          break;
        }
        case Op.SLTU: {
          const h1 = x32[2 * rs1 + 1]! >>> 0;
          const h2 = x32[2 * rs2 + 1]! >>> 0;
          const lt = h1 < h2 || (h1 === h2 && (x32[2 * rs1]! >>> 0) < (x32[2 * rs2]! >>> 0));
          x32[2 * rd] = lt ? 1 : 0;
          x32[2 * rd + 1] = 0;
          break;
        }
        case Op.XOR:
          x32[2 * rd] = x32[2 * rs1]! ^ x32[2 * rs2]!;
          x32[2 * rd + 1] = x32[2 * rs1 + 1]! ^ x32[2 * rs2 + 1]!;
          break;
        case Op.OR:
          x32[2 * rd] = x32[2 * rs1]! | x32[2 * rs2]!;
          x32[2 * rd + 1] = x32[2 * rs1 + 1]! | x32[2 * rs2 + 1]!;
          break;
        case Op.AND:
          x32[2 * rd] = x32[2 * rs1]! & x32[2 * rs2]!;
          x32[2 * rd + 1] = x32[2 * rs1 + 1]! & x32[2 * rs2 + 1]!;
          break;
        case Op.ADDIW: {
          const v = (x32[2 * rs1]! + imm) | 0;
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.ADDW: {
          const v = (x32[2 * rs1]! + x32[2 * rs2]!) | 0;
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.SUBW: {
          const v = (x32[2 * rs1]! - x32[2 * rs2]!) | 0;
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.SLLIW: {
          const v = x32[2 * rs1]! << imm;
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.SRLIW: {
          const v = (x32[2 * rs1]! >>> imm) | 0;
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.SRAIW: {
          const v = x32[2 * rs1]! >> imm;
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.SLLW: {
          const v = x32[2 * rs1]! << (x32[2 * rs2]! & 31);
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.SRLW: {
          const v = (x32[2 * rs1]! >>> (x32[2 * rs2]! & 31)) | 0;
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.SRAW: {
          const v = x32[2 * rs1]! >> (x32[2 * rs2]! & 31);
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.MUL:
          mul(x32, rd, rs1, rs2);
          break;
        case Op.MULW: {
          const v = Math.imul(x32[2 * rs1]!, x32[2 * rs2]!);
          x32[2 * rd] = v;
          x32[2 * rd + 1] = v >> 31;
          break;
        }
        case Op.FENCE:
          // A locked read-modify-write: a full barrier on the host, so that a guest
          // fence orders this hart's stores before its later loads (x86 reorders those).
          Atomics.add(this.fenceWord, 0, 0);
          if (imm === 0x010) {
            // `pause` (fence w,0): the guest spins; let another hart have the core
            this.pc = pc + len;
            this.budget = budget;
            this.yieldHost();
            off += len;
            continue;
          }
          break;
        default:
          this.pc = pc;
          this.budget = budget;
          if (this.execSlow(w, imm, page!.b[slot]!, rd, rs1, rs2, len)) {
            // the slow path changed the pc (or state the loop caches)
            if (this.endChunk) {
              this.budget = budget;
              return;
            }
            vb = this.pc; off = 0; lim = 0;
            entry = true;
            continue;
          }
          if (this.endChunk) {
            // it invalidated decoded code (an AMO on a code page): reload everything
            this.pc = pc + len;
            this.budget = budget;
            return;
          }
          // where a block would have ended (a CSR access, say), the next pc is an entry
          if (endsBlock(w & 1023)) run = MAX_BLOCK;
          break;
      }
      off += len;
      if (++run >= MAX_BLOCK) entry = true;
    }
    this.budget = budget;
    this.pc = vb + off;
  }

  private readonly dummyA = new Int32Array(0);

  /** Yields the host core (guest `pause`): cheap, and only when more harts than cores spin. */
  yieldHost(): void {
    native().schedYield();
  }

  /** JALR to an address beyond 2^53 in magnitude (Sv57 upper half): fault on fetch. */
  wideJump(rs1: number, imm: number): never {
    const t = BigInt.asIntN(64, this.x[rs1]! + BigInt(imm)) & ~1n;
    this.raise(EXC.INSN_PAGE, t);
  }

  // ---------------------------------------------------------------- fetch and decode

  private fetchRefill(pc: number): DecodedPage {
    // (pc & 1) is exact for any integer below 2^53 (ToInt32 keeps the low bits); no `%`,
    // which on a double pc is a call to fmod
    if ((pc & 1) !== 0) this.raise(EXC.INSN_MISALIGNED, BigInt(pc));
    const vpn = Math.floor(pc / 4096);
    const vbase = vpn * 4096;
    const ci = vpn & (FETCH_CACHE - 1);
    let page = this.fcTag[ci] === vpn ? this.fcPage[ci] : null;
    let o: number;
    if (page) {
      o = this.fcPhys[ci]!;
    } else {
      o = this.translate(vbase, ACC_X, pc);
      const key = o >= 0 ? o / 4096 : -2 - (-1 - o) / 4096;
      page = this.decoded.get(key) ?? null;
      if (!page) {
        if (this.decoded.size >= 8192) this.dropAllDecoded();
        page = this.pagePool.pop() ?? new DecodedPage();
        page.key = key;
        if (o >= 0) {
          page.gen = Atomics.load(this.codeGens, key);
          this.codePages[key] = 1;
        }
        this.decoded.set(key, page);
      }
      this.fcTag[ci] = vpn;
      this.fcPage[ci] = page;
      this.fcPhys[ci] = o;
    }
    this.fetchVBase = vbase;
    this.fetchPhys = o;
    return page;
  }

  private recycle(page: DecodedPage): void {
    this.decoded.delete(page.key);
    page.clear();
    this.pagePool.push(page);
    this.fcTag.fill(NaN);
    this.fetchVBase = NaN;
  }

  private dropAllDecoded(): void {
    for (const page of this.decoded.values()) {
      page.clear();
      this.pagePool.push(page);
    }
    this.decoded.clear();
    this.fcTag.fill(NaN);
    this.fetchVBase = NaN;
  }

  /** Reads the halfword at fetch-page offset `off` (RAM offset or MMIO code). */
  private fetch16(o: number, off: number): number {
    if (o >= 0) return this.ramU16[(o + off) >>> 1]!;
    const pa = -1 - o + off;
    if (!this.bus.isExecutable(pa)) this.raise(EXC.INSN_ACCESS, BigInt(this.pc));
    const v = this.bus.read(pa, 2);
    if (v === undefined) this.raise(EXC.INSN_ACCESS, BigInt(this.pc));
    return Number(v);
  }

  private decodeSlot(page: DecodedPage, slot: number, pc: number): number {
    const lo = this.fetch16(this.fetchPhys, slot * 2);
    let d;
    let cache = true;
    if ((lo & 3) !== 3) {
      d = decode16(lo);
    } else {
      let hi: number;
      if (slot === 2047) {
        // The instruction's upper half is on the next page: translate it (may fault).
        const o2 = this.translate(pc + 2, ACC_X, pc + 2);
        hi = o2 >= 0 ? this.ramU16[o2 >>> 1]! : this.fetch16(o2 - 0, 0);
        cache = false;
      } else {
        hi = this.fetch16(this.fetchPhys, slot * 2 + 2);
      }
      d = decode32(lo | (hi << 16));
    }
    const a = d.a | VALID;
    if (cache) {
      page.a[slot] = a;
      page.imm[slot] = d.imm;
      page.b[slot] = d.b;
    } else {
      // depends on the next page too: decode it again each time
      page.a[slot] = 0;
      page.imm[slot] = d.imm;
      page.b[slot] = d.b;
    }
    return a;
  }

  /**
   * Translates the block entered at `slot` of the current fetch page (pc `pc`). Returns
   * false when there is nothing to translate (the first instruction crosses the page).
   */
  private compileAt(page: DecodedPage, slot: number, pc: number): boolean {
    const insns: BlockInsn[] = [];
    let s = slot;
    let p = pc;
    while (insns.length < MAX_BLOCK && s < 2048) {
      let w = page.a[s]!;
      if (w === 0) {
        // an instruction split across the page end is decoded afresh each time: not here
        if (s === 2047 && (this.ramU16[(this.fetchPhys + 4094) >>> 1]! & 3) === 3) break;
        w = this.decodeSlot(page, s, p);
      }
      const imm = page.imm[s]!;
      insns.push({ pc: p, w, imm, b: page.b[s]!, seen: waysSeen(page.dir[2 * s]!, page.dir[2 * s + 1]!) });
      // a short jump forward in the page (over an else, say) may stay inside the block
      // (translate.ts layout decides); any other jump or system instruction ends it
      if (endsBlock(w & 1023) && !((w & 1023) === Op.JAL && imm > 0 && imm <= 256 && s + (imm >> 1) < 2048)) break;
      const len = (w & (1 << 28)) !== 0 ? 4 : 2;
      s += len >> 1;
      p += len;
    }
    if (insns.length === 0) return false;
    if (page.fn === NO_BLOCKS) page.fn = new Array<BlockFn | undefined>(2048).fill(undefined);
    page.fn[slot] = compileBlock(insns, this.blockEnv, page.fn);
    this.blocksTranslated++;
    return true;
  }

  // ---- what translated blocks call (translate.ts BlockHost): b - n is the budget as the
  // interpreter has it while instruction `pc` runs

  /** Where a block stands when it calls out: instruction `pc`, budget b - n. */
  private blockAt(pc: number, b: number, n: number): void {
    this.pc = pc;
    this.budget = b - n;
  }

  blockFor(pc: number): BlockFn | undefined {
    const vpn = Math.floor(pc / 4096);
    const ci = vpn & (FETCH_CACHE - 1);
    if (this.fcTag[ci] !== vpn) return undefined;
    const page = this.fcPage[ci]!;
    const vbase = vpn * 4096;
    if (page.jitBase !== vbase) return undefined;
    return page.fn[(pc - vbase) >> 1];
  }

  blockSlow(w: number, imm: number, bits: number, pc: number, b: number, n: number): number {
    this.blockAt(pc, b, n);
    const len = (w & (1 << 28)) !== 0 ? 4 : 2;
    if (this.execSlow(w, imm, bits, (w >>> 10) & 63, (w >>> 16) & 63, (w >>> 22) & 63, len)) {
      this.refetch = true;
      return this.pc;
    }
    if (this.endChunk) {
      this.pc = pc + len;
      return this.pc;
    }
    return NaN;
  }

  blockWideJump(rs1: number, imm: number, pc: number, b: number, n: number): never {
    this.blockAt(pc, b, n);
    this.wideJump(rs1, imm);
  }

  blockPause(next: number, b: number, n: number): void {
    this.blockAt(next, b, n);
    this.yieldHost();
  }

  /**
   * FENCE.I: forget decoded pages written since they were decoded (by any hart or by
   * DMA: their generation moved). Own stores already dropped theirs.
   */
  flushDecoded(): void {
    for (const page of [...this.decoded.values()]) {
      if (page.key >= 0 && Atomics.load(this.codeGens, page.key) !== page.gen) this.recycle(page);
    }
    this.fetchVBase = NaN;
  }

  /** A store hit a page some hart holds decoded: bump its generation, drop ours. */
  private invalidateCode(o: number): void {
    const p = Math.floor(o / 4096);
    this.codePages[p] = 0;
    this.codeInvalidations++;
    this.endChunk = true;
    Atomics.add(this.codeGens, p, 1);
    const page = this.decoded.get(p);
    if (page) this.recycle(page);
  }

  // ---------------------------------------------------------------- traps and interrupts

  raise(cause: number, tval: bigint): never {
    this.trap(cause, tval, false);
    throw TRAP;
  }

  private trap(cause: number, tval: bigint, interrupt: boolean): void {
    const deleg = interrupt ? this.mideleg : this.medeleg;
    const epc = BigInt(this.pc);
    this.resOff = -1;
    if (this.priv <= PRIV_S && ((deleg >>> cause) & 1) !== 0) {
      this.scause = (interrupt ? 1n << 63n : 0n) | BigInt(cause);
      this.sepc = epc;
      this.stval = tval;
      let s = this.mstatus;
      s = (s & ~MS.SPIE) | ((s & MS.SIE) !== 0 ? MS.SPIE : 0);
      s &= ~MS.SIE;
      s = (s & ~MS.SPP) | (this.priv === PRIV_S ? MS.SPP : 0);
      this.mstatus = s;
      this.priv = PRIV_S;
      const base = this.stvec & ~3n;
      this.pc = Number(BigInt.asIntN(64, interrupt && (this.stvec & 3n) === 1n ? base + 4n * BigInt(cause) : base));
    } else {
      this.mcause = (interrupt ? 1n << 63n : 0n) | BigInt(cause);
      this.mepc = epc;
      this.mtval = tval;
      let s = this.mstatus;
      s = (s & ~MS.MPIE) | ((s & MS.MIE) !== 0 ? MS.MPIE : 0);
      s &= ~MS.MIE;
      s = (s & ~MS.MPP) | (this.priv << MS.MPP_SHIFT);
      this.mstatus = s;
      this.priv = PRIV_M;
      const base = this.mtvec & ~3n;
      this.pc = Number(BigInt.asIntN(64, interrupt && (this.mtvec & 3n) === 1n ? base + 4n * BigInt(cause) : base));
    }
    this.modeChanged();
  }

  /** mip as the guest reads it. */
  mip(): number {
    let v = this.mipSw | (Atomics.load(this.ctl, CTL.IRQ) & (MIP_MSIP | MIP_MEIP | MIP_SEIP));
    const now = this.env.mtime();
    if (now >= Number(this.env.mtimecmp[this.hartId]!)) v |= MIP_MTIP;
    if (this.stce()) {
      v &= ~MIP_STIP;
      if (now >= Number(this.stimecmp)) v |= MIP_STIP;
    }
    return v;
  }

  private stce(): boolean {
    return (this.menvcfg & ENVCFG.STCE) !== 0n;
  }

  /** Takes the highest-priority pending enabled interrupt, if any. */
  checkInterrupts(): boolean {
    const pending = this.mip() & this.mie;
    if (pending === 0) return false;
    this.wfi = false;
    const mEnabled = this.priv < PRIV_M || (this.mstatus & MS.MIE) !== 0;
    const sEnabled = this.priv < PRIV_S || (this.priv === PRIV_S && (this.mstatus & MS.SIE) !== 0);
    const m = pending & ~this.mideleg;
    const s = pending & this.mideleg;
    let take = -1;
    if (mEnabled && m !== 0) take = pickInterrupt(m);
    else if (sEnabled && s !== 0) take = pickInterrupt(s);
    if (take < 0) return false;
    this.trap(take, 0n, true);
    return true;
  }

  /** Milliseconds until the next timer interrupt this hart could take (Infinity if none). */
  msUntilTimer(hz: number): number {
    const now = this.env.mtime();
    let next = Infinity;
    if (this.mie & MIP_MTIP) next = Math.min(next, Number(this.env.mtimecmp[this.hartId]!));
    if (this.stce() && this.mie & MIP_STIP) next = Math.min(next, Number(this.stimecmp));
    if (next === Infinity) return Infinity;
    return Math.max(0, ((next - now) * 1000) / hz);
  }

  private modeChanged(): void {
    const dataPriv = this.priv === PRIV_M && (this.mstatus & MS.MPRV) !== 0 ? (this.mstatus & MS.MPP) >>> MS.MPP_SHIFT : this.priv;
    this.tlbR = this.tlbs[dataPriv]![ACC_R]!;
    this.tlbW = this.tlbs[dataPriv]![ACC_W]!;
    this.tlbX = this.tlbs[this.priv]![ACC_X]!;
    this.fcTag.fill(NaN);
    this.fetchVBase = NaN;
    this.endChunk = true;
  }

  flushTlb(): void {
    for (const set of this.tlbs) for (const t of set) t.flush();
    this.fcTag.fill(NaN);
    this.fetchVBase = NaN;
    this.endChunk = true;
  }

  /** SFENCE.VMA with an address: that page's translations only. */
  private flushTlbPage(va: number): void {
    const vpn = Math.floor(va / 4096);
    for (const set of this.tlbs) for (const tlb of set) tlb.drop(va);
    const ci = vpn & (FETCH_CACHE - 1);
    if (this.fcTag[ci] === vpn) this.fcTag[ci] = NaN;
    this.fetchVBase = NaN;
    this.endChunk = true;
  }

  // ---------------------------------------------------------------- translation

  /**
   * Translates virtual address `va` for an access; returns a RAM offset (>= 0) or, for a
   * device, -1 - physical address. Raises page/access faults. Fills the TLB for RAM pages.
   */
  translate(va: number, acc: number, tvalPc?: number, size = 1): number {
    const o = (acc === ACC_R ? this.tlbR : acc === ACC_W ? this.tlbW : this.tlbX).lookup(va);
    return o >= 0 ? o : this.translateSlow(va, acc, size, tvalPc);
  }

  /** `size`: bytes of the access, for PMP entries that cover part of a page. */
  translateSlow(va: number, acc: number, size = 1, tvalPc?: number): number {
    const priv = acc === ACC_X ? this.priv
      : this.priv === PRIV_M && (this.mstatus & MS.MPRV) !== 0 ? (this.mstatus & MS.MPP) >>> MS.MPP_SHIFT : this.priv;
    const faultVa = tvalPc ?? va;
    let pa: number;
    let cacheable = true;
    const mode = priv === PRIV_M ? 0 : Number(BigInt.asUintN(64, this.satp) >> 60n);
    if (mode === 0) {
      pa = va;
      if (pa < 0 || pa >= 2 ** 56) this.accessFault(acc, faultVa);
    } else {
      pa = this.walk(va, acc, priv, mode, faultVa);
    }
    // PMP
    const pageBase = pa - (pa % 4096);
    const pmp = this.pmpCheck(pageBase, 4096, acc, priv);
    if (pmp !== 1) {
      if (this.pmpCheck(pa, Math.min(size, 4096 - (pa % 4096)), acc, priv) !== 1) this.accessFault(acc, faultVa);
      cacheable = false;
    }
    const o = pa - this.ramBase;
    if (o >= 0 && o < this.ramSize) {
      if (cacheable) {
        this.tlbs[priv]![acc]!.set(va, o - (o % 4096));
      }
      return o;
    }
    if (acc === ACC_X && !this.bus.isExecutable(pa)) this.accessFault(acc, faultVa);
    return -1 - pa;
  }

  private accessFault(acc: number, va: number): never {
    this.raise(acc === ACC_R ? EXC.LOAD_ACCESS : acc === ACC_W ? EXC.STORE_ACCESS : EXC.INSN_ACCESS, BigInt(va));
  }

  private pageFault(acc: number, va: number): never {
    this.raise(acc === ACC_R ? EXC.LOAD_PAGE : acc === ACC_W ? EXC.STORE_PAGE : EXC.INSN_PAGE, BigInt(va));
  }

  private walk(va: number, acc: number, priv: number, mode: number, faultVa: number): number {
    const levels = mode === 8 ? 3 : mode === 9 ? 4 : mode === 10 ? 5 : 0;
    if (levels === 0) this.pageFault(acc, faultVa);
    // canonical: bits above vaBits-1 equal bit vaBits-1
    const vaSpan = VA_SPAN[levels]!;
    const limit = vaSpan / 2;
    if (!(va >= -limit && va < limit)) this.pageFault(acc, faultVa);
    if (Math.abs(va) >= 2 ** 53) this.pageFault(acc, faultVa);
    const uva = va < 0 ? va + vaSpan : va; // the low vaBits bits, unsigned
    if (this.satp !== this.satpSeen) {
      this.satpSeen = this.satp;
      this.satpTable = Number(this.satp & 0xfffffffffffn) * 4096;
    }
    let table = this.satpTable;
    const sum = (this.mstatus & MS.SUM) !== 0;
    const mxr = (this.mstatus & MS.MXR) !== 0;
    for (let level = levels - 1; level >= 0; level--) {
      // (below 2^53, & keeps the low bits exactly; `%` on a double is a call to fmod)
      const idx = Math.floor(uva / LEVEL_SPAN[level]!) & 511;
      const pteAddr = table + idx * 8;
      if (this.pmpCheck(pteAddr, 8, ACC_R, PRIV_S) !== 1) this.accessFault(acc, faultVa);
      const po = pteAddr - this.ramBase;
      if (po < 0 || po + 8 > this.ramSize) this.accessFault(acc, faultVa);
      // one 8-byte read (single-copy atomic, as the guest's own LD), split through memory:
      // a BigInt load would allocate on every level of every walk
      this.scratchF64[0] = this.ramF64[po >>> 3]!;
      const pteLo = this.scratch32[0]!;
      const pteHi = this.scratch32[1]!;
      const lo = pteLo & 0x3ff;
      if ((lo & 1) === 0 || ((lo & 2) === 0 && (lo & 4) !== 0)) this.pageFault(acc, faultVa);
      const high = (pteHi >>> 22) & 0x3ff;
      if ((high & 0x7f) !== 0) this.pageFault(acc, faultVa); // reserved bits 60:54
      if ((high & 0x180) !== 0 && (this.menvcfg & ENVCFG.PBMTE) === 0n) this.pageFault(acc, faultVa);
      if ((high & 0x200) !== 0) this.pageFault(acc, faultVa); // N (Svnapot) not implemented
      // PPN: bits 53:10
      const ppn = (pteHi & 0x3fffff) * 4194304 + (pteLo >>> 10);
      if ((lo & 0xa) === 0) {
        // pointer to the next level
        if (level === 0) this.pageFault(acc, faultVa);
        if ((lo & 0xd0) !== 0) this.pageFault(acc, faultVa); // D, A, U reserved in non-leaf PTEs
        table = ppn * 4096;
        continue;
      }
      // leaf
      const r = (lo & 2) !== 0;
      const wr = (lo & 4) !== 0;
      const xp = (lo & 8) !== 0;
      const u = (lo & 16) !== 0;
      if (priv === PRIV_U && !u) this.pageFault(acc, faultVa);
      if (priv === PRIV_S && u && (acc === ACC_X || !sum)) this.pageFault(acc, faultVa);
      if (acc === ACC_R && !(r || (mxr && xp))) this.pageFault(acc, faultVa);
      if (acc === ACC_W && !wr) this.pageFault(acc, faultVa);
      if (acc === ACC_X && !xp) this.pageFault(acc, faultVa);
      const span = LEVEL_PAGES[level]!; // pages covered by this leaf
      if (Math.floor(ppn / span) * span !== ppn) this.pageFault(acc, faultVa); // misaligned superpage
      // A/D, in hardware, atomically
      if ((lo & (acc === ACC_W ? 0xc0 : 0x40)) !== (acc === ACC_W ? 0xc0 : 0x40)) {
        const need = acc === ACC_W ? 0xc0n : 0x40n;
        let pte = Atomics.load(this.ram64, po >>> 3);
        while ((pte & need) !== need) {
          const prev = Atomics.compareExchange(this.ram64, po >>> 3, pte, pte | need);
          if (prev === pte) break;
          pte = prev;
          if ((pte & 1n) === 0n) this.pageFault(acc, faultVa);
        }
      }
      const vpage = Math.floor(uva / 4096);
      const pageInLeaf = vpage - Math.floor(vpage / span) * span;
      return (ppn + pageInLeaf) * 4096 + (va - Math.floor(va / 4096) * 4096);
    }
    this.pageFault(acc, faultVa);
  }

  // ---------------------------------------------------------------- PMP

  recomputePmp(): void {
    this.pmpActive = false;
    let prevTop = 0;
    for (let i = 0; i < 16; i++) {
      const cfg = this.pmpcfg[i]!;
      const addr = Number(this.pmpaddr[i]! & 0x3fffffffffffffn);
      const a = (cfg >> 3) & 3;
      let lo = 0;
      let hi = 0;
      if (a === 1) {
        lo = prevTop;
        hi = addr * 4;
      } else if (a === 2) {
        lo = addr * 4;
        hi = lo + 4;
      } else if (a === 3) {
        // NAPOT: trailing ones of pmpaddr give the size
        let ones = 0;
        let v = this.pmpaddr[i]!;
        while ((v & 1n) === 1n && ones < 54) {
          ones++;
          v >>= 1n;
        }
        lo = Number(v << BigInt(ones + 2));
        hi = lo + 2 ** (ones + 3);
      }
      if (a !== 0) this.pmpActive = true;
      this.pmpLo[i] = lo;
      this.pmpHi[i] = hi;
      prevTop = addr * 4;
    }
  }

  /**
   * PMP check of [pa, pa+size): 1 allowed for the whole range, 0 denied, 2 the range
   * straddles entries (check each access).
   */
  private pmpCheck(pa: number, size: number, acc: number, priv: number): number {
    if (!this.pmpActive) return 1;
    const end = pa + size;
    for (let i = 0; i < 16; i++) {
      const cfg = this.pmpcfg[i]!;
      if (((cfg >> 3) & 3) === 0) continue;
      const lo = this.pmpLo[i]!;
      const hi = this.pmpHi[i]!;
      if (end <= lo || pa >= hi) continue;
      if (pa < lo || end > hi) return size === 1 ? 0 : 2;
      const locked = (cfg & 0x80) !== 0;
      if (priv === PRIV_M && !locked) return 1;
      const bit = acc === ACC_R ? 1 : acc === ACC_W ? 2 : 4;
      return (cfg & bit) !== 0 ? 1 : 0;
    }
    return priv === PRIV_M ? 1 : 0;
  }

  // ---------------------------------------------------------------- memory slow paths

  private mmioLoad(op: number, rd: number, pa: number, va: number): void {
    const v = this.bus.read(pa, accessSize(op));
    if (v === undefined) this.raise(EXC.LOAD_ACCESS, BigInt(va));
    this.setLoaded(op, rd, typeof v === 'bigint' ? v : BigInt(v));
  }

  private setLoaded(op: number, rd: number, v: bigint): void {
    switch (op) {
      case Op.LD: this.x[rd] = BigInt.asIntN(64, v); break;
      case Op.LW: this.x[rd] = BigInt.asIntN(32, v); break;
      case Op.LWU: this.x[rd] = BigInt.asUintN(32, v); break;
      case Op.LH: this.x[rd] = BigInt.asIntN(16, v); break;
      case Op.LHU: this.x[rd] = BigInt.asUintN(16, v); break;
      case Op.LB: this.x[rd] = BigInt.asIntN(8, v); break;
      default: this.x[rd] = BigInt.asUintN(8, v); break;
    }
  }

  private mmioStore(op: number, rs2: number, pa: number, va: number): void {
    const size = accessSize(op);
    const v = this.x[rs2]!;
    const ok = this.bus.write(pa, size, size === 8 ? BigInt.asUintN(64, v) : Number(BigInt.asUintN(size * 8, v)));
    if (!ok) this.raise(EXC.STORE_ACCESS, BigInt(va));
  }

  /** Reads `size` bytes at virtual `va` byte by byte (misaligned or page-crossing). */
  readBytes(va: number, size: number): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const o = this.translate(va + i, ACC_R);
      let b: number;
      if (o >= 0) b = this.ram8[o]!;
      else {
        const r = this.bus.read(-1 - o, 1);
        if (r === undefined) this.raise(EXC.LOAD_ACCESS, BigInt(va));
        b = Number(r);
      }
      v = (v << 8n) | BigInt(b);
    }
    return v;
  }

  writeBytes(va: number, size: number, value: bigint): void {
    // translate every byte first so a fault leaves memory untouched
    const offs: number[] = [];
    for (let i = 0; i < size; i++) offs.push(this.translate(va + i, ACC_W));
    for (let i = 0; i < size; i++) {
      const b = Number((value >> BigInt(8 * i)) & 0xffn);
      const o = offs[i]!;
      if (o >= 0) {
        if (this.codePages[o >>> 12] !== 0) this.invalidateCode(o);
        this.ram8[o] = b;
      } else if (!this.bus.write(-1 - o, 1, b)) this.raise(EXC.STORE_ACCESS, BigInt(va));
    }
  }

  private loadMisaligned(op: number, rd: number, va: number): void {
    this.setLoaded(op, rd, this.readBytes(va, accessSize(op)));
  }

  private storeSlow(op: number, rs2: number, va: number, o: number): void {
    const size = accessSize(op);
    if (o % size === 0 && o >= 0) {
      if (this.codePages[o >>> 12] !== 0) this.invalidateCode(o);
      const v = this.x[rs2]!;
      if (size === 8) this.ram64[o / 8] = v;
      else if (size === 4) this.ram32[o >>> 2] = Number(BigInt.asIntN(32, v));
      else if (size === 2) this.ram16[o >>> 1] = Number(BigInt.asIntN(16, v));
      else this.ram8[o] = Number(BigInt.asUintN(8, v));
      return;
    }
    this.writeBytes(va, size, BigInt.asUintN(size * 8, this.x[rs2]!));
  }

  /**
   * A load the interpreter's fast path does not do (a TLB miss, MMIO, misaligned), at
   * virtual address h * 2^32 + (l >>> 0): returns the RAM offset of an aligned RAM access
   * for the caller to do, or -1 when it did the load itself.
   */
  private loadSlow(op: number, rd: number, h: number, l: number): number {
    const va = h * TWO32 + (l >>> 0);
    // (through the TLB: a misaligned access to a page it holds needs no walk)
    const o = this.translate(va, ACC_R, undefined, accessSize(op));
    if (o < 0) {
      this.mmioLoad(op, rd, -1 - o, va);
      return -1;
    }
    if ((o & ALIGN[op]!) !== 0) {
      this.loadMisaligned(op, rd, va);
      return -1;
    }
    return o;
  }

  /**
   * A store the interpreter's fast path does not do (a TLB miss, MMIO, misaligned, a page
   * holding decoded code), at virtual h * 2^32 + (l >>> 0), of an instruction `len` bytes
   * long: returns the RAM offset of an aligned RAM store for the caller to do, or -1 when
   * it did the store itself; after a store to code it restarts at the next instruction.
   */
  private storeSlowAt(op: number, rs2: number, h: number, l: number, len: number): number {
    const va = h * TWO32 + (l >>> 0);
    const o = this.translate(va, ACC_W, undefined, accessSize(op));
    if (o < 0) {
      this.mmioStore(op, rs2, -1 - o, va);
      return -1;
    }
    if (this.codePages[o >>> 12] !== 0) {
      const pc = this.pc;
      this.storeSlow(op, rs2, va, o);
      this.pc = pc + len;
      throw RESTART;
    }
    if ((o & ALIGN[op]!) !== 0) {
      this.storeSlow(op, rs2, va, o);
      return -1;
    }
    return o;
  }

  /** Effective address rs1 + imm as a number. */
  private ea(rs1: number, imm: number): number {
    return this.xNum(rs1) + imm;
  }

  /** RAM offset for an atomic access (aligned, RAM only, write permission). */
  private amoAddr(va: number, size: number, isLr: boolean): number {
    if (va % size !== 0) this.raise(isLr ? EXC.LOAD_MISALIGNED : EXC.STORE_MISALIGNED, BigInt(va));
    const o = this.translate(va, isLr ? ACC_R : ACC_W, undefined, size);
    if (o < 0) this.raise(isLr ? EXC.LOAD_ACCESS : EXC.STORE_ACCESS, BigInt(va));
    if (!isLr && this.codePages[o >>> 12] !== 0) this.invalidateCode(o);
    return o;
  }

  // ---------------------------------------------------------------- everything else

  /**
   * Executes what the hot loop does not. Returns true when it set this.pc itself (jumps,
   * traps handled, xRET) or the loop must reload cached state.
   */
  execSlow(w: number, imm: number, b: number, rd: number, rs1: number, rs2: number, len: number): boolean {
    const op = w & 1023;
    const x = this.x;
    const x32 = this.x32;
    switch (op) {
      case Op.ILLEGAL:
        this.illegal(imm);
      // eslint-disable-next-line no-fallthrough
      case Op.FENCE_I:
        this.flushDecoded();
        this.pc += len;
        return true;
      case Op.ECALL:
        this.raise(this.priv === PRIV_U ? EXC.ECALL_U : this.priv === PRIV_S ? EXC.ECALL_S : EXC.ECALL_M, 0n);
      // eslint-disable-next-line no-fallthrough
      case Op.EBREAK:
        // tval 0, as QEMU 7.2 reports it (the spec allows 0 or the pc)
        this.raise(EXC.BREAKPOINT, 0n);
      // eslint-disable-next-line no-fallthrough
      case Op.MRET: {
        if (this.priv !== PRIV_M) this.illegal(this.rawInsn(len, b));
        let s = this.mstatus;
        const mpp = (s & MS.MPP) >>> MS.MPP_SHIFT;
        s = (s & ~MS.MIE) | ((s & MS.MPIE) !== 0 ? MS.MIE : 0);
        s |= MS.MPIE;
        s &= ~MS.MPP;
        if (mpp !== PRIV_M) s &= ~MS.MPRV;
        this.mstatus = s;
        this.priv = mpp;
        this.pc = Number(BigInt.asIntN(64, this.mepc & ~1n));
        this.modeChanged();
        return true;
      }
      case Op.SRET: {
        if (this.priv === PRIV_U || (this.priv === PRIV_S && (this.mstatus & MS.TSR) !== 0)) {
          this.illegal(this.rawInsn(len, b));
        }
        let s = this.mstatus;
        const spp = (s & MS.SPP) !== 0 ? PRIV_S : PRIV_U;
        s = (s & ~MS.SIE) | ((s & MS.SPIE) !== 0 ? MS.SIE : 0);
        s |= MS.SPIE;
        s &= ~MS.SPP;
        s &= ~MS.MPRV;
        this.mstatus = s;
        this.priv = spp;
        this.pc = Number(BigInt.asIntN(64, this.sepc & ~1n));
        this.modeChanged();
        return true;
      }
      case Op.WFI:
        if (this.priv === PRIV_U || (this.priv === PRIV_S && (this.mstatus & MS.TW) !== 0)) {
          this.illegal(this.rawInsn(len, b));
        }
        this.pc += len;
        if ((this.mip() & this.mie) === 0) this.wfi = true;
        this.endChunk = true;
        return true;
      case Op.SFENCE_VMA:
        if (this.priv === PRIV_U || (this.priv === PRIV_S && (this.mstatus & MS.TVM) !== 0)) {
          this.illegal(this.rawInsn(len, b));
        }
        if (rs1 === 0) this.flushTlb();
        else this.flushTlbPage(this.xNum(rs1));
        this.pc += len;
        return true;
      case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
        if (!this.execCsr(op, rd, rs1, imm, len, b)) return false;
        this.pc += len;
        this.endChunk = true;
        return true;
      case Op.MULH: case Op.MULHU: case Op.MULHSU:
        mulh(x32, op, rd, rs1, rs2);
        return false;
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU:
      case Op.DIVW: case Op.DIVUW: case Op.REMW: case Op.REMUW: {
        const out = this.scratch32;
        divide(out, op, x32[2 * rs1]!, x32[2 * rs1 + 1]!, x32[2 * rs2]!, x32[2 * rs2 + 1]!);
        x32[2 * rd] = out[0]!;
        x32[2 * rd + 1] = out[1]!;
        return false;
      }
      case Op.CBO_ZERO: case Op.CBO_CLEAN: case Op.CBO_FLUSH: case Op.CBO_INVAL:
        this.execCbo(op, rs1, len, b);
        return false;
      case Op.FLW: case Op.FLD: case Op.FSW: case Op.FSD:
        this.requireFs(len, b);
        this.execFpMem(op, rd, rs1, rs2, imm);
        return false;
      default:
        if (op >= Op.LR_W && op <= Op.AMOMAXU_D) {
          this.execAmo(op, rd, rs1, rs2);
          return false;
        }
        if (op >= Op.SH1ADD && op <= Op.CZERO_NEZ) {
          this.execBitmanip(op, rd, rs1, rs2, imm);
          return false;
        }
        if (op >= Op.FMADD_S && op < Op.COUNT) {
          this.requireFs(len, b);
          execFp(this, op, rd, rs1, rs2, b & 31, (b >>> 5) & 7, this.rawInsn(len, b));
          return false;
        }
        this.illegal(this.rawInsn(len, b));
    }
  }

  /** The instruction bits for tval, rebuilt from the pc (illegal-instruction traps). */
  private rawInsn(len: number, b: number): number {
    if (len === 2) return (b >>> 8) & 0xffff;
    try {
      const o = this.translate(this.pc, ACC_X, this.pc);
      if (o >= 0 && o + 4 <= this.ramSize && (o & 4095) !== 4094) {
        return ((this.ramU16[o >>> 1]! | (this.ramU16[(o >>> 1) + 1]! << 16)) >>> 0);
      }
    } catch {
      // fall through
    }
    return 0;
  }

  illegal(bits: number): never {
    this.raise(EXC.ILLEGAL, BigInt(bits >>> 0));
  }

  private requireFs(len: number, b: number): void {
    if ((this.mstatus & MS.FS) === 0) this.illegal(this.rawInsn(len, b));
  }

  /** Marks the FP state dirty (mstatus.FS = 3). */
  fpDirty(): void {
    this.mstatus |= MS.FS;
  }

  private execFpMem(op: number, rd: number, rs1: number, rs2: number, imm: number): void {
    const va = this.ea(rs1, imm);
    if (op === Op.FLW || op === Op.FLD) {
      const size = op === Op.FLW ? 4 : 8;
      const o = this.translate(va, ACC_R, undefined, size);
      let v: bigint;
      if (o >= 0 && o % size === 0) v = size === 8 ? this.ram64[o / 8]! : BigInt(this.ram32[o >>> 2]! >>> 0);
      else if (o < 0) {
        const r = this.bus.read(-1 - o, size);
        if (r === undefined) this.raise(EXC.LOAD_ACCESS, BigInt(va));
        v = BigInt(r);
      } else v = this.readBytes(va, size);
      if (size === 4) {
        this.f32[2 * rd] = Number(v & 0xffffffffn) | 0;
        this.f32[2 * rd + 1] = -1;
      } else this.f[rd] = BigInt.asIntN(64, v);
      this.fpDirty();
    } else {
      const size = op === Op.FSW ? 4 : 8;
      const v = size === 4 ? BigInt(this.f32[2 * rs2]! >>> 0) : BigInt.asUintN(64, this.f[rs2]!);
      const o = this.translate(va, ACC_W, undefined, size);
      if (o >= 0 && o % size === 0) {
        if (this.codePages[o >>> 12] !== 0) this.invalidateCode(o);
        if (size === 8) this.ram64[o / 8] = BigInt.asIntN(64, v);
        else this.ram32[o >>> 2] = Number(v) | 0;
      } else if (o < 0) {
        if (!this.bus.write(-1 - o, size, size === 8 ? v : Number(v))) this.raise(EXC.STORE_ACCESS, BigInt(va));
      } else this.writeBytes(va, size, v);
    }
  }

  private execAmo(op: number, rd: number, rs1: number, rs2: number): void {
    const va = this.xNum(rs1);
    const word = op <= Op.AMOMAXU_W;
    const size = word ? 4 : 8;
    if (op === Op.LR_W || op === Op.LR_D) {
      const o = this.amoAddr(va, size, true);
      const v = word ? BigInt(Atomics.load(this.ram32, o >>> 2)) : Atomics.load(this.ram64, o / 8);
      this.resOff = o;
      this.resVal = v;
      this.resIsWord = word;
      this.x[rd] = v;
      return;
    }
    if (op === Op.SC_W || op === Op.SC_D) {
      const o = this.amoAddr(va, size, false);
      let ok = false;
      if (this.resOff === o && this.resIsWord === word) {
        if (word) {
          const nv = this.x32[2 * rs2]!;
          ok = Atomics.compareExchange(this.ram32, o >>> 2, Number(this.resVal), nv) === Number(this.resVal);
        } else {
          ok = Atomics.compareExchange(this.ram64, o / 8, this.resVal, this.x[rs2]!) === this.resVal;
        }
      }
      this.resOff = -1;
      this.x[rd] = ok ? 0n : 1n;
      return;
    }
    const o = this.amoAddr(va, size, false);
    if (word) {
      const i = o >>> 2;
      const s = this.x32[2 * rs2]!;
      let old: number;
      switch (op) {
        case Op.AMOSWAP_W: old = Atomics.exchange(this.ram32, i, s); break;
        case Op.AMOADD_W: old = Atomics.add(this.ram32, i, s); break;
        case Op.AMOXOR_W: old = Atomics.xor(this.ram32, i, s); break;
        case Op.AMOAND_W: old = Atomics.and(this.ram32, i, s); break;
        case Op.AMOOR_W: old = Atomics.or(this.ram32, i, s); break;
        default: {
          for (;;) {
            old = Atomics.load(this.ram32, i);
            let nv: number;
            if (op === Op.AMOMIN_W) nv = Math.min(old, s);
            else if (op === Op.AMOMAX_W) nv = Math.max(old, s);
            else if (op === Op.AMOMINU_W) nv = (old >>> 0) < (s >>> 0) ? old : s;
            else nv = (old >>> 0) > (s >>> 0) ? old : s;
            if (Atomics.compareExchange(this.ram32, i, old, nv) === old) break;
          }
        }
      }
      this.x[rd] = BigInt(old);
    } else {
      const i = o / 8;
      const s = this.x[rs2]!;
      let old: bigint;
      switch (op) {
        case Op.AMOSWAP_D: old = Atomics.exchange(this.ram64, i, s); break;
        case Op.AMOADD_D: old = Atomics.add(this.ram64, i, s); break;
        case Op.AMOXOR_D: old = Atomics.xor(this.ram64, i, s); break;
        case Op.AMOAND_D: old = Atomics.and(this.ram64, i, s); break;
        case Op.AMOOR_D: old = Atomics.or(this.ram64, i, s); break;
        default: {
          for (;;) {
            old = Atomics.load(this.ram64, i);
            let nv: bigint;
            if (op === Op.AMOMIN_D) nv = old < s ? old : s;
            else if (op === Op.AMOMAX_D) nv = old > s ? old : s;
            else if (op === Op.AMOMINU_D) nv = BigInt.asUintN(64, old) < BigInt.asUintN(64, s) ? old : s;
            else nv = BigInt.asUintN(64, old) > BigInt.asUintN(64, s) ? old : s;
            if (Atomics.compareExchange(this.ram64, i, old, nv) === old) break;
          }
        }
      }
      this.x[rd] = old;
    }
    // a store by this hart to its reservation breaks it
    if (this.resOff >= 0 && Math.floor(this.resOff / 8) === Math.floor(o / 8)) this.resOff = -1;
  }

  private execCbo(op: number, rs1: number, len: number, b: number): void {
    // Zicbom/Zicboz enables: M-mode always; S needs menvcfg; U needs menvcfg and senvcfg.
    const enabled = (field: bigint): boolean => {
      if (this.priv === PRIV_M) return true;
      if ((this.menvcfg & field) === 0n) return false;
      if (this.priv === PRIV_U && (this.senvcfg & field) === 0n) return false;
      return true;
    };
    if (op === Op.CBO_ZERO) {
      if (!enabled(ENVCFG.CBZE)) this.illegal(this.rawInsn(len, b));
      const va = this.xNum(rs1);
      const base = va - (((va % 64) + 64) % 64);
      const o = this.translate(base, ACC_W, undefined, 64);
      if (o < 0) {
        for (let i = 0; i < 64; i += 4) if (!this.bus.write(-1 - o + i, 4, 0)) this.raise(EXC.STORE_ACCESS, BigInt(va));
        return;
      }
      if (this.codePages[o >>> 12] !== 0) this.invalidateCode(o);
      this.ram8.fill(0, o, o + 64);
      return;
    }
    const field = op === Op.CBO_INVAL ? ENVCFG.CBIE : ENVCFG.CBCFE;
    if (!enabled(field)) this.illegal(this.rawInsn(len, b));
    // caches are coherent here: only the permission check (a load-like translation)
    this.translate(this.xNum(rs1), ACC_R);
  }

  private execBitmanip(op: number, rd: number, rs1: number, rs2: number, imm: number): void {
    if (!bitmanip(this.x32, op, rd, rs1, rs2, imm)) this.illegal(0);
  }


  // ---------------------------------------------------------------- CSRs

  /** Instructions retired before the one executing now (exact inside a chunk). */
  private retired(): number {
    return this.instret + (this.chunkStart - this.budget) - 1;
  }

  readMstatus(): bigint {
    const fs = (this.mstatus & MS.FS) === MS.FS;
    return BigInt(this.mstatus >>> 0) | MSTATUS_XL | (fs ? 1n << 63n : 0n);
  }

  /** sstatus: mstatus's S-visible fields, with UXL and SD. */
  readSstatus(): bigint {
    return this.readMstatus() & (BigInt(SSTATUS_MASK) | (1n << 63n) | (3n << 32n));
  }

  /**
   * CSRRW/S/C[I]. Returns true when the chunk must end after it: a write that may make an
   * interrupt deliverable or change what the loop caches (privilege, translation, the
   * TLB in use, FP state). Reads, the trap-handling scratch registers and clearing
   * sstatus.SIE (spin_lock_irqsave: the kernel's commonest CSR write) go on in the loop.
   */
  private execCsr(op: number, rd: number, rs1: number, csr: number, len: number, b: number): boolean {
    const isImm = op >= Op.CSRRWI;
    const src = isImm ? BigInt(rs1) : this.x[rs1]!;
    const kind = isImm ? op - Op.CSRRWI : op - Op.CSRRW; // 0 write, 1 set, 2 clear
    const writes = kind === 0 || rs1 !== 0;
    const bad = () => this.illegal(this.rawInsn(len, b));
    // privilege and read-only checks
    if (((csr >>> 8) & 3) > this.priv) bad();
    if (writes && (csr >>> 10) === 3) bad();
    const old = this.csrRead(csr, bad);
    if (writes) {
      // mip.SEIP reads as the software-writable bit OR the PLIC's line, but only the
      // software bit takes part in CSRRS/CSRRC's read-modify-write (privileged spec, "Machine
      // Interrupt Registers"): else OpenSBI's csr_set(mip, SSIP) for an IPI would latch a
      // pending external interrupt forever and storm the hart with claims that find nothing.
      const rmw = csr === CSR.mip ? (old & ~BigInt(MIP_SEIP)) | BigInt(this.mipSw & MIP_SEIP) : old;
      const nv = kind === 0 ? src : kind === 1 ? rmw | src : rmw & ~src;
      const ms = this.mstatus;
      this.csrWrite(csr, BigInt.asIntN(64, nv), bad);
      this.x[rd] = old;
      if (QUIET_CSRS.has(csr)) return false;
      // sstatus: only SIE changed, and not to 1 (or nothing changed)
      return !(csr === CSR.sstatus && ((this.mstatus ^ ms) & ~MS.SIE) === 0 && (this.mstatus & MS.SIE) <= (ms & MS.SIE));
    }
    this.x[rd] = old;
    return false;
  }

  private counterAllowed(bit: number): boolean {
    if (this.priv === PRIV_M) return true;
    if (((this.mcounteren >>> bit) & 1) === 0) return false;
    if (this.priv === PRIV_U && ((this.scounteren >>> bit) & 1) === 0) return false;
    return true;
  }

  csrRead(csr: number, bad: () => never): bigint {
    switch (csr) {
      case CSR.fflags: if ((this.mstatus & MS.FS) === 0) bad(); return BigInt(this.fflags);
      case CSR.frm: if ((this.mstatus & MS.FS) === 0) bad(); return BigInt(this.frm);
      case CSR.fcsr: if ((this.mstatus & MS.FS) === 0) bad(); return BigInt((this.frm << 5) | this.fflags);
      case CSR.cycle: if (!this.counterAllowed(0)) bad(); return BigInt(this.retired());
      case CSR.time: if (!this.counterAllowed(1)) bad(); return BigInt(Math.floor(this.env.mtime()));
      case CSR.instret: if (!this.counterAllowed(2)) bad(); return BigInt(this.retired());
      case CSR.sstatus: return this.readSstatus();
      case CSR.sie: return BigInt(this.mie & this.mideleg);
      case CSR.stvec: return this.stvec;
      case CSR.scounteren: return BigInt(this.scounteren);
      case CSR.senvcfg: return this.senvcfg;
      case CSR.sscratch: return this.sscratch;
      case CSR.sepc: return this.sepc;
      case CSR.scause: return this.scause;
      case CSR.stval: return this.stval;
      case CSR.sip: return BigInt(this.mip() & this.mideleg);
      case CSR.stimecmp:
        if (this.priv !== PRIV_M && (!this.stce() || ((this.mcounteren >>> 1) & 1) === 0)) bad();
        return BigInt.asIntN(64, this.stimecmp);
      case CSR.satp:
        if (this.priv === PRIV_S && (this.mstatus & MS.TVM) !== 0) bad();
        return this.satp;
      case CSR.mvendorid: case CSR.marchid: case CSR.mimpid: case CSR.mconfigptr: return 0n;
      case CSR.mhartid: return BigInt(this.hartId);
      case CSR.mstatus: return this.readMstatus();
      case CSR.misa: return BigInt.asIntN(64, this.misa);
      case CSR.medeleg: return BigInt(this.medeleg);
      case CSR.mideleg: return BigInt(this.mideleg);
      case CSR.mie: return BigInt(this.mie);
      case CSR.mtvec: return this.mtvec;
      case CSR.mcounteren: return BigInt(this.mcounteren);
      case CSR.menvcfg: return this.menvcfg;
      case CSR.mcountinhibit: return BigInt(this.mcountinhibit);
      case CSR.mscratch: return this.mscratch;
      case CSR.mepc: return this.mepc;
      case CSR.mcause: return this.mcause;
      case CSR.mtval: return this.mtval;
      case CSR.mip: return BigInt(this.mip());
      case CSR.mcycle: case CSR.minstret: return BigInt(this.retired());
    }
    if (csr >= CSR.hpmcounter3 && csr <= CSR.hpmcounter31) {
      if (!this.counterAllowed(csr - CSR.cycle)) bad();
      return 0n;
    }
    if ((csr >= CSR.mhpmcounter3 && csr <= CSR.mhpmcounter31) || (csr >= CSR.mhpmevent3 && csr <= CSR.mhpmevent31)) return 0n;
    if (csr >= CSR.pmpcfg0 && csr <= CSR.pmpcfg15) {
      if (csr & 1) bad();
      const n = csr - CSR.pmpcfg0;
      if (n >= 4) return 0n;
      let v = 0n;
      for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(this.pmpcfg[n * 4 + i]!);
      return BigInt.asIntN(64, v);
    }
    if (csr >= CSR.pmpaddr0 && csr <= CSR.pmpaddr63) {
      const i = csr - CSR.pmpaddr0;
      return i < 16 ? this.pmpaddr[i]! : 0n;
    }
    bad();
  }

  csrWrite(csr: number, v: bigint, bad: () => never): void {
    switch (csr) {
      case CSR.fflags: if ((this.mstatus & MS.FS) === 0) bad(); this.fflags = Number(v & 31n); this.fpDirty(); return;
      case CSR.frm: if ((this.mstatus & MS.FS) === 0) bad(); this.frm = Number(v & 7n); this.fpDirty(); return;
      case CSR.fcsr: if ((this.mstatus & MS.FS) === 0) bad(); this.fflags = Number(v & 31n); this.frm = Number((v >> 5n) & 7n); this.fpDirty(); return;
      case CSR.sstatus: this.writeMstatus((this.mstatus & ~SSTATUS_MASK) | (Number(v & 0xffffffffn) & SSTATUS_MASK)); return;
      case CSR.sie: this.mie = (this.mie & ~this.mideleg) | (Number(v & 0xffffn) & this.mideleg); return;
      case CSR.stvec: this.stvec = v & ~2n; return;
      case CSR.scounteren: this.scounteren = Number(v & 0xffffffffn) >>> 0; return;
      case CSR.senvcfg: this.senvcfg = v & (ENVCFG.FIOM | ENVCFG.CBIE | ENVCFG.CBCFE | ENVCFG.CBZE); this.fixCbie(); return;
      case CSR.sscratch: this.sscratch = v; return;
      case CSR.sepc: this.sepc = v & ~1n; return;
      case CSR.scause: this.scause = v; return;
      case CSR.stval: this.stval = v; return;
      case CSR.sip: {
        const mask = MIP_SSIP & this.mideleg;
        this.mipSw = (this.mipSw & ~mask) | (Number(v & 0xffffn) & mask);
        return;
      }
      case CSR.stimecmp:
        if (this.priv !== PRIV_M && (!this.stce() || ((this.mcounteren >>> 1) & 1) === 0)) bad();
        this.stimecmp = BigInt.asUintN(64, v);
        return;
      case CSR.satp: {
        if (this.priv === PRIV_S && (this.mstatus & MS.TVM) !== 0) bad();
        const mode = Number(BigInt.asUintN(64, v) >> 60n);
        // WARL: a mode we do not offer leaves satp unchanged (Linux probes Sv57 this way)
        if (mode !== 0 && (mode < 8 || mode > (this.env.maxSatpMode ?? 9))) return;
        this.satp = BigInt.asIntN(64, (BigInt(mode) << 60n) | (v & ((1n << 60n) - 1n) & ~(0xffffn << 44n)));
        this.flushTlb();
        return;
      }
      case CSR.mstatus: this.writeMstatus(Number(v & 0xffffffffn)); return;
      case CSR.misa: return;
      case CSR.medeleg: this.medeleg = Number(v & BigInt(MEDELEG_WRITABLE)); return;
      case CSR.mideleg: this.mideleg = Number(v & BigInt(S_INTERRUPTS)); return;
      case CSR.mie: this.mie = Number(v & 0xaaan); return;
      case CSR.mtvec: this.mtvec = v & ~2n; return;
      case CSR.mcounteren: this.mcounteren = Number(v & 0xffffffffn) >>> 0; return;
      case CSR.menvcfg:
        this.menvcfg = v & (ENVCFG.FIOM | ENVCFG.CBIE | ENVCFG.CBCFE | ENVCFG.CBZE | ENVCFG.PBMTE | ENVCFG.STCE);
        this.fixCbie();
        this.flushTlb();
        return;
      case CSR.mcountinhibit: this.mcountinhibit = Number(v & 0xfffffffdn) >>> 0; return;
      case CSR.mscratch: this.mscratch = v; return;
      case CSR.mepc: this.mepc = v & ~1n; return;
      case CSR.mcause: this.mcause = v; return;
      case CSR.mtval: this.mtval = v; return;
      case CSR.mip: {
        // with Sstc on, STIP is stimecmp's comparison and read-only here
        const mask = MIP_SSIP | MIP_SEIP | (this.stce() ? 0 : MIP_STIP);
        this.mipSw = (this.mipSw & ~mask) | (Number(v & 0xffffn) & mask);
        return;
      }
      case CSR.mcycle: case CSR.minstret:
        // the writing instruction does not count: later reads are the value plus what retires after it
        this.instret = Number(BigInt.asUintN(64, v)) - (this.chunkStart - this.budget);
        return;
    }
    if ((csr >= CSR.mhpmcounter3 && csr <= CSR.mhpmcounter31) || (csr >= CSR.mhpmevent3 && csr <= CSR.mhpmevent31)) return;
    if (csr >= CSR.pmpcfg0 && csr <= CSR.pmpcfg15) {
      if (csr & 1) bad();
      const n = csr - CSR.pmpcfg0;
      if (n >= 4) return;
      for (let i = 0; i < 8; i++) {
        const idx = n * 4 + i;
        if (this.pmpcfg[idx]! & 0x80) continue; // locked
        let c = Number((v >> BigInt(8 * i)) & 0xffn) & 0x9f;
        if ((c & 3) === 2) c &= ~3; // W without R is reserved: clear both
        this.pmpcfg[idx] = c;
      }
      this.recomputePmp();
      this.flushTlb();
      return;
    }
    if (csr >= CSR.pmpaddr0 && csr <= CSR.pmpaddr63) {
      const i = csr - CSR.pmpaddr0;
      if (i >= 16) return;
      const locked = (this.pmpcfg[i]! & 0x80) !== 0;
      const nextTorLocked = i < 15 && (this.pmpcfg[i + 1]! & 0x80) !== 0 && ((this.pmpcfg[i + 1]! >> 3) & 3) === 1;
      if (locked || nextTorLocked) return;
      this.pmpaddr[i] = v & ((1n << 54n) - 1n);
      this.recomputePmp();
      this.flushTlb();
      return;
    }
    bad();
  }

  private fixCbie(): void {
    // CBIE value 2 is reserved: treat as 0 (WARL)
    if ((this.menvcfg & ENVCFG.CBIE) === 2n << 4n) this.menvcfg &= ~ENVCFG.CBIE;
    if ((this.senvcfg & ENVCFG.CBIE) === 2n << 4n) this.senvcfg &= ~ENVCFG.CBIE;
  }

  private writeMstatus(v: number): void {
    let s = (this.mstatus & ~MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE);
    // MPP is WARL: 2 (reserved) becomes U
    if (((s & MS.MPP) >>> MS.MPP_SHIFT) === 2) s &= ~MS.MPP;
    const changed = this.mstatus ^ s;
    this.mstatus = s;
    if (changed & (MS.MPRV | MS.MPP | MS.SUM | MS.MXR)) {
      this.flushTlb();
      this.modeChanged();
    }
  }

  // ---------------------------------------------------------------- run control

  /** Honors requests in ctl[REQUEST]; returns false when the hart must stop running. */
  handleRequests(): 'run' | 'exit' {
    const req = Atomics.load(this.ctl, CTL.REQUEST);
    if (req === 0) return 'run';
    if (req & REQ.TERMINATE) {
      this.publish();
      Atomics.store(this.ctl, CTL.STATE, STATE.EXITED);
      return 'exit';
    }
    if (req & REQ.PAUSE) {
      this.publish();
      Atomics.store(this.ctl, CTL.STATE, STATE.PAUSED);
      this.signalState();
      for (;;) {
        const r = Atomics.load(this.ctl, CTL.REQUEST);
        if (r & REQ.TERMINATE) return this.handleRequests();
        if (r & REQ.STEP) {
          Atomics.and(this.ctl, CTL.REQUEST, ~REQ.STEP);
          this.step(1);
          this.publish();
          this.signalState();
          continue;
        }
        if (r & REQ.RESET && this.env.resetPc !== undefined) {
          // system_reset while paused: the monitor shows the reset state at once
          Atomics.and(this.ctl, CTL.REQUEST, ~REQ.RESET);
          this.reset(this.env.resetPc);
          this.publish();
          this.signalState();
          continue;
        }
        if ((r & REQ.PAUSE) === 0) break;
        futexWait(this.ctl, CTL.REQUEST, r, 1000);
      }
      Atomics.store(this.ctl, CTL.STATE, STATE.RUNNING);
      this.signalState();
    }
    return 'run';
  }

  private signalState(): void {
    Atomics.add(this.ctl, CTL.STATE_SEQ, 1);
    futexWake(this.ctl, CTL.STATE_SEQ);
  }
}


const IRQ_PRIORITY = [IRQ.MEI, IRQ.MSI, IRQ.MTI, IRQ.SEI, IRQ.SSI, IRQ.STI];

function pickInterrupt(bits: number): number {
  for (const irq of IRQ_PRIORITY) {
    if (bits & (1 << irq)) return irq;
  }
  return -1;
}

