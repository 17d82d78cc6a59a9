# d_arith: RV64D arithmetic. fadd/fsub/fmul/fdiv/fsqrt and the fused multiply-adds in
# double precision, every static rounding mode and dyn, with their fflags: ties,
# overflow, underflow (tininess after rounding), division by zero, invalid, canonical
# NaN results, signed zeros.
#include "rt.h"
#include "fp.h"
  PROGRAM d_arith

#define D_2M53   0x3ca0000000000000      /* half an ulp of 1.0 */
#define D_N2M53  0xbca0000000000000
#define D_2M54   0x3c90000000000000
#define D_1P1    0x3ff0000000000001      /* 1 + 2^-52 */
#define D_NMAX   0xffefffffffffffff
#define D_MAXSUB 0x000fffffffffffff
#define D_SIX    0x4018000000000000
#define D_FOUR   0x4010000000000000
#define D_A      0x3ff0000002000000      /* 1 + 2^-27 */
#define D_C      0x3ff0000004000000      /* 1 + 2^-26 */
#define D_NC     0xbff0000004000000

  .text
  .globl test_main
test_main:
  FT_D2 1, fadd.d, D_THREE, 0, D_ONE, D_TWO
  FT_D2 2, fadd.d, D_ONE, NX, D_ONE, D_2M53, rne
  FT_D2 3, fadd.d, D_ONE, NX, D_ONE, D_2M53, rtz
  FT_D2 4, fadd.d, D_ONE, NX, D_ONE, D_2M53, rdn
  FT_D2 5, fadd.d, D_1P1, NX, D_ONE, D_2M53, rup
  FT_D2 6, fadd.d, D_1P1, NX, D_ONE, D_2M53, rmm
  FT_D2 7, fadd.d, D_NONE, NX, D_NONE, D_N2M53, rne
  FT_D2 8, fadd.d, 0xbff0000000000001, NX, D_NONE, D_N2M53, rdn
  FT_D2 9, fadd.d, D_NONE, NX, D_NONE, D_N2M53, rup
  FT_D2 10, fadd.d, 0xbff0000000000001, NX, D_NONE, D_N2M53, rmm
  FT_D2 11, fadd.d, D_ONE, NX, D_ONE, D_2M54, rmm
  FT_D2 12, fadd.d, D_1P1, NX, D_ONE, D_2M54, rup
  FT_D2 13, fadd.d, 0x3ff0000000000002, NX, D_1P1, D_2M53, rne
  FT_D2 14, fadd.d, D_1P1, NX, D_1P1, D_2M53, rtz
  FT_D2 15, fadd.d, D_ZERO, 0, D_ONE, D_NONE, rne
  FT_D2 16, fadd.d, D_NZERO, 0, D_ONE, D_NONE, rdn
  FT_D2 17, fadd.d, D_NZERO, 0, D_NZERO, D_NZERO
  FT_D2 18, fadd.d, D_ZERO, 0, D_ZERO, D_NZERO, rup
  FT_D2 19, fsub.d, D_NZERO, 0, D_TWO, D_TWO, rdn
  FT_D2 20, fsub.d, D_ONE, 0, D_THREE, D_TWO
  FT_D2 21, fadd.d, D_INF, OF|NX, D_MAX, D_MAX, rne
  FT_D2 22, fadd.d, D_MAX, OF|NX, D_MAX, D_MAX, rtz
  FT_D2 23, fadd.d, D_MAX, OF|NX, D_MAX, D_MAX, rdn
  FT_D2 24, fadd.d, D_INF, OF|NX, D_MAX, D_MAX, rup
  FT_D2 25, fadd.d, D_INF, OF|NX, D_MAX, D_MAX, rmm
  FT_D2 26, fadd.d, D_NINF, OF|NX, D_NMAX, D_NMAX, rdn
  FT_D2 27, fadd.d, D_NMAX, OF|NX, D_NMAX, D_NMAX, rup
  FT_D2 28, fadd.d, D_QNAN, NV, D_INF, D_NINF
  FT_D2 29, fadd.d, D_NINF, 0, D_NINF, D_ONE
  FT_D2 30, fadd.d, D_QNAN, 0, 0x7ff8000000012345, D_ONE
  FT_D2 31, fadd.d, D_QNAN, NV, D_SNAN, D_ONE
  FT_D2 32, fadd.d, D_QNAN, NV, D_ONE, 0xfff0000000000001
  FT_D2 33, fsub.d, D_QNAN, NV, D_NINF, D_NINF
  /* fmul */
  FT_D2 34, fmul.d, D_SIX, 0, D_TWO, D_THREE
  FT_D2 35, fmul.d, D_INF, OF|NX, D_MAX, D_TWO
  FT_D2 36, fmul.d, 0x0008000000000000, 0, D_MINN, D_HALF
  FT_D2 37, fmul.d, D_ZERO, UF|NX, D_MINSUB, D_HALF, rne
  FT_D2 38, fmul.d, D_MINSUB, UF|NX, D_MINSUB, D_HALF, rup
  FT_D2 39, fmul.d, D_MINSUB, UF|NX, D_MINSUB, D_HALF, rmm
  FT_D2 40, fmul.d, 0x8000000000000001, UF|NX, 0x8000000000000001, D_HALF, rdn
  FT_D2 41, fmul.d, D_QNAN, NV, D_INF, D_NZERO
  FT_D2 42, fmul.d, D_NZERO, 0, D_ZERO, D_NONE
  FT_D2 43, fmul.d, D_MINN, NX, D_1P1, D_MAXSUB, rne       /* tiny only before rounding */
  FT_D2 44, fmul.d, D_MAXSUB, UF|NX, D_1P1, D_MAXSUB, rtz
  /* fdiv: 1/3 rounds down to nearest in double */
  FT_D2 45, fdiv.d, 0x3fd5555555555555, NX, D_ONE, D_THREE, rne
  FT_D2 46, fdiv.d, 0x3fd5555555555555, NX, D_ONE, D_THREE, rtz
  FT_D2 47, fdiv.d, 0x3fd5555555555555, NX, D_ONE, D_THREE, rdn
  FT_D2 48, fdiv.d, 0x3fd5555555555556, NX, D_ONE, D_THREE, rup
  FT_D2 49, fdiv.d, 0x3fd5555555555555, NX, D_ONE, D_THREE, rmm
  FT_D2 50, fdiv.d, 0xbfd5555555555556, NX, D_NONE, D_THREE, rdn
  FT_D2 51, fdiv.d, 0xbfd5555555555555, NX, D_NONE, D_THREE, rup
  FT_D2 52, fdiv.d, D_INF, DZ, D_ONE, D_ZERO
  FT_D2 53, fdiv.d, D_NINF, DZ, D_ONE, D_NZERO
  FT_D2 54, fdiv.d, D_QNAN, NV, D_ZERO, D_NZERO
  FT_D2 55, fdiv.d, D_QNAN, NV, D_INF, D_INF
  FT_D2 56, fdiv.d, D_TWO, 0, D_SIX, D_THREE
  FT_D2 57, fdiv.d, D_NINF, 0, D_NINF, D_ZERO
  FT_D2 58, fdiv.d, D_ZERO, UF|NX, D_MINSUB, D_MAX, rne
  /* fsqrt */
  FT_D1 59, fsqrt.d, D_TWO, 0, D_FOUR
  FT_D1 60, fsqrt.d, 0x3ff6a09e667f3bcd, NX, D_TWO, rne
  FT_D1 61, fsqrt.d, 0x3ff6a09e667f3bcc, NX, D_TWO, rtz
  FT_D1 62, fsqrt.d, 0x3ff6a09e667f3bcd, NX, D_TWO, rup
  FT_D1 63, fsqrt.d, 0x3ff6a09e667f3bcc, NX, D_TWO, rdn
  FT_D1 64, fsqrt.d, D_QNAN, NV, D_NONE
  FT_D1 65, fsqrt.d, D_NZERO, 0, D_NZERO
  FT_D1 66, fsqrt.d, D_INF, 0, D_INF
  FT_D1 67, fsqrt.d, D_QNAN, NV, D_SNAN
  FT_D1 68, fsqrt.d, 0x1e60000000000000, 0, D_MINSUB             /* 2^-537 exactly */
  /* fused multiply-add: A*A = 1 + 2^-26 + 2^-54 exactly */
  FT_D3 69, fmadd.d, 0x401c000000000000, 0, D_TWO, D_THREE, D_ONE
  FT_D3 70, fmsub.d, D_2M54, 0, D_A, D_A, D_C
  FT_D3 71, fmadd.d, D_2M54, 0, D_A, D_A, D_NC
  FT_D3 72, fnmsub.d, 0xbc90000000000000, 0, D_A, D_A, D_C
  FT_D3 73, fnmadd.d, 0xbc90000000000000, 0, D_A, D_A, D_NC
  FT_D3 74, fmadd.d, D_C, NX, D_A, D_A, D_ZERO, rne
  FT_D3 75, fmadd.d, 0x3ff0000004000001, NX, D_A, D_A, D_ZERO, rup
  FT_D3 76, fnmadd.d, 0xbff0000004000001, NX, D_A, D_A, D_ZERO, rdn
  FT_D3 77, fmadd.d, D_QNAN, NV, D_INF, D_ZERO, D_QNAN
  FT_D3 78, fmadd.d, D_QNAN, NV, D_NZERO, D_INF, D_ONE
  FT_D3 79, fmsub.d, D_QNAN, NV, D_ONE, D_ONE, D_SNAN
  FT_D3 80, fmadd.d, D_QNAN, 0, D_ONE, D_ONE, D_QNAN
  FT_D3 81, fmadd.d, D_QNAN, NV, D_INF, D_ONE, D_NINF
  FT_D3 82, fmadd.d, D_ZERO, 0, D_ONE, D_ONE, D_NONE, rne
  FT_D3 83, fmadd.d, D_NZERO, 0, D_ONE, D_ONE, D_NONE, rdn
  FT_D3 84, fnmadd.d, D_ZERO, 0, D_ONE, D_ONE, D_NONE, rne
  FT_D3 85, fnmsub.d, D_ZERO, 0, D_ONE, D_ONE, D_ONE
  FT_D3 86, fmadd.d, D_INF, OF|NX, D_MAX, D_TWO, D_ZERO
  FT_D3 87, fmsub.d, D_MAX, OF|NX, D_MAX, D_TWO, D_ZERO, rtz
  FT_D3 88, fmadd.d, D_ZERO, UF|NX, D_MINSUB, D_HALF, D_ZERO, rne
  /* dyn */
  fsrmi RTZ
  FT_D2 89, fdiv.d, 0x3fd5555555555555, NX, D_ONE, D_THREE
  FT_D2 90, fadd.d, D_MAX, OF|NX, D_MAX, D_MAX
  fsrmi RUP
  FT_D2 91, fdiv.d, 0x3fd5555555555556, NX, D_ONE, D_THREE
  FT_D1 92, fsqrt.d, 0x3ff6a09e667f3bcd, NX, D_TWO
  fsrmi RDN
  FT_D2 93, fsub.d, D_NZERO, 0, D_ONE, D_ONE
  FT_D1 94, fsqrt.d, 0x3ff6a09e667f3bcc, NX, D_TWO
  fsrmi RMM
  FT_D2 95, fadd.d, D_1P1, NX, D_ONE, D_2M53
  fsrmi RNE
  FT_D2 96, fadd.d, D_ONE, NX, D_ONE, D_2M53
  fsrmi RUP
  FT_D2 97, fadd.d, D_ONE, NX, D_ONE, D_2M53, rne
  fsrmi RNE
  /* a reserved static rounding mode is illegal (fadd.d fa0, fa1, fa2, rm = 5) */
  .option push
  .option norvc
  TRAP_EXPECT 1f
2:
  .word 0x02c5d553
1:
  CHECK_TRAP_INSN 98, CAUSE_ILLEGAL, 2b
  .option pop
  TEST_DONE
