/**
 * Executes F and D instructions (other than loads and stores) on a hart: operand
 * NaN-unboxing, rounding-mode resolution, flags into fcsr, results boxed. The IEEE
 * arithmetic itself is in fpu.ts.
 */
import { Op } from './decode.js';
import * as fpu from './fpu.js';
import type { Hart } from './hart.js';

const CANON_S = 0x7fc00000;

function s(h: Hart, r: number): number {
  return h.f32[2 * r + 1] === -1 ? h.f32[2 * r]! >>> 0 : CANON_S;
}

function setS(h: Hart, r: number, v: number): void {
  h.f32[2 * r] = v | 0;
  h.f32[2 * r + 1] = -1;
}

function setW(h: Hart, rd: number, v: number): void {
  h.x32[2 * rd] = v | 0;
  h.x32[2 * rd + 1] = (v | 0) >> 31;
}

/** Ops whose encoding carries a rounding mode that must be valid. */
function usesRm(op: Op): boolean {
  switch (op) {
    case Op.FSGNJ_S: case Op.FSGNJN_S: case Op.FSGNJX_S: case Op.FMIN_S: case Op.FMAX_S:
    case Op.FSGNJ_D: case Op.FSGNJN_D: case Op.FSGNJX_D: case Op.FMIN_D: case Op.FMAX_D:
    case Op.FMV_X_W: case Op.FMV_W_X: case Op.FMV_X_D: case Op.FMV_D_X:
    case Op.FCLASS_S: case Op.FCLASS_D:
    case Op.FEQ_S: case Op.FLT_S: case Op.FLE_S: case Op.FEQ_D: case Op.FLT_D: case Op.FLE_D:
      return false;
    default:
      return true;
  }
}

export function execFp(h: Hart, op: Op, rd: number, rs1: number, rs2: number, rs3: number, rmField: number, raw: number): void {
  let rm = rmField;
  if (usesRm(op)) {
    if (rm === 7) rm = h.frm;
    if (rm > 4) h.illegal(raw);
  }
  const x = h.x;
  const f = h.f;
  switch (op) {
    // ---- single
    case Op.FADD_S: setS(h, rd, fpu.addS(s(h, rs1), s(h, rs2), rm)); break;
    case Op.FSUB_S: setS(h, rd, fpu.subS(s(h, rs1), s(h, rs2), rm)); break;
    case Op.FMUL_S: setS(h, rd, fpu.mulS(s(h, rs1), s(h, rs2), rm)); break;
    case Op.FDIV_S: setS(h, rd, fpu.divS(s(h, rs1), s(h, rs2), rm)); break;
    case Op.FSQRT_S: setS(h, rd, fpu.sqrtS(s(h, rs1), rm)); break;
    case Op.FMADD_S: setS(h, rd, fpu.fmaS(s(h, rs1), s(h, rs2), s(h, rs3), rm, false, false)); break;
    case Op.FMSUB_S: setS(h, rd, fpu.fmaS(s(h, rs1), s(h, rs2), s(h, rs3), rm, false, true)); break;
    case Op.FNMSUB_S: setS(h, rd, fpu.fmaS(s(h, rs1), s(h, rs2), s(h, rs3), rm, true, false)); break;
    case Op.FNMADD_S: setS(h, rd, fpu.fmaS(s(h, rs1), s(h, rs2), s(h, rs3), rm, true, true)); break;
    case Op.FSGNJ_S: setS(h, rd, (s(h, rs1) & 0x7fffffff) | (s(h, rs2) & 0x80000000)); break;
    case Op.FSGNJN_S: setS(h, rd, (s(h, rs1) & 0x7fffffff) | (~s(h, rs2) & 0x80000000)); break;
    case Op.FSGNJX_S: setS(h, rd, s(h, rs1) ^ (s(h, rs2) & 0x80000000)); break;
    case Op.FMIN_S: setS(h, rd, fpu.minS(s(h, rs1), s(h, rs2))); break;
    case Op.FMAX_S: setS(h, rd, fpu.maxS(s(h, rs1), s(h, rs2))); break;
    case Op.FCVT_W_S: setW(h, rd, fpu.cvtWS(s(h, rs1), rm)); break;
    case Op.FCVT_WU_S: setW(h, rd, fpu.cvtWUS(s(h, rs1), rm)); break;
    case Op.FCVT_L_S: x[rd] = fpu.cvtLS(s(h, rs1), rm); break;
    case Op.FCVT_LU_S: x[rd] = fpu.cvtLUS(s(h, rs1), rm); break;
    case Op.FMV_X_W: setW(h, rd, h.f32[2 * rs1]!); break;
    case Op.FCLASS_S: setW(h, rd, fpu.classifyS(s(h, rs1))); break;
    case Op.FEQ_S: setW(h, rd, fpu.eqS(s(h, rs1), s(h, rs2)) ? 1 : 0); break;
    case Op.FLT_S: setW(h, rd, fpu.ltS(s(h, rs1), s(h, rs2)) ? 1 : 0); break;
    case Op.FLE_S: setW(h, rd, fpu.leS(s(h, rs1), s(h, rs2)) ? 1 : 0); break;
    case Op.FCVT_S_W: setS(h, rd, fpu.cvtSW(h.x32[2 * rs1]!, rm)); break;
    case Op.FCVT_S_WU: setS(h, rd, fpu.cvtSWU(h.x32[2 * rs1]! >>> 0, rm)); break;
    case Op.FCVT_S_L: setS(h, rd, fpu.cvtSL(x[rs1]!, rm)); break;
    case Op.FCVT_S_LU: setS(h, rd, fpu.cvtSLU(x[rs1]!, rm)); break;
    case Op.FMV_W_X: setS(h, rd, h.x32[2 * rs1]!); break;
    // ---- double
    case Op.FADD_D: f[rd] = fpu.addD(f[rs1]!, f[rs2]!, rm); break;
    case Op.FSUB_D: f[rd] = fpu.subD(f[rs1]!, f[rs2]!, rm); break;
    case Op.FMUL_D: f[rd] = fpu.mulD(f[rs1]!, f[rs2]!, rm); break;
    case Op.FDIV_D: f[rd] = fpu.divD(f[rs1]!, f[rs2]!, rm); break;
    case Op.FSQRT_D: f[rd] = fpu.sqrtD(f[rs1]!, rm); break;
    case Op.FMADD_D: f[rd] = fpu.fmaD(f[rs1]!, f[rs2]!, f[rs3]!, rm, false, false); break;
    case Op.FMSUB_D: f[rd] = fpu.fmaD(f[rs1]!, f[rs2]!, f[rs3]!, rm, false, true); break;
    case Op.FNMSUB_D: f[rd] = fpu.fmaD(f[rs1]!, f[rs2]!, f[rs3]!, rm, true, false); break;
    case Op.FNMADD_D: f[rd] = fpu.fmaD(f[rs1]!, f[rs2]!, f[rs3]!, rm, true, true); break;
    case Op.FSGNJ_D: f[rd] = (f[rs1]! & 0x7fffffffffffffffn) | (f[rs2]! & -0x8000000000000000n); break;
    case Op.FSGNJN_D: f[rd] = (f[rs1]! & 0x7fffffffffffffffn) | (~f[rs2]! & -0x8000000000000000n); break;
    case Op.FSGNJX_D: f[rd] = f[rs1]! ^ (f[rs2]! & -0x8000000000000000n); break;
    case Op.FMIN_D: f[rd] = fpu.minD(f[rs1]!, f[rs2]!); break;
    case Op.FMAX_D: f[rd] = fpu.maxD(f[rs1]!, f[rs2]!); break;
    case Op.FCVT_S_D: setS(h, rd, fpu.cvtSD(f[rs1]!, rm)); break;
    case Op.FCVT_D_S: f[rd] = fpu.cvtDS(s(h, rs1)); break;
    case Op.FCVT_W_D: setW(h, rd, fpu.cvtWD(f[rs1]!, rm)); break;
    case Op.FCVT_WU_D: setW(h, rd, fpu.cvtWUD(f[rs1]!, rm)); break;
    case Op.FCVT_L_D: x[rd] = fpu.cvtLD(f[rs1]!, rm); break;
    case Op.FCVT_LU_D: x[rd] = fpu.cvtLUD(f[rs1]!, rm); break;
    case Op.FMV_X_D: x[rd] = f[rs1]!; break;
    case Op.FCLASS_D: setW(h, rd, fpu.classifyD(f[rs1]!)); break;
    case Op.FEQ_D: setW(h, rd, fpu.eqD(f[rs1]!, f[rs2]!) ? 1 : 0); break;
    case Op.FLT_D: setW(h, rd, fpu.ltD(f[rs1]!, f[rs2]!) ? 1 : 0); break;
    case Op.FLE_D: setW(h, rd, fpu.leD(f[rs1]!, f[rs2]!) ? 1 : 0); break;
    case Op.FCVT_D_W: f[rd] = fpu.cvtDW(h.x32[2 * rs1]!, rm); break;
    case Op.FCVT_D_WU: f[rd] = fpu.cvtDWU(h.x32[2 * rs1]! >>> 0, rm); break;
    case Op.FCVT_D_L: f[rd] = fpu.cvtDL(x[rs1]!, rm); break;
    case Op.FCVT_D_LU: f[rd] = fpu.cvtDLU(x[rs1]!, rm); break;
    case Op.FMV_D_X: f[rd] = x[rs1]!; break;
    default: h.illegal(raw);
  }
  const flags = fpu.takeFlags();
  if (flags !== 0) h.fflags |= flags;
  h.fpDirty();
}
