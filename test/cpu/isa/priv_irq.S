# priv_irq: interrupts. Machine software (CLINT msip) and timer (mtimecmp/mtime)
# interrupts, mie and mstatus.MIE gating, priority, wfi waking on a pending enabled
# interrupt, supervisor software/timer interrupts raised through mip.SSIP/STIP by
# M-mode (to M when not delegated; through mideleg to S, masked in M, always taken
# in U), vectored mtvec and stvec, Sstc (stimecmp with menvcfg.STCE), and mip.SEIP
# (the PLIC line) staying out of CSRRS/CSRRC read-modify-writes of mip.
#include "rt.h"
  PROGRAM priv_irq
  .option norvc

#define SPIN 20000000
#define MENVCFG_STCE (1 << 63)
#define CSR_MENVCFG 0x30a
#define CSR_STIMECMP 0x14d

/* spin until a trap takes us to the armed label (or give up and fall through) */
.macro SPIN_FOR_TRAP
  li t4, SPIN
.Lspin\@:
  addi t4, t4, -1
  bnez t4, .Lspin\@
.endm

/* TEST n: the last M-mode trap was interrupt `irq` */
.macro CHECK_IRQ n, irq
  TESTNUM \n
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK \n, t5, INTR | \irq
.endm

/* TEST n: the last S-mode trap was interrupt `irq` */
.macro CHECK_SIRQ n, irq
  TESTNUM \n
  TRAP_DISARM
  ld t5, rt_strap_cause
  _CHECK \n, t5, INTR | \irq
.endm

/* TEST n: (mip & mask) == expect */
.macro CHECK_MIP n, mask, expect
  TESTNUM \n
  csrr t5, mip
  li t6, \mask
  and t5, t5, t6
  _CHECK \n, t5, \expect
.endm

/* mtimecmp = mtime + delta (delta = -1: never) */
.macro SET_TIMER delta
  li t5, CLINT_MTIME
  ld t5, 0(t5)
  .if \delta == -1
  li t5, -1
  .else
  li t6, \delta
  add t5, t5, t6
  .endif
  li t6, CLINT_MTIMECMP
  sd t5, 0(t6)
.endm

  .text
  .globl test_main
test_main:
  csrw mie, zero
  csrw mideleg, zero

  /* ---- machine software interrupt through the CLINT ---- */
  li a0, MIP_MSIP
  csrw mie, a0
  TRAP_EXPECT 1f
  csrsi mstatus, MSTATUS_MIE
  li a1, CLINT_MSIP
  li a2, 1
  sw a2, 0(a1)
2:
  SPIN_FOR_TRAP
3:
1:
  CHECK_IRQ 1, IRQ_MSI
  TESTNUM 2
  ld t5, rt_trap_epc             /* taken between the store and the end of the spin */
  la t6, 2b
  sltu t6, t5, t6
  _CHECK 2, t6, 0
  la t6, 3b
  sltu t6, t6, t5
  _CHECK 2, t6, 0
  CHECK_MIP 3, MIP_MSIP, MIP_MSIP
  sw zero, 0(a1)
  CHECK_MIP 4, MIP_MSIP, 0
  TESTNUM 5
  lw a0, 0(a1)
  _CHECK 5, a0, 0

  /* ---- machine timer interrupt ---- */
  li a0, MIP_MTIP
  csrw mie, a0
  SET_TIMER 1000
  TRAP_EXPECT 1f
  csrsi mstatus, MSTATUS_MIE
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 6, IRQ_MTI
  TESTNUM 7
  li a0, CLINT_MTIME             /* mtime >= mtimecmp now */
  ld a0, 0(a0)
  li a1, CLINT_MTIMECMP
  ld a1, 0(a1)
  sltu a0, a0, a1
  _CHECK 7, a0, 0
  CHECK_MIP 8, MIP_MTIP, MIP_MTIP
  SET_TIMER -1
  CHECK_MIP 9, MIP_MTIP, 0
  /* mtimecmp <= mtime: pending at once; with MIE = 0 nothing is taken */
  li a0, CLINT_MTIMECMP
  sd zero, 0(a0)
  CHECK_MIP 10, MIP_MTIP, MIP_MTIP
  SET_TIMER -1

  /* ---- gating: a pending interrupt is taken once mie and MIE allow it ---- */
  csrw mie, zero
  li a1, CLINT_MSIP
  li a2, 1
  sw a2, 0(a1)
  csrsi mstatus, MSTATUS_MIE     /* MSIE = 0: nothing */
  nop
  nop
  CHECK_MIP 11, MIP_MSIP, MIP_MSIP
  TRAP_EXPECT 1f
  li a0, MIP_MSIP
  csrs mie, a0                   /* taken right after this */
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 12, IRQ_MSI
  /* priority: MSI before MTI */
  li a0, CLINT_MTIMECMP
  sd zero, 0(a0)                 /* MTIP pending too */
  li a0, MIP_MSIP | MIP_MTIP
  csrw mie, a0
  TRAP_EXPECT 1f
  csrsi mstatus, MSTATUS_MIE
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 13, IRQ_MSI
  sw zero, 0(a1)
  TRAP_EXPECT 1f
  csrsi mstatus, MSTATUS_MIE
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 14, IRQ_MTI
  SET_TIMER -1
  csrw mie, zero

  /* ---- wfi wakes on a pending interrupt enabled in mie, even with MIE = 0 ---- */
  li a0, MIP_MTIP
  csrw mie, a0
  SET_TIMER 20000                /* 2 ms at 10 MHz */
  li s0, 100000
1:
  wfi
  csrr a0, mip
  andi a0, a0, MIP_MTIP
  bnez a0, 2f
  addi s0, s0, -1
  bnez s0, 1b
2:
  CHECK_MIP 15, MIP_MTIP, MIP_MTIP
  TESTNUM 16
  li a0, CLINT_MTIME
  ld a0, 0(a0)
  li a1, CLINT_MTIMECMP
  ld a1, 0(a1)
  sltu a0, a0, a1
  _CHECK 16, a0, 0
  SET_TIMER -1
  /* wfi with a software interrupt already pending returns */
  li a0, MIP_MSIP
  csrw mie, a0
  li a1, CLINT_MSIP
  li a2, 1
  sw a2, 0(a1)
  wfi
  sw zero, 0(a1)
  CHECK_MIP 17, MIP_MSIP, 0
  csrw mie, zero

  /* ---- supervisor software interrupt, not delegated: taken in M ---- */
  li a0, MIP_SSIP
  csrw mie, a0
  csrs mip, a0
  CHECK_MIP 18, MIP_SSIP, MIP_SSIP
  TRAP_EXPECT 1f
  csrsi mstatus, MSTATUS_MIE
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 19, IRQ_SSI
  /* and from S-mode with SIE = 0: still to M */
  TRAP_EXPECT 1f
  li a0, MSTATUS_SIE
  csrc mstatus, a0
  MRET_TO PRV_S, 2f
2:
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 20, IRQ_SSI
  CHECK_MIP 21, MIP_SSIP, MIP_SSIP
  csrci mip, MIP_SSIP
  CHECK_MIP 22, MIP_SSIP, 0

  /* ---- delegated: masked in M, masked in S by SIE = 0, taken in U ---- */
  li a0, MIP_SSIP
  csrw mideleg, a0
  csrw mie, a0
  csrs mip, a0
  csrsi mstatus, MSTATUS_MIE
  li t4, 1000
1:
  addi t4, t4, -1
  bnez t4, 1b                    /* no trap in M */
  csrci mstatus, MSTATUS_MIE
  STRAP_EXPECT 1f
  li a0, MSTATUS_SIE
  csrc mstatus, a0
  MRET_TO PRV_S, 2f
2:
  li t4, 1000
3:
  addi t4, t4, -1
  bnez t4, 3b                    /* no trap in S with SIE = 0 */
  ecall
1:
  CHECK_TRAP 23, CAUSE_ECALL_S, 0
  CHECK_MEM 24, rt_strap_cause, -1
  STRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  SPIN_FOR_TRAP
1:
  CHECK_SIRQ 25, IRQ_SSI
  TESTNUM 26
  ld t5, rt_strap_status
  andi t5, t5, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
  _CHECK 26, t5, 0                /* from U, SIE was 0 */
  /* in S-mode with SIE = 1 */
  STRAP_EXPECT 1f
  li a0, MSTATUS_SIE
  csrs mstatus, a0
  MRET_TO PRV_S, 2f
2:
  SPIN_FOR_TRAP
1:
  CHECK_SIRQ 27, IRQ_SSI
  TESTNUM 28
  ld t5, rt_strap_status
  andi t5, t5, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
  _CHECK 28, t5, MSTATUS_SPP | MSTATUS_SPIE
  TESTNUM 29
  ld t5, rt_strap_epc            /* sepc is in the S-mode spin loop */
  la t6, 2b
  sltu t6, t5, t6
  _CHECK 29, t6, 0
  /* S-mode clears it through sip */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  csrci sip, MIP_SSIP
  csrr a0, sip
  ecall
1:
  CHECK_TRAP 30, CAUSE_ECALL_S, 0
  TESTNUM 31
  _CHECK 31, a0, 0
  CHECK_MIP 32, MIP_SSIP, 0

  /* ---- vectored stvec: interrupt i goes to base + 4i ---- */
  la a0, svec_table
  ori a0, a0, 1
  csrw stvec, a0
  li a0, -1
  sd a0, svec_slot, t0
  li a0, MIP_SSIP
  csrs mip, a0
  STRAP_EXPECT 1f
  li a0, MSTATUS_SIE
  csrs mstatus, a0
  MRET_TO PRV_S, 2f
2:
  SPIN_FOR_TRAP
1:
  CHECK_SIRQ 33, IRQ_SSI
  CHECK_MEM 34, svec_slot, IRQ_SSI
  csrci mip, MIP_SSIP
  /* exceptions still go to the base */
  li a0, -1
  sd a0, svec_slot, t0
  li a0, 1 << CAUSE_ILLEGAL
  csrw medeleg, a0
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  .word 0xffffffff
1:
  TRAP_DISARM
  CHECK_MEM 35, rt_strap_cause, CAUSE_ILLEGAL
  CHECK_MEM 36, svec_slot, -1
  csrw medeleg, zero
  la a0, rt_strap_entry
  csrw stvec, a0

  /* ---- supervisor timer interrupt through mip.STIP (menvcfg.STCE = 0) ---- */
  li a0, MENVCFG_STCE
  csrc CSR_MENVCFG, a0
  li a0, MIP_STIP
  csrw mideleg, a0
  csrw mie, a0
  csrs mip, a0
  CHECK_MIP 37, MIP_STIP, MIP_STIP
  STRAP_EXPECT 1f
  li a0, MSTATUS_SIE
  csrs mstatus, a0
  MRET_TO PRV_S, 2f
2:
  SPIN_FOR_TRAP
1:
  CHECK_SIRQ 38, IRQ_STI
  li a0, MIP_STIP
  csrc mip, a0
  CHECK_MIP 39, MIP_STIP, 0
  /* not delegated: STI goes to M */
  csrw mideleg, zero
  csrs mip, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 40, IRQ_STI
  li a0, MIP_STIP
  csrc mip, a0
  csrw mie, zero

  /* ---- vectored mtvec ---- */
  la a0, mvec_table
  ori a0, a0, 1
  csrw mtvec, a0
  li a0, -1
  sd a0, mvec_slot, t0
  li a0, MIP_MSIP | MIP_MTIP
  csrw mie, a0
  li a1, CLINT_MSIP
  li a2, 1
  sw a2, 0(a1)
  TRAP_EXPECT 1f
  csrsi mstatus, MSTATUS_MIE
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 41, IRQ_MSI
  CHECK_MEM 42, mvec_slot, IRQ_MSI
  sw zero, 0(a1)
  SET_TIMER 100
  TRAP_EXPECT 1f
  csrsi mstatus, MSTATUS_MIE
  SPIN_FOR_TRAP
1:
  CHECK_IRQ 43, IRQ_MTI
  CHECK_MEM 44, mvec_slot, IRQ_MTI
  SET_TIMER -1
  li a0, -1
  sd a0, mvec_slot, t0
  TRAP_EXPECT 1f
  ecall                          /* exceptions go to the base */
1:
  CHECK_TRAP_CAUSE 45, CAUSE_ECALL_M
  CHECK_MEM 46, mvec_slot, -1
  la a0, rt_trap_entry
  csrw mtvec, a0
  csrw mie, zero

  /* ---- Sstc: stimecmp raises STIP when time >= stimecmp ---- */
  /* S-mode access needs menvcfg.STCE (and mcounteren.TM) */
  li a0, 2
  csrw mcounteren, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  csrr a0, CSR_STIMECMP
1:
  CHECK_TRAP_INSN 47, CAUSE_ILLEGAL, 2b
  li a0, MENVCFG_STCE
  csrs CSR_MENVCFG, a0
  TESTNUM 48
  csrr a0, CSR_MENVCFG
  srli a0, a0, 63
  _CHECK 48, a0, 1
  li a0, -1
  csrw CSR_STIMECMP, a0
  CHECK_MIP 49, MIP_STIP, 0
  /* with STCE = 1, mip.STIP is not writable */
  li a0, MIP_STIP
  csrs mip, a0
  CHECK_MIP 50, MIP_STIP, 0
  /* stimecmp <= time: pending */
  csrw CSR_STIMECMP, zero
  CHECK_MIP 51, MIP_STIP, MIP_STIP
  li a0, -1
  csrw CSR_STIMECMP, a0
  CHECK_MIP 52, MIP_STIP, 0
  /* S-mode arms its own timer and takes the interrupt */
  li a0, MIP_STIP
  csrw mideleg, a0
  csrw mie, a0
  STRAP_EXPECT 1f
  li a0, MSTATUS_SIE
  csrs mstatus, a0
  MRET_TO PRV_S, 2f
2:
  rdtime a0
  addi a0, a0, 1000
  csrw CSR_STIMECMP, a0
  csrr a1, CSR_STIMECMP
  bne a0, a1, 3f
  SPIN_FOR_TRAP
3:
  ecall
1:
  CHECK_SIRQ 53, IRQ_STI
  li a0, -1
  csrw CSR_STIMECMP, a0
  CHECK_MIP 54, MIP_STIP, 0
  csrw mie, zero
  csrw mideleg, zero
  li a0, MENVCFG_STCE
  csrc CSR_MENVCFG, a0
  csrw mcounteren, zero
  li a0, MSTATUS_SIE
  csrc mstatus, a0
  /* ---- mip.SEIP: only its software bit takes part in CSRRS/CSRRC ---- */
  /* UART0 (PLIC source 10) raises THRE at once when IER.ETBEI is set: route it to
     hart 0's S context (1) so the PLIC line shows in mip.SEIP (mie = 0: no trap) */
  li t0, 0x0c000000 + 4 * 10
  li t1, 1
  sw t1, 0(t0)
  li t0, 0x0c002080
  li t1, 1 << 10
  sw t1, 0(t0)
  li t0, 0x0c201000
  sw zero, 0(t0)
  li t0, UART_BASE
  li t1, 2
  sb t1, 1(t0)
  CHECK_MIP 55, (1 << 9), (1 << 9)
  /* OpenSBI's IPI path does this while a device interrupt is pending */
  li a0, MIP_SSIP
  csrs mip, a0
  csrc mip, a0
  /* the line drops and the claim takes the pending bit: SEIP must follow the PLIC,
     not stay latched by the read-modify-write above */
  li t0, UART_BASE
  sb zero, 1(t0)
  li t0, 0x0c201004
  lw t1, 0(t0)
  sw t1, 0(t0)
  TESTNUM 56
  _CHECK 56, t1, 10
  CHECK_MIP 57, (1 << 9), 0
  li t0, 0x0c002080
  sw zero, 0(t0)
  li t0, 0x0c000000 + 4 * 10
  sw zero, 0(t0)
  TEST_DONE

/* ---- vector tables: each slot records its number, then the runtime handler ---- */
.macro MVEC_STUB n
mvec_\n:
  csrrw t0, mscratch, t0
  sd t1, 32(t0)
  li t1, \n
  sd t1, mvec_slot, t0           /* t0 as the address temp; restored below */
  csrr t0, mscratch
  la t1, rt_msave
  csrw mscratch, t1
  ld t1, 32(t1)
  j rt_trap_entry
.endm
.macro SVEC_STUB n
svec_\n:
  csrrw t0, sscratch, t0
  sd t1, 32(t0)
  li t1, \n
  sd t1, svec_slot, t0
  csrr t0, sscratch
  la t1, rt_ssave
  csrw sscratch, t1
  ld t1, 32(t1)
  j rt_strap_entry
.endm

  .balign 256
mvec_table:
  j rt_trap_entry
  j mvec_1
  j mvec_2
  j mvec_3
  j mvec_4
  j mvec_5
  j mvec_6
  j mvec_7
  j mvec_8
  j mvec_9
  j mvec_10
  j mvec_11
  MVEC_STUB 1
  MVEC_STUB 2
  MVEC_STUB 3
  MVEC_STUB 4
  MVEC_STUB 5
  MVEC_STUB 6
  MVEC_STUB 7
  MVEC_STUB 8
  MVEC_STUB 9
  MVEC_STUB 10
  MVEC_STUB 11

  .balign 256
svec_table:
  j rt_strap_entry
  j svec_1
  j svec_2
  j svec_3
  j svec_4
  j svec_5
  j svec_6
  j svec_7
  j svec_8
  j svec_9
  SVEC_STUB 1
  SVEC_STUB 2
  SVEC_STUB 3
  SVEC_STUB 4
  SVEC_STUB 5
  SVEC_STUB 6
  SVEC_STUB 7
  SVEC_STUB 8
  SVEC_STUB 9

  .data
  .balign 8
mvec_slot: .dword -1
svec_slot: .dword -1
