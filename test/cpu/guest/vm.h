/*
 * vm.h: building page tables at run time for the virtual-memory programs.
 * Tables are 4 KiB-aligned arrays of 512 PTEs in .bss; a PTE is
 * (physical address >> 12) << 10 | flags.
 * A program that includes this must expand VM_ROUTINES once in its .text.
 */
#ifndef VM_H
#define VM_H

/* the VPN fields of a virtual address */
#define VPN0(va) (((va) >> 12) & 511)
#define VPN1(va) (((va) >> 21) & 511)
#define VPN2(va) (((va) >> 30) & 511)
#define VPN3(va) (((va) >> 39) & 511)

#define PTE_LEAF_S   (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define PTE_LEAF_U   (PTE_LEAF_S | PTE_U)
#define PTE_RW       (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define PTE_PBMT_IO  (2 << 61)

#ifdef __ASSEMBLER__

/* table[index] = PTE(address of label, flags); clobbers a0-a3, ra */
.macro PTE_TO_LABEL table, index, label, flags
  la a0, \table
  li a1, \index
  la a2, \label
  li a3, \flags
  call vm_set_pte
.endm

/* table[index] = PTE(physical address pa, flags); clobbers a0-a3, ra */
.macro PTE_TO_PA table, index, pa, flags
  la a0, \table
  li a1, \index
  li a2, \pa
  li a3, \flags
  call vm_set_pte
.endm

/* a0 = the address of table[index] */
.macro PTE_ADDR table, index
  la a0, \table
  li a1, (\index) * 8
  add a0, a0, a1
.endm

/* satp = mode | root >> 12, then sfence.vma; clobbers a0, a1 */
.macro SATP_SET mode, root
  la a0, \root
  srli a0, a0, 12
  li a1, \mode
  or a0, a0, a1
  csrw satp, a0
  sfence.vma
.endm

.macro VM_ROUTINES
/* a0 = table, a1 = index, a2 = physical address, a3 = flags (may include bits 63:54) */
vm_set_pte:
  srli a2, a2, 12
  slli a2, a2, 10
  or a2, a2, a3
  slli a1, a1, 3
  add a0, a0, a1
  sd a2, 0(a0)
  ret
.endm

#endif /* __ASSEMBLER__ */
#endif /* VM_H */
