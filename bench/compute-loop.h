/*
 * compute-loop.h: the compute-bound loop of the MIPS benchmark, shared by the bare-metal
 * program (compute.S, on tsemu and qemu-system-riscv64) and the Linux user-mode one
 * (compute-user.S, on qemu-riscv64), so that all of them run the same instructions.
 *
 * An integer mix: ALU (64-bit and word ops, shifts), a load and a store in a 256-byte
 * array, a multiply, and a data-dependent branch whose two paths are the same length,
 * so every iteration retires exactly COMPUTE_INSNS_PER_ITER instructions (the static
 * length of the body less the two instructions each path skips; compressed
 * instructions are off so the length in bytes / 4 counts instructions).
 *
 * COMPUTE_LOOP iters: s1 = the array (256 bytes, 8-aligned); clobbers s0, s2-s7, t0-t4, a0.
 * Leaves a checksum of the loop's state in a0. Expand it once: it also defines the
 * doubleword compute_insns_per_iter (in .rodata).
 */
#ifndef COMPUTE_LOOP_H
#define COMPUTE_LOOP_H

#ifdef __ASSEMBLER__

.macro COMPUTE_LOOP iters
  .option push
  .option norvc
  li s0, \iters
  li s2, 0x9e3779b97f4a7c15
  li s3, 1
  li s4, 2
  li s5, 3
  li s6, 0
  li s7, 0
.Lcompute_body:
  andi t0, s2, 0xf8             /* a doubleword of the array */
  add t0, t0, s1
  ld t1, 0(t0)
  add s3, s3, t1
  xor s4, s4, s3
  slli t2, s4, 7
  srli t3, s4, 57
  or t2, t2, t3                 /* rotate left 7 */
  mul t4, t2, s2
  sub s5, s5, t4
  addw t1, s5, s3
  sd s5, 0(t0)
  sw t1, 4(t0)
  sltu a0, s5, s3
  bnez a0, 1f                   /* taken about half the time */
  addi s6, s6, 1
  j 2f
1:
  addi s6, s6, -1
  xori s7, s7, 1
2:
  srai t3, s5, 3
  addi s2, s2, 0x35
  add s2, s2, t3
  addi s0, s0, -1
  bnez s0, .Lcompute_body
.Lcompute_end:
  .option pop
  xor a0, s3, s4
  xor a0, a0, s5
  xor a0, a0, s6
  xor a0, a0, s7
  .pushsection .rodata
  .balign 8
compute_insns_per_iter:
  /* each iteration skips two of the four instructions between the bnez and label 2 */
  .dword (.Lcompute_end - .Lcompute_body) / 4 - 2
  .popsection
.endm

#endif /* __ASSEMBLER__ */
#endif /* COMPUTE_LOOP_H */
