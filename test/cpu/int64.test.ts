/**
 * services/cpu/hart/int64.ts against a BigInt model written straight from the ISA
 * manual's definitions: every M multiply, shift, Zba/Zbb/Zbs and Zicond op on edge values
 * (0, ±1, the 32- and 64-bit boundaries, single bits) and random ones, rd aliasing a source.
 * The ISA programs and the differential tests check the same ops against QEMU in a guest.
 */
import test from 'ava';
import { Op } from '../../services/cpu/hart/decode.js';
import { bitmanip, divide, mul, mulh, shift } from '../../services/cpu/hart/int64.js';

const s64 = (v: bigint) => BigInt.asIntN(64, v);
const u64 = (v: bigint) => BigInt.asUintN(64, v);
const u32 = (v: bigint) => BigInt.asUintN(32, v);
const s32 = (v: bigint) => BigInt.asIntN(32, v);

function popcnt(v: bigint): bigint {
  let n = 0n;
  for (; v; v >>= 1n) n += v & 1n;
  return n;
}
function clz(v: bigint, bits: bigint): bigint {
  let n = 0n;
  for (let i = bits - 1n; i >= 0n && ((v >> i) & 1n) === 0n; i--) n++;
  return n;
}
function ctz(v: bigint, bits: bigint): bigint {
  let n = 0n;
  for (let i = 0n; i < bits && ((v >> i) & 1n) === 0n; i++) n++;
  return n;
}
function rotr(v: bigint, s: bigint, bits: bigint): bigint {
  const m = (1n << bits) - 1n;
  v &= m;
  s %= bits;
  return ((v >> s) | (v << ((bits - s) % bits))) & m;
}

/** The manual's definition of op on (a, b, imm); a and b are signed 64-bit. */
function model(op: number, a: bigint, b: bigint, imm: number): bigint {
  const ua = u64(a);
  const ub = u64(b);
  const sh = BigInt(imm & 63);
  switch (op) {
    case Op.MUL: return s64(a * b);
    case Op.MULH: return s64((a * b) >> 64n);
    case Op.MULHU: return s64((ua * ub) >> 64n);
    case Op.MULHSU: return s64((a * ub) >> 64n);
    case Op.SLL: return s64(a << (ub & 63n));
    case Op.SRL: return s64(ua >> (ub & 63n));
    case Op.SRA: return a >> (ub & 63n);
    case Op.SH1ADD: return s64((a << 1n) + b);
    case Op.SH2ADD: return s64((a << 2n) + b);
    case Op.SH3ADD: return s64((a << 3n) + b);
    case Op.ADD_UW: return s64(u32(a) + b);
    case Op.SH1ADD_UW: return s64((u32(a) << 1n) + b);
    case Op.SH2ADD_UW: return s64((u32(a) << 2n) + b);
    case Op.SH3ADD_UW: return s64((u32(a) << 3n) + b);
    case Op.SLLI_UW: return s64(u32(a) << sh);
    case Op.ANDN: return a & ~b;
    case Op.ORN: return a | ~b;
    case Op.XNOR: return ~(a ^ b);
    case Op.CLZ: return clz(ua, 64n);
    case Op.CLZW: return clz(u32(a), 32n);
    case Op.CTZ: return ctz(ua, 64n);
    case Op.CTZW: return ctz(u32(a), 32n);
    case Op.CPOP: return popcnt(ua);
    case Op.CPOPW: return popcnt(u32(a));
    case Op.MAX: return a > b ? a : b;
    case Op.MIN: return a < b ? a : b;
    case Op.MAXU: return ua > ub ? a : b;
    case Op.MINU: return ua < ub ? a : b;
    case Op.SEXT_B: return BigInt.asIntN(8, a);
    case Op.SEXT_H: return BigInt.asIntN(16, a);
    case Op.ZEXT_H: return BigInt.asUintN(16, a);
    case Op.ROL: return s64(rotr(ua, (64n - (ub & 63n)) % 64n, 64n));
    case Op.ROR: return s64(rotr(ua, ub & 63n, 64n));
    case Op.RORI: return s64(rotr(ua, sh, 64n));
    case Op.ROLW: return s32(rotr(u32(a), (32n - (ub & 31n)) % 32n, 32n));
    case Op.RORW: return s32(rotr(u32(a), ub & 31n, 32n));
    case Op.RORIW: return s32(rotr(u32(a), BigInt(imm & 31), 32n));
    case Op.ORC_B: {
      let r = 0n;
      for (let i = 0n; i < 64n; i += 8n) if ((ua >> i) & 0xffn) r |= 0xffn << i;
      return s64(r);
    }
    case Op.REV8: {
      let r = 0n;
      for (let i = 0n; i < 64n; i += 8n) r = (r << 8n) | ((ua >> i) & 0xffn);
      return s64(r);
    }
    case Op.BCLR: return s64(ua & ~(1n << (ub & 63n)));
    case Op.BCLRI: return s64(ua & ~(1n << sh));
    case Op.BEXT: return (ua >> (ub & 63n)) & 1n;
    case Op.BEXTI: return (ua >> sh) & 1n;
    case Op.BINV: return s64(ua ^ (1n << (ub & 63n)));
    case Op.BINVI: return s64(ua ^ (1n << sh));
    case Op.BSET: return s64(ua | (1n << (ub & 63n)));
    case Op.BSETI: return s64(ua | (1n << sh));
    case Op.CZERO_EQZ: return b === 0n ? 0n : a;
    case Op.CZERO_NEZ: return b !== 0n ? 0n : a;
    case Op.DIV: return b === 0n ? -1n : a === -(1n << 63n) && b === -1n ? a : a / b;
    case Op.DIVU: return ub === 0n ? -1n : s64(ua / ub);
    case Op.REM: return b === 0n ? a : a === -(1n << 63n) && b === -1n ? 0n : a % b;
    case Op.REMU: return ub === 0n ? a : s64(ua % ub);
    case Op.DIVW: {
      const x = s32(a);
      const y = s32(b);
      return y === 0n ? -1n : x === -(1n << 31n) && y === -1n ? x : s32(x / y);
    }
    case Op.DIVUW: return u32(b) === 0n ? -1n : s32(u32(a) / u32(b));
    case Op.REMW: {
      const x = s32(a);
      const y = s32(b);
      return y === 0n ? x : x === -(1n << 31n) && y === -1n ? 0n : x % y;
    }
    case Op.REMUW: return u32(b) === 0n ? s32(a) : s32(u32(a) % u32(b));
    default: throw new Error(`no model for op ${op}`);
  }
}

const ZB_OPS = [
  Op.SH1ADD, Op.SH2ADD, Op.SH3ADD, Op.ADD_UW, Op.SH1ADD_UW, Op.SH2ADD_UW, Op.SH3ADD_UW, Op.SLLI_UW,
  Op.ANDN, Op.ORN, Op.XNOR, Op.CLZ, Op.CLZW, Op.CTZ, Op.CTZW, Op.CPOP, Op.CPOPW, Op.MAX, Op.MAXU, Op.MIN, Op.MINU,
  Op.SEXT_B, Op.SEXT_H, Op.ZEXT_H, Op.ROL, Op.ROLW, Op.ROR, Op.RORI, Op.RORIW, Op.RORW, Op.ORC_B, Op.REV8,
  Op.BCLR, Op.BCLRI, Op.BEXT, Op.BEXTI, Op.BINV, Op.BINVI, Op.BSET, Op.BSETI, Op.CZERO_EQZ, Op.CZERO_NEZ,
];

function values(): bigint[] {
  const v = [0n, 1n, -1n, 2n, -2n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, -0x80000000n,
    0x7fffffffffffffffn, -0x8000000000000000n, 0x0123456789abcdefn, -0x0123456789abcdefn, 0xff00ff00ff00ff00n,
    // around 2^53, where divide() leaves doubles for BigInt
    1000000007n, -123456789012345n, 0x1fffffffffffffn, -0x20000000000000n, 0x20000000000000n, -0x20000000000001n, 3n, -7n];
  for (let i = 0n; i < 64n; i += 7n) v.push(s64(1n << i), s64(~(1n << i)));
  let seed = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 40; i++) {
    seed = u64(seed * 6364136223846793005n + 1442695040888963407n);
    v.push(s64(seed));
  }
  return v.map(s64);
}

const regs = new BigInt64Array(34);
const r32 = new Int32Array(regs.buffer);

function check(t: import('ava').ExecutionContext, name: string, op: number, run: (rd: number, rs1: number, rs2: number) => void, imm = 0): void {
  const vs = values();
  let bad = 0;
  for (const a of vs) {
    for (const b of vs) {
      const want = model(op, a, b, imm);
      // distinct registers, then rd = rs1 and rd = rs2
      for (const [rd, rs1, rs2] of [[5, 6, 7], [6, 6, 7], [7, 6, 7]] as const) {
        regs[6] = a;
        regs[7] = b;
        run(rd, rs1, rs2);
        if (regs[rd] !== want && bad++ < 5) {
          t.fail(`${name} a=${u64(a).toString(16)} b=${u64(b).toString(16)} imm=${imm} rd=x${rd}: got ${u64(regs[rd]!).toString(16)}, want ${u64(want).toString(16)}`);
        }
      }
    }
  }
  if (bad === 0) t.pass();
}

for (const [name, op] of [['mul', Op.MUL]] as const) {
  test(`${name} matches the manual`, (t) => check(t, name, op, (rd, a, b) => mul(r32, rd, a, b)));
}
for (const [name, op] of [['mulh', Op.MULH], ['mulhu', Op.MULHU], ['mulhsu', Op.MULHSU]] as const) {
  test(`${name} matches the manual`, (t) => check(t, name, op, (rd, a, b) => mulh(r32, op, rd, a, b)));
}
for (const [name, op] of [['sll', Op.SLL], ['srl', Op.SRL], ['sra', Op.SRA]] as const) {
  test(`${name} matches the manual`, (t) => check(t, name, op, (rd, a, b) => shift(r32, op, rd, a, r32[2 * b]! & 63)));
}
const out = new Int32Array(2);
for (const [name, op] of [['div', Op.DIV], ['divu', Op.DIVU], ['rem', Op.REM], ['remu', Op.REMU],
  ['divw', Op.DIVW], ['divuw', Op.DIVUW], ['remw', Op.REMW], ['remuw', Op.REMUW]] as const) {
  test(`${name} matches the manual`, (t) => check(t, name, op, (rd, a, b) => {
    divide(out, op, r32[2 * a]!, r32[2 * a + 1]!, r32[2 * b]!, r32[2 * b + 1]!);
    r32[2 * rd] = out[0]!;
    r32[2 * rd + 1] = out[1]!;
  }));
}
test('Zba, Zbb, Zbs and Zicond match the manual', (t) => {
  for (const op of ZB_OPS) {
    for (const imm of [0, 1, 13, 31, 32, 33, 63]) {
      check(t, `op ${op}`, op, (rd, a, b) => t.true(bitmanip(r32, op, rd, a, b, imm)), imm);
    }
  }
});
test('bitmanip refuses other ops', (t) => {
  t.false(bitmanip(r32, Op.ADD, 5, 6, 7, 0));
});

