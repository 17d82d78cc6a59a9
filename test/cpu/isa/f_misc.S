# f_misc: RV64F non-arithmetic instructions. fmin/fmax (NaNs, signalling NaNs, signed
# zeros), feq/flt/fle and their flags, fclass of every class, fsgnj/fsgnjn/fsgnjx,
# fmv.x.w/fmv.w.x, flw/fsw, conversions to and from integers with saturation,
# NaN-boxing of inputs and results, and mstatus.FS (Off traps; writes make it Dirty).
#include "rt.h"
#include "fp.h"
  PROGRAM f_misc

#define S_SIX    0x40c00000
#define S_NSNAN  0xff800001
#define S_NQNAN  0xffc00000
#define S_1P5    0x3fc00000
#define S_2P5    0x40200000
#define S_N1P5   0xbfc00000
#define S_N2P5   0xc0200000
#define S_N0P5   0xbf000000
#define S_N0P7   0xbf333333
#define S_3E9    0x4f32d05e      /* 3000000000 exactly */
#define S_N3E9   0xcf32d05e
#define S_2P31   0x4f000000
#define S_N2P31  0xcf000000
#define S_2P32   0x4f800000
#define S_2P63   0x5f000000
#define S_N2P63  0xdf000000
#define S_2P64   0x5f800000
#define S_1E10   0x501502f9      /* 10000000000 exactly */

/* load a raw 64-bit pattern into freg (for NaN-boxing tests); uses a4 */
.macro LOAD_RAW freg, bits
  li a4, \bits
  fmv.d.x \freg, a4
.endm

  .text
  .globl test_main
test_main:
  /* fmin / fmax */
  FT_S2 1, fmin.s, S_ONE, 0, S_ONE, S_TWO
  FT_S2 2, fmax.s, S_TWO, 0, S_ONE, S_TWO
  FT_S2 3, fmin.s, S_NONE, 0, S_NONE, S_ONE
  FT_S2 4, fmax.s, S_ONE, 0, S_NONE, S_ONE
  FT_S2 5, fmin.s, S_NZERO, 0, S_NZERO, S_ZERO
  FT_S2 6, fmin.s, S_NZERO, 0, S_ZERO, S_NZERO
  FT_S2 7, fmax.s, S_ZERO, 0, S_NZERO, S_ZERO
  FT_S2 8, fmax.s, S_ZERO, 0, S_ZERO, S_NZERO
  FT_S2 9, fmin.s, S_ONE, 0, S_QNAN, S_ONE
  FT_S2 10, fmin.s, S_ONE, 0, S_ONE, S_QNAN
  FT_S2 11, fmax.s, S_NINF, 0, S_NINF, S_QNAN
  FT_S2 12, fmin.s, S_ONE, NV, S_SNAN, S_ONE
  FT_S2 13, fmax.s, S_ONE, NV, S_ONE, S_SNAN
  FT_S2 14, fmin.s, S_QNAN, 0, S_QNAN, S_QNAN
  FT_S2 15, fmin.s, S_QNAN, NV, S_SNAN, S_QNAN
  FT_S2 16, fmax.s, S_QNAN, NV, S_NSNAN, S_SNAN
  FT_S2 17, fmin.s, S_QNAN, 0, 0x7fc12345, 0xffc54321      /* canonical, not a payload */
  FT_S2 18, fmin.s, S_NINF, 0, S_INF, S_NINF
  FT_S2 19, fmax.s, S_INF, 0, S_INF, S_NINF
  FT_S2 20, fmin.s, 0x80000001, 0, S_MINSUB, 0x80000001
  FT_S2 21, fmax.s, S_NZERO, NV, S_NZERO, S_NSNAN

  /* feq (quiet: NV only for signalling NaNs), flt and fle (NV for any NaN) */
  FT_S2X 22, feq.s, 1, 0, S_ONE, S_ONE
  FT_S2X 23, feq.s, 0, 0, S_ONE, S_TWO
  FT_S2X 24, feq.s, 1, 0, S_NZERO, S_ZERO
  FT_S2X 25, feq.s, 0, 0, S_QNAN, S_QNAN
  FT_S2X 26, feq.s, 0, NV, S_SNAN, S_ONE
  FT_S2X 27, feq.s, 0, NV, S_ONE, S_NSNAN
  FT_S2X 28, flt.s, 1, 0, S_ONE, S_TWO
  FT_S2X 29, flt.s, 0, 0, S_TWO, S_ONE
  FT_S2X 30, flt.s, 0, 0, S_ONE, S_ONE
  FT_S2X 31, flt.s, 0, 0, S_NZERO, S_ZERO
  FT_S2X 32, flt.s, 0, NV, S_QNAN, S_ONE
  FT_S2X 33, flt.s, 0, NV, S_ONE, S_SNAN
  FT_S2X 34, flt.s, 1, 0, S_NINF, S_INF
  FT_S2X 35, flt.s, 1, 0, S_NONE, S_NZERO
  FT_S2X 36, flt.s, 1, 0, 0x80000001, S_MINSUB
  FT_S2X 37, fle.s, 1, 0, S_ONE, S_ONE
  FT_S2X 38, fle.s, 1, 0, S_NZERO, S_ZERO
  FT_S2X 39, fle.s, 0, 0, S_TWO, S_ONE
  FT_S2X 40, fle.s, 0, NV, S_QNAN, S_ONE
  FT_S2X 41, fle.s, 0, NV, S_SNAN, S_SNAN
  FT_S2X 42, fle.s, 1, 0, S_NINF, S_NINF

  /* fclass: one bit per class */
  FT_S2I 43, fclass.s, 1 << 0, 0, S_NINF
  FT_S2I 44, fclass.s, 1 << 1, 0, S_NONE
  FT_S2I 45, fclass.s, 1 << 2, 0, 0x80000001
  FT_S2I 46, fclass.s, 1 << 2, 0, 0x807fffff
  FT_S2I 47, fclass.s, 1 << 3, 0, S_NZERO
  FT_S2I 48, fclass.s, 1 << 4, 0, S_ZERO
  FT_S2I 49, fclass.s, 1 << 5, 0, S_MINSUB
  FT_S2I 50, fclass.s, 1 << 6, 0, S_ONE
  FT_S2I 51, fclass.s, 1 << 6, 0, S_MINN
  FT_S2I 52, fclass.s, 1 << 7, 0, S_INF
  FT_S2I 53, fclass.s, 1 << 8, 0, S_SNAN
  FT_S2I 54, fclass.s, 1 << 8, 0, S_NSNAN
  FT_S2I 55, fclass.s, 1 << 8, 0, 0x7fbfffff
  FT_S2I 56, fclass.s, 1 << 9, 0, S_QNAN
  FT_S2I 57, fclass.s, 1 << 9, 0, S_NQNAN
  FT_S2I 58, fclass.s, 1 << 1, 0, 0xff7fffff

  /* sign injection: bit moves only, NaN payloads kept, no flags */
  FT_S2 59, fsgnj.s, S_NONE, 0, S_ONE, S_NONE
  FT_S2 60, fsgnj.s, S_ONE, 0, S_NONE, S_TWO
  FT_S2 61, fsgnjn.s, S_ONE, 0, S_ONE, S_NONE
  FT_S2 62, fsgnjn.s, S_NONE, 0, S_ONE, S_TWO
  FT_S2 63, fsgnjx.s, S_ONE, 0, S_NONE, S_NONE
  FT_S2 64, fsgnjx.s, S_NONE, 0, S_NONE, S_TWO
  FT_S2 65, fsgnjx.s, S_NONE, 0, S_ONE, S_NONE
  FT_S2 66, fsgnj.s, 0xffc12345, 0, 0x7fc12345, S_NONE
  FT_S2 67, fsgnj.s, S_SNAN, 0, S_NSNAN, S_ONE
  FT_S2 68, fsgnjn.s, S_NZERO, 0, S_ZERO, S_ZERO
  FT_S1 69, fneg.s, S_ZERO, 0, S_NZERO
  FT_S1 70, fabs.s, S_INF, 0, S_NINF
  FT_S1 71, fmv.s, 0x7f800123, 0, 0x7f800123

  /* fmv.x.w sign-extends; fmv.w.x NaN-boxes */
  FT_S2I 72, fmv.x.w, 0xffffffff80000000, 0, S_NZERO
  FT_S2I 73, fmv.x.w, 0x000000007f800000, 0, S_INF
  FT_S2I 74, fmv.x.w, 0xffffffffff800001, 0, S_NSNAN
  TESTNUM 75
  li a1, 0xdeadbeef3f800000
  fmv.w.x fa0, a1
  fmv.x.d a0, fa0
  _CHECK 75, a0, 0xffffffff3f800000

  /* flw NaN-boxes; fsw stores the low word */
  TESTNUM 76
  la a1, fdata
  flw fa0, 0(a1)
  fmv.x.d a0, fa0
  _CHECK 76, a0, 0xffffffff7f800001       /* a signalling NaN, untouched */
  TESTNUM 77
  flw fa0, 4(a1)
  fsw fa0, 8(a1)
  lwu a0, 8(a1)
  _CHECK 77, a0, 0xc0490fdb
  TESTNUM 78
  LOAD_RAW fa0, 0x1122334455667788       /* not a boxed value: fsw still stores the low word */
  fsw fa0, 8(a1)
  lwu a0, 8(a1)
  _CHECK 78, a0, 0x55667788
  TESTNUM 79
  flw fa0, -4(a1)                         /* the word before fdata */
  fmv.x.w a0, fa0
  _CHECK 79, a0, 0x12345678

  /* NaN-boxing: an f32 operand whose upper 32 bits are not all ones reads as the
     canonical NaN */
  TESTNUM 80
  LOAD_RAW fa1, 0x000000003f800000
  li a2, S_ONE
  fmv.w.x fa2, a2
  csrw fflags, zero
  fadd.s fa0, fa1, fa2
  fmv.x.d a0, fa0
  frflags a3
  _FCHECK 80, BOX|S_QNAN, 0
  TESTNUM 81
  LOAD_RAW fa1, 0xfffffffe3f800000
  fmul.s fa0, fa2, fa1
  fmv.x.d a0, fa0
  _CHECK 81, a0, BOX|S_QNAN
  TESTNUM 82
  LOAD_RAW fa1, 0x7ff0000000000000       /* a double infinity */
  fclass.s a0, fa1
  _CHECK 82, a0, 1 << 9
  TESTNUM 83
  LOAD_RAW fa1, 0x00000000bf800000
  fsgnj.s fa0, fa1, fa2
  fmv.x.d a0, fa0
  _CHECK 83, a0, BOX|S_QNAN
  TESTNUM 84
  fsgnjn.s fa0, fa1, fa2
  fmv.x.d a0, fa0
  _CHECK 84, a0, BOX|S_NQNAN
  TESTNUM 85
  LOAD_RAW fa1, 0x0000000080000000
  fmv.x.w a0, fa1                         /* a transfer: the low word as is */
  _CHECK 85, a0, 0xffffffff80000000
  TESTNUM 86
  csrw fflags, zero
  feq.s a0, fa1, fa2
  frflags a3
  _FCHECK 86, 0, 0
  TESTNUM 87
  flt.s a0, fa1, fa2
  frflags a3
  _FCHECK 87, 0, NV
  TESTNUM 88
  csrw fflags, zero
  fmin.s fa0, fa1, fa2
  fmv.x.d a0, fa0
  frflags a3
  _FCHECK 88, BOX|S_ONE, 0
  TESTNUM 89
  csrw fflags, zero
  fcvt.w.s a0, fa1, rtz
  frflags a3
  _FCHECK 89, 0x7fffffff, NV
  TESTNUM 90
  LOAD_RAW fa1, 0x000000003f800000
  fmadd.s fa0, fa2, fa2, fa1
  fmv.x.d a0, fa0
  _CHECK 90, a0, BOX|S_QNAN
  /* results are boxed: fmv.x.d of an f32 result has the upper word all ones */
  TESTNUM 91
  fcvt.s.w fa0, zero
  fmv.x.d a0, fa0
  _CHECK 91, a0, BOX

  /* fcvt.w.s: rounding modes */
  FT_S2I 92, fcvt.w.s, 2, NX, S_1P5, rne
  FT_S2I 93, fcvt.w.s, 2, NX, S_2P5, rne
  FT_S2I 94, fcvt.w.s, -2, NX, S_N1P5, rne
  FT_S2I 95, fcvt.w.s, -2, NX, S_N2P5, rne
  FT_S2I 96, fcvt.w.s, 3, NX, S_2P5, rmm
  FT_S2I 97, fcvt.w.s, -3, NX, S_N2P5, rmm
  FT_S2I 98, fcvt.w.s, 2, NX, S_2P5, rtz
  FT_S2I 99, fcvt.w.s, -2, NX, S_N2P5, rtz
  FT_S2I 100, fcvt.w.s, 2, NX, S_2P5, rdn
  FT_S2I 101, fcvt.w.s, -3, NX, S_N2P5, rdn
  FT_S2I 102, fcvt.w.s, 3, NX, S_2P5, rup
  FT_S2I 103, fcvt.w.s, -2, NX, S_N2P5, rup
  FT_S2I 104, fcvt.w.s, -1, 0, S_NONE, rtz
  FT_S2I 105, fcvt.w.s, 0, 0, S_NZERO, rtz
  /* fcvt.w.s: saturation and NaN */
  FT_S2I 106, fcvt.w.s, 0x7fffffff, NV, S_QNAN, rtz
  FT_S2I 107, fcvt.w.s, 0x7fffffff, NV, S_NQNAN, rtz
  FT_S2I 108, fcvt.w.s, 0x7fffffff, NV, S_SNAN, rtz
  FT_S2I 109, fcvt.w.s, 0x7fffffff, NV, S_INF, rtz
  FT_S2I 110, fcvt.w.s, 0xffffffff80000000, NV, S_NINF, rtz
  FT_S2I 111, fcvt.w.s, 0x7fffffff, NV, S_3E9, rtz
  FT_S2I 112, fcvt.w.s, 0xffffffff80000000, NV, S_N3E9, rtz
  FT_S2I 113, fcvt.w.s, 0xffffffff80000000, 0, S_N2P31, rtz
  FT_S2I 114, fcvt.w.s, 0x7fffffff, NV, S_2P31, rtz
  /* fcvt.wu.s: negative inputs, sign-extended 32-bit results */
  FT_S2I 115, fcvt.wu.s, 0, NV, S_NONE, rtz
  FT_S2I 116, fcvt.wu.s, 0, NX, S_N0P5, rtz
  FT_S2I 117, fcvt.wu.s, 0, NV, S_N0P7, rne
  FT_S2I 118, fcvt.wu.s, 0xffffffffb2d05e00, 0, S_3E9, rtz
  FT_S2I 119, fcvt.wu.s, 0xffffffffffffffff, NV, S_2P32, rtz
  FT_S2I 120, fcvt.wu.s, 0xffffffffffffffff, NV, S_QNAN, rtz
  FT_S2I 121, fcvt.wu.s, 0xffffffffffffffff, NV, S_INF, rtz
  FT_S2I 122, fcvt.wu.s, 0, NV, S_NINF, rtz
  FT_S2I 123, fcvt.wu.s, 0, 0, S_NZERO, rtz
  FT_S2I 124, fcvt.wu.s, 2, NX, S_2P5, rne
  /* fcvt.l.s / fcvt.lu.s */
  FT_S2I 125, fcvt.l.s, 0x7fffffffffffffff, NV, S_QNAN, rtz
  FT_S2I 126, fcvt.l.s, 0x8000000000000000, NV, S_NINF, rtz
  FT_S2I 127, fcvt.l.s, 0x7fffffffffffffff, NV, S_INF, rtz
  FT_S2I 128, fcvt.l.s, 0x7fffffffffffffff, NV, S_2P63, rtz
  FT_S2I 129, fcvt.l.s, 0x8000000000000000, 0, S_N2P63, rtz
  FT_S2I 130, fcvt.l.s, 0x00000002540be400, 0, S_1E10, rtz
  FT_S2I 131, fcvt.l.s, 0xfffffffffffffffd, NX, S_N2P5, rdn
  FT_S2I 132, fcvt.l.s, 0x0000000080000000, 0, S_2P31, rtz
  FT_S2I 133, fcvt.lu.s, 0, NV, S_NONE, rtz
  FT_S2I 134, fcvt.lu.s, 0xffffffffffffffff, NV, S_QNAN, rtz
  FT_S2I 135, fcvt.lu.s, 0xffffffffffffffff, NV, S_2P64, rtz
  FT_S2I 136, fcvt.lu.s, 0x8000000000000000, 0, S_2P63, rtz
  FT_S2I 137, fcvt.lu.s, 0, 0, S_NZERO, rtz
  FT_S2I 138, fcvt.lu.s, 0x0000000100000000, 0, S_2P32, rtz
  FT_S2I 139, fcvt.lu.s, 3, NX, S_2P5, rup
  /* dyn rounding for a conversion */
  li a0, RMM
  fsrm a0
  FT_S2I 141, fcvt.w.s, 3, NX, S_2P5
  fsrmi RNE

  /* integer -> single */
  FT_I2S 142, fcvt.s.w, S_2P31, NX, 0x7fffffff, rne
  FT_I2S 143, fcvt.s.w, 0x4effffff, NX, 0x7fffffff, rtz
  FT_I2S 144, fcvt.s.w, S_NONE, 0, -1
  FT_I2S 145, fcvt.s.w, S_ONE, 0, 0xffffffff00000001      /* upper word ignored */
  FT_I2S 146, fcvt.s.w, S_N2P31, 0, 0x80000000
  FT_I2S 147, fcvt.s.w, S_ZERO, 0, 0
  FT_I2S 148, fcvt.s.w, 0x4b800000, NX, 16777217, rne     /* 2^24 + 1: a tie */
  FT_I2S 149, fcvt.s.w, 0x4b800001, NX, 16777217, rup
  FT_I2S 150, fcvt.s.wu, S_2P32, NX, 0xffffffff, rne
  FT_I2S 151, fcvt.s.wu, 0x4f7fffff, NX, 0xffffffff, rtz
  FT_I2S 152, fcvt.s.wu, S_ONE, 0, 0x100000001
  FT_I2S 153, fcvt.s.wu, S_2P31, 0, 0x80000000
  FT_I2S 154, fcvt.s.l, S_2P63, NX, 0x7fffffffffffffff, rne
  FT_I2S 155, fcvt.s.l, 0x5effffff, NX, 0x7fffffffffffffff, rdn
  FT_I2S 156, fcvt.s.l, S_NONE, 0, -1
  FT_I2S 157, fcvt.s.l, S_N2P63, 0, 0x8000000000000000
  FT_I2S 158, fcvt.s.l, 0xcf000001, NX, 0xffffffff7fffff7f, rdn
  FT_I2S 159, fcvt.s.lu, S_2P64, NX, -1, rne
  FT_I2S 160, fcvt.s.lu, 0x5f7fffff, NX, -1, rtz
  FT_I2S 161, fcvt.s.lu, S_2P63, 0, 0x8000000000000000
  FT_I2S 162, fcvt.s.lu, 0x3f800000, 0, 1

  /* mstatus.FS: Off makes every F instruction and fcsr access illegal */
  li a0, MSTATUS_FS
  csrc mstatus, a0
  .option push
  .option norvc
  TRAP_EXPECT 1f
2:
  fadd.s fa0, fa1, fa2
1:
  CHECK_TRAP_INSN 164, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  fmv.x.w a0, fa1
1:
  CHECK_TRAP_INSN 165, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  fmv.w.x fa0, zero
1:
  CHECK_TRAP_INSN 166, CAUSE_ILLEGAL, 2b
  la a1, fdata
  TRAP_EXPECT 1f
2:
  flw fa0, 0(a1)
1:
  CHECK_TRAP_INSN 167, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  fsw fa0, 8(a1)
1:
  CHECK_TRAP_INSN 168, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  csrr a0, fflags
1:
  CHECK_TRAP_INSN 169, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  csrw frm, zero
1:
  CHECK_TRAP_INSN 170, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  csrr a0, fcsr
1:
  CHECK_TRAP_INSN 171, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  fcvt.s.w fa0, a1
1:
  CHECK_TRAP_INSN 172, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  fld fa0, 0(a1)
1:
  CHECK_TRAP_INSN 173, CAUSE_ILLEGAL, 2b
  .option pop
  /* FS stayed Off */
  TESTNUM 174
  csrr a0, mstatus
  li a1, MSTATUS_FS
  and a0, a0, a1
  _CHECK 174, a0, 0
  /* FS = Clean: a write to an f register makes it Dirty, and SD reads 1 */
  TESTNUM 175
  li a0, 2 << 13
  csrs mstatus, a0
  csrr a0, mstatus
  srli a1, a0, 63
  _CHECK 175, a1, 0                 /* SD = 0 while FS is Clean (and XS, VS are Off) */
  TESTNUM 176
  fmv.w.x fa0, zero
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  _CHECK 176, a1, 3
  srli a1, a0, 63
  _CHECK 176, a1, 1
  /* FS = Initial: writing fflags makes it Dirty */
  TESTNUM 177
  li a0, MSTATUS_FS
  csrc mstatus, a0
  li a0, 1 << 13
  csrs mstatus, a0
  csrwi fflags, NX
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  _CHECK 177, a1, 3
  TESTNUM 178
  frflags a0
  _CHECK 178, a0, NX
  TEST_DONE

  .data
  .balign 8
  .word 0x12345678
fdata:
  .word 0x7f800001
  .word 0xc0490fdb      /* -pi */
  .word 0
  .word 0
