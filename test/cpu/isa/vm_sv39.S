# vm_sv39: Sv39 translation with page tables built by the program: 4 KiB pages, a
# 2 MiB megapage, 1 GiB gigapages, S-mode and U-mode access, page faults (12/13/15)
# with mtval/stval = the faulting virtual address, delegated and not, permissions
# (R/W/X, reserved W-without-R, U vs SUM, MXR), non-canonical addresses, misaligned
# superpages, a non-leaf PTE at the last level, reserved PBMT bits, hardware A/D
# updates, sfence.vma after a PTE change, and MPRV.
#include "rt.h"
#include "vm.h"
  PROGRAM vm_sv39
  .option norvc

#define RAM       0x80000000
#define U_ALIAS   0x40000000      /* root[1]: RAM again, with the U bit */
#define SCRATCH   0x80200000      /* 2 MiB of RAM after the program */

#define VA_A      0x1000          /* page_a, RW */
#define VA_B      0x2000          /* page_b, RW */
#define VA_NONE   0x3000          /* invalid PTE (0) */
#define VA_RO     0x4000          /* page_c, R */
#define VA_XO     0x5000          /* page_c, X */
#define VA_WO     0x6000          /* page_c, W without R: reserved */
#define VA_AD     0x7000          /* page_d, RW with A = D = 0 */
#define VA_USER   0x8000          /* page_c, U RW */
#define VA_CODE   0x9000          /* gadget, RX */
#define VA_NOX    0xa000          /* gadget, RW */
#define VA_PTR0   0xb000          /* a pointer PTE at level 0 */
#define VA_PBMT   0xc000          /* page_c, RW with PBMT = IO (no Svpbmt: reserved) */
#define VA_INV    0xd000          /* page_c, RW but V = 0 */
#define VA_UCODE  0xe000          /* gadget, U RX */
#define VA_MEGA   0x200000        /* megapage -> SCRATCH */
#define VA_MEGA_BAD 0x400000      /* megapage -> SCRATCH + 4 KiB: misaligned */
#define VA_GIGA_BAD 0xc0000000    /* gigapage -> SCRATCH: misaligned */
#define VA_HIGH   0xffffffc000000000  /* root[256]: RAM, RW */
#define VA_NONCANON 0x0000004000000000 /* same VPN[2] as VA_HIGH, bits 63:39 not copies of 38 */

#define VAL_A 0xaaaaaaaaaaaaaaa1
#define VAL_B 0xbbbbbbbbbbbbbbb2
#define VAL_C 0xccccccccccccccc3
#define VAL_D 0xddddddddddddddd4

/* mret to U-mode at the U alias of label */
.macro GO_U label
  la t5, \label
  li t6, RAM - U_ALIAS
  sub t5, t5, t6
  MRET_TO_REG PRV_U, t5
.endm

/* TEST n: a0 = (PTE at table[index] & mask) == expect */
.macro CHECK_PTE n, table, index, mask, expect
  TESTNUM \n
  PTE_ADDR \table, \index
  ld a0, 0(a0)
  andi a0, a0, \mask
  _CHECK \n, a0, \expect
.endm

  .text
  .globl test_main
test_main:
  call build_tables
  SATP_SET SATP_SV39, pt_root
  TESTNUM 1
  csrr a0, satp
  srli a0, a0, 60
  _CHECK 1, a0, 8
  /* M-mode ignores satp */
  CHECK_MEM 2, page_a, VAL_A

  /* ---- S-mode through 4K pages, a megapage and gigapages ---- */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f              /* runs on the identity gigapage root[2] */
2:
  li t0, VA_A
  ld s2, 0(t0)
  li t0, VA_B
  ld s3, 0(t0)
  li t1, 0x1234
  sd t1, 8(t0)
  li t0, VA_MEGA + 0x1238
  li t1, 0x5678
  sd t1, 0(t0)
  la t1, page_a                  /* page_a through the high half */
  li t2, RAM
  sub t1, t1, t2
  li t0, VA_HIGH
  add t0, t0, t1
  ld s4, 0(t0)
  li t0, VA_RO
  ld s5, 0(t0)
  li t0, VA_CODE
  li a0, 0
  jalr t0                        /* gadget: a0 = 0x600d */
  mv s6, a0
  ecall
1:
  CHECK_TRAP 3, CAUSE_ECALL_S, 0
  CHECK 4, s2, VAL_A
  CHECK 5, s3, VAL_B
  CHECK_MEM 6, page_b + 8, 0x1234
  TESTNUM 7
  li t0, SCRATCH + 0x1238
  ld a0, 0(t0)
  _CHECK 7, a0, 0x5678
  CHECK 8, s4, VAL_A
  CHECK 9, s5, VAL_C
  CHECK 10, s6, 0x600d

  /* ---- page faults to M-mode: mtval = the virtual address ---- */
.macro S_FAULT n, insn, va, cause
  li s1, \va
  TRAP_EXPECT .Lf\@
  MRET_TO PRV_S, .Ls\@
.Ls\@:
  \insn
.Lf\@:
  CHECK_TRAP \n, \cause, \va
.endm
  S_FAULT 11, "ld a0, 0(s1)", VA_NONE, CAUSE_LOAD_PAGE
  S_FAULT 12, "sd a0, 0(s1)", VA_NONE, CAUSE_STORE_PAGE
  S_FAULT 13, "sd a0, 0(s1)", VA_RO, CAUSE_STORE_PAGE
  S_FAULT 14, "ld a0, 0(s1)", VA_XO, CAUSE_LOAD_PAGE
  S_FAULT 15, "ld a0, 0(s1)", VA_WO, CAUSE_LOAD_PAGE
  S_FAULT 16, "sd a0, 0(s1)", VA_WO, CAUSE_STORE_PAGE
  S_FAULT 17, "jalr s1", VA_NOX, CAUSE_FETCH_PAGE
  S_FAULT 18, "ld a0, 0(s1)", VA_PTR0, CAUSE_LOAD_PAGE
  S_FAULT 19, "ld a0, 0(s1)", VA_PBMT, CAUSE_LOAD_PAGE
  S_FAULT 20, "ld a0, 0(s1)", VA_INV, CAUSE_LOAD_PAGE
  S_FAULT 21, "lw a0, 0(s1)", VA_MEGA_BAD + 0x10, CAUSE_LOAD_PAGE
  S_FAULT 22, "sd a0, 0(s1)", VA_GIGA_BAD + 0x20, CAUSE_STORE_PAGE
  S_FAULT 23, "jalr s1", VA_NONE, CAUSE_FETCH_PAGE
  S_FAULT 24, "amoadd.d a0, a0, (s1)", VA_RO, CAUSE_STORE_PAGE
  S_FAULT 25, "lr.d a0, (s1)", VA_NONE, CAUSE_LOAD_PAGE
  /* the faulting instruction is mepc, and its destination is not written */
  TESTNUM 26
  li a0, 26
  li s1, VA_NONE + 8
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  ld a0, 0(s1)
1:
  CHECK_TRAP_EPC 27, 2b
  _CHECK 26, a0, 26
  CHECK_TRAP 28, CAUSE_LOAD_PAGE, VA_NONE + 8
  /* the fetch fault's mepc is the target */
  S_FAULT 29, "jalr s1", VA_NOX + 0x10, CAUSE_FETCH_PAGE
  TESTNUM 30
  ld a0, rt_trap_epc
  _CHECK 30, a0, VA_NOX + 0x10

  /* ---- non-canonical addresses: bits 63:39 must equal bit 38 ---- */
  TESTNUM 31
  la t1, page_a
  li t2, RAM
  sub s1, t1, t2
  li t0, VA_NONCANON
  add s1, s1, t0                 /* page_a's offset in the non-canonical twin of VA_HIGH */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  ld a0, 0(s1)
1:
  TRAP_DISARM
  ld t5, rt_trap_cause
  _CHECK 31, t5, CAUSE_LOAD_PAGE
  ld t5, rt_trap_tval
  _CHECKR 31, t5, s1
  S_FAULT 32, "sd a0, 0(s1)", VA_NONCANON, CAUSE_STORE_PAGE
  S_FAULT 33, "jalr s1", VA_NONCANON, CAUSE_FETCH_PAGE
  S_FAULT 34, "ld a0, 0(s1)", 0xffffff8000001000, CAUSE_LOAD_PAGE
  S_FAULT 35, "ld a0, 0(s1)", 0x8000000000001000, CAUSE_LOAD_PAGE

  /* ---- U bit, SUM ---- */
  S_FAULT 36, "ld a0, 0(s1)", VA_USER, CAUSE_LOAD_PAGE          /* SUM = 0 */
  S_FAULT 37, "sd a0, 0(s1)", VA_USER, CAUSE_STORE_PAGE
  li a0, MSTATUS_SUM
  csrs mstatus, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li t0, VA_USER
  ld s2, 0(t0)                   /* SUM = 1: allowed */
  li t1, 0x77
  sd t1, 16(t0)
  ecall
1:
  CHECK_TRAP 38, CAUSE_ECALL_S, 0
  CHECK 39, s2, VAL_C
  CHECK_MEM 40, page_c + 16, 0x77
  S_FAULT 41, "jalr s1", VA_UCODE, CAUSE_FETCH_PAGE            /* never S-executes U */
  li a0, MSTATUS_SUM
  csrc mstatus, a0
  /* U-mode: U pages only */
  TRAP_EXPECT 1f
  GO_U 2f
2:
  li t0, VA_USER
  ld s2, 0(t0)
  li t0, VA_UCODE
  li a0, 0
  jalr t0                        /* U-executable gadget */
  mv s3, a0
  ecall
1:
  CHECK_TRAP 42, CAUSE_ECALL_U, 0
  CHECK 43, s2, VAL_C
  CHECK 44, s3, 0x600d
.macro U_FAULT n, insn, va, cause
  li s1, \va
  TRAP_EXPECT .Lf\@
  GO_U .Lu\@
.Lu\@:
  \insn
.Lf\@:
  CHECK_TRAP \n, \cause, \va
.endm
  U_FAULT 45, "ld a0, 0(s1)", VA_A, CAUSE_LOAD_PAGE
  U_FAULT 46, "sd a0, 0(s1)", VA_B, CAUSE_STORE_PAGE
  U_FAULT 47, "jalr s1", VA_CODE, CAUSE_FETCH_PAGE
  U_FAULT 48, "ld a0, 0(s1)", RAM + 0x1000, CAUSE_LOAD_PAGE   /* the S identity gigapage */

  /* ---- MXR: loads from executable-only pages ---- */
  li a0, MSTATUS_MXR
  csrs mstatus, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li t0, VA_XO
  ld s2, 0(t0)
  ecall
1:
  CHECK_TRAP 49, CAUSE_ECALL_S, 0
  CHECK 50, s2, VAL_C
  S_FAULT 51, "sd a0, 0(s1)", VA_XO, CAUSE_STORE_PAGE          /* MXR is for loads */
  li a0, MSTATUS_MXR
  csrc mstatus, a0

  /* ---- A and D: set by the hardware on access (QEMU 7.2 updates them) ---- */
  CHECK_PTE 52, pt_l0, VPN0(VA_AD), PTE_A | PTE_D, 0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li t0, VA_AD
  ld s2, 0(t0)
  ecall
1:
  CHECK_TRAP 53, CAUSE_ECALL_S, 0
  CHECK 54, s2, VAL_D
  CHECK_PTE 55, pt_l0, VPN0(VA_AD), PTE_A | PTE_D, PTE_A
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li t0, VA_AD
  li t1, 0x99
  sd t1, 8(t0)
  ecall
1:
  CHECK_TRAP 56, CAUSE_ECALL_S, 0
  CHECK_PTE 57, pt_l0, VPN0(VA_AD), PTE_A | PTE_D, PTE_A | PTE_D
  CHECK_MEM 58, page_d + 8, 0x99

  /* ---- sfence.vma after changing a PTE (S-mode edits its own tables) ---- */
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li s1, VA_A
  ld s2, 0(s1)                   /* page_a, now in the TLB */
  PTE_ADDR pt_l0, VPN0(VA_A)
  la a1, page_b
  srli a1, a1, 12
  slli a1, a1, 10
  ori a1, a1, PTE_RW
  sd a1, 0(a0)
  sfence.vma
  ld s3, 0(s1)                   /* page_b */
  la a1, page_a
  srli a1, a1, 12
  slli a1, a1, 10
  ori a1, a1, PTE_RW
  sd a1, 0(a0)
  sfence.vma s1, zero            /* just that address */
  ld s4, 0(s1)                   /* page_a again */
  sd zero, 0(a0)                 /* invalid */
  sfence.vma zero, zero
  ld s5, 0(s1)                   /* page fault */
  ecall
1:
  CHECK_TRAP 59, CAUSE_LOAD_PAGE, VA_A
  CHECK 60, s2, VAL_A
  CHECK 61, s3, VAL_B
  CHECK 62, s4, VAL_A
  PTE_TO_LABEL pt_l0, VPN0(VA_A), page_a, PTE_RW
  sfence.vma

  /* ---- MPRV: M-mode loads and stores translated as MPP ---- */
  TESTNUM 63
  li a0, MSTATUS_MPP
  csrc mstatus, a0
  li a0, (PRV_S << 11) | MSTATUS_MPRV
  csrs mstatus, a0
  li t0, VA_B
  ld a1, 0(t0)
  li t1, 0xabc
  sd t1, 24(t0)
  li a0, MSTATUS_MPRV
  csrc mstatus, a0
  _CHECK 63, a1, VAL_B
  CHECK_MEM 64, page_b + 24, 0xabc
  /* MPP = U: S pages fault, and the trap goes to M with mtval = the address */
  li a0, MSTATUS_MPP
  csrc mstatus, a0
  li s1, VA_A
  TRAP_EXPECT 1f
  li a0, MSTATUS_MPRV
  csrs mstatus, a0
2:
  ld a1, 0(s1)
1:
  li a0, MSTATUS_MPRV
  csrc mstatus, a0
  CHECK_TRAP 65, CAUSE_LOAD_PAGE, VA_A
  CHECK_TRAP_EPC 66, 2b

  /* ---- page faults delegated to S-mode ---- */
  li a0, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
  csrw medeleg, a0
  li s1, VA_A
  STRAP_EXPECT 1f
  GO_U 2f
2:
  ld a0, 0(s1)
1:
  CHECK_STRAP 67, CAUSE_LOAD_PAGE, VA_A
  TESTNUM 68
  ld t5, rt_strap_status
  andi t5, t5, MSTATUS_SPP
  _CHECK 68, t5, 0
  li s1, VA_RO
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  sw a0, 4(s1)
1:
  CHECK_STRAP 69, CAUSE_STORE_PAGE, VA_RO + 4
  CHECK_STRAP_EPC 70, 2b
  li s1, VA_CODE
  STRAP_EXPECT 1f
  GO_U 2f
2:
  jalr s1
1:
  CHECK_STRAP 71, CAUSE_FETCH_PAGE, VA_CODE
  TESTNUM 72
  ld t5, rt_strap_epc
  _CHECK 72, t5, VA_CODE
  li s1, VA_NONCANON
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  ld a0, 0(s1)
1:
  CHECK_STRAP 73, CAUSE_LOAD_PAGE, VA_NONCANON
  csrw medeleg, zero

  csrw satp, zero
  sfence.vma
  TEST_DONE

build_tables:
  addi sp, sp, -16
  sd ra, 0(sp)
  PTE_TO_PA pt_root, VPN2(RAM), RAM, PTE_LEAF_S
  PTE_TO_PA pt_root, VPN2(U_ALIAS), RAM, PTE_LEAF_U
  PTE_TO_PA pt_root, VPN2(VA_GIGA_BAD), SCRATCH, PTE_RW
  PTE_TO_PA pt_root, 256, RAM, PTE_RW
  PTE_TO_LABEL pt_root, 0, pt_l1, PTE_V
  PTE_TO_LABEL pt_l1, 0, pt_l0, PTE_V
  PTE_TO_PA pt_l1, VPN1(VA_MEGA), SCRATCH, PTE_RW
  PTE_TO_PA pt_l1, VPN1(VA_MEGA_BAD), SCRATCH + 0x1000, PTE_RW
  PTE_TO_LABEL pt_l0, VPN0(VA_A), page_a, PTE_RW
  PTE_TO_LABEL pt_l0, VPN0(VA_B), page_b, PTE_RW
  PTE_TO_LABEL pt_l0, VPN0(VA_RO), page_c, PTE_V | PTE_R | PTE_A
  PTE_TO_LABEL pt_l0, VPN0(VA_XO), page_c, PTE_V | PTE_X | PTE_A
  PTE_TO_LABEL pt_l0, VPN0(VA_WO), page_c, PTE_V | PTE_W | PTE_A | PTE_D
  PTE_TO_LABEL pt_l0, VPN0(VA_AD), page_d, PTE_V | PTE_R | PTE_W
  PTE_TO_LABEL pt_l0, VPN0(VA_USER), page_c, PTE_RW | PTE_U
  PTE_TO_LABEL pt_l0, VPN0(VA_CODE), gadget, PTE_V | PTE_R | PTE_X | PTE_A
  PTE_TO_LABEL pt_l0, VPN0(VA_NOX), gadget, PTE_RW
  PTE_TO_LABEL pt_l0, VPN0(VA_PTR0), page_c, PTE_V
  PTE_TO_LABEL pt_l0, VPN0(VA_PBMT), page_c, PTE_RW | PTE_PBMT_IO
  PTE_TO_LABEL pt_l0, VPN0(VA_INV), page_c, PTE_RW & ~PTE_V
  PTE_TO_LABEL pt_l0, VPN0(VA_UCODE), gadget, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  VM_ROUTINES

  .balign 4096
gadget:
  li a0, 0x600d
  ret

  .data
  .balign 4096
page_a: .dword VAL_A
  .balign 4096
page_b: .dword VAL_B
  .balign 4096
page_c: .dword VAL_C
  .balign 4096
page_d: .dword VAL_D
  .balign 4096

  .bss
  .balign 4096
pt_root: .space 4096
pt_l1:   .space 4096
pt_l0:   .space 4096
