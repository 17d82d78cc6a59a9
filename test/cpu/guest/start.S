/*
 * start.S: entry, trap handlers, UART output and exit for the ISA test programs.
 * See rt.h for what a program may rely on.
 *
 * The machine enters _start at 0x80000000 in M-mode (QEMU -bios none) with
 * a0 = hartid, a1 = the device tree address.
 */
#include "rt.h"

  .section .text.init, "ax", @progbits
  .option push
  .option norvc
  .globl _start
_start:
  /* Only hart 0 runs the program; others (none with -smp 1) park. */
  bnez a0, rt_park
  la t0, rt_hartid
  sd a0, 0(t0)
  la t0, rt_dtb
  sd a1, 0(t0)
  la sp, rt_stack_top
  la t0, rt_trap_entry
  csrw mtvec, t0
  la t0, rt_strap_entry
  csrw stvec, t0
  la t0, rt_msave
  csrw mscratch, t0
  la t0, rt_ssave
  csrw sscratch, t0
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  csrw satp, zero
  /* no timer interrupt pending until a test sets mtimecmp */
  li t0, CLINT_MTIMECMP
  li t1, -1
  sd t1, 0(t0)
  /* zero .bss */
  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  /* PMP entry 15: all of memory, RWX, for S and U */
  li t0, -1
  csrw pmpaddr15, t0
  li t0, 0x1f << 56
  csrw pmpcfg2, t0
  /* FPU on (FS = Initial), fcsr = 0 */
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, 1 << 13
  csrs mstatus, t0
  csrw fcsr, zero
  call test_main
  j rt_pass

rt_park:
  wfi
  j rt_park
  .option pop

/* ---------------------------------------------------------------- M-mode trap handler */
  .text
  .balign 4
  .globl rt_trap_entry
rt_trap_entry:
  csrrw t0, mscratch, t0          /* t0 = save area, mscratch = old t0 */
  sd t1, 8(t0)
  sd t2, 16(t0)
  sd t3, 24(t0)
  csrr t1, mscratch
  sd t1, 0(t0)                    /* old t0 */
  csrw mscratch, t0               /* mscratch = save area again */

  /* a failed check reporting through ecall? */
  li t1, RT_FAIL_MAGIC
  bne a7, t1, 1f
  csrr t1, mcause
  li t2, CAUSE_ECALL_U
  beq t1, t2, rt_fail_m
  li t2, CAUSE_ECALL_S
  beq t1, t2, rt_fail_m
  li t2, CAUSE_ECALL_M
  beq t1, t2, rt_fail_m
1:
  /* armed? */
  la t1, rt_trap_recover
  ld t3, 0(t1)
  beqz t3, rt_unexpected_trap
  sd zero, 0(t1)
  la t1, rt_trap_epc
  csrr t2, mepc
  sd t2, 0(t1)
  csrw mepc, t3
  la t1, rt_trap_cause
  csrr t2, mcause
  sd t2, 0(t1)
  la t1, rt_trap_tval
  csrr t2, mtval
  sd t2, 0(t1)
  la t1, rt_trap_status
  csrr t2, mstatus
  sd t2, 0(t1)
  la t1, rt_trap_count
  ld t2, 0(t1)
  addi t2, t2, 1
  sd t2, 0(t1)
  /* resume in M-mode with MIE = 0 after mret */
  li t2, MSTATUS_MPP
  csrs mstatus, t2
  li t2, MSTATUS_MPIE
  csrc mstatus, t2
  ld t1, 8(t0)
  ld t2, 16(t0)
  ld t3, 24(t0)
  ld t0, 0(t0)
  mret

rt_unexpected_trap:
  la sp, rt_stack_top
  la a0, rt_str_unexpected
  call rt_puts
  csrr a0, mcause
  call rt_puthex
  la a0, rt_str_mepc
  call rt_puts
  csrr a0, mepc
  call rt_puthex
  la a0, rt_str_mtval
  call rt_puts
  csrr a0, mtval
  call rt_puthex
  li a0, '\n'
  call rt_putc
  li a0, 255
  j rt_exit_fail

/* ---------------------------------------------------------------- S-mode trap handler */
  .balign 4
  .globl rt_strap_entry
rt_strap_entry:
  csrrw t0, sscratch, t0
  sd t1, 8(t0)
  sd t2, 16(t0)
  la t1, rt_strap_cause
  csrr t2, scause
  sd t2, 0(t1)
  la t1, rt_strap_epc
  csrr t2, sepc
  sd t2, 0(t1)
  la t1, rt_strap_tval
  csrr t2, stval
  sd t2, 0(t1)
  la t1, rt_strap_status
  csrr t2, sstatus
  sd t2, 0(t1)
  la t1, rt_strap_count
  ld t2, 0(t1)
  addi t2, t2, 1
  sd t2, 0(t1)
  ld t1, 8(t0)
  ld t2, 16(t0)
  csrrw t0, sscratch, t0
  ecall                           /* to M-mode, which resumes where TRAP_EXPECT said */
1:
  j 1b

/* ---------------------------------------------------------------- checks, pass, fail */

/* a0 = test number, a1 = got, a2 = expected; from any mode */
  .globl rt_fail
rt_fail:
  li a7, RT_FAIL_MAGIC
  ecall
1:
  j 1b

rt_fail_m:
  la sp, rt_stack_top
  mv s0, a0
  mv s1, a1
  mv s2, a2
  la a0, rt_str_fail
  call rt_puts
  mv a0, s0
  call rt_putdec
  la a0, rt_str_got
  call rt_puts
  mv a0, s1
  call rt_puthex
  la a0, rt_str_expected
  call rt_puts
  mv a0, s2
  call rt_puthex
  li a0, '\n'
  call rt_putc
  mv a0, s0
  j rt_exit_fail

  .globl rt_pass
rt_pass:
  la sp, rt_stack_top
  la a0, rt_str_pass
  call rt_puts
  la a0, rt_prog_name
  call rt_puts
  li a0, '\n'
  call rt_putc
  li t0, TEST_DEV_BASE
  li t1, 0x5555
  sw t1, 0(t0)
1:
  j 1b

/* a0 = status (1..255) */
rt_exit_fail:
  slli a0, a0, 16
  li t1, 0x3333
  or a0, a0, t1
  li t0, TEST_DEV_BASE
  sw a0, 0(t0)
1:
  j 1b

/* ---------------------------------------------------------------- UART output (M-mode) */

/* a0 = byte; clobbers t5, t6 */
  .globl rt_putc
rt_putc:
  li t5, UART_BASE
1:
  lbu t6, 5(t5)
  andi t6, t6, 0x20
  beqz t6, 1b
  sb a0, 0(t5)
  ret

/* a0 = NUL-terminated string */
  .globl rt_puts
rt_puts:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s0, 8(sp)
  mv s0, a0
1:
  lbu a0, 0(s0)
  beqz a0, 2f
  call rt_putc
  addi s0, s0, 1
  j 1b
2:
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 16
  ret

/* a0 = value, printed as 0x and 16 hex digits */
  .globl rt_puthex
rt_puthex:
  addi sp, sp, -32
  sd ra, 0(sp)
  sd s0, 8(sp)
  sd s1, 16(sp)
  mv s0, a0
  li a0, '0'
  call rt_putc
  li a0, 'x'
  call rt_putc
  li s1, 60
1:
  srl a0, s0, s1
  andi a0, a0, 15
  addi a0, a0, '0'
  li t5, '9'
  ble a0, t5, 2f
  addi a0, a0, 'a' - '9' - 1
2:
  call rt_putc
  addi s1, s1, -4
  bgez s1, 1b
  ld ra, 0(sp)
  ld s0, 8(sp)
  ld s1, 16(sp)
  addi sp, sp, 32
  ret

/* a0 = unsigned value, printed in decimal */
  .globl rt_putdec
rt_putdec:
  addi sp, sp, -48
  sd ra, 0(sp)
  sd s0, 8(sp)
  addi s0, sp, 40                 /* digits grow down from sp+40 */
  sb zero, 0(s0)
  li t5, 10
1:
  remu t6, a0, t5
  divu a0, a0, t5
  addi t6, t6, '0'
  addi s0, s0, -1
  sb t6, 0(s0)
  bnez a0, 1b
  mv a0, s0
  call rt_puts
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 48
  ret

/* ---------------------------------------------------------------- data */
  .section .rodata
rt_str_pass:       .asciz "PASS "
rt_str_fail:       .asciz "FAIL test "
rt_str_got:        .asciz ": got "
rt_str_expected:   .asciz " expected "
rt_str_unexpected: .asciz "FAIL unexpected trap: mcause="
rt_str_mepc:       .asciz " mepc="
rt_str_mtval:      .asciz " mtval="

  .data
  .balign 8
  .globl rt_hartid, rt_dtb, rt_msave, rt_ssave
  .globl rt_trap_recover, rt_trap_cause, rt_trap_epc, rt_trap_tval, rt_trap_status, rt_trap_count
  .globl rt_strap_cause, rt_strap_epc, rt_strap_tval, rt_strap_status, rt_strap_count
rt_hartid:       .dword 0
rt_dtb:          .dword 0
rt_trap_recover: .dword 0
rt_trap_cause:   .dword 0
rt_trap_epc:     .dword 0
rt_trap_tval:    .dword 0
rt_trap_status:  .dword 0
rt_trap_count:   .dword 0
rt_strap_cause:  .dword 0
rt_strap_epc:    .dword 0
rt_strap_tval:   .dword 0
rt_strap_status: .dword 0
rt_strap_count:  .dword 0
rt_msave:        .space RT_SAVE_SIZE
rt_ssave:        .space RT_SAVE_SIZE

  .bss
  .balign 16
rt_stack:
  .space 16384
  .globl rt_stack_top
rt_stack_top:
