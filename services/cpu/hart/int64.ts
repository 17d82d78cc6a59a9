/**
 * 64-bit integer operations on the register file's 32-bit halves, for the M and Zb*
 * instructions the hot loop and translated blocks used to do with BigInt. A BigInt result
 * is a heap allocation (and BigInt multiply, shift and asUintN are runtime calls); these
 * are plain int32/double arithmetic that V8 compiles to a few machine instructions.
 *
 * Registers are int32 pairs in `r` (the hart's x32 view): register n is r[2n] (low half)
 * and r[2n+1] (high half). Destination 32 is the write sink for x0 (decode.ts).
 * Every function reads its sources before writing, so rd may equal rs1 or rs2.
 */
import { Op } from './decode.js';

const TWO32 = 4294967296;

/**
 * The high 32 bits of the unsigned 64-bit product of int32s a and b (as unsigned). The
 * double product is within 2^11 of the exact one and the low word (imul) is exact, so
 * (product - low) / 2^32 is within 2^-20 of an integer: rounding gives it exactly.
 */
export function umulhi(a: number, b: number): number {
  return Math.round(((a >>> 0) * (b >>> 0) - (Math.imul(a, b) >>> 0)) / TWO32);
}

/** MUL: the low 64 bits of rs1 * rs2. */
export function mul(r: Int32Array, rd: number, rs1: number, rs2: number): void {
  const a0 = r[2 * rs1]!;
  const a1 = r[2 * rs1 + 1]!;
  const b0 = r[2 * rs2]!;
  const b1 = r[2 * rs2 + 1]!;
  r[2 * rd + 1] = (umulhi(a0, b0) + Math.imul(a1, b0) + Math.imul(a0, b1)) | 0;
  r[2 * rd] = Math.imul(a0, b0);
}

/**
 * MULHU, MULH, MULHSU of (a1:a0) and (b1:b0), int32 halves: the high 64 bits of the
 * 128-bit product into out[0] (low half) and out[1]. The unsigned product by 32-bit
 * columns (each column sum < 2^34, exact as a double), then the signed forms by the
 * usual correction: for a signed operand that is negative, subtract the other operand
 * from the high half (mod 2^64).
 */
export function mulh64(out: Int32Array, op: number, a0: number, a1: number, b0: number, b1: number): void {
  const c1 = umulhi(a0, b0) + (Math.imul(a0, b1) >>> 0) + (Math.imul(a1, b0) >>> 0);
  const c2 = umulhi(a0, b1) + umulhi(a1, b0) + (Math.imul(a1, b1) >>> 0) + Math.floor(c1 / TWO32);
  let lo = c2 | 0;
  let hi = (umulhi(a1, b1) + Math.floor(c2 / TWO32)) | 0;
  if (op !== Op.MULHU && a1 < 0) {
    // subtract b
    const l = (lo >>> 0) - (b0 >>> 0);
    hi = (hi - b1 - (l < 0 ? 1 : 0)) | 0;
    lo = l | 0;
  }
  if (op === Op.MULH && b1 < 0) {
    const l = (lo >>> 0) - (a0 >>> 0);
    hi = (hi - a1 - (l < 0 ? 1 : 0)) | 0;
    lo = l | 0;
  }
  out[0] = lo;
  out[1] = hi;
}

/** Writes the 64-bit integer v (|v| < 2^53) as int32 halves into out. */
function setHalves(out: Int32Array, v: number): void {
  out[0] = v | 0;
  out[1] = Math.floor(v / TWO32) | 0;
}

/**
 * DIV, DIVU, REM, REMU and their W forms on int32 halves, into out[0] (low) and out[1],
 * with the M extension's results for division by zero (quotient all ones, remainder the
 * dividend) and signed overflow (quotient the dividend, remainder 0). Operands that fit
 * in 53 bits (nearly all: times, sizes, counters) divide as doubles: `%` on doubles is
 * exact, and (a - a % b) / b is then an exact integer. Wider ones go through BigInt.
 */
export function divide(out: Int32Array, op: number, a0: number, a1: number, b0: number, b1: number): void {
  switch (op) {
    case Op.DIVW: case Op.REMW: {
      let v: number;
      if (b0 === 0) v = op === Op.DIVW ? -1 : a0;
      else if (a0 === -2147483648 && b0 === -1) v = op === Op.DIVW ? a0 : 0;
      else v = op === Op.DIVW ? (a0 / b0) | 0 : (a0 % b0) | 0;
      out[0] = v;
      out[1] = v >> 31;
      return;
    }
    case Op.DIVUW: case Op.REMUW: {
      const a = a0 >>> 0;
      const b = b0 >>> 0;
      const v = b === 0 ? (op === Op.DIVUW ? -1 : a0) : (op === Op.DIVUW ? Math.floor(a / b) | 0 : (a % b) | 0);
      out[0] = v;
      out[1] = v >> 31;
      return;
    }
    case Op.DIVU: case Op.REMU: {
      if (b0 === 0 && b1 === 0) {
        if (op === Op.DIVU) { out[0] = -1; out[1] = -1; } else { out[0] = a0; out[1] = a1; }
        return;
      }
      if (a1 >>> 0 < 0x200000 && b1 >>> 0 < 0x200000) {
        const a = (a1 >>> 0) * TWO32 + (a0 >>> 0);
        const b = (b1 >>> 0) * TWO32 + (b0 >>> 0);
        const r = a % b;
        setHalves(out, op === Op.DIVU ? (a - r) / b : r);
        return;
      }
      const a = (BigInt(a1 >>> 0) << 32n) | BigInt(a0 >>> 0);
      const b = (BigInt(b1 >>> 0) << 32n) | BigInt(b0 >>> 0);
      const v = op === Op.DIVU ? a / b : a % b;
      out[0] = Number(BigInt.asIntN(32, v));
      out[1] = Number(BigInt.asIntN(32, v >> 32n));
      return;
    }
    default: { // DIV, REM
      if (b0 === 0 && b1 === 0) {
        if (op === Op.DIV) { out[0] = -1; out[1] = -1; } else { out[0] = a0; out[1] = a1; }
        return;
      }
      if (a1 >= -0x200000 && a1 < 0x200000 && b1 >= -0x200000 && b1 < 0x200000) {
        // (no overflow here: the dividend is not -2^63)
        const a = a1 * TWO32 + (a0 >>> 0);
        const b = b1 * TWO32 + (b0 >>> 0);
        const r = a % b;
        setHalves(out, op === Op.DIV ? (a - r) / b : r);
        return;
      }
      const a = (BigInt(a1) << 32n) | BigInt(a0 >>> 0);
      const b = (BigInt(b1) << 32n) | BigInt(b0 >>> 0);
      let v: bigint;
      if (b === -1n) v = op === Op.DIV ? BigInt.asIntN(64, -a) : 0n;
      else v = op === Op.DIV ? a / b : a % b;
      out[0] = Number(BigInt.asIntN(32, v));
      out[1] = Number(BigInt.asIntN(32, v >> 32n));
    }
  }
}

const MH = new Int32Array(2);

/** MULHU, MULH, MULHSU on registers (mulh64). */
export function mulh(r: Int32Array, op: number, rd: number, rs1: number, rs2: number): void {
  mulh64(MH, op, r[2 * rs1]!, r[2 * rs1 + 1]!, r[2 * rs2]!, r[2 * rs2 + 1]!);
  r[2 * rd] = MH[0]!;
  r[2 * rd + 1] = MH[1]!;
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function ctz32(v: number): number {
  return v === 0 ? 32 : 31 - Math.clz32(v & -v);
}

/** Each byte 0xff if it was non-zero, else 0 (orc.b on one half). */
function orcb32(v: number): number {
  let out = 0;
  if (v & 0xff) out |= 0xff;
  if (v & 0xff00) out |= 0xff00;
  if (v & 0xff0000) out |= 0xff0000;
  if (v & 0xff000000) out |= 0xff000000;
  return out | 0;
}

function bswap32(v: number): number {
  return ((v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) | 0;
}

/** a < b as signed 64-bit values given as halves (unsigned when `u`). */
function less(ah: number, al: number, bh: number, bl: number, u: boolean): boolean {
  if (ah !== bh) return u ? ah >>> 0 < bh >>> 0 : ah < bh;
  return al >>> 0 < bl >>> 0;
}

/**
 * Zba, Zbb, Zbs and Zicond instructions. `imm` is the decoded immediate (shift amounts
 * and bit indices for the I forms). Returns false for an op that is not one of these.
 */
export function bitmanip(r: Int32Array, op: number, rd: number, rs1: number, rs2: number, imm: number): boolean {
  const al = r[2 * rs1]!;
  const ah = r[2 * rs1 + 1]!;
  const bl = r[2 * rs2]!;
  const bh = r[2 * rs2 + 1]!;
  let lo: number;
  let hi: number;
  switch (op) {
    case Op.SH1ADD: case Op.SH2ADD: case Op.SH3ADD:
    case Op.ADD_UW: case Op.SH1ADD_UW: case Op.SH2ADD_UW: case Op.SH3ADD_UW: {
      const uw = op >= Op.ADD_UW;
      const s = uw ? op - Op.ADD_UW : op - Op.SH1ADD + 1;
      // (a << s) + b, with a zero-extended from 32 bits for the .uw forms
      const h = uw ? 0 : ah;
      const sl = s === 0 ? al >>> 0 : (al << s) >>> 0;
      const sh = s === 0 ? h : (h << s) | (al >>> (32 - s));
      const sum = sl + (bl >>> 0);
      lo = sum | 0;
      hi = (sh + bh + (sum >= TWO32 ? 1 : 0)) | 0;
      break;
    }
    case Op.SLLI_UW: {
      const s = imm & 63;
      if (s === 0) { lo = al; hi = 0; }
      else if (s < 32) { lo = al << s; hi = al >>> (32 - s); }
      else { lo = 0; hi = al << (s - 32); }
      break;
    }
    case Op.ANDN: lo = al & ~bl; hi = ah & ~bh; break;
    case Op.ORN: lo = al | ~bl; hi = ah | ~bh; break;
    case Op.XNOR: lo = ~(al ^ bl); hi = ~(ah ^ bh); break;
    case Op.CLZ: lo = ah !== 0 ? Math.clz32(ah) : 32 + Math.clz32(al); hi = 0; break;
    case Op.CLZW: lo = Math.clz32(al); hi = 0; break;
    case Op.CTZ: lo = al !== 0 ? ctz32(al) : 32 + ctz32(ah); hi = 0; break;
    case Op.CTZW: lo = ctz32(al); hi = 0; break;
    case Op.CPOP: lo = popcount32(al) + popcount32(ah); hi = 0; break;
    case Op.CPOPW: lo = popcount32(al); hi = 0; break;
    case Op.MAX: case Op.MIN: case Op.MAXU: case Op.MINU: {
      const aLess = less(ah, al, bh, bl, op === Op.MAXU || op === Op.MINU);
      const takeA = op === Op.MAX || op === Op.MAXU ? !aLess : aLess;
      lo = takeA ? al : bl;
      hi = takeA ? ah : bh;
      break;
    }
    case Op.SEXT_B: lo = (al << 24) >> 24; hi = lo >> 31; break;
    case Op.SEXT_H: lo = (al << 16) >> 16; hi = lo >> 31; break;
    case Op.ZEXT_H: lo = al & 0xffff; hi = 0; break;
    case Op.ROL: case Op.ROR: case Op.RORI: {
      let s = (op === Op.RORI ? imm : bl) & 63;
      if (op === Op.ROL) s = (64 - s) & 63;
      // rotate right by s
      let l = al;
      let h = ah;
      if (s >= 32) {
        l = ah;
        h = al;
        s -= 32;
      }
      if (s === 0) { lo = l; hi = h; }
      else { lo = (l >>> s) | (h << (32 - s)); hi = (h >>> s) | (l << (32 - s)); }
      break;
    }
    case Op.ROLW: case Op.RORW: case Op.RORIW: {
      let s = (op === Op.RORIW ? imm : bl) & 31;
      if (op === Op.ROLW) s = (32 - s) & 31;
      lo = s === 0 ? al : (al >>> s) | (al << (32 - s));
      hi = lo >> 31;
      break;
    }
    case Op.ORC_B: lo = orcb32(al); hi = orcb32(ah); break;
    case Op.REV8: lo = bswap32(ah); hi = bswap32(al); break;
    case Op.BCLR: case Op.BCLRI: case Op.BEXT: case Op.BEXTI:
    case Op.BINV: case Op.BINVI: case Op.BSET: case Op.BSETI: {
      const i = (op === Op.BCLRI || op === Op.BEXTI || op === Op.BINVI || op === Op.BSETI ? imm : bl) & 63;
      const ml = i < 32 ? 1 << i : 0;
      const mh = i >= 32 ? 1 << (i - 32) : 0;
      if (op === Op.BCLR || op === Op.BCLRI) { lo = al & ~ml; hi = ah & ~mh; }
      else if (op === Op.BINV || op === Op.BINVI) { lo = al ^ ml; hi = ah ^ mh; }
      else if (op === Op.BSET || op === Op.BSETI) { lo = al | ml; hi = ah | mh; }
      else { lo = (al & ml) !== 0 || (ah & mh) !== 0 ? 1 : 0; hi = 0; }
      break;
    }
    case Op.CZERO_EQZ: { const z = bl === 0 && bh === 0; lo = z ? 0 : al; hi = z ? 0 : ah; break; }
    case Op.CZERO_NEZ: { const z = bl === 0 && bh === 0; lo = z ? al : 0; hi = z ? ah : 0; break; }
    default:
      return false;
  }
  r[2 * rd] = lo;
  r[2 * rd + 1] = hi;
  return true;
}

/** SLL, SRL, SRA (and their immediate forms): rs1 shifted by s (0..63). */
export function shift(r: Int32Array, op: number, rd: number, rs1: number, s: number): void {
  const l = r[2 * rs1]!;
  const h = r[2 * rs1 + 1]!;
  let lo: number;
  let hi: number;
  if (s === 0) {
    lo = l;
    hi = h;
  } else if (op === Op.SLL || op === Op.SLLI) {
    if (s < 32) { lo = l << s; hi = (h << s) | (l >>> (32 - s)); }
    else { lo = 0; hi = l << (s - 32); }
  } else if (op === Op.SRL || op === Op.SRLI) {
    if (s < 32) { lo = (l >>> s) | (h << (32 - s)); hi = h >>> s; }
    else { lo = h >>> (s - 32); hi = 0; }
  } else {
    if (s < 32) { lo = (l >>> s) | (h << (32 - s)); hi = h >> s; }
    else { lo = h >> (s - 32); hi = h >> 31; }
  }
  r[2 * rd] = lo | 0;
  r[2 * rd + 1] = hi | 0;
}
