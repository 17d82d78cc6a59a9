# c: every RV64C instruction, checked by its effect (RV64 has c.addiw, c.ld/c.sd,
# c.ldsp/c.sdsp and no c.jal/c.flw), reserved encodings, and 32-bit instructions at
# 2-byte-aligned addresses, including one that straddles a page boundary.
#include "rt.h"
  PROGRAM c

  .text
  .globl test_main
test_main:
  mv s11, sp
  la sp, cbuf                 /* sp-relative forms work on cbuf */

  /* ---- quadrant 0 ---- */
  TESTNUM 1
  c.addi4spn a0, sp, 16
  addi a1, sp, 16
  _CHECKR 1, a0, a1
  TESTNUM 2
  c.addi4spn s1, sp, 1020     /* the largest offset */
  addi a1, sp, 1020
  _CHECKR 2, s1, a1
  TESTNUM 3
  la a1, cdata
  c.lw a0, 4(a1)              /* sign-extended */
  _CHECK 3, a0, 0xffffffff89abcdef
  TESTNUM 4
  c.lw a0, 0(a1)
  _CHECK 4, a0, 0x01234567
  TESTNUM 5
  c.ld a2, 8(a1)
  _CHECK 5, a2, 0xfedcba9876543210
  TESTNUM 6
  c.fld fa0, 8(a1)
  fmv.x.d a0, fa0
  _CHECK 6, a0, 0xfedcba9876543210
  TESTNUM 7
  la a1, cscratch
  li a2, 0x1122334455667788
  c.sd a2, 0(a1)
  ld a0, 0(a1)
  _CHECK 7, a0, 0x1122334455667788
  TESTNUM 8
  li a2, 0xaabbccdd
  c.sw a2, 4(a1)
  ld a0, 0(a1)
  _CHECK 8, a0, 0xaabbccdd55667788
  TESTNUM 9
  li a2, 0x0102030405060708
  fmv.d.x fa1, a2
  c.fsd fa1, 8(a1)
  ld a0, 8(a1)
  _CHECK 9, a0, 0x0102030405060708
  TESTNUM 10
  c.ld a0, 248(a1)            /* the largest c.ld offset */
  _CHECK 10, a0, 0x5a5a5a5a5a5a5a5a

  /* ---- quadrant 1 ---- */
  TESTNUM 11
  li a0, 7
  c.nop
  c.addi a0, -8
  _CHECK 11, a0, -1
  TESTNUM 12
  c.addi a0, 31
  _CHECK 12, a0, 30
  TESTNUM 13
  li a0, 0x7fffffff
  c.addiw a0, 1
  _CHECK 13, a0, 0xffffffff80000000
  TESTNUM 14
  li a0, 0x1234567800000005
  c.addiw a0, 0               /* sext.w */
  _CHECK 14, a0, 5
  TESTNUM 15
  c.li a0, -32
  _CHECK 15, a0, -32
  TESTNUM 16
  c.li t0, 31
  _CHECK 16, t0, 31
  TESTNUM 17
  mv a1, sp
  c.addi16sp sp, -512
  sub a0, a1, sp
  c.addi16sp sp, 496
  c.addi16sp sp, 16
  _CHECK 17, a0, 512
  _CHECKR 17, sp, a1
  TESTNUM 18
  c.lui a0, 0xfffe0           /* nzimm[17] set: sign-extended */
  _CHECK 18, a0, 0xfffffffffffe0000
  TESTNUM 19
  c.lui t2, 1
  _CHECK 19, t2, 0x1000
  TESTNUM 20
  c.lui a0, 0x1f
  _CHECK 20, a0, 0x1f000
  TESTNUM 21
  li a0, 0x8000000000000000
  c.srli a0, 63
  _CHECK 21, a0, 1
  TESTNUM 22
  li a0, 0x8000000000000000
  c.srai a0, 63
  _CHECK 22, a0, -1
  TESTNUM 23
  li a0, 0x8000000000000000
  c.srai a0, 32
  _CHECK 23, a0, 0xffffffff80000000
  TESTNUM 24
  li a0, 0x8000000000000000
  c.srli a0, 1
  _CHECK 24, a0, 0x4000000000000000
  TESTNUM 25
  li a0, 0xffffffffffffffff
  c.andi a0, -16
  _CHECK 25, a0, 0xfffffffffffffff0
  TESTNUM 26
  c.andi a0, 0x1f
  _CHECK 26, a0, 0x10
  TESTNUM 27
  li a0, 10
  li a1, 20
  c.sub a0, a1
  _CHECK 27, a0, -10
  TESTNUM 28
  li a0, 0xff00
  li a1, 0x0ff0
  c.xor a0, a1
  _CHECK 28, a0, 0xf0f0
  TESTNUM 29
  li a0, 0xff00
  c.or a0, a1
  _CHECK 29, a0, 0xfff0
  TESTNUM 30
  li a0, 0xff00
  c.and a0, a1
  _CHECK 30, a0, 0x0f00
  TESTNUM 31
  li a0, 0x80000000
  li a1, 1
  c.subw a0, a1
  _CHECK 31, a0, 0x7fffffff
  TESTNUM 32
  li a0, 0
  c.subw a0, a1
  _CHECK 32, a0, -1
  TESTNUM 33
  li a0, 0x7fffffff
  c.addw a0, a1
  _CHECK 33, a0, 0xffffffff80000000
  TESTNUM 34
  li a0, 0x1ffffffff
  li a1, 0x100000001
  c.addw a0, a1
  _CHECK 34, a0, 0
  /* c.j forward and backward */
  TESTNUM 35
  li a0, 0
  c.j 2f
1:
  li a0, 35
  c.j 3f
2:
  c.j 1b
  li a0, 99
3:
  _CHECK 35, a0, 35
  /* c.beqz / c.bnez, taken and not */
  TESTNUM 36
  li a0, 0
  li s0, 0
  c.beqz s0, 1f
  li a0, 99
1:
  li s0, 5
  c.beqz s0, 2f
  addi a0, a0, 1
2:
  _CHECK 36, a0, 1
  TESTNUM 37
  li a0, 0
  li s0, 5
  c.bnez s0, 1f
  li a0, 99
1:
  li s0, 0
  c.bnez s0, 2f
  addi a0, a0, 1
2:
  _CHECK 37, a0, 1
  TESTNUM 38
  li s0, 0x100000000          /* compares all 64 bits */
  li a0, 0
  c.beqz s0, 1f
  li a0, 1
1:
  _CHECK 38, a0, 1
  TESTNUM 39
  li a0, 0
  li s1, 4
1:
  addi a0, a0, 2
  addi s1, s1, -1
  c.bnez s1, 1b               /* backward */
  _CHECK 39, a0, 8

  /* ---- quadrant 2 ---- */
  TESTNUM 40
  li a0, 1
  c.slli a0, 63
  _CHECK 40, a0, 0x8000000000000000
  TESTNUM 41
  li t3, 0x12345678
  c.slli t3, 32
  _CHECK 41, t3, 0x1234567800000000
  TESTNUM 42
  li a1, 0xfffffffff0000001
  sd a1, 8(sp)
  c.lwsp t4, 8(sp)
  _CHECK 42, t4, 0xfffffffff0000001
  TESTNUM 43
  li a1, 0x80000000
  sw a1, 12(sp)
  c.lwsp t4, 12(sp)
  _CHECK 43, t4, 0xffffffff80000000
  TESTNUM 44
  li a1, 0x0123456789abcdef
  sd a1, 504(sp)
  c.ldsp ra, 504(sp)          /* the largest c.ldsp offset */
  _CHECK 44, ra, 0x0123456789abcdef
  TESTNUM 45
  c.fldsp ft11, 504(sp)
  fmv.x.d a0, ft11
  _CHECK 45, a0, 0x0123456789abcdef
  TESTNUM 46
  li t4, 0x1111111122222222
  c.sdsp t4, 16(sp)
  ld a0, 16(sp)
  _CHECK 46, a0, 0x1111111122222222
  TESTNUM 47
  li t4, 0x33333333
  c.swsp t4, 20(sp)
  ld a0, 16(sp)
  _CHECK 47, a0, 0x3333333322222222
  TESTNUM 48
  li a1, 0x4444444455555555
  fmv.d.x ft10, a1
  c.fsdsp ft10, 24(sp)
  ld a0, 24(sp)
  _CHECK 48, a0, 0x4444444455555555
  TESTNUM 49
  li t4, 0x7777
  c.sdsp t4, 0(sp)
  c.swsp t4, 252(sp)          /* the largest c.swsp offset */
  lw a0, 252(sp)
  _CHECK 49, a0, 0x7777
  TESTNUM 50
  li a1, 0x123
  c.mv a0, a1
  _CHECK 50, a0, 0x123
  TESTNUM 51
  li a0, 0x100
  li t6, 0x23
  c.add a0, t6
  _CHECK 51, a0, 0x123
  TESTNUM 52
  li a0, -1
  li a1, 1
  c.add a0, a1
  _CHECK 52, a0, 0
  /* c.jr */
  TESTNUM 53
  la t0, 1f
  li a0, 0
  c.jr t0
  li a0, 99
1:
  _CHECK 53, a0, 0
  /* c.jalr: ra = the address after the 2-byte instruction */
  TESTNUM 54
  la t0, 2f
  c.jalr t0
1:
  c.j 3f
2:
  la a1, 1b
  _CHECKR 54, ra, a1
  c.jr ra
3:
  /* c.jalr with rs1 == ra: the target is the old ra */
  TESTNUM 55
  la ra, 2f
  c.jalr ra
1:
  c.j 3f
2:
  la a1, 1b
  _CHECKR 55, ra, a1
3:
  /* c.ebreak: breakpoint, mepc at the instruction; mtval 0 or the pc */
  TESTNUM 56
  TRAP_EXPECT 1f
2:
  c.ebreak
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 56, t5, CAUSE_BREAKPOINT
  CHECK_TRAP_EPC 57, 2b
  TESTNUM 58
  ld t5, rt_trap_tval
  la t6, 2b
  beqz t5, 3f
  _CHECKR 58, t5, t6
3:

  /* ---- reserved and illegal encodings ---- */
  /* all zeros is permanently illegal; mtval is 0 (the instruction bits, which are 0).
     The other code points below are reserved, which the spec leaves undefined; QEMU
     (and so this suite) raises illegal instruction for them, as Linux expects. */
  TRAP_EXPECT 1f
2:
  .half 0x0000
1:
  CHECK_TRAP 60, CAUSE_ILLEGAL, 0
  CHECK_TRAP_EPC 61, 2b
  /* c.addi16sp with a zero immediate (reserved) */
  TRAP_EXPECT 1f
2:
  .half 0x6101
1:
  CHECK_TRAP 62, CAUSE_ILLEGAL, 0x6101
  /* c.lui with a zero immediate (reserved) */
  TRAP_EXPECT 1f
2:
  .half 0x6501                /* c.lui a0, 0 */
1:
  CHECK_TRAP 63, CAUSE_ILLEGAL, 0x6501
  /* c.lwsp / c.ldsp with rd = x0 (reserved) */
  TRAP_EXPECT 1f
2:
  .half 0x4002                /* c.lwsp x0, 0(sp) */
1:
  CHECK_TRAP 64, CAUSE_ILLEGAL, 0x4002
  TRAP_EXPECT 1f
2:
  .half 0x6002                /* c.ldsp x0, 0(sp) */
1:
  CHECK_TRAP 65, CAUSE_ILLEGAL, 0x6002
  /* c.jr with rs1 = x0 (reserved) */
  TRAP_EXPECT 1f
2:
  .half 0x8002
1:
  CHECK_TRAP 66, CAUSE_ILLEGAL, 0x8002
  /* c.addiw with rd = x0 (reserved) */
  TRAP_EXPECT 1f
2:
  .half 0x2005                /* c.addiw x0, 1 */
1:
  CHECK_TRAP 67, CAUSE_ILLEGAL, 0x2005
  /* an illegal 32-bit instruction: mtval holds all 32 bits */
  TRAP_EXPECT 1f
2:
  .word 0xffffffff
1:
  CHECK_TRAP 68, CAUSE_ILLEGAL, 0xffffffff

  /* ---- 32-bit instructions at 2-byte-aligned addresses ---- */
  TESTNUM 69
  li a0, 0
  .balign 4
  c.nop
3:
  .option push
  .option norvc
  addi a0, a0, 69
  .option pop
  la a1, 3b
  andi a1, a1, 3
  _CHECK 69, a1, 2
  _CHECK 69, a0, 69
  /* a jump to a 2-byte-aligned 32-bit instruction */
  TESTNUM 70
  li a0, 0
  la t0, 4f
  jalr t0
  j 5f
  .balign 4
  c.nop
4:
  .option push
  .option norvc
  addi a0, a0, 70
  .option pop
  ret
5:
  _CHECK 70, a0, 70
  la a1, 4b
  andi a1, a1, 3
  _CHECK 70, a1, 2
  /* a 32-bit instruction whose halves are on two pages */
  TESTNUM 71
  li a0, 0
  j 6f
  .balign 4096
  .skip 4094
6:
  .option push
  .option norvc
  lui a0, 0x12345
  .option pop
  _CHECK 71, a0, 0x12345000
  la a1, 6b
  li t0, 0xfff
  and a1, a1, t0
  _CHECK 71, a1, 0xffe
  /* a taken branch from a compressed instruction to a 2-byte-aligned address */
  TESTNUM 72
  li a0, 0
  li s0, 0
  c.beqz s0, 7f
  li a0, 1
  .balign 4
  c.nop
7:
  c.addi a0, 9
  _CHECK 72, a0, 9

  mv sp, s11
  TEST_DONE

  .data
  .balign 8
cdata:
  .word 0x01234567
  .word 0x89abcdef
  .dword 0xfedcba9876543210
cscratch:
  .space 248
  .dword 0x5a5a5a5a5a5a5a5a
  .balign 16
cbuf:
  .space 1040
