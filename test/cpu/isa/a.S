# a: RV64A. Every AMO in .w and .d (old value returned, .w results sign-extended,
# the upper word untouched by .w), lr/sc success and failure, misaligned AMOs.
#include "rt.h"
  PROGRAM a

#define MIN64 0x8000000000000000
#define MAX64 0x7fffffffffffffff
#define HI    0x5555555500000000     /* upper word of the doubleword under a .w AMO */

/* TEST n: with the doubleword at `cell` = init, `op rd, operand, (cell)` gives
   rd == old and the doubleword == new. */
.macro TEST_AMO n, op, init, operand, old, new
  TESTNUM \n
  la a1, cell
  li a2, \init
  sd a2, 0(a1)
  li a2, \operand
  \op a0, a2, (a1)
  _CHECK \n, a0, \old
  ld a3, 0(a1)
  _CHECK \n, a3, \new
.endm

  .text
  .globl test_main
test_main:
  /* .w: the low word, sign-extended into rd; the upper word is not touched */
  TEST_AMO 1, amoswap.w, HI | 0x80000001, 0xabcdef0012345678, 0xffffffff80000001, HI | 0x12345678
  TEST_AMO 2, amoadd.w,  HI | 0x7fffffff, 1, 0x7fffffff, HI | 0x80000000
  TEST_AMO 3, amoadd.w,  HI | 0xffffffff, 1, 0xffffffffffffffff, HI       /* no carry out */
  TEST_AMO 4, amoadd.w,  HI | 0x00000010, 0xffffffff00000020, 0x10, HI | 0x30
  TEST_AMO 5, amoand.w,  HI | 0xff00ff00, 0xfffffffff0f0f0f0, 0xffffffffff00ff00, HI | 0xf000f000
  TEST_AMO 6, amoor.w,   HI | 0xff00ff00, 0x0f0f0f0f, 0xffffffffff00ff00, HI | 0xff0fff0f
  TEST_AMO 7, amoxor.w,  HI | 0xff00ff00, 0xffffffff0f0f0f0f, 0xffffffffff00ff00, HI | 0xf00ff00f
  TEST_AMO 8, amomin.w,  HI | 0x80000000, 1, 0xffffffff80000000, HI | 0x80000000
  TEST_AMO 9, amomin.w,  HI | 0x00000003, 0xffffffff00000005, 3, HI | 3     /* rs2 upper ignored */
  TEST_AMO 10, amomin.w, HI | 0x00000003, 0x00000000ffffffff, 3, HI | 0xffffffff
  TEST_AMO 11, amomax.w, HI | 0x80000000, 1, 0xffffffff80000000, HI | 1
  TEST_AMO 12, amomax.w, HI | 0xfffffffe, 0xffffffff, 0xfffffffffffffffe, HI | 0xffffffff
  TEST_AMO 13, amominu.w, HI | 0x80000000, 1, 0xffffffff80000000, HI | 1
  TEST_AMO 14, amominu.w, HI | 0x00000005, 0x100000006, 5, HI | 5
  TEST_AMO 15, amomaxu.w, HI | 0x80000000, 1, 0xffffffff80000000, HI | 0x80000000
  TEST_AMO 16, amomaxu.w, HI | 0x00000001, 0xffffffff, 1, HI | 0xffffffff
  /* .d */
  TEST_AMO 17, amoswap.d, 0x0123456789abcdef, 0xfedcba9876543210, 0x0123456789abcdef, 0xfedcba9876543210
  TEST_AMO 18, amoadd.d,  MAX64, 1, MAX64, MIN64
  TEST_AMO 19, amoadd.d,  0x00000000ffffffff, 1, 0x00000000ffffffff, 0x0000000100000000
  TEST_AMO 20, amoand.d,  0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0x0f000f000f000f00
  TEST_AMO 21, amoor.d,   0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xfff0fff0fff0fff0
  TEST_AMO 22, amoxor.d,  0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xf0f0f0f0f0f0f0f0
  TEST_AMO 23, amomin.d,  MIN64, 1, MIN64, MIN64
  TEST_AMO 24, amomin.d,  -1, -2, -1, -2
  TEST_AMO 25, amomax.d,  MIN64, 1, MIN64, 1
  TEST_AMO 26, amomax.d,  0x00000000ffffffff, 0x0000000100000000, 0x00000000ffffffff, 0x0000000100000000
  TEST_AMO 27, amominu.d, MIN64, 1, MIN64, 1
  TEST_AMO 28, amominu.d, -1, -2, -1, -2
  TEST_AMO 29, amomaxu.d, MIN64, 1, MIN64, MIN64
  TEST_AMO 30, amomaxu.d, 1, -1, 1, -1
  /* ordering bits change nothing here */
  TEST_AMO 31, amoadd.w.aq,   HI | 5, 6, 5, HI | 11
  TEST_AMO 32, amoadd.d.rl,   5, 6, 5, 11
  TEST_AMO 33, amoswap.d.aqrl, 5, 6, 5, 6
  /* rd = x0: the memory is still updated */
  TESTNUM 34
  la a1, cell
  li a2, 40
  sd a2, 0(a1)
  li a2, 2
  amoadd.d x0, a2, (a1)
  ld a3, 0(a1)
  _CHECK 34, a3, 42
  /* rd == rs2: memory gets the old rs2 */
  TESTNUM 35
  li a2, 7
  amoswap.d a2, a2, (a1)
  _CHECK 35, a2, 42
  ld a3, 0(a1)
  _CHECK 35, a3, 7

  /* lr/sc: success writes 0 and the value */
  TESTNUM 36
  la a1, cell
  li a2, 0x1111
  sd a2, 0(a1)
  lr.d a0, (a1)
  li a2, 0x2222
  sc.d a3, a2, (a1)
  _CHECK 36, a0, 0x1111
  _CHECK 36, a3, 0
  ld a4, 0(a1)
  _CHECK 36, a4, 0x2222
  /* lr.w sign-extends; sc.w writes the low word only */
  TESTNUM 37
  li a2, HI | 0x80000000
  sd a2, 0(a1)
  lr.w a0, (a1)
  li a2, 0xffffffff7fffffff
  sc.w a3, a2, (a1)
  _CHECK 37, a0, 0xffffffff80000000
  _CHECK 37, a3, 0
  ld a4, 0(a1)
  _CHECK 37, a4, HI | 0x7fffffff
  /* the reservation is gone after a successful sc: another sc fails, writes nothing */
  TESTNUM 38
  li a2, 0x3333
  sc.d a3, a2, (a1)
  snez a3, a3                    /* failure: any nonzero code */
  _CHECK 38, a3, 1
  ld a4, 0(a1)
  _CHECK 38, a4, HI | 0x7fffffff
  /* sc after a store of a new value to the reserved doubleword fails */
  TESTNUM 39
  li a2, 0x4444
  sd a2, 0(a1)
  lr.d a0, (a1)
  li a2, 0x5555
  sd a2, 0(a1)
  li a2, 0x6666
  sc.d a3, a2, (a1)
  snez a3, a3                    /* failure: any nonzero code */
  _CHECK 39, a3, 1
  ld a4, 0(a1)
  _CHECK 39, a4, 0x5555
  /* sc to an address other than the reserved one (another page) fails */
  TESTNUM 40
  la a5, far_cell
  sd zero, 0(a5)
  lr.d a0, (a1)
  li a2, 0x7777
  sc.d a3, a2, (a5)
  snez a3, a3                    /* failure: any nonzero code */
  _CHECK 40, a3, 1
  ld a4, 0(a5)
  _CHECK 40, a4, 0
  /* sc.w after lr.w succeeds; the same sequence as an atomic increment loop */
  TESTNUM 41
  sw zero, 0(a1)
  li a4, 10
1:
  lr.w a0, (a1)
  addi a0, a0, 3
  sc.w a3, a0, (a1)
  bnez a3, 1b
  addi a4, a4, -1
  bnez a4, 1b
  lw a0, 0(a1)
  _CHECK 41, a0, 30
  /* lr.d.aq / sc.d.rl */
  TESTNUM 42
  li a2, 9
  sd a2, 0(a1)
  lr.d.aq a0, (a1)
  addi a0, a0, 1
  sc.d.rl a3, a0, (a1)
  _CHECK 42, a3, 0
  ld a4, 0(a1)
  _CHECK 42, a4, 10
  /* a fresh lr replaces the reservation: sc to the first address fails */
  TESTNUM 43
  lr.d a0, (a1)
  lr.d a0, (a5)
  li a2, 0x8888
  sc.d a3, a2, (a1)
  snez a3, a3                    /* failure: any nonzero code */
  _CHECK 43, a3, 1
  ld a4, 0(a1)
  _CHECK 43, a4, 10

  /* misaligned AMOs: store/AMO address misaligned (6) with mtval = the address
     (QEMU 7.2 reports load address misaligned (4) instead; both are accepted) */
  TESTNUM 44
  la a1, cell + 2
  TRAP_EXPECT 1f
  amoadd.w a0, a2, (a1)
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK2 44, t5, CAUSE_MISALIGNED_STORE, CAUSE_MISALIGNED_LOAD
  ld t5, rt_trap_tval
  _CHECKR 44, t5, a1
  TESTNUM 45
  la a1, cell + 4
  TRAP_EXPECT 1f
  amoswap.d a0, a2, (a1)
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK2 45, t5, CAUSE_MISALIGNED_STORE, CAUSE_MISALIGNED_LOAD
  ld t5, rt_trap_tval
  _CHECKR 45, t5, a1
  TESTNUM 46
  la a1, cell + 1
  TRAP_EXPECT 1f
  amomaxu.d a0, a2, (a1)
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK2 46, t5, CAUSE_MISALIGNED_STORE, CAUSE_MISALIGNED_LOAD
  ld t5, rt_trap_tval
  _CHECKR 46, t5, a1
  /* and the memory is unchanged */
  TESTNUM 47
  la a1, cell
  li a2, 0x0102030405060708
  sd a2, 0(a1)
  addi a5, a1, 2
  TRAP_EXPECT 1f
  amoor.w a0, a2, (a5)
1:
  TRAP_DISARM
  ld a4, 0(a1)
  _CHECK 47, a4, 0x0102030405060708
  /* misaligned lr: address-misaligned (4) or access fault (5), the spec allows both */
  TESTNUM 48
  la a1, cell + 4
  TRAP_EXPECT 1f
  lr.d a0, (a1)
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK2 48, t5, CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS
  ld t5, rt_trap_tval
  _CHECKR 48, t5, a1
  /* an AMO on an address with nothing there: store/AMO access fault (7)
     (QEMU 7.2 reports load access fault (5) instead; both are accepted) */
  TESTNUM 49
  li a1, 0x88000000
  TRAP_EXPECT 1f
  amoadd.d a0, a2, (a1)
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK2 49, t5, CAUSE_STORE_ACCESS, CAUSE_LOAD_ACCESS
  ld t5, rt_trap_tval
  _CHECKR 49, t5, a1
  TEST_DONE

  .data
  .balign 64
cell:
  .dword 0
  .balign 4096
far_cell:
  .dword 0
