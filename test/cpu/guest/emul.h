/*
 * emul.h: an M-mode trap handler that emulates instructions QEMU 7.2 lacks, so that the
 * `# oracle: none` programs can be checked on QEMU when built with -DORACLE_EMULATION:
 *   czero.eqz / czero.nez (Zicond)
 *   cbo.zero (Zicboz; 64-byte blocks, enabled by menvcfg.CBZE below M and also
 *             senvcfg.CBZE in U, as the CMO spec says; no paging, no MPRV)
 * Anything else goes on to rt_trap_entry as if it had trapped there.
 * A program expands EMULATOR once in .text and, when ORACLE_EMULATION is defined,
 * points mtvec at emul_trap_entry (EMULATOR_INSTALL).
 */
#ifndef EMUL_H
#define EMUL_H
#ifdef __ASSEMBLER__

#define CSR_MENVCFG 0x30a
#define CSR_SENVCFG 0x10a
#define ENVCFG_CBZE (1 << 7)
#define CBO_BLOCK 64

.macro EMULATOR_INSTALL
#ifdef ORACLE_EMULATION
  la t0, emul_trap_entry
  csrw mtvec, t0
#endif
.endm

.macro EMULATOR
  .balign 4
emul_trap_entry:
  csrrw t0, mscratch, t0          /* t0 = rt_msave, mscratch = the trapped t0 */
  sd t1, 48(t0)
  la t1, emul_frame
  .irp r, 1,2,3,4,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  sd x\r, (\r * 8)(t1)
  .endr
  ld t2, 48(t0)
  sd t2, 48(t1)                   /* x6 */
  csrr t2, mscratch
  sd t2, 40(t1)                   /* x5 */
  csrw mscratch, t0
  sd zero, 0(t1)                  /* x0 */

  csrr t2, mcause
  li t3, CAUSE_ILLEGAL
  bne t2, t3, emul_forward
  csrr t2, mepc
  lhu t3, 0(t2)
  lhu t4, 2(t2)
  slli t4, t4, 16
  or t3, t3, t4                   /* the instruction */
  srli a0, t3, 15
  andi a0, a0, 31                 /* rs1 */
  slli a0, a0, 3
  add a0, a0, t1
  ld a0, 0(a0)                    /* x[rs1] */
  srli a1, t3, 20
  andi a1, a1, 31
  slli a1, a1, 3
  add a1, a1, t1
  ld a1, 0(a1)                    /* x[rs2] */
  srli a2, t3, 7
  andi a2, a2, 31                 /* rd */

  li t4, 0xfe00707f
  and t5, t3, t4
  li t4, 0x0e005033               /* czero.eqz */
  beq t5, t4, emul_czero_eqz
  li t4, 0x0e007033               /* czero.nez */
  beq t5, t4, emul_czero_nez
  li t4, 0xfff07fff
  and t5, t3, t4
  li t4, 0x0040200f               /* cbo.zero */
  beq t5, t4, emul_cbo_zero
  j emul_forward

emul_czero_eqz:
  bnez a1, emul_write_rd
  li a0, 0
  j emul_write_rd
emul_czero_nez:
  beqz a1, emul_write_rd
  li a0, 0
emul_write_rd:
  beqz a2, emul_done
  slli a2, a2, 3
  add a2, a2, t1
  sd a0, 0(a2)
  j emul_done

emul_cbo_zero:
  csrr t4, mstatus
  srli t4, t4, 11
  andi t4, t4, 3                  /* the trapped mode */
  li t5, PRV_M
  beq t4, t5, 2f
  csrr t5, CSR_MENVCFG
  andi t5, t5, ENVCFG_CBZE
  beqz t5, emul_forward
  bnez t4, 2f
  csrr t5, CSR_SENVCFG
  andi t5, t5, ENVCFG_CBZE
  beqz t5, emul_forward
2:
  andi a0, a0, -CBO_BLOCK
  .irp o, 0,8,16,24,32,40,48,56
  sd zero, \o(a0)
  .endr

emul_done:
  csrr t2, mepc
  addi t2, t2, 4
  csrw mepc, t2
  .irp r, 1,2,3,4,5,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  ld x\r, (\r * 8)(t1)
  .endr
  ld t1, 48(t1)
  mret

emul_forward:
  .irp r, 1,2,3,4,5,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  ld x\r, (\r * 8)(t1)
  .endr
  ld t1, 48(t1)
  j rt_trap_entry

  .pushsection .bss
  .balign 8
emul_frame:
  .space 32 * 8
  .popsection
.endm

#endif /* __ASSEMBLER__ */
#endif /* EMUL_H */
