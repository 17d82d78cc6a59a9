# rv64i_ctl: RV64I branches (every kind, taken and not taken), jal/jalr (link values,
# jalr clearing bit 0), loads and stores of every width with sign and zero extension,
# fences.
#include "rt.h"
  PROGRAM rv64i_ctl
  .option norvc      /* the 32-bit encodings (RVC has its own program) */

/* TEST n: branch `op v1, v2` is taken (taken=1) or not (taken=0), forward. */
.macro TEST_BR n, op, v1, v2, taken
  TESTNUM \n
  li a1, \v1
  li a2, \v2
  li a0, 0
  \op a1, a2, .Ltaken\@
  li a0, 1
  j .Ldone\@
.Ltaken\@:
  li a0, 2
.Ldone\@:
  _CHECK \n, a0, 1 + \taken
.endm

/* TEST n: the same, with a backward branch target. */
.macro TEST_BR_BACK n, op, v1, v2, taken
  TESTNUM \n
  li a1, \v1
  li a2, \v2
  li a0, 0
  j .Lbr\@
.Ltaken\@:
  li a0, 2
  j .Ldone\@
.Lbr\@:
  \op a1, a2, .Ltaken\@
  li a0, 1
.Ldone\@:
  _CHECK \n, a0, 1 + \taken
.endm

/* TEST n: load `op` at offset off from `data` gives expect. */
.macro TEST_LD n, op, expect, off
  TESTNUM \n
  la a1, data
  \op a0, \off(a1)
  _CHECK \n, a0, \expect
.endm

  .text
  .globl test_main
test_main:
  TEST_BR 1, beq, 3, 3, 1
  TEST_BR 2, beq, 3, 4, 0
  TEST_BR 3, beq, 0x100000003, 3, 0
  TEST_BR 4, bne, 3, 4, 1
  TEST_BR 5, bne, -1, -1, 0
  TEST_BR 6, bne, 0x8000000000000000, 0, 1
  TEST_BR 7, blt, -1, 1, 1
  TEST_BR 8, blt, 1, -1, 0
  TEST_BR 9, blt, 5, 5, 0
  TEST_BR 10, blt, 0x8000000000000000, 0x7fffffffffffffff, 1
  TEST_BR 11, bge, 1, -1, 1
  TEST_BR 12, bge, -1, 1, 0
  TEST_BR 13, bge, 5, 5, 1
  TEST_BR 14, bge, 0x7fffffffffffffff, 0x8000000000000000, 1
  TEST_BR 15, bltu, 1, -1, 1
  TEST_BR 16, bltu, -1, 1, 0
  TEST_BR 17, bltu, 5, 5, 0
  TEST_BR 18, bltu, 0x7fffffffffffffff, 0x8000000000000000, 1
  TEST_BR 19, bgeu, -1, 1, 1
  TEST_BR 20, bgeu, 1, -1, 0
  TEST_BR 21, bgeu, 5, 5, 1
  TEST_BR 22, bgeu, 0, 0, 1
  TEST_BR 23, bgeu, 0x7fffffffffffffff, 0x8000000000000000, 0
  TEST_BR_BACK 24, beq, 7, 7, 1
  TEST_BR_BACK 25, beq, 7, 8, 0
  TEST_BR_BACK 26, bne, 7, 8, 1
  TEST_BR_BACK 27, bne, 8, 8, 0
  TEST_BR_BACK 28, blt, -2, -1, 1
  TEST_BR_BACK 29, blt, -1, -2, 0
  TEST_BR_BACK 30, bge, -1, -2, 1
  TEST_BR_BACK 31, bge, -2, -1, 0
  TEST_BR_BACK 32, bltu, 0, -1, 1
  TEST_BR_BACK 33, bltu, -1, 0, 0
  TEST_BR_BACK 34, bgeu, -1, 0, 1
  TEST_BR_BACK 35, bgeu, 0, -1, 0

  /* a counted loop of backward branches */
  TESTNUM 36
  li a0, 0
  li a1, 100
1:
  addi a0, a0, 3
  addi a1, a1, -1
  bne a1, zero, 1b
  _CHECK 36, a0, 300

  /* a branch to the farthest targets (+4094 / -4096 reach) */
  TESTNUM 37
  li a0, 0
  beq zero, zero, 2f
1:
  li a0, 37
  j 3f
  .space 4076
2:
  beq zero, zero, 1b
  li a0, 1
3:
  _CHECK 37, a0, 37

  /* jal: rd = pc + 4; forward and backward */
  TESTNUM 38
  jal a0, 1f
2:
  j 3f
1:
  la a1, 2b
  _CHECKR 38, a0, a1
  TESTNUM 39
  li s0, 0
  j 5f
4:
  addi s0, s0, 1
  jalr zero, 0(t0)
5:
  jal t0, 4b
6:
  la a1, 6b
  _CHECKR 39, t0, a1
  _CHECK 39, s0, 1
3:
  /* jalr: target = (rs1 + imm) & ~1, rd = pc + 4 */
  TESTNUM 40
  la a1, 1f
  jalr a0, 0(a1)
2:
  li a0, 0
1:
  la a2, 2b
  _CHECKR 40, a0, a2
  TESTNUM 41
  la a1, 1f
  addi a1, a1, 1          /* odd address: bit 0 is cleared */
  li a0, 0
  jalr ra, 0(a1)
  li a0, 99
1:
  _CHECK 41, a0, 0
  TESTNUM 42
  la a1, 1f
  addi a1, a1, -1
  li a0, 0
  jalr ra, 2(a1)          /* rs1 + imm is odd */
  li a0, 99
1:
  _CHECK 42, a0, 0
  TESTNUM 43
  la a1, 1f
  addi a1, a1, 0x10
  li a0, 0
  jalr ra, -0x10(a1)      /* negative offset */
  li a0, 99
1:
  _CHECK 43, a0, 0
  /* rd == rs1: the target uses the old value */
  TESTNUM 44
  la a1, 1f
  jalr a1, 0(a1)
2:
  li a1, 0
1:
  la a2, 2b
  _CHECKR 44, a1, a2
  /* call / ret */
  TESTNUM 45
  li a0, 5
  call double_a0
  call double_a0
  _CHECK 45, a0, 20

  /* loads: every width, sign and zero extension, positive and negative offsets */
  TEST_LD 46, lb,  0xffffffffffffff88, 0
  TEST_LD 47, lbu, 0x0000000000000088, 0
  TEST_LD 48, lb,  0x0000000000000077, 1
  TEST_LD 49, lbu, 0x0000000000000077, 1
  TEST_LD 50, lb,  0xfffffffffffffff0, 7
  TEST_LD 51, lh,  0x0000000000007788, 0    /* little endian */
  TEST_LD 52, lh,  0xffffffffffffaabb, 8
  TEST_LD 53, lhu, 0x000000000000aabb, 8
  TEST_LD 54, lh,  0xfffffffffffff0e1, 6
  TEST_LD 55, lhu, 0x000000000000f0e1, 6
  TEST_LD 56, lw,  0xffffffff8899aabb, 8
  TEST_LD 57, lwu, 0x000000008899aabb, 8
  TEST_LD 58, lw,  0x0000000011223344, 12
  TEST_LD 59, lwu, 0x0000000011223344, 12
  TEST_LD 60, lw,  0xfffffffff0e15566, 4
  TEST_LD 61, ld,  0xf0e1556677887788, 0
  TEST_LD 62, ld,  0x112233448899aabb, 8
  TEST_LD 63, lb,  0x0000000000000011, 15
  TEST_LD 64, ld,  0x0123456789abcdef, 16
  TESTNUM 65
  la a1, data + 16
  lb a0, -1(a1)
  _CHECK 65, a0, 0x11
  TESTNUM 66
  la a1, data + 16
  ld a0, -8(a1)
  _CHECK 66, a0, 0x112233448899aabb
  TESTNUM 67
  la a1, data + 16
  lhu a0, -2(a1)
  _CHECK 67, a0, 0x1122
  TESTNUM 68
  la a1, data + 2048 + 16
  ld a0, -2048(a1)
  _CHECK 68, a0, 0x0123456789abcdef
  TESTNUM 69
  la a1, data - 2047
  lbu a0, 2047(a1)
  _CHECK 69, a0, 0x88
  /* rd == base */
  TESTNUM 70
  la a0, data + 16
  ld a0, 0(a0)
  _CHECK 70, a0, 0x0123456789abcdef

  /* stores: each width writes just its bytes */
  TESTNUM 71
  la a1, scratch
  li a0, -1
  sd a0, 0(a1)
  sd a0, 8(a1)
  li a2, 0x0123456789abcdef
  sb a2, 0(a1)
  ld a0, 0(a1)
  _CHECK 71, a0, 0xffffffffffffffef
  TESTNUM 72
  sh a2, 2(a1)
  ld a0, 0(a1)
  _CHECK 72, a0, 0xffffffffcdefffef
  TESTNUM 73
  sw a2, 4(a1)
  ld a0, 0(a1)
  _CHECK 73, a0, 0x89abcdefcdefffef
  TESTNUM 74
  sd a2, 8(a1)
  ld a0, 8(a1)
  _CHECK 74, a0, 0x0123456789abcdef
  TESTNUM 75
  sb zero, 15(a1)
  ld a0, 8(a1)
  _CHECK 75, a0, 0x0023456789abcdef
  TESTNUM 76
  addi a3, a1, 16
  sw zero, -4(a3)
  ld a0, 8(a1)
  _CHECK 76, a0, 0x0000000089abcdef
  TESTNUM 77
  sh a2, -6(a3)
  ld a0, 8(a1)
  _CHECK 77, a0, 0x00000000cdefcdef
  TESTNUM 78
  lw a0, 0(a1)
  _CHECK 78, a0, 0xffffffffcdefffef
  TESTNUM 79
  lhu a0, 6(a1)
  _CHECK 79, a0, 0x89ab
  /* a store then load of the same doubleword through different widths */
  TESTNUM 80
  li a0, 0x8000000000000080
  sd a0, 0(a1)
  lb a4, 0(a1)
  lb a5, 7(a1)
  add a0, a4, a5
  _CHECK 80, a0, 0xffffffffffffff00

  /* fences are ordering only: they execute and change nothing */
  TESTNUM 81
  li a0, 81
  fence
  fence rw, rw
  fence r, w
  fence iorw, iorw
  fence.tso
  fence.i
  .word 0x0100000f        /* pause (fence w, 0): a hint */
  _CHECK 81, a0, 81
  TEST_DONE

double_a0:
  add a0, a0, a0
  ret

  .data
  .balign 16
data:
  .dword 0xf0e1556677887788
  .dword 0x112233448899aabb
  .dword 0x0123456789abcdef
  .space 2048
scratch:
  .space 16
