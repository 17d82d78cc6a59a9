# smc: self-modifying code. Stores of new instructions, fence.i, then executing them:
# over a function in .text, over the very next instruction, repeatedly in a loop, a
# compressed instruction, an instruction written in halves, and code built in a data
# buffer.
#include "rt.h"
  PROGRAM smc

/* the encoding of addi rd, rs1, imm */
#define ADDI(rd, rs1, imm) ((((imm) & 0xfff) << 20) | ((rs1) << 15) | ((rd) << 7) | 0x13)
#define SLLI(rd, rs1, sh) (((sh) << 20) | ((rs1) << 15) | (1 << 12) | ((rd) << 7) | 0x13)
#define RET 0x00008067
#define A0 10
/* c.li a0, imm (-32..31) */
#define C_LI_A0(imm) (0x4501 | (((imm) & 0x1f) << 2) | ((((imm) >> 5) & 1) << 12))

  .text
  .globl test_main
test_main:
  /* a function in .text, rewritten */
  TESTNUM 1
  call patch_fn
  _CHECK 1, a0, 1
  TESTNUM 2
  la a1, patch_fn
  li a2, ADDI(A0, 0, 2)
  sw a2, 0(a1)
  fence.i
  call patch_fn
  _CHECK 2, a0, 2
  /* the instruction right after the fence.i */
  TESTNUM 3
  la a1, 1f
  li a2, ADDI(A0, 0, 3)
  li a0, 0
  sw a2, 0(a1)
  fence.i
  .option push
  .option norvc
1:
  addi a0, zero, 99
  .option pop
  _CHECK 3, a0, 3
  /* the same code rewritten 100 times */
  TESTNUM 4
  li s0, 0                       /* i */
  li s1, 0                       /* sum */
  la s2, patch_fn
2:
  slli a2, s0, 20
  li a3, ADDI(A0, 0, 0)
  or a2, a2, a3
  sw a2, 0(s2)
  fence.i
  call patch_fn
  add s1, s1, a0
  addi s0, s0, 1
  li a3, 100
  blt s0, a3, 2b
  _CHECK 4, s1, 4950
  /* a compressed instruction */
  TESTNUM 5
  call patch_c
  _CHECK 5, a0, 7
  la a1, patch_c
  li a2, C_LI_A0(-9)
  sh a2, 0(a1)
  fence.i
  call patch_c
  _CHECK 5, a0, -9
  /* a 32-bit instruction written as two halfwords, over two 16-bit ones */
  TESTNUM 6
  la a1, patch_c
  li a2, ADDI(A0, 0, 0x123)
  sh a2, 0(a1)
  srli a2, a2, 16
  sh a2, 2(a1)                   /* replaces the c.jr ra */
  li a2, RET
  sw a2, 4(a1)
  fence.i
  call patch_c
  _CHECK 6, a0, 0x123
  /* code built in a data buffer */
  TESTNUM 7
  la a1, code_buf
  li a2, ADDI(A0, A0, 5)
  sw a2, 0(a1)
  li a2, SLLI(A0, A0, 1)
  sw a2, 4(a1)
  li a2, RET
  sw a2, 8(a1)
  fence.i
  li a0, 10
  jalr a1
  _CHECK 7, a0, 30
  /* ... and rebuilt */
  TESTNUM 8
  li a2, SLLI(A0, A0, 3)
  sw a2, 4(a1)
  fence.i
  li a0, 1
  jalr a1
  _CHECK 8, a0, 48
  TEST_DONE

  .option push
  .option norvc
  .balign 4
patch_fn:
  addi a0, zero, 1
  ret
  .option pop
  .balign 4
patch_c:
  c.li a0, 7
  c.jr ra
  .option push
  .option norvc
  ret
  ret
  .option pop

  .data
  .balign 64
code_buf:
  .space 64
