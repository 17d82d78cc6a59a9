# pmp: physical memory protection. 16 entries (pmpaddr0..15 read and written,
# pmpcfg0/pmpcfg2 only on RV64), TOR/NA4/NAPOT regions denying S/U loads, stores and
# fetches with access faults (mtval = the address), the lowest-numbered match winning,
# a partial match failing, no match failing for S/U, the page-table walk checked too,
# and last, the lock bit: it applies to M-mode and freezes the entry.
#include "rt.h"
#include "vm.h"
  PROGRAM pmp
  .option norvc

#define P_R 0x01
#define P_W 0x02
#define P_X 0x04
#define P_TOR   0x08
#define P_NA4   0x10
#define P_NAPOT 0x18
#define P_L 0x80

/* the byte of entry i in pmpcfg0 (i < 8) or pmpcfg2 (8 <= i < 16) = val */
.macro PMPCFG i, val
  .if \i < 8
  li t5, 0xff << (8 * \i)
  csrc pmpcfg0, t5
  li t5, (\val) << (8 * \i)
  csrs pmpcfg0, t5
  .else
  li t5, 0xff << (8 * (\i - 8))
  csrc pmpcfg2, t5
  li t5, (\val) << (8 * (\i - 8))
  csrs pmpcfg2, t5
  .endif
  sfence.vma zero, zero          /* synchronise with any translation caches */
.endm

/* pmpaddrN = (address of label + off) >> 2 */
.macro PMPADDR_LABEL n, label, off=0
  la t5, \label
  .if \off
  li t6, \off
  add t5, t5, t6
  .endif
  srli t5, t5, 2
  csrw pmpaddr\n, t5
.endm

/* pmpaddrN = NAPOT encoding of the 4 KiB page at label */
.macro PMPADDR_NAPOT4K n, label
  la t5, \label
  srli t5, t5, 2
  ori t5, t5, 0x1ff
  csrw pmpaddr\n, t5
.endm

.macro S_ACCESS_FAULT n, insn, reg, cause
  TRAP_EXPECT .Lf\@
  MRET_TO PRV_S, .Ls\@
.Ls\@:
  \insn
.Lf\@:
  TESTNUM \n
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK \n, t5, \cause
  ld t5, rt_trap_tval
  _CHECKR \n, t5, \reg
.endm

/* TEST n: S-mode runs insn without a trap */
.macro S_OK n, insn
  TRAP_EXPECT .Lf\@
  MRET_TO PRV_S, .Ls\@
.Ls\@:
  \insn
  ecall
.Lf\@:
  CHECK_TRAP \n, CAUSE_ECALL_S, 0
.endm

  .text
  .globl test_main
test_main:
  /* ---- 16 address registers; address bits 55:2 all implemented (granularity 4
     bytes, so NA4 exists). Bits 63:54 should read 0, but QEMU 7.2 keeps them, so
     they are masked off. ---- */
  TESTNUM 1
  li a1, -1
  csrw pmpaddr0, a1
  csrr a0, pmpaddr0
  li a1, 0x003fffffffffffff
  and a0, a0, a1
  _CHECK 1, a0, 0x003fffffffffffff
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
  li a1, 0x1111 * (\n + 1)
  csrw pmpaddr\n, a1
.endr
  TESTNUM 2
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
  csrr a0, pmpaddr\n
  _CHECK 2, a0, 0x1111 * (\n + 1)
.endr
  TESTNUM 3
  csrr s0, pmpaddr15
  li a1, 0x123456789
  csrw pmpaddr15, a1
  csrr a0, pmpaddr15
  csrw pmpaddr15, s0
  _CHECK 3, a0, 0x123456789
  /* configuration bytes read back */
  TESTNUM 4
  li a1, 0x0f1f0d1b09190000      /* entries 2..7: various modes, R/W/X not W-without-R */
  csrw pmpcfg0, a1
  csrr a0, pmpcfg0
  csrw pmpcfg0, zero
  _CHECK 4, a0, 0x0f1f0d1b09190000
  TESTNUM 5
  csrr a0, pmpcfg2
  _CHECK 5, a0, 0x1f00000000000000  /* the runtime's entry 15 */
  /* pmpcfg1 and pmpcfg3 do not exist on RV64 */
  TRAP_EXPECT 1f
2:
  csrr a0, pmpcfg1
1:
  CHECK_TRAP_INSN 6, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  csrr a0, pmpcfg3
1:
  CHECK_TRAP_INSN 7, CAUSE_ILLEGAL, 2b

  /* ---- TOR: entry 1 covers [pmpaddr0, pmpaddr1) of region, read-only ---- */
  PMPADDR_LABEL 0, region, 0x100
  PMPADDR_LABEL 1, region, 0x200
  PMPCFG 1, P_TOR | P_R
  la s1, region + 0x100
  S_ACCESS_FAULT 8, "sd zero, 0(s1)", s1, CAUSE_STORE_ACCESS
  la s1, region + 0x1fc
  S_ACCESS_FAULT 9, "sw zero, 0(s1)", s1, CAUSE_STORE_ACCESS
  la s1, region + 0x100
  S_ACCESS_FAULT 10, "amoadd.w a0, a0, (s1)", s1, CAUSE_STORE_ACCESS
  S_OK 11, "ld a0, 0(s1)"
  la s1, region + 0x200           /* the end is exclusive */
  S_OK 12, "sd zero, 0(s1)"
  la s1, region + 0xf8            /* just before the start */
  S_OK 13, "sd zero, 0(s1)"
  /* U-mode is checked the same way */
  la s1, region + 0x180
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  sb zero, 0(s1)
1:
  TESTNUM 14
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 14, t5, CAUSE_STORE_ACCESS
  ld t5, rt_trap_tval
  _CHECKR 14, t5, s1
  /* M-mode is not restricted by unlocked entries */
  TESTNUM 15
  la a1, region + 0x100
  li a0, 0x15
  sd a0, 0(a1)
  ld a0, 0(a1)
  _CHECK 15, a0, 0x15
  /* TOR in entry 0 starts at address 0 (execute-only: the code is in there too) */
  PMPCFG 1, 0
  PMPADDR_LABEL 0, region, 0x40
  PMPCFG 0, P_TOR | P_X
  la s1, region + 0x38
  S_ACCESS_FAULT 16, "ld a0, 0(s1)", s1, CAUSE_LOAD_ACCESS
  la s1, region + 0x40
  S_OK 17, "ld a0, 0(s1)"
  PMPCFG 0, 0

  /* ---- NA4: exactly four bytes ---- */
  PMPADDR_LABEL 2, region, 0x304
  PMPCFG 2, P_NA4
  la s1, region + 0x304
  S_ACCESS_FAULT 18, "lw a0, 0(s1)", s1, CAUSE_LOAD_ACCESS
  addi s2, s1, 3
  S_ACCESS_FAULT 19, "lbu a0, 3(s1)", s2, CAUSE_LOAD_ACCESS
  addi s2, s1, 2
  S_ACCESS_FAULT 20, "sh zero, 2(s1)", s2, CAUSE_STORE_ACCESS
  S_OK 21, "lw a0, 4(s1)"
  S_OK 22, "lw a0, -4(s1)"
  /* a partial match fails even when the entry allows the access */
  PMPCFG 2, P_NA4 | P_R | P_W
  S_OK 23, "lw a0, 0(s1)"
  la s1, region + 0x300
  S_ACCESS_FAULT 24, "ld a0, 0(s1)", s1, CAUSE_LOAD_ACCESS
  PMPCFG 2, 0

  /* ---- NAPOT: a 4 KiB page of code, readable but not executable ---- */
  PMPADDR_NAPOT4K 3, gadget
  PMPCFG 3, P_NAPOT | P_R
  la s1, gadget
  S_OK 25, "ld a0, 0(s1)"
  S_ACCESS_FAULT 26, "jalr s1", s1, CAUSE_FETCH_ACCESS
  TESTNUM 27
  ld a0, rt_trap_epc
  _CHECKR 27, a0, s1
  la s1, gadget + 0xffc
  S_ACCESS_FAULT 28, "jalr s1", s1, CAUSE_FETCH_ACCESS
  la s1, gadget + 0x1000          /* the next page is outside */
  S_OK 29, "jalr s1"
  PMPCFG 3, P_NAPOT | P_X
  la s1, gadget
  S_OK 30, "jalr s1"
  TESTNUM 31
  _CHECK 31, a0, 0x600d
  S_ACCESS_FAULT 32, "ld a0, 0(s1)", s1, CAUSE_LOAD_ACCESS
  PMPCFG 3, 0
  /* a larger NAPOT range: 64 KiB at region2 */
  la t5, region2
  srli t5, t5, 2
  li t6, (0x10000 >> 3) - 1
  or t5, t5, t6
  csrw pmpaddr4, t5
  PMPCFG 4, P_NAPOT | P_R
  la s1, region2 + 0xfff8
  S_ACCESS_FAULT 33, "sd zero, 0(s1)", s1, CAUSE_STORE_ACCESS
  la s1, region2 + 0x10000
  S_OK 34, "sd zero, 0(s1)"
  PMPCFG 4, 0

  /* ---- the lowest-numbered matching entry decides ---- */
  PMPADDR_NAPOT4K 5, region
  PMPADDR_NAPOT4K 6, region
  PMPCFG 5, P_NAPOT
  PMPCFG 6, P_NAPOT | P_R | P_W
  la s1, region + 0x800
  S_ACCESS_FAULT 35, "ld a0, 0(s1)", s1, CAUSE_LOAD_ACCESS
  PMPCFG 5, P_NAPOT | P_R | P_W
  PMPCFG 6, P_NAPOT
  S_OK 36, "ld a0, 0(s1)"
  PMPCFG 5, 0
  PMPCFG 6, 0

  /* ---- no matching entry: S and U fail, M succeeds ---- */
  PMPADDR_NAPOT4K 7, region
  PMPCFG 7, P_NAPOT | P_R | P_W | P_X
  PMPCFG 15, 0                   /* the runtime's catch-all off */
  TRAP_EXPECT 1f
  la s1, 2f
  MRET_TO_REG PRV_S, s1          /* the S-mode fetch fails at once */
2:
  nop
1:
  TESTNUM 37
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 37, t5, CAUSE_FETCH_ACCESS
  ld t5, rt_trap_tval
  _CHECKR 37, t5, s1
  TESTNUM 38
  la a0, region + 8              /* M-mode: still fine */
  sd a0, 0(a0)
  ld a1, 0(a0)
  _CHECKR 38, a1, a0
  PMPCFG 15, P_NAPOT | P_R | P_W | P_X
  PMPCFG 7, 0

  /* ---- the page-table walk is checked: a denied table gives an access fault ---- */
  PTE_TO_PA pt_root, 2, 0x80000000, PTE_LEAF_S
  PTE_TO_LABEL pt_root, 0, pt_l1, PTE_V
  PTE_TO_LABEL pt_l1, 0, pt_l0, PTE_V
  PTE_TO_LABEL pt_l0, 1, region, PTE_RW
  SATP_SET SATP_SV39, pt_root
  li s1, 0x1008
  S_OK 39, "ld a0, 0(s1)"
  PMPADDR_NAPOT4K 8, pt_l0
  PMPCFG 8, P_NAPOT              /* the level-0 table: no access */
  S_ACCESS_FAULT 40, "ld a0, 0(s1)", s1, CAUSE_LOAD_ACCESS
  S_ACCESS_FAULT 41, "sd a0, 0(s1)", s1, CAUSE_STORE_ACCESS
  PMPCFG 8, 0
  csrw satp, zero
  sfence.vma

  /* ---- locked entries: enforced in M-mode too, and frozen until reset ---- */
  PMPADDR_NAPOT4K 9, locked_page
  PMPCFG 9, P_NAPOT | P_R | P_L
  TESTNUM 42
  la s1, locked_page
  ld a0, 0(s1)
  _CHECK 42, a0, 0x10c4ed
  TRAP_EXPECT 1f
2:
  sd zero, 0(s1)                 /* M-mode store: access fault */
1:
  TESTNUM 43
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 43, t5, CAUSE_STORE_ACCESS
  ld t5, rt_trap_tval
  _CHECKR 43, t5, s1
  CHECK_TRAP_EPC 44, 2b
  TRAP_EXPECT 1f
  jalr s1                        /* M-mode fetch: no X */
1:
  TESTNUM 45
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 45, t5, CAUSE_FETCH_ACCESS
  /* writes to the locked entry are ignored */
  TESTNUM 46
  csrr a1, pmpaddr9
  li a0, 0x1234
  csrw pmpaddr9, a0
  csrr a0, pmpaddr9
  _CHECKR 46, a0, a1
  TESTNUM 47
  li a0, 0xff00
  csrc pmpcfg2, a0
  csrr a0, pmpcfg2
  srli a0, a0, 8
  andi a0, a0, 0xff
  _CHECK 47, a0, P_NAPOT | P_R | P_L
  CHECK_MEM 48, locked_page, 0x10c4ed
  /* a locked TOR entry also freezes the address register below it */
  PMPADDR_LABEL 10, locked_page, 0x1000
  PMPADDR_LABEL 11, locked_page, 0x1100
  PMPCFG 11, P_TOR | P_R | P_W | P_L
  TESTNUM 49
  csrr a1, pmpaddr10
  li a0, 0x5678
  csrw pmpaddr10, a0
  csrr a0, pmpaddr10
  _CHECKR 49, a0, a1
  TESTNUM 50
  la s1, locked_page + 0x1008     /* RW for M as well */
  li a0, 0x50
  sd a0, 0(s1)
  ld a0, 0(s1)
  _CHECK 50, a0, 0x50
  TRAP_EXPECT 1f
  jalr s1                        /* but no X */
1:
  CHECK_TRAP_CAUSE 51, CAUSE_FETCH_ACCESS
  /* an unlocked entry is still writable */
  TESTNUM 52
  li a0, 0x4321
  csrw pmpaddr12, a0
  csrr a0, pmpaddr12
  _CHECK 52, a0, 0x4321
  TEST_DONE

  VM_ROUTINES

  .balign 4096
gadget:
  li a0, 0x600d
  ret
  .balign 4096
  ret                            /* gadget + 0x1000 */

  .data
  .balign 4096
region:
  .space 4096
locked_page:
  .dword 0x10c4ed
  .balign 4096
  .space 4096
  .balign 0x10000
region2:
  .space 0x10000
  .dword 0

  .bss
  .balign 4096
pt_root: .space 4096
pt_l1:   .space 4096
pt_l0:   .space 4096
