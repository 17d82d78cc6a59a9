# d_misc: RV64D non-arithmetic instructions. fmin/fmax, feq/flt/fle, fclass, sign
# injection, fmv.x.d/fmv.d.x, fld/fsd, conversions to and from integers with
# saturation, fcvt.s.d/fcvt.d.s (rounding, overflow, NaNs, NaN-boxing).
#include "rt.h"
#include "fp.h"
  PROGRAM d_misc

#define D_NSNAN  0xfff0000000000001
#define D_NQNAN  0xfff8000000000000
#define D_2P5    0x4004000000000000
#define D_N2P5   0xc004000000000000
#define D_N0P5   0xbfe0000000000000
#define D_2P31M  0x41dfffffffe00000      /* 2^31 - 0.5 */
#define D_N2P31M 0xc1e0000000100000      /* -2^31 - 0.5 */
#define D_2P32M  0x41efffffffff0000      /* 2^32 - 0.5 */
#define D_2P63   0x43e0000000000000
#define D_N2P63  0xc3e0000000000000
#define D_2P64   0x43f0000000000000

  .text
  .globl test_main
test_main:
  /* fmin / fmax */
  FT_D2 1, fmin.d, D_ONE, 0, D_ONE, D_TWO
  FT_D2 2, fmax.d, D_TWO, 0, D_ONE, D_TWO
  FT_D2 3, fmin.d, D_NZERO, 0, D_ZERO, D_NZERO
  FT_D2 4, fmax.d, D_ZERO, 0, D_NZERO, D_ZERO
  FT_D2 5, fmin.d, D_ONE, 0, D_QNAN, D_ONE
  FT_D2 6, fmax.d, D_NONE, 0, D_NONE, D_NQNAN
  FT_D2 7, fmin.d, D_ONE, NV, D_ONE, D_SNAN
  FT_D2 8, fmax.d, D_ONE, NV, D_NSNAN, D_ONE
  FT_D2 9, fmin.d, D_QNAN, 0, 0x7ff8000000000123, D_NQNAN
  FT_D2 10, fmax.d, D_QNAN, NV, D_SNAN, D_SNAN
  FT_D2 11, fmin.d, D_NINF, 0, D_INF, D_NINF
  FT_D2 12, fmax.d, D_MINSUB, 0, D_MINSUB, 0x8000000000000001
  /* compares */
  FT_D2X 13, feq.d, 1, 0, D_ONE, D_ONE
  FT_D2X 14, feq.d, 1, 0, D_ZERO, D_NZERO
  FT_D2X 15, feq.d, 0, 0, D_QNAN, D_QNAN
  FT_D2X 16, feq.d, 0, NV, D_SNAN, D_ONE
  FT_D2X 17, feq.d, 0, 0, D_ONE, 0x3ff0000000000001
  FT_D2X 18, flt.d, 1, 0, D_ONE, D_TWO
  FT_D2X 19, flt.d, 0, 0, D_NZERO, D_ZERO
  FT_D2X 20, flt.d, 0, NV, D_ONE, D_QNAN
  FT_D2X 21, flt.d, 1, 0, D_NINF, D_NONE
  FT_D2X 22, fle.d, 1, 0, D_ZERO, D_NZERO
  FT_D2X 23, fle.d, 0, NV, D_QNAN, D_QNAN
  FT_D2X 24, fle.d, 0, 0, D_TWO, D_ONE
  FT_D2X 25, fle.d, 1, 0, D_INF, D_INF
  /* fclass */
  FT_D2I 26, fclass.d, 1 << 0, 0, D_NINF
  FT_D2I 27, fclass.d, 1 << 1, 0, D_NONE
  FT_D2I 28, fclass.d, 1 << 2, 0, 0x800fffffffffffff
  FT_D2I 29, fclass.d, 1 << 3, 0, D_NZERO
  FT_D2I 30, fclass.d, 1 << 4, 0, D_ZERO
  FT_D2I 31, fclass.d, 1 << 5, 0, D_MINSUB
  FT_D2I 32, fclass.d, 1 << 6, 0, D_MINN
  FT_D2I 33, fclass.d, 1 << 7, 0, D_INF
  FT_D2I 34, fclass.d, 1 << 8, 0, D_SNAN
  FT_D2I 35, fclass.d, 1 << 8, 0, 0xfff7ffffffffffff
  FT_D2I 36, fclass.d, 1 << 9, 0, D_QNAN
  FT_D2I 37, fclass.d, 1 << 9, 0, D_NQNAN
  FT_D2I 38, fclass.d, 1 << 6, 0, 0x00000000ffffffff | 0x3ff0000000000000
  /* sign injection */
  FT_D2 39, fsgnj.d, D_NONE, 0, D_ONE, D_NZERO
  FT_D2 40, fsgnjn.d, D_ONE, 0, D_ONE, D_NZERO
  FT_D2 41, fsgnjx.d, D_ONE, 0, D_NONE, 0xc000000000000000
  FT_D2 42, fsgnjx.d, D_NONE, 0, D_NONE, D_TWO
  FT_D2 43, fsgnj.d, 0xfff0000000000001, 0, D_SNAN, D_NONE
  FT_D1 44, fneg.d, D_NINF, 0, D_INF
  FT_D1 45, fabs.d, D_ZERO, 0, D_NZERO
  /* fmv.x.d / fmv.d.x move all 64 bits */
  TESTNUM 46
  li a1, 0x0123456789abcdef
  fmv.d.x fa0, a1
  fmv.x.d a0, fa0
  _CHECK 46, a0, 0x0123456789abcdef
  /* fld / fsd move all 64 bits, signalling NaNs included */
  TESTNUM 47
  la a1, ddata
  fld fa0, 0(a1)
  fsd fa0, 16(a1)
  ld a0, 16(a1)
  _CHECK 47, a0, D_SNAN
  TESTNUM 48
  fld fa0, 8(a1)
  fmv.x.d a0, fa0
  _CHECK 48, a0, 0xc00921fb54442d18
  TESTNUM 49
  li a2, S_ONE
  fmv.w.x fa0, a2
  fsd fa0, 16(a1)                 /* a boxed f32: fsd stores the whole register */
  ld a0, 16(a1)
  _CHECK 49, a0, BOX|S_ONE

  /* fcvt.w.d */
  FT_D2I 50, fcvt.w.d, 0x7fffffff, NV, D_2P31M, rne         /* rounds to 2^31 */
  FT_D2I 51, fcvt.w.d, 0x7fffffff, NX, D_2P31M, rtz
  FT_D2I 52, fcvt.w.d, 0xffffffff80000000, NX, D_N2P31M, rne
  FT_D2I 53, fcvt.w.d, 0xffffffff80000000, NX, D_N2P31M, rtz
  FT_D2I 54, fcvt.w.d, 0xffffffff80000000, NV, D_N2P31M, rdn
  FT_D2I 55, fcvt.w.d, 0x7fffffff, NV, D_QNAN, rtz
  FT_D2I 56, fcvt.w.d, 0x7fffffff, NV, D_NSNAN, rtz
  FT_D2I 57, fcvt.w.d, 0xffffffff80000000, NV, D_NINF, rtz
  FT_D2I 58, fcvt.w.d, 2, NX, D_2P5, rne
  FT_D2I 59, fcvt.w.d, -3, NX, D_N2P5, rmm
  FT_D2I 60, fcvt.w.d, 0, NX, D_N0P5, rup
  /* fcvt.wu.d */
  FT_D2I 61, fcvt.wu.d, 0xffffffffffffffff, NX, D_2P32M, rtz
  FT_D2I 62, fcvt.wu.d, 0xffffffffffffffff, NV, D_2P32M, rne
  FT_D2I 63, fcvt.wu.d, 0, NX, D_N0P5, rtz
  FT_D2I 64, fcvt.wu.d, 0, NV, D_NONE, rtz
  FT_D2I 65, fcvt.wu.d, 0xffffffffffffffff, NV, D_QNAN, rtz
  FT_D2I 66, fcvt.wu.d, 0, NV, D_NINF, rtz
  FT_D2I 67, fcvt.wu.d, 0xffffffff80000000, 0, 0x41e0000000000000, rtz   /* 2^31 */
  /* fcvt.l.d / fcvt.lu.d */
  FT_D2I 68, fcvt.l.d, 0x7fffffffffffffff, NV, D_2P63, rtz
  FT_D2I 69, fcvt.l.d, 0x8000000000000000, 0, D_N2P63, rtz
  FT_D2I 70, fcvt.l.d, 0x7ffffffffffffc00, 0, 0x43dfffffffffffff, rtz
  FT_D2I 71, fcvt.l.d, 0x7fffffffffffffff, NV, D_QNAN, rtz
  FT_D2I 72, fcvt.l.d, 0x8000000000000000, NV, D_NINF, rtz
  FT_D2I 73, fcvt.l.d, 0x8000000000000000, NV, 0xc3e0000000000001, rtz
  FT_D2I 74, fcvt.l.d, -2, NX, D_N2P5, rne
  FT_D2I 75, fcvt.lu.d, 0xffffffffffffffff, NV, D_2P64, rtz
  FT_D2I 76, fcvt.lu.d, 0xfffffffffffff800, 0, 0x43efffffffffffff, rtz
  FT_D2I 77, fcvt.lu.d, 0, NX, D_N0P5, rtz
  FT_D2I 78, fcvt.lu.d, 0, NV, D_NONE, rtz
  FT_D2I 79, fcvt.lu.d, 0xffffffffffffffff, NV, D_SNAN, rtz
  FT_D2I 80, fcvt.lu.d, 3, NX, D_2P5, rmm
  /* integer -> double */
  FT_I2D 81, fcvt.d.w, 0xc1e0000000000000, 0, 0x80000000
  FT_I2D 82, fcvt.d.w, 0x41dfffffffc00000, 0, 0x7fffffff
  FT_I2D 83, fcvt.d.w, D_NONE, 0, 0x00000000ffffffff       /* the low word is -1 */
  FT_I2D 84, fcvt.d.w, D_ZERO, 0, 0
  FT_I2D 85, fcvt.d.wu, 0x41efffffffe00000, 0, 0xffffffffffffffff
  FT_I2D 86, fcvt.d.wu, D_ONE, 0, 0x7000000000000001
  FT_I2D 87, fcvt.d.l, D_2P63, NX, 0x7fffffffffffffff, rne
  FT_I2D 88, fcvt.d.l, 0x43dfffffffffffff, NX, 0x7fffffffffffffff, rtz
  FT_I2D 89, fcvt.d.l, D_N2P63, 0, 0x8000000000000000
  FT_I2D 90, fcvt.d.l, D_NONE, 0, -1
  FT_I2D 91, fcvt.d.l, 0x4340000000000000, NX, 0x20000000000001, rne     /* 2^53 + 1: a tie */
  FT_I2D 92, fcvt.d.l, 0x4340000000000001, NX, 0x20000000000001, rmm
  FT_I2D 93, fcvt.d.lu, D_2P64, NX, -1, rne
  FT_I2D 94, fcvt.d.lu, 0x43efffffffffffff, NX, -1, rtz
  FT_I2D 95, fcvt.d.lu, D_2P63, 0, 0x8000000000000000

  /* fcvt.s.d: rounding, overflow, underflow, NaNs; the result is NaN-boxed */
  FT_D2S 96, S_ONE, 0, D_ONE
  FT_D2S 97, S_ONE, NX, 0x3ff0000010000000, rne              /* 1 + 2^-24: a tie */
  FT_D2S 98, 0x3f800001, NX, 0x3ff0000010000000, rup
  FT_D2S 99, 0x3f800001, NX, 0x3ff0000010000000, rmm
  FT_D2S 100, S_INF, OF|NX, D_MAX, rne
  FT_D2S 101, S_MAX, OF|NX, D_MAX, rtz
  FT_D2S 102, 0xff7fffff, OF|NX, 0xffefffffffffffff, rup
  FT_D2S 103, S_QNAN, NV, D_SNAN
  FT_D2S 104, S_QNAN, 0, 0xfff8000000012345
  FT_D2S 105, S_NZERO, 0, D_NZERO
  FT_D2S 106, S_ZERO, UF|NX, 0x3690000000000000, rne         /* 2^-150 */
  FT_D2S 107, S_MINSUB, UF|NX, 0x3690000000000000, rup
  FT_D2S 108, S_MINSUB, 0, 0x36a0000000000000                /* 2^-149 exactly */
  FT_D2S 109, S_NINF, 0, D_NINF
  FT_D2S 110, 0x3eaaaaab, NX, 0x3fd5555555555555, rne
  /* fcvt.d.s: exact except for NaNs */
  FT_S2D 111, D_QNAN, NV, S_SNAN
  FT_S2D 112, D_QNAN, 0, 0x7fc12345
  FT_S2D 113, D_NINF, 0, S_NINF
  FT_S2D 114, 0x36a0000000000000, 0, S_MINSUB
  FT_S2D 115, 0x47efffffe0000000, 0, S_MAX
  FT_S2D 116, D_NZERO, 0, S_NZERO
  FT_S2D 117, 0xbff8000000000000, 0, 0xbfc00000
  /* fcvt.d.s of an improperly boxed register reads the canonical NaN */
  TESTNUM 118
  li a1, 0x000000003f800000
  fmv.d.x fa1, a1
  csrw fflags, zero
  fcvt.d.s fa0, fa1
  fmv.x.d a0, fa0
  frflags a3
  _FCHECK 118, D_QNAN, 0
  /* double ops read all 64 bits: a boxed f32 is a NaN to them */
  TESTNUM 119
  li a1, S_ONE
  fmv.w.x fa1, a1
  fclass.d a0, fa1
  _CHECK 119, a0, 1 << 9
  TEST_DONE

  .data
  .balign 8
ddata:
  .dword D_SNAN
  .dword 0xc00921fb54442d18      /* -pi */
  .dword 0
