# oracle: none (QEMU's minstret follows host time unless -icount; the counts here are worked out by hand)
# blocks: control flow the block translator keeps inside one block, and an exact instret
# across it: an if/else whose `j` jumps over the else, forward branches whose spans
# overlap, and a `j` forward past a call (which leaves the block). Each loop runs 100
# times over all its paths; the checks are its result and the instructions it retired
# (minstret after - before, less what a bare minstret read adds).
#include "rt.h"
  PROGRAM blocks
  .option norvc

  .globl test_main
test_main:
  /* what two reads of minstret in a row differ by (the first read retires) */
  csrr t2, minstret
  csrr t3, minstret
  sub s5, t3, t2

  /* loop 1: if/else; odd iterations 7 instructions (s1 += 3), even ones 5 (s1 += 5) */
  li s0, 100
  li s1, 0
  csrr s2, minstret
.Lloop1:
  andi t0, s0, 1
  beqz t0, .Leven
  addi s1, s1, 1
  addi s1, s1, 2
  j .Ljoin
.Leven:
  addi s1, s1, 5
.Ljoin:
  addi s0, s0, -1
  bnez s0, .Lloop1
  csrr s3, minstret
  sub s4, s3, s2
  sub s4, s4, s5
  CHECK 1, s1, 400
  CHECK 2, s4, 600

  /* loop 2: overlapping forward spans (the second branch starts inside the first's span
     and ends past it). s0 odd: 7 instructions, s1 += 272; s0 % 4 == 2: 8, s1 += 257;
     s0 % 4 == 0: 9, s1 += 273 */
  li s0, 100
  li s1, 0
  csrr s2, minstret
.Lloop2:
  andi t0, s0, 1
  andi t1, s0, 2
  bnez t0, .La
  addi s1, s1, 1
  bnez t1, .Lb
.La:
  addi s1, s1, 16
.Lb:
  addi s1, s1, 256
  addi s0, s0, -1
  bnez s0, .Lloop2
  csrr s3, minstret
  sub s4, s3, s2
  sub s4, s4, s5
  CHECK 3, s1, 26850
  CHECK 4, s4, 775

  /* loop 3: a `j` forward past a call; odd iterations 5 instructions (s1 += 0), even
     ones 8 (s1 += 9) */
  li s0, 100
  li s1, 0
  csrr s2, minstret
.Lloop3:
  andi t0, s0, 1
  beqz t0, .Lc
  j .Ld
.Lc:
  jal ra, bump
  addi s1, s1, 1
.Ld:
  addi s0, s0, -1
  bnez s0, .Lloop3
  csrr s3, minstret
  sub s4, s3, s2
  sub s4, s4, s5
  CHECK 5, s1, 450
  CHECK 6, s4, 650

  TEST_DONE

bump:
  addi s1, s1, 8
  jalr x0, 0(ra)
