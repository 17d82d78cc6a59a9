# compute-user: the same loop as compute.S as a static Linux riscv64 program (for
# qemu-riscv64, user-mode emulation). Times the loop with clock_gettime(CLOCK_MONOTONIC)
# and prints:
#   bench compute insns=<retired in the loop> ns=<nanoseconds> check=<state>
# Build-time parameter: -DITERS=n (default 10000000).
#include "compute-loop.h"

#ifndef ITERS
#define ITERS 10000000
#endif

#define SYS_write 64
#define SYS_exit 93
#define SYS_clock_gettime 113
#define CLOCK_MONOTONIC 1

  .text
  .globl _start
_start:
  la s1, bench_array
  li a0, CLOCK_MONOTONIC
  la a1, ts0
  li a7, SYS_clock_gettime
  ecall
  COMPUTE_LOOP ITERS
  mv s10, a0
  li a0, CLOCK_MONOTONIC
  la a1, ts1
  li a7, SYS_clock_gettime
  ecall
  la a0, str_insns
  call puts
  ld a0, compute_insns_per_iter
  li t0, ITERS
  mul a0, a0, t0
  call putdec
  la a0, str_ns
  call puts
  ld t0, ts1
  ld t1, ts1 + 8
  ld t2, ts0
  ld t3, ts0 + 8
  sub t0, t0, t2
  li t2, 1000000000
  mul t0, t0, t2
  add t0, t0, t1
  sub a0, t0, t3
  call putdec
  la a0, str_check
  call puts
  mv a0, s10
  call puthex
  la a0, str_nl
  call puts
  li a0, 0
  li a7, SYS_exit
  ecall

/* a0 = NUL-terminated string, written to stdout */
puts:
  mv a1, a0
  li a2, 0
1:
  add t0, a1, a2
  lbu t0, 0(t0)
  beqz t0, 2f
  addi a2, a2, 1
  j 1b
2:
  li a0, 1
  li a7, SYS_write
  ecall
  ret

/* a0 = unsigned value, in decimal */
putdec:
  la a1, numbuf + 31
  sb zero, 0(a1)
  li t1, 10
1:
  remu t0, a0, t1
  divu a0, a0, t1
  addi t0, t0, '0'
  addi a1, a1, -1
  sb t0, 0(a1)
  bnez a0, 1b
  mv a0, a1
  j puts

/* a0 = value, as 0x and 16 hex digits */
puthex:
  la a1, numbuf
  li t0, '0'
  sb t0, 0(a1)
  li t0, 'x'
  sb t0, 1(a1)
  addi a1, a1, 2
  li t1, 60
1:
  srl t0, a0, t1
  andi t0, t0, 15
  addi t0, t0, '0'
  li t2, '9'
  ble t0, t2, 2f
  addi t0, t0, 'a' - '9' - 1
2:
  sb t0, 0(a1)
  addi a1, a1, 1
  addi t1, t1, -4
  bgez t1, 1b
  sb zero, 0(a1)
  la a0, numbuf
  j puts

  .section .rodata
str_insns: .asciz "bench compute insns="
str_ns:    .asciz " ns="
str_check: .asciz " check="
str_nl:    .asciz "\n"

  .data
  .balign 64
bench_array:
  .rept 32
  .dword 0x0123456789abcdef
  .endr
  .balign 8
ts0: .dword 0, 0
ts1: .dword 0, 0
numbuf: .space 32
