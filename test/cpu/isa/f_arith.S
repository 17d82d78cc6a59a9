# f_arith: RV64F arithmetic. fadd/fsub/fmul/fdiv/fsqrt and the fused multiply-adds,
# in every static rounding mode and through frm (dyn), with the fflags each raises:
# ties, overflow, underflow (tininess after rounding), division by zero, invalid,
# canonical NaN results, signed zeros; invalid rounding modes trap.
#include "rt.h"
#include "fp.h"
  PROGRAM f_arith

#define S_2M24   0x33800000      /* 2^-24: half an ulp of 1.0 */
#define S_N2M24  0xb3800000
#define S_2M25   0x33000000      /* 2^-25: a quarter ulp of 1.0 */
#define S_1P1    0x3f800001      /* 1 + 2^-23 */
#define S_MAXSUB 0x007fffff
#define S_FIVE   0x40a00000
#define S_SIX    0x40c00000
#define S_A      0x3f800800      /* 1 + 2^-12 */
#define S_C      0x3f801000      /* 1 + 2^-11 = A*A rounded */

  .text
  .globl test_main
test_main:
  /* fadd: exact, and the tie 1 + 2^-24 in every rounding mode */
  FT_S2 1, fadd.s, S_THREE, 0, S_ONE, S_TWO
  FT_S2 2, fadd.s, S_ONE, NX, S_ONE, S_2M24, rne
  FT_S2 3, fadd.s, S_ONE, NX, S_ONE, S_2M24, rtz
  FT_S2 4, fadd.s, S_ONE, NX, S_ONE, S_2M24, rdn
  FT_S2 5, fadd.s, S_1P1, NX, S_ONE, S_2M24, rup
  FT_S2 6, fadd.s, S_1P1, NX, S_ONE, S_2M24, rmm
  FT_S2 7, fadd.s, 0xbf800000, NX, S_NONE, S_N2M24, rne
  FT_S2 8, fadd.s, 0xbf800000, NX, S_NONE, S_N2M24, rtz
  FT_S2 9, fadd.s, 0xbf800001, NX, S_NONE, S_N2M24, rdn
  FT_S2 10, fadd.s, 0xbf800000, NX, S_NONE, S_N2M24, rup
  FT_S2 11, fadd.s, 0xbf800001, NX, S_NONE, S_N2M24, rmm
  /* below half an ulp */
  FT_S2 12, fadd.s, S_ONE, NX, S_ONE, S_2M25, rne
  FT_S2 13, fadd.s, S_ONE, NX, S_ONE, S_2M25, rmm
  FT_S2 14, fadd.s, S_1P1, NX, S_ONE, S_2M25, rup
  /* a tie from an odd significand: to even goes up */
  FT_S2 15, fadd.s, 0x3f800002, NX, S_1P1, S_2M24, rne
  FT_S2 16, fadd.s, 0x3f800002, NX, S_1P1, S_2M24, rmm
  FT_S2 17, fadd.s, S_1P1, NX, S_1P1, S_2M24, rtz
  /* signed zeros: x + -x is +0, except -0 when rounding down */
  FT_S2 18, fadd.s, S_ZERO, 0, S_ONE, S_NONE, rne
  FT_S2 19, fadd.s, S_NZERO, 0, S_ONE, S_NONE, rdn
  FT_S2 20, fadd.s, S_NZERO, 0, S_NZERO, S_NZERO
  FT_S2 21, fadd.s, S_ZERO, 0, S_ZERO, S_NZERO, rne
  FT_S2 22, fadd.s, S_NZERO, 0, S_ZERO, S_NZERO, rdn
  FT_S2 23, fsub.s, S_NZERO, 0, S_ONE, S_ONE, rdn
  FT_S2 24, fsub.s, S_TWO, 0, S_THREE, S_ONE
  /* overflow: to infinity or to the largest finite, by rounding mode */
  FT_S2 25, fadd.s, S_INF, OF|NX, S_MAX, S_MAX, rne
  FT_S2 26, fadd.s, S_MAX, OF|NX, S_MAX, S_MAX, rtz
  FT_S2 27, fadd.s, S_MAX, OF|NX, S_MAX, S_MAX, rdn
  FT_S2 28, fadd.s, S_INF, OF|NX, S_MAX, S_MAX, rup
  FT_S2 29, fadd.s, S_NINF, OF|NX, 0xff7fffff, 0xff7fffff, rdn
  FT_S2 30, fadd.s, 0xff7fffff, OF|NX, 0xff7fffff, 0xff7fffff, rup
  FT_S2 31, fadd.s, S_INF, OF|NX, S_MAX, S_MAX, rmm
  /* infinities and NaNs: results are the canonical NaN */
  FT_S2 32, fadd.s, S_QNAN, NV, S_INF, S_NINF
  FT_S2 33, fadd.s, S_INF, 0, S_INF, S_ONE
  FT_S2 34, fadd.s, S_QNAN, 0, 0x7fc12345, S_ONE
  FT_S2 35, fadd.s, S_QNAN, NV, S_SNAN, S_ONE
  FT_S2 36, fadd.s, S_QNAN, NV, S_ONE, 0xff800001
  FT_S2 37, fsub.s, S_QNAN, NV, S_INF, S_INF
  FT_S2 38, fsub.s, S_QNAN, 0, 0xffc00001, S_QNAN
  /* fmul */
  FT_S2 39, fmul.s, S_SIX, 0, S_TWO, S_THREE
  FT_S2 40, fmul.s, S_INF, OF|NX, S_MAX, S_TWO
  FT_S2 41, fmul.s, 0x00400000, 0, S_MINN, S_HALF             /* exact subnormal: no UF */
  FT_S2 42, fmul.s, S_ZERO, UF|NX, S_MINSUB, S_HALF, rne
  FT_S2 43, fmul.s, S_MINSUB, UF|NX, S_MINSUB, S_HALF, rup
  FT_S2 44, fmul.s, S_MINSUB, UF|NX, S_MINSUB, S_HALF, rmm
  FT_S2 45, fmul.s, 0x80000001, UF|NX, 0x80000001, S_HALF, rdn
  FT_S2 46, fmul.s, S_NZERO, UF|NX, 0x80000001, S_HALF, rne
  FT_S2 47, fmul.s, S_QNAN, NV, S_ZERO, S_INF
  FT_S2 48, fmul.s, S_NZERO, 0, S_NZERO, S_FIVE
  FT_S2 49, fmul.s, S_ONE, 0, S_NONE, S_NONE
  /* tininess is detected after rounding: (1+2^-23)(1-2^-23)2^-126 rounds to 2^-126 */
  FT_S2 50, fmul.s, S_MINN, NX, S_1P1, S_MAXSUB, rne
  FT_S2 51, fmul.s, S_MAXSUB, UF|NX, S_1P1, S_MAXSUB, rtz
  /* fdiv: 1/3 in every rounding mode */
  FT_S2 52, fdiv.s, 0x3eaaaaab, NX, S_ONE, S_THREE, rne
  FT_S2 53, fdiv.s, 0x3eaaaaaa, NX, S_ONE, S_THREE, rtz
  FT_S2 54, fdiv.s, 0x3eaaaaaa, NX, S_ONE, S_THREE, rdn
  FT_S2 55, fdiv.s, 0x3eaaaaab, NX, S_ONE, S_THREE, rup
  FT_S2 56, fdiv.s, 0x3eaaaaab, NX, S_ONE, S_THREE, rmm
  FT_S2 57, fdiv.s, 0xbeaaaaab, NX, S_NONE, S_THREE, rdn
  FT_S2 58, fdiv.s, 0xbeaaaaaa, NX, S_NONE, S_THREE, rup
  FT_S2 59, fdiv.s, S_INF, DZ, S_ONE, S_ZERO
  FT_S2 60, fdiv.s, S_NINF, DZ, S_NONE, S_ZERO
  FT_S2 61, fdiv.s, S_NINF, DZ, S_ONE, S_NZERO
  FT_S2 62, fdiv.s, S_QNAN, NV, S_ZERO, S_ZERO
  FT_S2 63, fdiv.s, S_QNAN, NV, S_INF, S_NINF
  FT_S2 64, fdiv.s, S_TWO, 0, S_SIX, S_THREE
  FT_S2 65, fdiv.s, S_INF, 0, S_INF, S_ZERO                   /* no DZ for infinity */
  FT_S2 66, fdiv.s, S_NZERO, 0, S_ZERO, S_NINF
  FT_S2 67, fdiv.s, S_QNAN, NV, S_SNAN, S_ZERO
  /* fsqrt */
  FT_S1 68, fsqrt.s, S_TWO, 0, 0x40800000
  FT_S1 69, fsqrt.s, 0x3fb504f3, NX, S_TWO, rne
  FT_S1 70, fsqrt.s, 0x3fb504f4, NX, S_TWO, rup
  FT_S1 71, fsqrt.s, 0x3fb504f3, NX, S_TWO, rtz
  FT_S1 72, fsqrt.s, S_QNAN, NV, S_NONE
  FT_S1 73, fsqrt.s, S_NZERO, 0, S_NZERO
  FT_S1 74, fsqrt.s, S_INF, 0, S_INF
  FT_S1 75, fsqrt.s, S_QNAN, NV, S_NINF
  FT_S1 76, fsqrt.s, S_QNAN, NV, S_SNAN
  FT_S1 77, fsqrt.s, S_QNAN, 0, 0x7fc00abc
  FT_S1 78, fsqrt.s, 0x1a3504f3, NX, S_MINSUB
  /* fused multiply-add: one rounding. A*A = 1 + 2^-11 + 2^-24 exactly. */
  FT_S3 79, fmadd.s, 0x40e00000, 0, S_TWO, S_THREE, S_ONE
  FT_S3 80, fmsub.s, S_2M24, 0, S_A, S_A, S_C
  FT_S3 81, fmadd.s, S_2M24, 0, S_A, S_A, 0xbf801000
  FT_S3 82, fnmsub.s, S_N2M24, 0, S_A, S_A, S_C
  FT_S3 83, fnmadd.s, S_N2M24, 0, S_A, S_A, 0xbf801000
  FT_S3 84, fmadd.s, S_C, NX, S_A, S_A, S_ZERO, rne
  FT_S3 85, fmadd.s, 0x3f801001, NX, S_A, S_A, S_ZERO, rup
  FT_S3 86, fnmadd.s, 0xbf801001, NX, S_A, S_A, S_ZERO, rdn
  FT_S3 87, fnmsub.s, 0xbf801000, NX, S_A, S_A, S_ZERO, rtz
  /* infinity x zero is invalid even with a quiet NaN addend */
  FT_S3 88, fmadd.s, S_QNAN, NV, S_INF, S_ZERO, S_QNAN
  FT_S3 89, fmadd.s, S_QNAN, NV, S_ZERO, S_NINF, S_ONE
  FT_S3 90, fmadd.s, S_QNAN, NV, S_ONE, S_ONE, S_SNAN
  FT_S3 91, fmadd.s, S_QNAN, 0, S_ONE, S_ONE, S_QNAN
  FT_S3 92, fmadd.s, S_QNAN, NV, S_INF, S_ONE, S_NINF
  /* exact zero sums: signs by rounding mode */
  FT_S3 93, fmadd.s, S_ZERO, 0, S_ONE, S_ONE, S_NONE, rne
  FT_S3 94, fmadd.s, S_NZERO, 0, S_ONE, S_ONE, S_NONE, rdn
  FT_S3 95, fnmadd.s, S_ZERO, 0, S_ONE, S_ONE, S_NONE, rne
  FT_S3 96, fnmsub.s, S_ZERO, 0, S_ONE, S_ONE, S_ONE, rne
  FT_S3 97, fmsub.s, S_NZERO, 0, S_ONE, S_ONE, S_ONE, rdn
  FT_S3 98, fmadd.s, S_INF, OF|NX, S_MAX, S_TWO, S_ZERO
  FT_S3 99, fmadd.s, S_MAX, OF|NX, S_MAX, S_TWO, S_ZERO, rtz
  FT_S3 100, fnmadd.s, S_NINF, 0, S_INF, S_ONE, S_ONE

  /* dyn: the rounding mode comes from frm */
  TESTNUM 101
  li a0, RNE
  fsrm a0
  frrm a0
  _CHECK 101, a0, RNE
  FT_S2 102, fadd.s, S_ONE, NX, S_ONE, S_2M24
  li a0, RTZ
  fsrm a0
  FT_S2 104, fadd.s, S_ONE, NX, S_ONE, S_2M24
  FT_S2 105, fdiv.s, 0x3eaaaaaa, NX, S_ONE, S_THREE
  li a0, RDN
  fsrm a0
  FT_S2 107, fadd.s, 0xbf800001, NX, S_NONE, S_N2M24
  FT_S2 108, fsub.s, S_NZERO, 0, S_TWO, S_TWO
  li a0, RUP
  fsrm a0
  FT_S2 110, fadd.s, S_1P1, NX, S_ONE, S_2M24
  FT_S1 111, fsqrt.s, 0x3fb504f4, NX, S_TWO
  li a0, RMM
  fsrm a0
  FT_S2 113, fadd.s, S_1P1, NX, S_ONE, S_2M24
  FT_S3 114, fmadd.s, 0x3f801001, NX, S_A, S_A, S_ZERO
  /* a static rounding mode wins over frm */
  FT_S2 115, fadd.s, S_ONE, NX, S_ONE, S_2M24, rne
  FT_S2 116, fadd.s, S_ONE, NX, S_ONE, S_2M24, rtz
  li a0, RUP
  fsrm a0
  FT_S2 118, fadd.s, S_ONE, NX, S_ONE, S_2M24, rdn
  /* frm is 3 bits; fsrm returns the old value */
  TESTNUM 119
  li a0, RNE
  fsrm a1, a0
  _CHECK 119, a1, RUP

  /* fflags accumulate */
  TESTNUM 120
  csrw fflags, zero
  li a1, S_ONE
  fmv.w.x fa1, a1
  li a2, S_THREE
  fmv.w.x fa2, a2
  fdiv.s fa0, fa1, fa2          /* NX */
  fmv.w.x fa2, zero
  fdiv.s fa0, fa1, fa2          /* DZ */
  csrr a0, fflags
  _CHECK 120, a0, NX|DZ
  TESTNUM 121
  fdiv.s fa0, fa2, fa2          /* NV */
  frflags a0
  _CHECK 121, a0, NX|DZ|NV
  TESTNUM 122
  fadd.s fa0, fa1, fa1          /* exact: nothing new */
  fsflags a1, zero              /* read and clear */
  frflags a0
  _CHECK 122, a1, NX|DZ|NV
  _CHECK 122, a0, 0

  /* reserved rounding modes are illegal instructions: static rm 5 and 6 */
  TRAP_EXPECT 1f
  .word 0x00c5d553              /* fadd.s fa0, fa1, fa2 with rm = 5 */
1:
  CHECK_TRAP 124, CAUSE_ILLEGAL, 0x00c5d553
  TRAP_EXPECT 1f
  .word 0x00c5e553              /* rm = 6 */
1:
  CHECK_TRAP 126, CAUSE_ILLEGAL, 0x00c5e553
  /* dyn with frm = 5, 6, 7 */
  li a0, 5
  fsrm a0
  TRAP_EXPECT 1f
  .word 0x00c5f553              /* fadd.s fa0, fa1, fa2, dyn */
1:
  CHECK_TRAP 128, CAUSE_ILLEGAL, 0x00c5f553
  li a0, 7
  fsrm a0
  TRAP_EXPECT 1f
  .word 0x00c5f553
1:
  CHECK_TRAP 129, CAUSE_ILLEGAL, 0x00c5f553
  /* but a static rounding mode still works */
  FT_S2 130, fadd.s, S_THREE, 0, S_ONE, S_TWO, rne
  /* and instructions without a rounding mode are fine (fsgnj, fmv, compare) */
  TESTNUM 131
  li a1, S_ONE
  fmv.w.x fa1, a1
  fneg.s fa0, fa1
  fmv.x.w a0, fa0
  _CHECK 131, a0, 0xffffffffbf800000
  csrwi frm, 0
  TEST_DONE
