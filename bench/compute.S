# compute: the compute-bound MIPS benchmark, bare metal in M-mode, one hart.
# Reads mtime just before and just after the loop, so machine start-up is not counted,
# and prints one line the runner parses:
#   bench compute insns=<retired in the loop> ticks=<mtime ticks, 10 MHz> check=<state>
# (check is a digest of the loop's final state: every machine must print the same.)
# Build-time parameter: -DITERS=n (default 10000000).
#include "rt.h"
#include "compute-loop.h"
  PROGRAM compute

#ifndef ITERS
#define ITERS 10000000
#endif

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  la s1, bench_array
  li t0, CLINT_MTIME
  ld s8, 0(t0)
  COMPUTE_LOOP ITERS
  li t0, CLINT_MTIME
  ld s9, 0(t0)
  mv s10, a0
  PUTS "bench compute insns="
  ld a0, compute_insns_per_iter
  li t0, ITERS
  mul a0, a0, t0
  call rt_putdec
  PUTS " ticks="
  sub a0, s9, s8
  call rt_putdec
  PUTS " check="
  mv a0, s10
  call rt_puthex
  li a0, '\n'
  call rt_putc
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .data
  .balign 64
bench_array:
  .rept 32
  .dword 0x0123456789abcdef
  .endr
