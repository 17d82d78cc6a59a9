/**
 * The generator of the differential test: from a seed, a random straight-line RV64GC (+ Zba,
 * Zbb, Zbs) program with forward branches over short blocks, and its initial state (x and f
 * registers, fcsr, the contents of the 4 KiB data buffer).
 *
 * A program is a list of units. A unit is one or a few assembly lines that only make sense
 * together (a branch with the block it skips and its label, an lr/sc pair, a special-value
 * setup followed by the instruction it feeds). Any prefix of whole units is itself a valid
 * program, which is what the bisection relies on.
 *
 * Register conventions (the wrappers rely on them):
 *  - x2 (sp) holds the start of the data buffer and x8 (s0) the buffer start + 2048, so that
 *    any aligned 12-bit offset from x8 stays inside the buffer and the c.*sp forms reach it.
 *    The sequence never writes them (c.addi16sp comes only in pairs that restore sp).
 *  - Every other x and f register is free for the sequence. Both wrappers place the code and
 *    the buffer at the same addresses, so values derived from addresses (auipc, jal link
 *    registers, lla, address registers of AMOs) are the same on both sides and are compared.
 */
import { Prng } from './prng.js';

export const BUF_SIZE = 4096;
/** Registers the sequence never writes. */
export const RESERVED_X: ReadonlyMap<number, string> = new Map([
  [2, 'sp: data buffer start'],
  [8, 's0: data buffer start + 2048'],
]);

export interface Unit {
  /** Assembly lines; may contain the local label `1:` and references `1f`. */
  readonly lines: readonly string[];
}

export interface Program {
  readonly seed: number;
  /** A file-name-safe name: the same name, the same program. */
  readonly name: string;
  /** Initial x0..x31 (x0, x2 and x8 are not loaded from here). */
  readonly x: readonly bigint[];
  /** Initial f0..f31 bit patterns. */
  readonly f: readonly bigint[];
  /** Initial fcsr (frm always a valid rounding mode, 0..4). */
  readonly fcsr: number;
  /** Initial data buffer, BUF_SIZE / 8 little-endian doublewords. */
  readonly mem: readonly bigint[];
  readonly units: readonly Unit[];
}

/** Instruction classes, which GenOptions.exclude can leave out. */
export const CLASSES = ['alu', 'muldiv', 'zb', 'mem', 'amo', 'rvc', 'fp', 'fcsr', 'branch'] as const;
export type InsnClass = (typeof CLASSES)[number];

/** Reads a comma-separated list of classes (TSEMU_DIFF_EXCLUDE, --exclude). */
export function parseClasses(spec: string): InsnClass[] {
  const out: InsnClass[] = [];
  for (const c of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(CLASSES as readonly string[]).includes(c)) throw new Error(`unknown instruction class ${c} (known: ${CLASSES.join(', ')})`);
    out.push(c as InsnClass);
  }
  return out;
}

export interface GenOptions {
  /** How many units (default 300). */
  count?: number;
  /**
   * Classes to leave out (while a hart is incomplete). Leaving out a class changes the
   * program of every seed. 'fp' leaves out fcsr too; the wrappers use F/D and M regardless.
   */
  exclude?: readonly InsnClass[];
}

const M64 = (1n << 64n) - 1n;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const sext32 = (v: bigint): bigint => u64(BigInt.asIntN(32, v));

const INT_VALUES: readonly bigint[] = [
  0n,
  1n,
  M64, // -1
  2n,
  u64(-2n),
  0x7fffffffn, // INT32_MAX
  0xffffffff80000000n, // INT32_MIN, sign-extended
  0x80000000n, // INT32_MIN, zero-extended
  0xffffffffn,
  0x7fffffffffffffffn, // INT64_MAX
  0x8000000000000000n, // INT64_MIN
  0x8000000000000001n,
  0x00000000ffff0000n,
  0x0000000100000000n,
  0xffffffff00000000n,
  0x8080808080808080n,
  0x0101010101010101n,
  0xff00ff00ff00ff00n,
];

const ROUNDING = ['rne', 'rtz', 'rdn', 'rup', 'rmm', 'dyn'] as const;

// Single-precision patterns (boxed by the caller).
const S_SPECIAL: readonly number[] = [
  0x00000000, 0x80000000, // ±0
  0x7f800000, 0xff800000, // ±inf
  0x7fc00000, 0xffc00000, 0x7fc12345, // quiet NaNs
  0x7f800001, 0x7fa00000, 0xff800005, // signalling NaNs
  0x00000001, 0x807fffff, 0x00400000, // subnormals
  0x00800000, 0x80800000, // smallest normals
  0x7f7fffff, 0xff7fffff, // largest finite
  0x3f800000, 0xbf800000, 0x3f000000, 0x3fc00000, 0x40200000, 0xbfc00000, // ±1, 0.5, ±1.5, 2.5
  0x4f000000, 0xcf000000, 0x4effffff, 0xcf000001, // around ±2^31
  0x4f800000, 0x5f000000, 0xdf000000, 0x5f800000, // 2^32, ±2^63, 2^64
];

// Double-precision patterns.
const D_SPECIAL: readonly bigint[] = [
  0x0000000000000000n, 0x8000000000000000n,
  0x7ff0000000000000n, 0xfff0000000000000n,
  0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff8000012345678n,
  0x7ff0000000000001n, 0x7ff4000000000000n, 0xfff0000000000005n,
  0x0000000000000001n, 0x800fffffffffffffn, 0x0008000000000000n,
  0x0010000000000000n, 0x8010000000000000n,
  0x7fefffffffffffffn, 0xffefffffffffffffn,
  0x3ff0000000000000n, 0xbff0000000000000n, 0x3fe0000000000000n, 0x3ff8000000000000n,
  0x4004000000000000n, 0xbff8000000000000n, 0xc004000000000000n,
  0x41e0000000000000n, 0xc1e0000000000000n, 0x41dfffffffc00000n, 0xc1e0000000200000n, // ±2^31, 2^31-1, -2^31-1
  0x41dfffffffe00000n, // 2^31 - 0.5
  0x41f0000000000000n, 0x41efffffffe00000n, // 2^32, 2^32-1
  0x43e0000000000000n, 0xc3e0000000000000n, 0x43dfffffffffffffn, 0x43f0000000000000n, // ±2^63, <2^63, 2^64
  0x47efffffe0000000n, 0x36a0000000000000n, // FLT_MAX as double, FLT_TRUE_MIN as double
  0x3810000000000000n, // FLT_MIN as double
];

const ALU_RR = ['add', 'sub', 'sll', 'slt', 'sltu', 'xor', 'srl', 'sra', 'or', 'and'] as const;
const ALU_RR_W = ['addw', 'subw', 'sllw', 'srlw', 'sraw'] as const;
const ALU_RI = ['addi', 'slti', 'sltiu', 'xori', 'ori', 'andi'] as const;
const MUL_OPS = ['mul', 'mulh', 'mulhsu', 'mulhu', 'mulw'] as const;
const DIV_OPS = ['div', 'divu', 'rem', 'remu'] as const;
const DIV_W_OPS = ['divw', 'divuw', 'remw', 'remuw'] as const;
const ZB_RR = [
  'add.uw', 'sh1add', 'sh2add', 'sh3add', 'sh1add.uw', 'sh2add.uw', 'sh3add.uw',
  'andn', 'orn', 'xnor', 'max', 'maxu', 'min', 'minu', 'rol', 'rolw', 'ror', 'rorw',
  'bclr', 'bext', 'binv', 'bset',
] as const;
const ZB_UNARY = [
  'clz', 'clzw', 'ctz', 'ctzw', 'cpop', 'cpopw', 'sext.b', 'sext.h', 'zext.h', 'zext.w',
  'orc.b', 'rev8',
] as const;
const ZB_SHAMT6 = ['slli.uw', 'rori', 'bclri', 'bexti', 'binvi', 'bseti'] as const;
const AMO_OPS = [
  'amoswap', 'amoadd', 'amoxor', 'amoand', 'amoor', 'amomin', 'amomax', 'amominu', 'amomaxu',
] as const;
const AQRL = ['', '', '.aq', '.rl', '.aqrl'] as const;

type FKind = 's' | 'd';
type Emit = () => string[];

/** Writable x registers: all but x0 and the reserved ones. */
const WRITABLE_X = Array.from({ length: 32 }, (_, i) => i).filter((i) => i !== 0 && !RESERVED_X.has(i));
/** Writable registers reachable by the 3-bit register fields of the compressed forms. */
const WRITABLE_XC = [9, 10, 11, 12, 13, 14, 15];

class Generator {
  private readonly r: Prng;
  private readonly fkind: FKind[] = [];
  /** Whether an lr/sc pair has run, so that a lone sc is sure to fail. */
  private scPaired = false;

  private readonly excluded: ReadonlySet<InsnClass>;

  constructor(seed: number, exclude: readonly InsnClass[] = []) {
    this.r = new Prng(seed);
    this.excluded = new Set(exclude);
    if (this.excluded.has('fp')) this.excluded = new Set([...this.excluded, 'fcsr']);
  }

  /** The weight w, or 0 when the class is left out. */
  on(cls: InsnClass, w: number): number {
    return this.excluded.has(cls) ? 0 : w;
  }

  // ---- values -------------------------------------------------------------------------

  intValue(): bigint {
    const r = this.r;
    return r.weighted<() => bigint>([
      [5, () => r.pick(INT_VALUES)],
      [3, () => r.u64()],
      [2, () => sext32(BigInt(r.u32()))],
      [2, () => u64(BigInt(r.range(-300, 300)))],
      [1, () => 1n << BigInt(r.below(64))],
      [1, () => u64((1n << BigInt(r.below(64))) - 1n)],
      [1, () => u64(BigInt(r.u32()) << BigInt(r.below(33)))],
    ])();
  }

  singleBits(): number {
    const r = this.r;
    return r.weighted<() => number>([
      [4, () => r.pick(S_SPECIAL)],
      // a normal number of moderate magnitude, so that arithmetic stays meaningful
      [6, () => ((r.below(2) << 31) | (r.range(100, 154) << 23) | r.below(1 << 23)) >>> 0],
      // a small integer, exactly
      [2, () => floatBits(r.range(-1000, 1000))],
      [1, () => r.u32()],
    ])();
  }

  doubleBits(): bigint {
    const r = this.r;
    return r.weighted<() => bigint>([
      [4, () => r.pick(D_SPECIAL)],
      [
        6,
        () =>
          (BigInt(r.below(2)) << 63n) |
          (BigInt(r.range(990, 1060)) << 52n) |
          (r.u64() & ((1n << 52n) - 1n)),
      ],
      [2, () => doubleBits(r.range(-100000, 100000) / (r.chance(0.5) ? 1 : 4))],
      // a double that is exactly a single, so fcvt.s.d is exact
      [1, () => doubleBits(new Float32Array([bitsToFloat(this.singleBits())])[0])],
      [1, () => r.u64()],
    ])();
  }

  /** An f-register bit pattern of the given kind (singles are mostly NaN-boxed). */
  fValue(kind: FKind): bigint {
    if (kind === 'd') return this.doubleBits();
    const s = BigInt(this.singleBits());
    if (this.r.chance(0.9)) return 0xffffffff00000000n | s;
    // not NaN-boxed: single-precision operations must read it as the canonical NaN
    return this.r.pick([0n, 0x7fffffff00000000n, 0xfffffffe00000000n, this.r.u64() & ~0xffffffffn]) | s;
  }

  // ---- registers ----------------------------------------------------------------------

  xw(): number {
    return this.r.chance(0.02) ? 0 : this.r.pick(WRITABLE_X);
  }
  /** A writable register other than those given. */
  xwExcept(...not: number[]): number {
    for (;;) {
      const x = this.r.pick(WRITABLE_X);
      if (!not.includes(x)) return x;
    }
  }
  xr(): number {
    // x0, sp and s0 a little less often than the others
    for (;;) {
      const x = this.r.below(32);
      if ((x === 0 || RESERVED_X.has(x)) && this.r.chance(0.6)) continue;
      return x;
    }
  }
  xcw(): number {
    return this.r.pick(WRITABLE_XC);
  }
  xcr(): number {
    return this.r.range(8, 15);
  }
  /** An f register, preferably one last written with the given kind. */
  fr(kind: FKind): number {
    for (let i = 0; i < 4; i++) {
      const f = this.r.below(32);
      if (this.fkind[f] === kind) return f;
    }
    return this.r.below(32);
  }
  fw(kind: FKind): number {
    const f = this.r.below(32);
    this.fkind[f] = kind;
    return f;
  }
  rm(): string {
    return this.r.chance(0.15) ? '' : `, ${this.r.pick(ROUNDING)}`;
  }
  imm12(): number {
    const r = this.r;
    return r.weighted<() => number>([
      [3, () => r.range(-32, 31)],
      [3, () => r.range(-2048, 2047)],
      [1, () => r.pick([0, 1, -1, 2047, -2048, 0x7ff, 0x555, -0x556])],
    ])();
  }

  // ---- instruction classes ------------------------------------------------------------

  aluRR: Emit = () => {
    const op = this.r.pick([...ALU_RR, ...ALU_RR, ...ALU_RR_W]);
    const rd = this.xw();
    // rd == rs1 often, so that the assembler finds compressible forms
    const rs1 = this.r.chance(0.35) ? rd : this.xr();
    return [`${op} x${rd}, x${rs1}, x${this.xr()}`];
  };

  aluRI: Emit = () => {
    const r = this.r;
    const rd = this.xw();
    const rs1 = r.chance(0.35) ? rd : this.xr();
    return r.weighted<Emit>([
      [6, () => [`${r.pick(ALU_RI)} x${rd}, x${rs1}, ${this.imm12()}`]],
      [2, () => [`addiw x${rd}, x${rs1}, ${this.imm12()}`]],
      [3, () => [`${r.pick(['slli', 'srli', 'srai'])} x${rd}, x${rs1}, ${r.below(64)}`]],
      [2, () => [`${r.pick(['slliw', 'srliw', 'sraiw'])} x${rd}, x${rs1}, ${r.below(32)}`]],
      [1, () => [`lui x${rd}, ${r.below(1 << 20)}`]],
      [1, () => [`auipc x${rd}, ${r.below(1 << 20)}`]],
      [1, () => [`li x${rd}, ${s64(this.intValue())}`]],
    ])();
  };

  mulDiv: Emit = () => {
    const r = this.r;
    const rd = this.xw();
    if (r.chance(0.4)) return [`${r.pick(MUL_OPS)} x${rd}, x${this.xr()}, x${this.xr()}`];
    const wide = r.chance(0.5);
    const op = r.pick(wide ? DIV_OPS : DIV_W_OPS);
    const setup = r.below(10);
    if (setup < 2) {
      // division by zero
      const rs2 = this.xwExcept();
      const rs1 = this.xr();
      return [`li x${rs2}, ${r.pick(['0', '0', '-4294967296'])}`, `${op} x${rd}, x${rs1}, x${rs2}`];
    }
    if (setup < 4) {
      // the overflowing signed division INT_MIN / -1
      const rs1 = this.xwExcept();
      const rs2 = this.xwExcept(rs1);
      const min = wide ? '-9223372036854775808' : r.pick(['-2147483648', '0x80000000', '0x1280000000']);
      return [`li x${rs1}, ${min}`, `li x${rs2}, -1`, `${op} x${rd}, x${rs1}, x${rs2}`];
    }
    return [`${op} x${rd}, x${this.xr()}, x${this.xr()}`];
  };

  bitmanip: Emit = () => {
    const r = this.r;
    const rd = this.xw();
    const rs1 = r.chance(0.2) ? rd : this.xr();
    return r.weighted<Emit>([
      [5, () => [`${r.pick(ZB_RR)} x${rd}, x${rs1}, x${this.xr()}`]],
      [4, () => [`${r.pick(ZB_UNARY)} x${rd}, x${rs1}`]],
      [3, () => [`${r.pick(ZB_SHAMT6)} x${rd}, x${rs1}, ${r.below(64)}`]],
      [1, () => [`roriw x${rd}, x${rs1}, ${r.below(32)}`]],
    ])();
  };

  /** An aligned offset from x8 (buffer + 2048) inside the buffer. */
  offS0(size: number): number {
    const r = this.r;
    if (r.chance(0.2)) return r.pick([-2048, 0, 2048 - size]);
    return Math.floor(r.range(-2048, 2047) / size) * size;
  }

  loadStore: Emit = () => {
    const r = this.r;
    const kind = r.weighted<string>([
      [3, 'load'],
      [3, 'store'],
      [this.on('fp', 1), 'fload'],
      [this.on('fp', 1), 'fstore'],
      [1, 'spload'],
      [1, 'spstore'],
      [1, 'computed'],
    ]);
    const ld = r.pick([['lb', 1], ['lbu', 1], ['lh', 2], ['lhu', 2], ['lw', 4], ['lwu', 4], ['ld', 8]] as const);
    const st = r.pick([['sb', 1], ['sh', 2], ['sw', 4], ['sd', 8]] as const);
    switch (kind) {
      case 'load':
        return [`${ld[0]} x${this.xw()}, ${this.offS0(ld[1])}(x8)`];
      case 'store':
        return [`${st[0]} x${this.xr()}, ${this.offS0(st[1])}(x8)`];
      case 'fload': {
        const d = r.chance(0.5);
        return [`${d ? 'fld' : 'flw'} f${this.fw(d ? 'd' : 's')}, ${this.offS0(d ? 8 : 4)}(x8)`];
      }
      case 'fstore': {
        const d = r.chance(0.5);
        return [`${d ? 'fsd' : 'fsw'} f${this.fr(d ? 'd' : 's')}, ${this.offS0(d ? 8 : 4)}(x8)`];
      }
      case 'spload':
        return [`${ld[0]} x${this.xw()}, ${Math.floor(r.below(2048) / ld[1]) * ld[1]}(sp)`];
      case 'spstore':
        return [`${st[0]} x${this.xr()}, ${Math.floor(r.below(2048) / st[1]) * st[1]}(sp)`];
      default: {
        // a base register computed from s0, then an access with a second offset
        const ra = this.xwExcept();
        const load = r.chance(0.5);
        const total = this.offS0(load ? ld[1] : st[1]);
        // x8 + o1 + o2 == x8 + total, aligned; o1 alone need not be
        const o1 = r.range(Math.max(-2048, total - 2047), Math.min(2047, total + 2048));
        const o2 = total - o1;
        if (load) return [`addi x${ra}, x8, ${o1}`, `${ld[0]} x${this.xw()}, ${o2}(x${ra})`];
        return [`addi x${ra}, x8, ${o1}`, `${st[0]} x${this.xr()}, ${o2}(x${ra})`];
      }
    }
  };

  atomic: Emit = () => {
    const r = this.r;
    const d = r.chance(0.5);
    const size = d ? 8 : 4;
    const sfx = d ? '.d' : '.w';
    const ra = this.xwExcept();
    const addr = `addi x${ra}, x8, ${this.offS0(size)}`;
    const which = r.below(10);
    if (which < 6) {
      return [addr, `${r.pick(AMO_OPS)}${sfx}${r.pick(AQRL)} x${this.xw()}, x${this.xr()}, (x${ra})`];
    }
    if (which < 9 || !this.scPaired) {
      // an lr/sc pair on the same address, with a few plain ALU instructions between
      this.scPaired = true;
      const lines = [addr, `lr${sfx}${r.pick(AQRL)} x${this.xwExcept(ra)}, (x${ra})`];
      for (let n = r.below(4); n > 0; n--) {
        const rd = this.xwExcept(ra);
        lines.push(`${r.pick(ALU_RR)} x${rd}, x${this.xr()}, x${this.xr()}`);
      }
      lines.push(`sc${sfx}${r.pick(AQRL)} x${this.xw()}, x${this.xr()}, (x${ra})`);
      return lines;
    }
    // a lone sc: the last sc invalidated the reservation, so this one must fail
    return [addr, `sc${sfx}${r.pick(AQRL)} x${this.xw()}, x${this.xr()}, (x${ra})`];
  };

  compressed: Emit = () => {
    const r = this.r;
    const nz6 = (): number => r.pick([r.range(-32, -1), r.range(1, 31)]);
    return r.weighted<Emit>([
      [2, () => [`c.li x${this.xwExcept()}, ${r.range(-32, 31)}`]],
      [1, () => [`c.lui x${this.xwExcept()}, ${r.chance(0.5) ? r.range(1, 31) : r.range(0xfffe0, 0xfffff)}`]],
      [2, () => [`c.addi x${this.xwExcept()}, ${nz6()}`]],
      [2, () => [`c.addiw x${this.xwExcept()}, ${r.range(-32, 31)}`]],
      [1, () => [`c.slli x${this.xwExcept()}, ${r.range(1, 63)}`]],
      [1, () => [`${r.pick(['c.srli', 'c.srai'])} x${this.xcw()}, ${r.range(1, 63)}`]],
      [1, () => [`c.andi x${this.xcw()}, ${r.range(-32, 31)}`]],
      [1, () => [`c.mv x${this.xwExcept()}, x${this.xr() || 1}`]],
      [1, () => [`c.add x${this.xwExcept()}, x${this.xr() || 1}`]],
      [3, () => [`${r.pick(['c.and', 'c.or', 'c.xor', 'c.sub', 'c.addw', 'c.subw'])} x${this.xcw()}, x${this.xcr()}`]],
      [1, () => [`c.addi4spn x${this.xcw()}, sp, ${r.range(1, 255) * 4}`]],
      [
        1,
        () => {
          // up and back down, with an access in between that stays inside the buffer
          const imm = r.range(1, 31) * 16;
          return [`c.addi16sp sp, ${imm}`, ...this.cSpMem(), `c.addi16sp sp, ${-imm}`];
        },
      ],
      [1, () => ['c.nop']],
      [3, () => this.cS0Mem()],
      [3, () => this.cSpMem()],
    ])();
  };

  /** c.lw/c.ld/c.sw/c.sd/c.fld/c.fsd relative to s0. */
  cS0Mem(): string[] {
    const r = this.r;
    const w = r.chance(0.5) ? 4 : 8;
    const off = r.below(32) * w;
    switch (r.below(this.excluded.has('fp') ? 2 : 5)) {
      case 0:
        return [`${w === 4 ? 'c.lw' : 'c.ld'} x${this.xcw()}, ${off}(x8)`];
      case 1:
        return [`${w === 4 ? 'c.sw' : 'c.sd'} x${this.xcr()}, ${off}(x8)`];
      case 2: {
        const f = r.range(8, 15);
        this.fkind[f] = 'd';
        return [`c.fld f${f}, ${r.below(32) * 8}(x8)`];
      }
      case 3:
        return [`c.fsd f${r.range(8, 15)}, ${r.below(32) * 8}(x8)`];
      default:
        return [`${w === 4 ? 'c.lw' : 'c.ld'} x${this.xcw()}, ${off}(x8)`];
    }
  }

  /** c.lwsp/c.ldsp/c.swsp/c.sdsp/c.fldsp/c.fsdsp. */
  cSpMem(): string[] {
    const r = this.r;
    const w = r.chance(0.5) ? 4 : 8;
    const off = r.below(64) * w;
    const doff = r.below(64) * 8;
    switch (r.below(this.excluded.has('fp') ? 2 : 4)) {
      case 0:
        return [`${w === 4 ? 'c.lwsp' : 'c.ldsp'} x${this.xwExcept()}, ${off}(sp)`];
      case 1:
        return [`${w === 4 ? 'c.swsp' : 'c.sdsp'} x${this.xr()}, ${off}(sp)`];
      case 2:
        return [`c.fldsp f${this.fw('d')}, ${doff}(sp)`];
      default:
        return [`c.fsdsp f${this.fr('d')}, ${doff}(sp)`];
    }
  }

  fpArith: Emit = () => {
    const r = this.r;
    const k: FKind = r.chance(0.5) ? 's' : 'd';
    const a = (): number => this.fr(k);
    return r.weighted<Emit>([
      [6, () => [`${r.pick(['fadd', 'fsub', 'fmul', 'fdiv'])}.${k} f${this.fw(k)}, f${a()}, f${a()}${this.rm()}`]],
      [2, () => [`fsqrt.${k} f${this.fw(k)}, f${a()}${this.rm()}`]],
      [
        4,
        () => [`${r.pick(['fmadd', 'fmsub', 'fnmadd', 'fnmsub'])}.${k} f${this.fw(k)}, f${a()}, f${a()}, f${a()}${this.rm()}`],
      ],
      [3, () => [`${r.pick(['fmin', 'fmax'])}.${k} f${this.fw(k)}, f${a()}, f${a()}`]],
      [3, () => [`${r.pick(['fsgnj', 'fsgnjn', 'fsgnjx'])}.${k} f${this.fw(k)}, f${a()}, f${a()}`]],
      [3, () => [`${r.pick(['feq', 'flt', 'fle'])}.${k} x${this.xw()}, f${a()}, f${a()}`]],
      [2, () => [`fclass.${k} x${this.xw()}, f${a()}`]],
    ])();
  };

  fpConvert: Emit = () => {
    const r = this.r;
    const k: FKind = r.chance(0.5) ? 's' : 'd';
    return r.weighted<Emit>([
      [4, () => [`fcvt.${r.pick(['w', 'wu', 'l', 'lu'])}.${k} x${this.xw()}, f${this.fr(k)}${this.rm()}`]],
      [
        3,
        () => {
          const src = r.pick(['w', 'wu', 'l', 'lu']);
          // int -> double is exact for 32-bit sources, and the assembler takes no rounding mode
          const rm = k === 'd' && (src === 'w' || src === 'wu') ? '' : this.rm();
          return [`fcvt.${k}.${src} f${this.fw(k)}, x${this.xr()}${rm}`];
        },
      ],
      [2, () => [`fcvt.s.d f${this.fw('s')}, f${this.fr('d')}${this.rm()}`]],
      [2, () => [`fcvt.d.s f${this.fw('d')}, f${this.fr('s')}`]],
      [1, () => [`fmv.x.w x${this.xw()}, f${this.fr('s')}`]],
      [1, () => [`fmv.x.d x${this.xw()}, f${this.fr('d')}`]],
      [1, () => [`fmv.w.x f${this.fw('s')}, x${this.xr()}`]],
      [1, () => [`fmv.d.x f${this.fw('d')}, x${this.xr()}`]],
      [
        3,
        () => {
          // load a special value and convert it right away
          const t = this.xwExcept();
          const f = this.fw(k);
          const set =
            k === 'd'
              ? [`li x${t}, ${s64(this.doubleBits())}`, `fmv.d.x f${f}, x${t}`]
              : [`li x${t}, ${s64(sext32(BigInt(this.singleBits())))}`, `fmv.w.x f${f}, x${t}`];
          return [...set, `fcvt.${r.pick(['w', 'wu', 'l', 'lu'])}.${k} x${this.xw()}, f${f}${this.rm()}`];
        },
      ],
    ])();
  };

  fpSpecial: Emit = () => {
    // put a special value into an f register
    const t = this.xwExcept();
    if (this.r.chance(0.5)) return [`li x${t}, ${s64(this.doubleBits())}`, `fmv.d.x f${this.fw('d')}, x${t}`];
    return [`li x${t}, ${s64(sext32(BigInt(this.singleBits())))}`, `fmv.w.x f${this.fw('s')}, x${t}`];
  };

  fpCsr: Emit = () => {
    const r = this.r;
    return r.weighted<Emit>([
      [2, () => [`frflags x${this.xw()}`]],
      [2, () => [`fsflags x${this.xw()}, x${this.xr()}`]],
      [2, () => [`fsflagsi x${this.xw()}, ${r.below(32)}`]],
      [1, () => [`${r.pick(['csrrsi', 'csrrci'])} x${this.xw()}, fflags, ${r.below(32)}`]],
      [2, () => [`fsrmi x${this.xw()}, ${r.below(5)}`]],
      [1, () => [`frrm x${this.xw()}`]],
      [2, () => [`frcsr x${this.xw()}`]],
      [1, () => [`csrrwi x${this.xw()}, fcsr, ${r.below(32)}`]], // frm becomes 0
    ])();
  };

  misc: Emit = () => this.r.pick([['fence'], ['fence rw, rw'], ['fence.i'], ['nop']]);

  /** A unit with no label: what may sit inside a skipped block. */
  basic(): string[] {
    return this.r.weighted<Emit>([
      [this.on('alu', 10), this.aluRR],
      [this.on('alu', 10), this.aluRI],
      [this.on('muldiv', 5), this.mulDiv],
      [this.on('zb', 6), this.bitmanip],
      [this.on('mem', 8), this.loadStore],
      [this.on('rvc', 6), this.compressed],
      [this.on('fp', 7), this.fpArith],
      [this.on('fp', 5), this.fpConvert],
      [this.on('fp', 1), this.fpSpecial],
      [1, this.misc],
    ])();
  }

  block(max: number): string[] {
    const lines: string[] = [];
    for (let n = this.r.range(1, max); n > 0; n--) lines.push(...this.basic());
    return lines;
  }

  branch: Emit = () => {
    const r = this.r;
    const kind = r.below(12);
    if (kind < 6) {
      const op = r.pick(['beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu']);
      const a = this.xr();
      const b = r.chance(0.1) ? a : this.xr();
      return [`${op} x${a}, x${b}, 1f`, ...this.block(5), '1:'];
    }
    if (kind < 8) return [`${r.pick(['c.beqz', 'c.bnez'])} x${this.xcr()}, 1f`, ...this.block(3), '1:'];
    if (kind < 9) return [r.chance(0.5) ? 'c.j 1f' : `jal x${this.xw()}, 1f`, ...this.block(3), '1:'];
    // an indirect jump to a label loaded with lla (bit 0 set: jalr must clear it)
    const t = this.xwExcept();
    const jump = r.pick([
      [`jalr x${this.xw()}, 0(x${t})`],
      [`addi x${t}, x${t}, 1`, `jalr x${this.xw()}, 0(x${t})`],
      [`jalr x${this.xw()}, 1(x${t})`],
      [`c.jr x${t}`],
      [`c.jalr x${t}`],
    ]);
    return [`lla x${t}, 1f`, ...jump, ...this.block(3), '1:'];
  };

  unit(): Unit {
    const lines = this.r.weighted<Emit>([
      [80, () => this.basic()],
      [this.on('amo', 5), this.atomic],
      [this.on('fcsr', 3), this.fpCsr],
      [this.on('branch', 10), this.branch],
    ])();
    return { lines };
  }

  program(seed: number, count: number, name: string): Program {
    const r = this.r;
    const x = Array.from({ length: 32 }, (_, i) => (i === 0 ? 0n : this.intValue()));
    const f = Array.from({ length: 32 }, (_, i) => {
      const kind: FKind = r.chance(0.5) ? 's' : 'd';
      this.fkind[i] = kind;
      return this.fValue(kind);
    });
    // frm 0..4, flags random half the time
    const fcsr = (r.below(5) << 5) | (r.chance(0.5) ? r.below(32) : 0);
    const mem = Array.from({ length: BUF_SIZE / 8 }, () =>
      r.weighted<() => bigint>([
        [4, () => r.u64()],
        [2, () => this.intValue()],
        [1, () => this.fValue('d')],
        [1, () => (this.fValue('s') & 0xffffffffn) | (BigInt(this.singleBits()) << 32n)],
      ])(),
    );
    const units: Unit[] = [];
    for (let i = 0; i < count; i++) units.push(this.unit());
    return { seed, name, x, f, fcsr, mem, units };
  }
}

function floatBits(v: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, v);
  return b.getUint32(0);
}

function bitsToFloat(bits: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, bits);
  return b.getFloat32(0);
}

function doubleBits(v: number): bigint {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, v);
  return b.getBigUint64(0);
}

/** The program of a seed: the same seed and count always give the same program. */
export function generate(seed: number, opts: GenOptions = {}): Program {
  const count = opts.count ?? 300;
  const ex = [...new Set(opts.exclude ?? [])].sort();
  const name = `s${seed}-n${count}${ex.length ? `-no-${ex.join('-')}` : ''}`;
  return new Generator(seed, opts.exclude).program(seed, count, name);
}

/** The same program cut to its first n units. */
export function prefix(p: Program, n: number): Program {
  return { ...p, name: `${p.name}-p${n}`, units: p.units.slice(0, n) };
}
