# tlb: a memory-heavy benchmark under Sv39 where every access misses the TLB, one hart.
#
# M-mode maps NPAGES 4 KiB pages at VA 0x40000000 onto RAM at 0x80400000 (a root table,
# one level-1 table and NPAGES/512 level-0 tables, A and D preset so no walk writes them)
# and the program itself with a 1 GiB page (VA = PA), then runs the loop in S-mode. A
# pass touches each of the NPAGES pages once (a load and a store of one doubleword, at a
# stride of STRIDE pages, the offset inside the page varying) and ends with sfence.vma,
# which empties the TLB, so every access walks the page table, as after a context switch
# on a machine without ASIDs. M-mode reads mtime just before the mret into S-mode and
# right after the ecall back, and prints:
#   bench tlb insns=<retired in S-mode> ticks=<mtime ticks, 10 MHz> check=<sum of loads>
# Build-time parameter: -DPASSES=n (default 100).
#include "rt.h"
#include "vm.h"
  PROGRAM tlb

#ifndef PASSES
#define PASSES 100
#endif
#define NPAGES 4096                     /* a power of two, a multiple of 512 */
#define STRIDE 97                       /* odd: a pass visits every page once */
#define VBASE 0x40000000
#define PBASE 0x80400000

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  /* the program, VA = PA: a 1 GiB leaf at 0x80000000 */
  PTE_TO_PA tlb_root, VPN2(0x80000000), 0x80000000, PTE_LEAF_S
  /* VBASE: root -> level 1 -> NPAGES/512 level-0 tables, laid out back to back */
  PTE_TO_LABEL tlb_root, VPN2(VBASE), tlb_l1, PTE_V
  li s2, 0
1:
  la a0, tlb_l1
  mv a1, s2
  la a2, tlb_l0
  slli t0, s2, 12
  add a2, a2, t0
  li a3, PTE_V
  call vm_set_pte
  addi s2, s2, 1
  li t0, NPAGES / 512
  bltu s2, t0, 1b
  li s2, 0
2:
  la a0, tlb_l0
  mv a1, s2
  li a2, PBASE
  slli t0, s2, 12
  add a2, a2, t0
  li a3, PTE_RW
  call vm_set_pte
  addi s2, s2, 1
  li t0, NPAGES
  bltu s2, t0, 2b
  SATP_SET SATP_SV39, tlb_root

  /* the loop's registers (kept across mret and ecall) */
  li s0, PASSES
  li s1, VBASE
  li s3, 0                              /* page index */
  li s4, 0                              /* sum of the loads */
  li s5, NPAGES
  li s6, NPAGES - 1
  TRAP_EXPECT 3f
  li t0, CLINT_MTIME
  ld s8, 0(t0)
  MRET_TO PRV_S, tlb_loop
3:
  li t0, CLINT_MTIME
  ld s9, 0(t0)
  CHECK_TRAP_CAUSE 1, CAUSE_ECALL_S
  csrw satp, zero
  sfence.vma
  PUTS "bench tlb insns="
  ld a0, tlb_insns
  call rt_putdec
  PUTS " ticks="
  sub a0, s9, s8
  call rt_putdec
  PUTS " check="
  mv a0, s4
  call rt_puthex
  li a0, '\n'
  call rt_putc
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* S-mode */
  .option push
  .option norvc
tlb_loop:
.Lpass:
  mv s2, s5                             /* accesses left in this pass */
.Laccess:
  slli t0, s3, 12
  add t0, t0, s1
  andi t2, s3, 63
  slli t2, t2, 6
  add t0, t0, t2                        /* page s3, cache line s3 % 64 */
  ld t1, 0(t0)
  add s4, s4, t1
  addi t1, t1, 1
  sd t1, 0(t0)
  addi s3, s3, STRIDE
  and s3, s3, s6
  addi s2, s2, -1
  bnez s2, .Laccess
.Laccess_end:
  sfence.vma
  addi s0, s0, -1
  bnez s0, .Lpass
.Lpass_end:
  ecall                                 /* back to M-mode (not counted) */
  .option pop

  VM_ROUTINES

  .section .rodata
  .balign 8
tlb_insns:
  .dword PASSES * (NPAGES * ((.Laccess_end - .Laccess) / 4) + ((.Lpass_end - .Lpass) - (.Laccess_end - .Laccess)) / 4)

  .bss
  .balign 4096
tlb_root: .space 4096
tlb_l1:   .space 4096
tlb_l0:   .space 8 * NPAGES
