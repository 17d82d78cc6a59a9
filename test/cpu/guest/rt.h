/*
 * rt.h: the bare-metal runtime of the ISA test programs (test/cpu/isa/*.S).
 *
 * A program includes this file, names itself with PROGRAM, and defines test_main.
 * start.S enters test_main in M-mode with:
 *   sp = a 16 KiB stack, mtvec = rt_trap_entry (direct), stvec = rt_strap_entry,
 *   mscratch/sscratch = the handlers' save areas, mstatus.FS = Initial, fcsr = 0,
 *   mie = mideleg = medeleg = 0, satp = 0, .bss zeroed,
 *   PMP entry 15 = NAPOT over all memory, RWX (entries 0..14 are free for tests),
 *   mtimecmp = -1 (no timer interrupt pending),
 *   rt_hartid / rt_dtb = a0 / a1 as the machine passed them.
 * test_main returns, or ends with TEST_DONE (j rt_pass), to print "PASS <name>" and exit 0.
 *
 * Building: test/helpers/riscv-build.ts (riscv64-linux-gnu-gcc, start.S + the program,
 * link.ld, -march=rv64gc_zba_zbb_zbs_zicsr_zifencei). Other headers: fp.h (F/D check
 * macros), vm.h (page tables), emul.h (emulating what QEMU 7.2 lacks).
 *
 * Conventions:
 *   - The check and trap macros clobber t5 and t6 (the TEST_* forms also a0-a2);
 *     keep live values out of them.
 *   - Test numbers are 1..254, unique in a program (the assembler enforces it);
 *     a failing check prints "FAIL test n: got X expected Y" and exits with status n.
 *     Status 255 is an unexpected trap.
 *   - A failing check works from any privilege mode: rt_fail reports through ecall.
 *   - mscratch and sscratch point to the handlers' save areas (rt_msave, rt_ssave):
 *     a test that writes them restores them before the next trap.
 *
 * Traps:
 *   TRAP_EXPECT label arms the M-mode handler: the next trap taken into M-mode is
 *   recorded (rt_trap_cause/epc/tval/status, rt_trap_count) and resumes at `label` in
 *   M-mode with mstatus.MPIE cleared, so the code at `label` runs with MIE = 0.
 *   (rt_trap_status is mstatus as the trap left it, before the handler touched it.)
 *   Any trap when not armed prints "FAIL unexpected trap ..." and exits 255.
 *   A trap delegated to S-mode with stvec = rt_strap_entry is recorded in
 *   rt_strap_cause/epc/tval/status and rt_strap_count, after which the S handler does
 *   an ecall (cause 9) to M-mode, so an armed TRAP_EXPECT resumes in M-mode as well.
 *   To come back to M-mode from S or U on purpose: TRAP_EXPECT label, then ecall.
 *   The handlers use memory: a trap from S/U with mstatus.MPRV = 1 would have them
 *   access it as MPP, so tests leave MPRV clear whenever they leave M-mode.
 */
#ifndef RT_H
#define RT_H

#define UART_BASE      0x10000000
#define TEST_DEV_BASE  0x100000
#define CLINT_BASE     0x2000000
#define CLINT_MSIP     0x2000000
#define CLINT_MTIMECMP 0x2004000
#define CLINT_MTIME    0x200bff8

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define MSTATUS_SIE  (1 << 1)
#define MSTATUS_MIE  (1 << 3)
#define MSTATUS_SPIE (1 << 5)
#define MSTATUS_UBE  (1 << 6)
#define MSTATUS_MPIE (1 << 7)
#define MSTATUS_SPP  (1 << 8)
#define MSTATUS_MPP  (3 << 11)
#define MSTATUS_FS   (3 << 13)
#define MSTATUS_MPRV (1 << 17)
#define MSTATUS_SUM  (1 << 18)
#define MSTATUS_MXR  (1 << 19)
#define MSTATUS_TVM  (1 << 20)
#define MSTATUS_TW   (1 << 21)
#define MSTATUS_TSR  (1 << 22)

#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1 << IRQ_SSI)
#define MIP_MSIP (1 << IRQ_MSI)
#define MIP_STIP (1 << IRQ_STI)
#define MIP_MTIP (1 << IRQ_MTI)
#define INTR (1 << 63)

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL          2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U          8
#define CAUSE_ECALL_S          9
#define CAUSE_ECALL_M          11
#define CAUSE_FETCH_PAGE       12
#define CAUSE_LOAD_PAGE        13
#define CAUSE_STORE_PAGE       15

/* Sv39/Sv48 PTE bits */
#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

#define SATP_SV39 (8 << 60)
#define SATP_SV48 (9 << 60)

/* a7 value that tells the M-mode handler an ecall is a failed check */
#define RT_FAIL_MAGIC 0x7e57fa11

/* the M-mode save area (mscratch) and S-mode save area (sscratch) are 8 doublewords */
#define RT_SAVE_SIZE 64

#ifdef __ASSEMBLER__

/* Names the program: "PASS <name>" is printed on success. */
.macro PROGRAM name
  .pushsection .rodata
  .globl rt_prog_name
rt_prog_name:
  .asciz "\name"
  .popsection
.endm

/* The end of test_main: print "PASS <name>" and exit 0 (M-mode). */
.macro TEST_DONE
  j rt_pass
.endm

/* Declares test number n (1..254, once per program). */
.macro TESTNUM n
  .if (\n < 1) || (\n > 254)
  .error "test number out of range 1..254"
  .endif
  .equiv rt_test_number_\n, 1
.endm

/* Unchecked compare: reg == expect (an immediate, li-loadable), else fail test n. */
.macro _CHECK n, reg, expect
  li t6, \expect
  beq \reg, t6, .Lrt_ok\@
  mv a1, \reg
  mv a2, t6
  li a0, \n
  j rt_fail
.Lrt_ok\@:
.endm

/* Unchecked compare: reg == e1 or reg == e2 (where the spec allows either). */
.macro _CHECK2 n, reg, e1, e2
  li t6, \e1
  beq \reg, t6, .Lrt_ok\@
  li t6, \e2
  beq \reg, t6, .Lrt_ok\@
  mv a1, \reg
  mv a2, t6
  li a0, \n
  j rt_fail
.Lrt_ok\@:
.endm

/* Compare two registers: got == want, else fail test n. */
.macro _CHECKR n, got, want
  beq \got, \want, .Lrt_ok\@
  mv t6, \want
  mv a1, \got
  mv a2, t6
  li a0, \n
  j rt_fail
.Lrt_ok\@:
.endm

/* TEST n: reg must equal the immediate expect. */
.macro CHECK n, reg, expect
  TESTNUM \n
  _CHECK \n, \reg, \expect
.endm

/* TEST n: reg must equal register want. */
.macro CHECKR n, got, want
  TESTNUM \n
  _CHECKR \n, \got, \want
.endm

/* TEST n: reg must equal the address of label. */
.macro CHECK_ADDR n, reg, label
  TESTNUM \n
  la t6, \label
  _CHECKR \n, \reg, t6
.endm

/* TEST n: the doubleword at symbol must equal expect. */
.macro CHECK_MEM n, sym, expect
  TESTNUM \n
  ld t5, \sym
  _CHECK \n, t5, \expect
.endm

/* TEST n: rd = op rs1-value, rs2-value (immediates) must be `expect`; uses a0, a1, a2. */
.macro TEST_RR n, op, expect, v1, v2
  TESTNUM \n
  li a1, \v1
  li a2, \v2
  \op a0, a1, a2
  _CHECK \n, a0, \expect
.endm

/* TEST n: rd = op rs1-value, imm must be `expect`; uses a0, a1. */
.macro TEST_RI n, op, expect, v1, imm
  TESTNUM \n
  li a1, \v1
  \op a0, a1, \imm
  _CHECK \n, a0, \expect
.endm

/* TEST n: rd = op rs1-value (unary) must be `expect`; uses a0, a1. */
.macro TEST_R n, op, expect, v1
  TESTNUM \n
  li a1, \v1
  \op a0, a1
  _CHECK \n, a0, \expect
.endm

/* Same with rd == rs1 (a0). */
.macro TEST_RR_SAME1 n, op, expect, v1, v2
  TESTNUM \n
  li a0, \v1
  li a2, \v2
  \op a0, a0, a2
  _CHECK \n, a0, \expect
.endm

/* ---- traps ---- */

/* Arm the M-mode handler: the next trap resumes at label (in M-mode). */
.macro TRAP_EXPECT label
  li t6, -1
  sd t6, rt_trap_cause, t5
  sd t6, rt_trap_tval, t5
  sd t6, rt_trap_epc, t5
  la t6, \label
  sd t6, rt_trap_recover, t5
.endm

/* Arm, and also reset the S-mode record. */
.macro STRAP_EXPECT label
  li t6, -1
  sd t6, rt_strap_cause, t5
  sd t6, rt_strap_tval, t5
  sd t6, rt_strap_epc, t5
  TRAP_EXPECT \label
.endm

/* Disarm (when the armed trap may not have happened). */
.macro TRAP_DISARM
  sd zero, rt_trap_recover, t5
.endm

/* TEST n: the last M-mode trap had mcause == cause. Disarms. */
.macro CHECK_TRAP_CAUSE n, cause
  TRAP_DISARM
  CHECK_MEM \n, rt_trap_cause, \cause
.endm

/* TEST n: mcause == cause and mtval == tval (immediate). Disarms. */
.macro CHECK_TRAP n, cause, tval
  TESTNUM \n
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK \n, t5, \cause
  ld t5, rt_trap_tval
  _CHECK \n, t5, \tval
.endm

/* TEST n: mcause == cause, mtval == the 32-bit instruction at label, mepc == label.
   Disarms. (Put the instruction under .option norvc.) */
.macro CHECK_TRAP_INSN n, cause, label
  TESTNUM \n
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK \n, t5, \cause
  lwu t6, \label
  ld t5, rt_trap_tval
  _CHECKR \n, t5, t6
  la t6, \label
  ld t5, rt_trap_epc
  _CHECKR \n, t5, t6
.endm

/* TEST n: mepc == address of label. */
.macro CHECK_TRAP_EPC n, label
  TESTNUM \n
  ld t5, rt_trap_epc
  la t6, \label
  _CHECKR \n, t5, t6
.endm

/* TEST n: scause == cause and stval == tval (immediate). Disarms. */
.macro CHECK_STRAP n, cause, tval
  TESTNUM \n
  TRAP_DISARM
  ld t5, rt_strap_cause
  _CHECK \n, t5, \cause
  ld t5, rt_strap_tval
  _CHECK \n, t5, \tval
.endm

/* TEST n: sepc == address of label. */
.macro CHECK_STRAP_EPC n, label
  TESTNUM \n
  ld t5, rt_strap_epc
  la t6, \label
  _CHECKR \n, t5, t6
.endm

/* mret into privilege mode `mode` (PRV_U/PRV_S/PRV_M) at label. */
.macro MRET_TO mode, label
  li t6, MSTATUS_MPP
  csrc mstatus, t6
  li t6, (\mode) << 11
  csrs mstatus, t6
  la t6, \label
  csrw mepc, t6
  mret
.endm

/* mret into `mode` at the address in register reg. */
.macro MRET_TO_REG mode, reg
  li t6, MSTATUS_MPP
  csrc mstatus, t6
  li t6, (\mode) << 11
  csrs mstatus, t6
  csrw mepc, \reg
  mret
.endm

/* Print a string literal on the UART (M-mode; clobbers a0, t5, t6, ra). */
.macro PUTS str
  .pushsection .rodata
.Lrt_str\@:
  .asciz "\str"
  .popsection
  la a0, .Lrt_str\@
  call rt_puts
.endm

/* Print a register as 0x and 16 hex digits on the UART (M-mode; clobbers a0, t5, t6, ra). */
.macro PUTHEX reg
  mv a0, \reg
  call rt_puthex
.endm

#endif /* __ASSEMBLER__ */
#endif /* RT_H */
