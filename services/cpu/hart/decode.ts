/**
 * RISC-V instruction decoding (RV64GC, Zba/Zbb/Zbs, Zicond, Zicbom/Zicboz, privileged).
 *
 * An instruction decodes to an `Op` and its fields, packed in three 32-bit words so a
 * decoded page is three Int32Arrays (see decode-cache.ts):
 *   a:   op (bits 0..9) | rd << 10 | rs1 << 16 | rs2 << 22 | (length is 4) << 28
 *   imm: the immediate, sign-extended (CSR ops: the CSR number; shifts: the shamt)
 *   b:   rs3 | rm << 5 | raw << 8 for what needs it (compressed instructions keep the
 *        low 16 bits of the original word in `raw` for tval)
 * Compressed instructions expand to the base ops they stand for. A write to x0 goes to
 * the sink register 32, so the executor never tests rd for zero. Op 0 (`ILLEGAL`) means
 * the word is not an instruction we implement.
 */

export const enum Op {
  ILLEGAL = 0,
  LUI, AUIPC, JAL, JALR,
  BEQ, BNE, BLT, BGE, BLTU, BGEU,
  LB, LH, LW, LD, LBU, LHU, LWU,
  SB, SH, SW, SD,
  ADDI, SLTI, SLTIU, XORI, ORI, ANDI, SLLI, SRLI, SRAI,
  ADD, SUB, SLL, SLT, SLTU, XOR, SRL, SRA, OR, AND,
  ADDIW, SLLIW, SRLIW, SRAIW, ADDW, SUBW, SLLW, SRLW, SRAW,
  FENCE, FENCE_I, ECALL, EBREAK, MRET, SRET, WFI, SFENCE_VMA,
  CSRRW, CSRRS, CSRRC, CSRRWI, CSRRSI, CSRRCI,
  // M
  MUL, MULH, MULHSU, MULHU, DIV, DIVU, REM, REMU, MULW, DIVW, DIVUW, REMW, REMUW,
  // A (aq/rl are irrelevant here: every access is sequentially consistent)
  LR_W, SC_W, AMOSWAP_W, AMOADD_W, AMOXOR_W, AMOAND_W, AMOOR_W, AMOMIN_W, AMOMAX_W, AMOMINU_W, AMOMAXU_W,
  LR_D, SC_D, AMOSWAP_D, AMOADD_D, AMOXOR_D, AMOAND_D, AMOOR_D, AMOMIN_D, AMOMAX_D, AMOMINU_D, AMOMAXU_D,
  // Zba
  SH1ADD, SH2ADD, SH3ADD, ADD_UW, SH1ADD_UW, SH2ADD_UW, SH3ADD_UW, SLLI_UW,
  // Zbb
  ANDN, ORN, XNOR, CLZ, CLZW, CTZ, CTZW, CPOP, CPOPW, MAX, MAXU, MIN, MINU,
  SEXT_B, SEXT_H, ZEXT_H, ROL, ROLW, ROR, RORI, RORIW, RORW, ORC_B, REV8,
  // Zbs
  BCLR, BCLRI, BEXT, BEXTI, BINV, BINVI, BSET, BSETI,
  // Zicond
  CZERO_EQZ, CZERO_NEZ,
  // Zicbom / Zicboz
  CBO_CLEAN, CBO_FLUSH, CBO_INVAL, CBO_ZERO,
  // F and D: loads/stores, then everything else goes through the FP executor
  FLW, FLD, FSW, FSD,
  FMADD_S, FMSUB_S, FNMSUB_S, FNMADD_S, FMADD_D, FMSUB_D, FNMSUB_D, FNMADD_D,
  FADD_S, FSUB_S, FMUL_S, FDIV_S, FSQRT_S, FSGNJ_S, FSGNJN_S, FSGNJX_S, FMIN_S, FMAX_S,
  FCVT_W_S, FCVT_WU_S, FCVT_L_S, FCVT_LU_S, FMV_X_W, FCLASS_S, FEQ_S, FLT_S, FLE_S,
  FCVT_S_W, FCVT_S_WU, FCVT_S_L, FCVT_S_LU, FMV_W_X,
  FADD_D, FSUB_D, FMUL_D, FDIV_D, FSQRT_D, FSGNJ_D, FSGNJN_D, FSGNJX_D, FMIN_D, FMAX_D,
  FCVT_S_D, FCVT_D_S,
  FCVT_W_D, FCVT_WU_D, FCVT_L_D, FCVT_LU_D, FMV_X_D, FCLASS_D, FEQ_D, FLT_D, FLE_D,
  FCVT_D_W, FCVT_D_WU, FCVT_D_L, FCVT_D_LU, FMV_D_X,
  COUNT,
}

/** Bytes a load or store op moves. */
export function accessSize(op: Op): number {
  switch (op) {
    case Op.LD: case Op.SD: return 8;
    case Op.LW: case Op.LWU: case Op.SW: return 4;
    case Op.LH: case Op.LHU: case Op.SH: return 2;
    default: return 1;
  }
}

/** Register number that absorbs writes to x0. */
export const SINK = 32;

/** Decoded form, filled by `decode`. */
export interface Decoded {
  a: number;
  imm: number;
  b: number;
}

const out: Decoded = { a: 0, imm: 0, b: 0 };

function pack(op: Op, rd: number, rs1: number, rs2: number, len4: boolean, imm: number, rs3 = 0, rm = 0, raw = 0): Decoded {
  out.a = op | ((rd === 0 ? SINK : rd) << 10) | (rs1 << 16) | (rs2 << 22) | (len4 ? 1 << 28 : 0);
  out.imm = imm | 0;
  out.b = rs3 | (rm << 5) | (raw << 8);
  return out;
}

/** Same, for ops whose rd names an FP register (x0 rules do not apply). */
function packF(op: Op, rd: number, rs1: number, rs2: number, len4: boolean, imm: number, rs3 = 0, rm = 0, raw = 0): Decoded {
  out.a = op | (rd << 10) | (rs1 << 16) | (rs2 << 22) | (len4 ? 1 << 28 : 0);
  out.imm = imm | 0;
  out.b = rs3 | (rm << 5) | (raw << 8);
  return out;
}

const illegal = (len4: boolean, raw: number): Decoded => pack(Op.ILLEGAL, 0, 0, 0, len4, raw);

/** Ops whose rd is an FP register. */
export function rdIsFloat(op: Op): boolean {
  switch (op) {
    case Op.FLW: case Op.FLD:
    case Op.FMADD_S: case Op.FMSUB_S: case Op.FNMSUB_S: case Op.FNMADD_S:
    case Op.FMADD_D: case Op.FMSUB_D: case Op.FNMSUB_D: case Op.FNMADD_D:
    case Op.FADD_S: case Op.FSUB_S: case Op.FMUL_S: case Op.FDIV_S: case Op.FSQRT_S:
    case Op.FSGNJ_S: case Op.FSGNJN_S: case Op.FSGNJX_S: case Op.FMIN_S: case Op.FMAX_S:
    case Op.FCVT_S_W: case Op.FCVT_S_WU: case Op.FCVT_S_L: case Op.FCVT_S_LU: case Op.FMV_W_X:
    case Op.FADD_D: case Op.FSUB_D: case Op.FMUL_D: case Op.FDIV_D: case Op.FSQRT_D:
    case Op.FSGNJ_D: case Op.FSGNJN_D: case Op.FSGNJX_D: case Op.FMIN_D: case Op.FMAX_D:
    case Op.FCVT_S_D: case Op.FCVT_D_S:
    case Op.FCVT_D_W: case Op.FCVT_D_WU: case Op.FCVT_D_L: case Op.FCVT_D_LU: case Op.FMV_D_X:
      return true;
    default:
      return false;
  }
}

const sext = (v: number, bits: number) => (v << (32 - bits)) >> (32 - bits);

/** Decodes a 32-bit instruction word (low two bits 11). */
export function decode32(w: number): Decoded {
  const opcode = w & 0x7f;
  const rd = (w >>> 7) & 31;
  const f3 = (w >>> 12) & 7;
  const rs1 = (w >>> 15) & 31;
  const rs2 = (w >>> 20) & 31;
  const f7 = w >>> 25;
  const immI = w >> 20;
  const immS = ((w >> 25) << 5) | ((w >>> 7) & 31);
  const immB = ((w >> 31) << 12) | (((w >>> 7) & 1) << 11) | (((w >>> 25) & 63) << 5) | (((w >>> 8) & 15) << 1);
  const immU = w & 0xfffff000;
  const immJ = ((w >> 31) << 20) | (((w >>> 12) & 0xff) << 12) | (((w >>> 20) & 1) << 11) | (((w >>> 21) & 0x3ff) << 1);
  const T = true;
  switch (opcode) {
    case 0x37: return pack(Op.LUI, rd, 0, 0, T, immU);
    case 0x17: return pack(Op.AUIPC, rd, 0, 0, T, immU);
    case 0x6f: return pack(Op.JAL, rd, 0, 0, T, immJ);
    case 0x67: return f3 === 0 ? pack(Op.JALR, rd, rs1, 0, T, immI) : illegal(T, w);
    case 0x63: {
      const ops = [Op.BEQ, Op.BNE, Op.ILLEGAL, Op.ILLEGAL, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU];
      const op = ops[f3]!;
      return op === Op.ILLEGAL ? illegal(T, w) : pack(op, 0, rs1, rs2, T, immB);
    }
    case 0x03: {
      const ops = [Op.LB, Op.LH, Op.LW, Op.LD, Op.LBU, Op.LHU, Op.LWU, Op.ILLEGAL];
      const op = ops[f3]!;
      return op === Op.ILLEGAL ? illegal(T, w) : pack(op, rd, rs1, 0, T, immI);
    }
    case 0x23: {
      const ops = [Op.SB, Op.SH, Op.SW, Op.SD];
      return f3 < 4 ? pack(ops[f3]!, 0, rs1, rs2, T, immS) : illegal(T, w);
    }
    case 0x13: {
      const shamt = (w >>> 20) & 63;
      const f6 = w >>> 26;
      switch (f3) {
        case 0: return pack(Op.ADDI, rd, rs1, 0, T, immI);
        case 2: return pack(Op.SLTI, rd, rs1, 0, T, immI);
        case 3: return pack(Op.SLTIU, rd, rs1, 0, T, immI);
        case 4: return pack(Op.XORI, rd, rs1, 0, T, immI);
        case 6: return pack(Op.ORI, rd, rs1, 0, T, immI);
        case 7: return pack(Op.ANDI, rd, rs1, 0, T, immI);
        case 1:
          if (f6 === 0x00) return pack(Op.SLLI, rd, rs1, 0, T, shamt);
          if (f6 === 0x12) return pack(Op.BCLRI, rd, rs1, 0, T, shamt);
          if (f6 === 0x1a) return pack(Op.BINVI, rd, rs1, 0, T, shamt);
          if (f6 === 0x0a) return pack(Op.BSETI, rd, rs1, 0, T, shamt);
          if (f7 === 0x30) {
            if (rs2 === 0) return pack(Op.CLZ, rd, rs1, 0, T, 0);
            if (rs2 === 1) return pack(Op.CTZ, rd, rs1, 0, T, 0);
            if (rs2 === 2) return pack(Op.CPOP, rd, rs1, 0, T, 0);
            if (rs2 === 4) return pack(Op.SEXT_B, rd, rs1, 0, T, 0);
            if (rs2 === 5) return pack(Op.SEXT_H, rd, rs1, 0, T, 0);
          }
          return illegal(T, w);
        case 5:
          if (f6 === 0x00) return pack(Op.SRLI, rd, rs1, 0, T, shamt);
          if (f6 === 0x10) return pack(Op.SRAI, rd, rs1, 0, T, shamt);
          if (f6 === 0x18) return pack(Op.RORI, rd, rs1, 0, T, shamt);
          if (f6 === 0x12) return pack(Op.BEXTI, rd, rs1, 0, T, shamt);
          if ((w >>> 20) === 0x287) return pack(Op.ORC_B, rd, rs1, 0, T, 0);
          if ((w >>> 20) === 0x6b8) return pack(Op.REV8, rd, rs1, 0, T, 0);
          return illegal(T, w);
      }
      return illegal(T, w);
    }
    case 0x1b: {
      const shamt = rs2;
      switch (f3) {
        case 0: return pack(Op.ADDIW, rd, rs1, 0, T, immI);
        case 1:
          if (f7 === 0x00) return pack(Op.SLLIW, rd, rs1, 0, T, shamt);
          if ((w >>> 26) === 0x02) return pack(Op.SLLI_UW, rd, rs1, 0, T, (w >>> 20) & 63);
          if (f7 === 0x30) {
            if (rs2 === 0) return pack(Op.CLZW, rd, rs1, 0, T, 0);
            if (rs2 === 1) return pack(Op.CTZW, rd, rs1, 0, T, 0);
            if (rs2 === 2) return pack(Op.CPOPW, rd, rs1, 0, T, 0);
          }
          return illegal(T, w);
        case 5:
          if (f7 === 0x00) return pack(Op.SRLIW, rd, rs1, 0, T, shamt);
          if (f7 === 0x20) return pack(Op.SRAIW, rd, rs1, 0, T, shamt);
          if (f7 === 0x30) return pack(Op.RORIW, rd, rs1, 0, T, shamt);
          return illegal(T, w);
      }
      return illegal(T, w);
    }
    case 0x33: {
      const k = (f7 << 3) | f3;
      const map: Record<number, Op> = {
        0x000: Op.ADD, 0x100: Op.SUB, 0x001: Op.SLL, 0x002: Op.SLT, 0x003: Op.SLTU, 0x004: Op.XOR,
        0x005: Op.SRL, 0x105: Op.SRA, 0x006: Op.OR, 0x007: Op.AND,
        0x008: Op.MUL, 0x009: Op.MULH, 0x00a: Op.MULHSU, 0x00b: Op.MULHU, 0x00c: Op.DIV, 0x00d: Op.DIVU,
        0x00e: Op.REM, 0x00f: Op.REMU,
        0x082: Op.SH1ADD, 0x084: Op.SH2ADD, 0x086: Op.SH3ADD,
        0x107: Op.ANDN, 0x106: Op.ORN, 0x104: Op.XNOR,
        0x02e: Op.MAX, 0x02f: Op.MAXU, 0x02c: Op.MIN, 0x02d: Op.MINU,
        0x181: Op.ROL, 0x185: Op.ROR,
        0x121: Op.BCLR, 0x125: Op.BEXT, 0x1a1: Op.BINV, 0x0a1: Op.BSET,
        0x03d: Op.CZERO_EQZ, 0x03f: Op.CZERO_NEZ,
      };
      const op = map[k];
      return op === undefined ? illegal(T, w) : pack(op, rd, rs1, rs2, T, 0);
    }
    case 0x3b: {
      const k = (f7 << 3) | f3;
      const map: Record<number, Op> = {
        0x000: Op.ADDW, 0x100: Op.SUBW, 0x001: Op.SLLW, 0x005: Op.SRLW, 0x105: Op.SRAW,
        0x008: Op.MULW, 0x00c: Op.DIVW, 0x00d: Op.DIVUW, 0x00e: Op.REMW, 0x00f: Op.REMUW,
        0x020: Op.ADD_UW, 0x082: Op.SH1ADD_UW, 0x084: Op.SH2ADD_UW, 0x086: Op.SH3ADD_UW,
        0x181: Op.ROLW, 0x185: Op.RORW,
      };
      if (k === 0x024 && rs2 === 0) return pack(Op.ZEXT_H, rd, rs1, 0, T, 0);
      const op = map[k];
      return op === undefined ? illegal(T, w) : pack(op, rd, rs1, rs2, T, 0);
    }
    case 0x0f:
      // imm keeps pred/succ (bits 27:20): `pause` is fence w,0 (imm 0x010)
      if (f3 === 0) return pack(Op.FENCE, 0, 0, 0, T, (w >>> 20) & 0xff);
      if (f3 === 1) return pack(Op.FENCE_I, 0, 0, 0, T, 0);
      if (f3 === 2 && rd === 0) {
        if (immI === 0) return pack(Op.CBO_INVAL, 0, rs1, 0, T, 0);
        if (immI === 1) return pack(Op.CBO_CLEAN, 0, rs1, 0, T, 0);
        if (immI === 2) return pack(Op.CBO_FLUSH, 0, rs1, 0, T, 0);
        if (immI === 4) return pack(Op.CBO_ZERO, 0, rs1, 0, T, 0);
      }
      return illegal(T, w);
    case 0x73: {
      const csr = w >>> 20;
      switch (f3) {
        case 0:
          if (w === 0x00000073) return pack(Op.ECALL, 0, 0, 0, T, 0);
          if (w === 0x00100073) return pack(Op.EBREAK, 0, 0, 0, T, 0);
          if (w === 0x30200073) return pack(Op.MRET, 0, 0, 0, T, 0);
          if (w === 0x10200073) return pack(Op.SRET, 0, 0, 0, T, 0);
          if (w === 0x10500073) return pack(Op.WFI, 0, 0, 0, T, 0);
          if (f7 === 0x09 && rd === 0) return pack(Op.SFENCE_VMA, 0, rs1, rs2, T, 0);
          return illegal(T, w);
        case 1: return pack(Op.CSRRW, rd, rs1, 0, T, csr);
        case 2: return pack(Op.CSRRS, rd, rs1, 0, T, csr);
        case 3: return pack(Op.CSRRC, rd, rs1, 0, T, csr);
        case 5: return pack(Op.CSRRWI, rd, rs1, 0, T, csr);
        case 6: return pack(Op.CSRRSI, rd, rs1, 0, T, csr);
        case 7: return pack(Op.CSRRCI, rd, rs1, 0, T, csr);
      }
      return illegal(T, w);
    }
    case 0x2f: {
      const f5 = w >>> 27;
      if (f3 !== 2 && f3 !== 3) return illegal(T, w);
      const d = f3 === 3;
      const ops: Record<number, [Op, Op]> = {
        0x02: [Op.LR_W, Op.LR_D], 0x03: [Op.SC_W, Op.SC_D], 0x01: [Op.AMOSWAP_W, Op.AMOSWAP_D],
        0x00: [Op.AMOADD_W, Op.AMOADD_D], 0x04: [Op.AMOXOR_W, Op.AMOXOR_D], 0x0c: [Op.AMOAND_W, Op.AMOAND_D],
        0x08: [Op.AMOOR_W, Op.AMOOR_D], 0x10: [Op.AMOMIN_W, Op.AMOMIN_D], 0x14: [Op.AMOMAX_W, Op.AMOMAX_D],
        0x18: [Op.AMOMINU_W, Op.AMOMINU_D], 0x1c: [Op.AMOMAXU_W, Op.AMOMAXU_D],
      };
      const pair = ops[f5];
      if (!pair) return illegal(T, w);
      if (f5 === 0x02 && rs2 !== 0) return illegal(T, w);
      return pack(d ? pair[1] : pair[0], rd, rs1, rs2, T, 0);
    }
    case 0x07:
      if (f3 === 2) return packF(Op.FLW, rd, rs1, 0, T, immI);
      if (f3 === 3) return packF(Op.FLD, rd, rs1, 0, T, immI);
      return illegal(T, w);
    case 0x27:
      if (f3 === 2) return pack(Op.FSW, 0, rs1, rs2, T, immS);
      if (f3 === 3) return pack(Op.FSD, 0, rs1, rs2, T, immS);
      return illegal(T, w);
    case 0x43: case 0x47: case 0x4b: case 0x4f: {
      const fmt = (w >>> 25) & 3;
      if (fmt > 1) return illegal(T, w);
      const idx = (opcode - 0x43) >> 2;
      const ops = fmt === 0
        ? [Op.FMADD_S, Op.FMSUB_S, Op.FNMSUB_S, Op.FNMADD_S]
        : [Op.FMADD_D, Op.FMSUB_D, Op.FNMSUB_D, Op.FNMADD_D];
      return packF(ops[idx]!, rd, rs1, rs2, T, 0, w >>> 27, f3);
    }
    case 0x53: return decodeOpFp(w, rd, rs1, rs2, f3, f7);
  }
  return illegal(T, w);
}

function decodeOpFp(w: number, rd: number, rs1: number, rs2: number, rm: number, f7: number): Decoded {
  const T = true;
  const F = (op: Op) => packF(op, rd, rs1, rs2, T, 0, 0, rm);
  const X = (op: Op) => pack(op, rd, rs1, rs2, T, 0, 0, rm);
  switch (f7) {
    case 0x00: return F(Op.FADD_S);
    case 0x04: return F(Op.FSUB_S);
    case 0x08: return F(Op.FMUL_S);
    case 0x0c: return F(Op.FDIV_S);
    case 0x2c: return rs2 === 0 ? F(Op.FSQRT_S) : illegal(T, w);
    case 0x01: return F(Op.FADD_D);
    case 0x05: return F(Op.FSUB_D);
    case 0x09: return F(Op.FMUL_D);
    case 0x0d: return F(Op.FDIV_D);
    case 0x2d: return rs2 === 0 ? F(Op.FSQRT_D) : illegal(T, w);
    case 0x10: return rm < 3 ? F([Op.FSGNJ_S, Op.FSGNJN_S, Op.FSGNJX_S][rm]!) : illegal(T, w);
    case 0x11: return rm < 3 ? F([Op.FSGNJ_D, Op.FSGNJN_D, Op.FSGNJX_D][rm]!) : illegal(T, w);
    case 0x14: return rm < 2 ? F(rm === 0 ? Op.FMIN_S : Op.FMAX_S) : illegal(T, w);
    case 0x15: return rm < 2 ? F(rm === 0 ? Op.FMIN_D : Op.FMAX_D) : illegal(T, w);
    case 0x20: return rs2 === 1 ? F(Op.FCVT_S_D) : illegal(T, w);
    case 0x21: return rs2 === 0 ? F(Op.FCVT_D_S) : illegal(T, w);
    case 0x60: return rs2 < 4 ? X([Op.FCVT_W_S, Op.FCVT_WU_S, Op.FCVT_L_S, Op.FCVT_LU_S][rs2]!) : illegal(T, w);
    case 0x61: return rs2 < 4 ? X([Op.FCVT_W_D, Op.FCVT_WU_D, Op.FCVT_L_D, Op.FCVT_LU_D][rs2]!) : illegal(T, w);
    case 0x68: return rs2 < 4 ? F([Op.FCVT_S_W, Op.FCVT_S_WU, Op.FCVT_S_L, Op.FCVT_S_LU][rs2]!) : illegal(T, w);
    case 0x69: return rs2 < 4 ? F([Op.FCVT_D_W, Op.FCVT_D_WU, Op.FCVT_D_L, Op.FCVT_D_LU][rs2]!) : illegal(T, w);
    case 0x70:
      if (rs2 !== 0) return illegal(T, w);
      if (rm === 0) return X(Op.FMV_X_W);
      if (rm === 1) return X(Op.FCLASS_S);
      return illegal(T, w);
    case 0x71:
      if (rs2 !== 0) return illegal(T, w);
      if (rm === 0) return X(Op.FMV_X_D);
      if (rm === 1) return X(Op.FCLASS_D);
      return illegal(T, w);
    case 0x50: return rm < 3 ? X([Op.FLE_S, Op.FLT_S, Op.FEQ_S][rm]!) : illegal(T, w);
    case 0x51: return rm < 3 ? X([Op.FLE_D, Op.FLT_D, Op.FEQ_D][rm]!) : illegal(T, w);
    case 0x78: return rs2 === 0 && rm === 0 ? F(Op.FMV_W_X) : illegal(T, w);
    case 0x79: return rs2 === 0 && rm === 0 ? F(Op.FMV_D_X) : illegal(T, w);
  }
  return illegal(T, w);
}

/** Decodes a 16-bit compressed instruction (low two bits not 11) into its base op. */
export function decode16(h: number): Decoded {
  const F = false;
  const op = h & 3;
  const f3 = (h >>> 13) & 7;
  const rdp = ((h >>> 2) & 7) + 8; // rd' / rs2'
  const rs1p = ((h >>> 7) & 7) + 8;
  const rd = (h >>> 7) & 31;
  const rs2 = (h >>> 2) & 31;
  const raw = h & 0xffff;
  const bad = () => illegal(F, raw);
  if (raw === 0) return bad();
  if (op === 0) {
    switch (f3) {
      case 0: {
        const nz = (((h >>> 7) & 15) << 6) | (((h >>> 11) & 3) << 4) | (((h >>> 5) & 1) << 3) | (((h >>> 6) & 1) << 2);
        return nz === 0 ? bad() : pack(Op.ADDI, rdp, 2, 0, F, nz, 0, 0, raw);
      }
      case 1: return packF(Op.FLD, rdp, rs1p, 0, F, (((h >>> 10) & 7) << 3) | (((h >>> 5) & 3) << 6), 0, 0, raw);
      case 2: return pack(Op.LW, rdp, rs1p, 0, F, (((h >>> 10) & 7) << 3) | (((h >>> 6) & 1) << 2) | (((h >>> 5) & 1) << 6), 0, 0, raw);
      case 3: return pack(Op.LD, rdp, rs1p, 0, F, (((h >>> 10) & 7) << 3) | (((h >>> 5) & 3) << 6), 0, 0, raw);
      case 5: return pack(Op.FSD, 0, rs1p, rdp, F, (((h >>> 10) & 7) << 3) | (((h >>> 5) & 3) << 6), 0, 0, raw);
      case 6: return pack(Op.SW, 0, rs1p, rdp, F, (((h >>> 10) & 7) << 3) | (((h >>> 6) & 1) << 2) | (((h >>> 5) & 1) << 6), 0, 0, raw);
      case 7: return pack(Op.SD, 0, rs1p, rdp, F, (((h >>> 10) & 7) << 3) | (((h >>> 5) & 3) << 6), 0, 0, raw);
    }
    return bad();
  }
  if (op === 1) {
    const imm6 = sext((((h >>> 12) & 1) << 5) | ((h >>> 2) & 31), 6);
    switch (f3) {
      case 0: return pack(Op.ADDI, rd, rd, 0, F, imm6, 0, 0, raw);
      case 1: return rd === 0 ? bad() : pack(Op.ADDIW, rd, rd, 0, F, imm6, 0, 0, raw);
      case 2: return pack(Op.ADDI, rd, 0, 0, F, imm6, 0, 0, raw);
      case 3:
        if (rd === 2) {
          const imm = sext((((h >>> 12) & 1) << 9) | (((h >>> 3) & 3) << 7) | (((h >>> 5) & 1) << 6) | (((h >>> 2) & 1) << 5) | (((h >>> 6) & 1) << 4), 10);
          return imm === 0 ? bad() : pack(Op.ADDI, 2, 2, 0, F, imm, 0, 0, raw);
        }
        return imm6 === 0 ? bad() : pack(Op.LUI, rd, 0, 0, F, imm6 << 12, 0, 0, raw);
      case 4: {
        const f2 = (h >>> 10) & 3;
        const shamt = (((h >>> 12) & 1) << 5) | ((h >>> 2) & 31);
        if (f2 === 0) return pack(Op.SRLI, rs1p, rs1p, 0, F, shamt, 0, 0, raw);
        if (f2 === 1) return pack(Op.SRAI, rs1p, rs1p, 0, F, shamt, 0, 0, raw);
        if (f2 === 2) return pack(Op.ANDI, rs1p, rs1p, 0, F, imm6, 0, 0, raw);
        const f = (((h >>> 12) & 1) << 2) | ((h >>> 5) & 3);
        const ops = [Op.SUB, Op.XOR, Op.OR, Op.AND, Op.SUBW, Op.ADDW, Op.ILLEGAL, Op.ILLEGAL];
        const o = ops[f]!;
        return o === Op.ILLEGAL ? bad() : pack(o, rs1p, rs1p, rdp, F, 0, 0, 0, raw);
      }
      case 5: {
        const imm = sext((((h >>> 12) & 1) << 11) | (((h >>> 8) & 1) << 10) | (((h >>> 9) & 3) << 8) | (((h >>> 6) & 1) << 7) |
          (((h >>> 7) & 1) << 6) | (((h >>> 2) & 1) << 5) | (((h >>> 11) & 1) << 4) | (((h >>> 3) & 7) << 1), 12);
        return pack(Op.JAL, 0, 0, 0, F, imm, 0, 0, raw);
      }
      case 6: case 7: {
        const imm = sext((((h >>> 12) & 1) << 8) | (((h >>> 5) & 3) << 6) | (((h >>> 2) & 1) << 5) | (((h >>> 10) & 3) << 3) | (((h >>> 3) & 3) << 1), 9);
        return pack(f3 === 6 ? Op.BEQ : Op.BNE, 0, rs1p, 0, F, imm, 0, 0, raw);
      }
    }
    return bad();
  }
  if (op === 2) {
    switch (f3) {
      case 0: {
        const shamt = (((h >>> 12) & 1) << 5) | ((h >>> 2) & 31);
        return pack(Op.SLLI, rd, rd, 0, F, shamt, 0, 0, raw);
      }
      case 1: return packF(Op.FLD, rd, 2, 0, F, (((h >>> 12) & 1) << 5) | (((h >>> 5) & 3) << 3) | (((h >>> 2) & 7) << 6), 0, 0, raw);
      case 2: return rd === 0 ? bad() : pack(Op.LW, rd, 2, 0, F, (((h >>> 12) & 1) << 5) | (((h >>> 4) & 7) << 2) | (((h >>> 2) & 3) << 6), 0, 0, raw);
      case 3: return rd === 0 ? bad() : pack(Op.LD, rd, 2, 0, F, (((h >>> 12) & 1) << 5) | (((h >>> 5) & 3) << 3) | (((h >>> 2) & 7) << 6), 0, 0, raw);
      case 4:
        if (((h >>> 12) & 1) === 0) {
          if (rs2 === 0) return rd === 0 ? bad() : pack(Op.JALR, 0, rd, 0, F, 0, 0, 0, raw);
          return pack(Op.ADD, rd, 0, rs2, F, 0, 0, 0, raw);
        }
        if (rs2 === 0) {
          if (rd === 0) return pack(Op.EBREAK, 0, 0, 0, F, 0, 0, 0, raw);
          return pack(Op.JALR, 1, rd, 0, F, 0, 0, 0, raw);
        }
        return pack(Op.ADD, rd, rd, rs2, F, 0, 0, 0, raw);
      case 5: return pack(Op.FSD, 0, 2, rs2, F, (((h >>> 10) & 7) << 3) | (((h >>> 7) & 7) << 6), 0, 0, raw);
      case 6: return pack(Op.SW, 0, 2, rs2, F, (((h >>> 9) & 15) << 2) | (((h >>> 7) & 3) << 6), 0, 0, raw);
      case 7: return pack(Op.SD, 0, 2, rs2, F, (((h >>> 10) & 7) << 3) | (((h >>> 7) & 7) << 6), 0, 0, raw);
    }
  }
  return bad();
}
