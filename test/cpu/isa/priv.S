# priv: synchronous traps and privilege changes. Illegal instructions (mtval = the
# instruction bits) including privilege violations, ecall from M/S/U, ebreak, access
# faults on unmapped physical addresses, mret/sret and their mstatus updates, trap
# entry updates, medeleg delegation to S-mode (and M-mode traps never delegated).
#include "rt.h"
  PROGRAM priv
  .option norvc

#define UNMAPPED 0x88000000      /* just past 128 MiB of RAM: nothing there */

/* TEST n: mstatus as the last M-mode trap saw it, masked, equals expect */
.macro CHECK_TRAP_STATUS n, mask, expect
  TESTNUM \n
  ld t5, rt_trap_status
  li t6, \mask
  and t5, t5, t6
  _CHECK \n, t5, \expect
.endm

/* TEST n: sstatus as the S-mode handler saw it, masked, equals expect */
.macro CHECK_STRAP_STATUS n, mask, expect
  TESTNUM \n
  ld t5, rt_strap_status
  li t6, \mask
  and t5, t5, t6
  _CHECK \n, t5, \expect
.endm

  .text
  .globl test_main
test_main:
  /* ---- illegal instructions: mtval holds the instruction ---- */
  TRAP_EXPECT 1f
2:
  .word 0x0000007f               /* low bits 1111111: a longer-instruction encoding */
1:
  CHECK_TRAP_INSN 1, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  .word 0x8000000b               /* custom-0 */
1:
  CHECK_TRAP_INSN 2, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  .word 0x0200003b | (7 << 12)   /* OP-32 with funct7 1, funct3 7: remuw */
1:
  TRAP_DISARM                    /* (that one is legal: remuw zero, zero, zero) */
  CHECK_MEM 3, rt_trap_cause, -1
  TRAP_EXPECT 1f
2:
  .word 0x0000107b               /* custom-3 major opcode: nothing there */
1:
  CHECK_TRAP_INSN 4, CAUSE_ILLEGAL, 2b
  /* the destination of a trapping instruction is not written */
  TESTNUM 5
  li a0, 5
  TRAP_EXPECT 1f
  csrr a0, 0x8ff
1:
  TRAP_DISARM
  _CHECK 5, a0, 5

  /* ---- ecall from M, S, U ---- */
  TRAP_EXPECT 1f
2:
  ecall
1:
  CHECK_TRAP 6, CAUSE_ECALL_M, 0
  CHECK_TRAP_EPC 7, 2b
  CHECK_TRAP_STATUS 8, MSTATUS_MPP, MSTATUS_MPP
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  ecall
1:
  CHECK_TRAP 9, CAUSE_ECALL_S, 0
  CHECK_TRAP_EPC 10, 2b
  CHECK_TRAP_STATUS 11, MSTATUS_MPP, PRV_S << 11
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  ecall
1:
  CHECK_TRAP 12, CAUSE_ECALL_U, 0
  CHECK_TRAP_EPC 13, 2b
  CHECK_TRAP_STATUS 14, MSTATUS_MPP, 0

  /* ---- ebreak: cause 3, mepc = the ebreak, mtval = 0 or the pc (QEMU 7.2: 0) ---- */
  TESTNUM 15
  TRAP_EXPECT 1f
2:
  ebreak
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 15, t5, CAUSE_BREAKPOINT
  CHECK_TRAP_EPC 16, 2b
  TESTNUM 17
  ld t5, rt_trap_tval
  beqz t5, 3f
  la t6, 2b
  _CHECKR 17, t5, t6
3:
  TESTNUM 18
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  ebreak
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 18, t5, CAUSE_BREAKPOINT
  CHECK_TRAP_STATUS 19, MSTATUS_MPP, 0

  /* ---- access faults: nothing at the physical address ---- */
  TESTNUM 20
  li a1, UNMAPPED
  li a0, 20
  TRAP_EXPECT 1f
2:
  ld a0, 0(a1)
1:
  CHECK_TRAP 21, CAUSE_LOAD_ACCESS, UNMAPPED
  CHECK_TRAP_EPC 22, 2b
  _CHECK 20, a0, 20               /* not written */
  TRAP_EXPECT 1f
2:
  lbu a0, 7(a1)
1:
  CHECK_TRAP 23, CAUSE_LOAD_ACCESS, UNMAPPED + 7
  TRAP_EXPECT 1f
2:
  sw a0, 16(a1)
1:
  CHECK_TRAP 24, CAUSE_STORE_ACCESS, UNMAPPED + 16
  CHECK_TRAP_EPC 25, 2b
  TRAP_EXPECT 1f
  li a2, UNMAPPED + 0x40
  jalr ra, 0(a2)
1:
  CHECK_TRAP 26, CAUSE_FETCH_ACCESS, UNMAPPED + 0x40
  TESTNUM 27
  ld t5, rt_trap_epc
  li t6, UNMAPPED + 0x40         /* mepc = the target */
  _CHECKR 27, t5, t6
  /* from S-mode (PMP allows it; there is still nothing there) */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  sd zero, 8(a1)
1:
  CHECK_TRAP 28, CAUSE_STORE_ACCESS, UNMAPPED + 8
  CHECK_TRAP_STATUS 29, MSTATUS_MPP, PRV_S << 11
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  lw a0, 4(a1)
1:
  CHECK_TRAP 30, CAUSE_LOAD_ACCESS, UNMAPPED + 4
  TRAP_EXPECT 1f
  li a2, UNMAPPED
  MRET_TO_REG PRV_U, a2          /* mret straight to a fetch fault */
1:
  CHECK_TRAP 31, CAUSE_FETCH_ACCESS, UNMAPPED
  CHECK_TRAP_STATUS 32, MSTATUS_MPP, 0

  /* ---- mret: MIE = MPIE, MPIE = 1, MPP = U ---- */
  TESTNUM 33
  li a1, MSTATUS_MPIE | MSTATUS_MIE
  csrc mstatus, a1
  li a1, MSTATUS_MIE
  csrs mstatus, a1               /* MIE 1, MPIE 0 */
  MRET_TO PRV_M, 1f
1:
  csrr a0, mstatus
  li a1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
  and a0, a0, a1
  _CHECK 33, a0, MSTATUS_MPIE
  TESTNUM 34
  MRET_TO PRV_M, 1f              /* MIE 0, MPIE 1 */
1:
  csrr a0, mstatus
  li a1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
  and a0, a0, a1
  _CHECK 34, a0, MSTATUS_MPIE | MSTATUS_MIE
  csrci mstatus, MSTATUS_MIE
  /* (mret to a mode below M also clears MPRV since priv 1.12; QEMU 7.2 does not,
     so that is not tested) */
  /* a trap saves MIE in MPIE and clears MIE */
  li a1, MSTATUS_MPIE
  csrs mstatus, a1
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f              /* MIE = 1 in S-mode (no interrupts pending) */
2:
  ecall
1:
  CHECK_TRAP_STATUS 38, MSTATUS_MPIE | MSTATUS_MIE, MSTATUS_MPIE
  TRAP_DISARM

  /* ---- sret: SIE = SPIE, SPIE = 1, mode = SPP, SPP = U ---- */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li a0, MSTATUS_SPP | MSTATUS_SIE
  csrc sstatus, a0
  li a0, MSTATUS_SPIE
  csrs sstatus, a0
  la a0, 3f
  csrw sepc, a0
  sret
3:
  ecall                          /* from U */
1:
  CHECK_TRAP 40, CAUSE_ECALL_U, 0
  CHECK_TRAP_STATUS 41, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE | MSTATUS_SIE
  li a0, MSTATUS_SIE
  csrc mstatus, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li a0, MSTATUS_SPP
  csrs sstatus, a0               /* back to S */
  li a0, MSTATUS_SPIE
  csrc sstatus, a0
  la a0, 3f
  csrw sepc, a0
  sret
3:
  ecall                          /* from S */
1:
  CHECK_TRAP 42, CAUSE_ECALL_S, 0
  CHECK_TRAP_STATUS 43, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE
  /* sret in M-mode is allowed: it goes to the mode in SPP */
  li a0, MSTATUS_SPP
  csrc mstatus, a0
  la a0, 3f
  csrw sepc, a0
  TRAP_EXPECT 1f
  sret
3:
  ecall
1:
  CHECK_TRAP 44, CAUSE_ECALL_U, 0

  /* ---- privilege violations ---- */
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  mret
1:
  CHECK_TRAP_INSN 45, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  sret
1:
  CHECK_TRAP_INSN 46, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  mret
1:
  CHECK_TRAP_INSN 47, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  csrr a0, mstatus
1:
  CHECK_TRAP_INSN 48, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  csrw mscratch, zero
1:
  CHECK_TRAP_INSN 49, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  csrr a0, sstatus
1:
  CHECK_TRAP_INSN 50, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  csrr a0, satp
1:
  CHECK_TRAP_INSN 51, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  sfence.vma
1:
  CHECK_TRAP_INSN 52, CAUSE_ILLEGAL, 2b
  /* wfi in U-mode traps (S-mode exists) */
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  wfi
1:
  CHECK_TRAP_INSN 53, CAUSE_ILLEGAL, 2b
  /* mstatus.TW: wfi in S-mode traps */
  li a0, MSTATUS_TW
  csrs mstatus, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  wfi
1:
  CHECK_TRAP_INSN 54, CAUSE_ILLEGAL, 2b
  li a0, MSTATUS_TW
  csrc mstatus, a0
  /* mstatus.TSR: sret in S-mode traps */
  li a0, MSTATUS_TSR
  csrs mstatus, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  sret
1:
  CHECK_TRAP_INSN 55, CAUSE_ILLEGAL, 2b
  li a0, MSTATUS_TSR
  csrc mstatus, a0
  /* mstatus.TVM: satp and sfence.vma in S-mode trap */
  li a0, MSTATUS_TVM
  csrs mstatus, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  csrr a0, satp
1:
  CHECK_TRAP_INSN 56, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  sfence.vma zero, zero
1:
  CHECK_TRAP_INSN 57, CAUSE_ILLEGAL, 2b
  li a0, MSTATUS_TVM
  csrc mstatus, a0
  /* without TVM/TSR/TW, S-mode may do all three */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  csrr a0, satp
  sfence.vma
  csrr a0, sstatus
  ecall
1:
  CHECK_TRAP 58, CAUSE_ECALL_S, 0

  /* ---- medeleg: exceptions from S/U go to S-mode ---- */
  li a0, (1 << CAUSE_ILLEGAL) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_ECALL_U) | (1 << CAUSE_LOAD_ACCESS)
  csrw medeleg, a0
  STRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  ecall                          /* from U: to S */
1:
  CHECK_STRAP 59, CAUSE_ECALL_U, 0
  CHECK_STRAP_EPC 60, 2b
  CHECK_STRAP_STATUS 61, MSTATUS_SPP, 0
  CHECK_TRAP 62, CAUSE_ECALL_S, 0      /* the S handler's ecall to M */
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  .word 0xffffffff               /* illegal in S: to S */
1:
  CHECK_STRAP 63, CAUSE_ILLEGAL, 0xffffffff
  CHECK_STRAP_EPC 64, 2b
  CHECK_STRAP_STATUS 65, MSTATUS_SPP, MSTATUS_SPP
  /* SPIE = SIE, SIE = 0 on entry */
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  csrsi sstatus, MSTATUS_SIE
3:
  ebreak
1:
  TESTNUM 66                     /* stval: 0 or the pc, as for mtval */
  TRAP_DISARM
  ld t5, rt_strap_cause
  _CHECK 66, t5, CAUSE_BREAKPOINT
  ld t5, rt_strap_tval
  beqz t5, 4f
  la t6, 3b
  _CHECKR 66, t5, t6
4:
  CHECK_STRAP_STATUS 67, MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP, MSTATUS_SPIE | MSTATUS_SPP
  li a0, MSTATUS_SIE | MSTATUS_SPIE
  csrc mstatus, a0
  STRAP_EXPECT 1f
  li a1, UNMAPPED
  MRET_TO PRV_U, 2f
2:
  ld a0, 0x10(a1)
1:
  CHECK_STRAP 68, CAUSE_LOAD_ACCESS, UNMAPPED + 0x10
  /* not delegated: a store access fault from S still goes to M */
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  sd a0, 0(a1)
1:
  CHECK_TRAP 69, CAUSE_STORE_ACCESS, UNMAPPED
  CHECK_MEM 70, rt_strap_cause, -1
  /* ecall from S is not delegated (bit 9 clear): to M */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  ecall
1:
  CHECK_TRAP 71, CAUSE_ECALL_S, 0
  CHECK_MEM 72, rt_strap_cause, -1
  /* a trap in M-mode is never delegated */
  TRAP_EXPECT 1f
2:
  .word 0xffffffff
1:
  CHECK_TRAP 73, CAUSE_ILLEGAL, 0xffffffff
  CHECK_MEM 74, rt_strap_cause, -1
  TRAP_EXPECT 1f
  ebreak
1:
  CHECK_TRAP_CAUSE 75, CAUSE_BREAKPOINT
  csrw medeleg, zero
  /* medeleg: the delegable bits are writable */
  TESTNUM 76
  li a0, (1 << CAUSE_ILLEGAL) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_ECALL_U) | (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
  csrw medeleg, a0
  csrr a1, medeleg
  csrw medeleg, zero
  _CHECKR 76, a1, a0
  TEST_DONE
