/*
 * fp.h: check macros for the F and D programs. Operands and results are bit patterns;
 * each macro clears fflags, runs one instruction, and checks both the result and fflags
 * under the same test number. An f32 result is checked as the whole 64-bit register, so
 * NaN-boxing of results is checked too. rm is optional (none = dyn, i.e. frm).
 * Uses a0-a4 and fa0-fa3 (and t5/t6 like all macros).
 */
#ifndef FP_H
#define FP_H

#define NV 0x10
#define DZ 0x08
#define OF 0x04
#define UF 0x02
#define NX 0x01

#define RNE 0
#define RTZ 1
#define RDN 2
#define RUP 3
#define RMM 4

/* single-precision bit patterns */
#define S_ZERO   0x00000000
#define S_NZERO  0x80000000
#define S_ONE    0x3f800000
#define S_NONE   0xbf800000
#define S_TWO    0x40000000
#define S_THREE  0x40400000
#define S_HALF   0x3f000000
#define S_INF    0x7f800000
#define S_NINF   0xff800000
#define S_QNAN   0x7fc00000
#define S_SNAN   0x7f800001
#define S_MAX    0x7f7fffff
#define S_MINN   0x00800000
#define S_MINSUB 0x00000001
#define BOX      0xffffffff00000000

/* double-precision bit patterns */
#define D_ZERO   0x0000000000000000
#define D_NZERO  0x8000000000000000
#define D_ONE    0x3ff0000000000000
#define D_NONE   0xbff0000000000000
#define D_TWO    0x4000000000000000
#define D_THREE  0x4008000000000000
#define D_HALF   0x3fe0000000000000
#define D_INF    0x7ff0000000000000
#define D_NINF   0xfff0000000000000
#define D_QNAN   0x7ff8000000000000
#define D_SNAN   0x7ff0000000000001
#define D_MAX    0x7fefffffffffffff
#define D_MINN   0x0010000000000000
#define D_MINSUB 0x0000000000000001

#ifdef __ASSEMBLER__

.macro _FOP op, rd, rs1, rs2, rs3, rm
  .ifb \rs2
    .ifb \rm
      \op \rd, \rs1
    .else
      \op \rd, \rs1, \rm
    .endif
  .else
    .ifb \rs3
      .ifb \rm
        \op \rd, \rs1, \rs2
      .else
        \op \rd, \rs1, \rs2, \rm
      .endif
    .else
      .ifb \rm
        \op \rd, \rs1, \rs2, \rs3
      .else
        \op \rd, \rs1, \rs2, \rs3, \rm
      .endif
    .endif
  .endif
.endm

/* check result bits (a0) and fflags (a3) */
.macro _FCHECK n, res, flags
  _CHECK \n, a0, \res
  _CHECK \n, a3, \flags
.endm

/* ---- single ---- */
.macro FT_S1 n, op, res, flags, a, rm
  TESTNUM \n
  li a1, \a
  fmv.w.x fa1, a1
  csrw fflags, zero
  _FOP \op, fa0, fa1, , , \rm
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, BOX|(\res), \flags
.endm

.macro FT_S2 n, op, res, flags, a, b, rm
  TESTNUM \n
  li a1, \a
  fmv.w.x fa1, a1
  li a2, \b
  fmv.w.x fa2, a2
  csrw fflags, zero
  _FOP \op, fa0, fa1, fa2, , \rm
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, BOX|(\res), \flags
.endm

.macro FT_S3 n, op, res, flags, a, b, c, rm
  TESTNUM \n
  li a1, \a
  fmv.w.x fa1, a1
  li a2, \b
  fmv.w.x fa2, a2
  li a4, \c
  fmv.w.x fa3, a4
  csrw fflags, zero
  _FOP \op, fa0, fa1, fa2, fa3, \rm
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, BOX|(\res), \flags
.endm

/* compare (feq/flt/fle) or fclass: the result is an integer register */
.macro FT_S2X n, op, res, flags, a, b
  TESTNUM \n
  li a1, \a
  fmv.w.x fa1, a1
  li a2, \b
  fmv.w.x fa2, a2
  csrw fflags, zero
  \op a0, fa1, fa2
  csrr a3, fflags
  _FCHECK \n, \res, \flags
.endm

/* float -> integer (fcvt.w.s etc., fclass.s, fmv.x.w) */
.macro FT_S2I n, op, res, flags, a, rm
  TESTNUM \n
  li a1, \a
  fmv.w.x fa1, a1
  csrw fflags, zero
  .ifb \rm
  \op a0, fa1
  .else
  \op a0, fa1, \rm
  .endif
  csrr a3, fflags
  _FCHECK \n, \res, \flags
.endm

/* integer -> float (fcvt.s.w etc.) */
.macro FT_I2S n, op, res, flags, a, rm
  TESTNUM \n
  li a1, \a
  csrw fflags, zero
  .ifb \rm
  \op fa0, a1
  .else
  \op fa0, a1, \rm
  .endif
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, BOX|(\res), \flags
.endm

/* ---- double ---- */
.macro FT_D1 n, op, res, flags, a, rm
  TESTNUM \n
  li a1, \a
  fmv.d.x fa1, a1
  csrw fflags, zero
  _FOP \op, fa0, fa1, , , \rm
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, \res, \flags
.endm

.macro FT_D2 n, op, res, flags, a, b, rm
  TESTNUM \n
  li a1, \a
  fmv.d.x fa1, a1
  li a2, \b
  fmv.d.x fa2, a2
  csrw fflags, zero
  _FOP \op, fa0, fa1, fa2, , \rm
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, \res, \flags
.endm

.macro FT_D3 n, op, res, flags, a, b, c, rm
  TESTNUM \n
  li a1, \a
  fmv.d.x fa1, a1
  li a2, \b
  fmv.d.x fa2, a2
  li a4, \c
  fmv.d.x fa3, a4
  csrw fflags, zero
  _FOP \op, fa0, fa1, fa2, fa3, \rm
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, \res, \flags
.endm

.macro FT_D2X n, op, res, flags, a, b
  TESTNUM \n
  li a1, \a
  fmv.d.x fa1, a1
  li a2, \b
  fmv.d.x fa2, a2
  csrw fflags, zero
  \op a0, fa1, fa2
  csrr a3, fflags
  _FCHECK \n, \res, \flags
.endm

.macro FT_D2I n, op, res, flags, a, rm
  TESTNUM \n
  li a1, \a
  fmv.d.x fa1, a1
  csrw fflags, zero
  .ifb \rm
  \op a0, fa1
  .else
  \op a0, fa1, \rm
  .endif
  csrr a3, fflags
  _FCHECK \n, \res, \flags
.endm

.macro FT_I2D n, op, res, flags, a, rm
  TESTNUM \n
  li a1, \a
  csrw fflags, zero
  .ifb \rm
  \op fa0, a1
  .else
  \op fa0, a1, \rm
  .endif
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, \res, \flags
.endm

/* single -> double and double -> single */
.macro FT_S2D n, res, flags, a
  TESTNUM \n
  li a1, \a
  fmv.w.x fa1, a1
  csrw fflags, zero
  fcvt.d.s fa0, fa1
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, \res, \flags
.endm

.macro FT_D2S n, res, flags, a, rm
  TESTNUM \n
  li a1, \a
  fmv.d.x fa1, a1
  csrw fflags, zero
  .ifb \rm
  fcvt.s.d fa0, fa1
  .else
  fcvt.s.d fa0, fa1, \rm
  .endif
  csrr a3, fflags
  fmv.x.d a0, fa0
  _FCHECK \n, BOX|(\res), \flags
.endm

#endif /* __ASSEMBLER__ */
#endif /* FP_H */
