# vm_sv48: Sv48 translation: four levels, 512 GiB / 1 GiB / 2 MiB / 4 KiB leaves,
# addresses beyond Sv39's reach, canonical form at bit 47, a misaligned superpage,
# U-mode through a U terapage, A/D updates, delegated faults, sfence.vma.
#include "rt.h"
#include "vm.h"
  PROGRAM vm_sv48
  .option norvc

#define RAM       0x80000000
#define SCRATCH   0x80200000
#define TERA      (1 << 39)

#define VA_TERA   (1 * TERA)              /* root[1]: terapage -> PA 0 */
#define VA_TERA_BAD (2 * TERA)            /* root[2]: terapage -> RAM: misaligned */
#define VA_4K     (3 * TERA + 0x1000)     /* root[3] -> l2 -> l1 -> l0: page_a */
#define VA_4K_B   (3 * TERA + 0x2000)     /* page_b, RW with A = D = 0 */
#define VA_4K_NONE (3 * TERA + 0x3000)
#define VA_4K_RO  (3 * TERA + 0x4000)     /* page_c, R */
#define VA_MEGA   (3 * TERA + 0x200000)   /* megapage -> SCRATCH */
#define VA_GIGA   (3 * TERA + 0x40000000) /* gigapage -> RAM */
#define U_BASE    (4 * TERA)              /* root[4]: U terapage -> PA 0 */
#define VA_HIGH   0xffff800000000000      /* root[256]: terapage -> PA 0 */
#define VA_NONCANON 0x0000800000000000    /* bit 47 set, bits 63:48 clear */

#define VAL_A 0xaaaaaaaaaaaaaaa1
#define VAL_B 0xbbbbbbbbbbbbbbb2
#define VAL_C 0xccccccccccccccc3

/* mret to U-mode at label's address in the U terapage */
.macro GO_U label
  la t5, \label
  li t6, U_BASE
  add t5, t5, t6
  MRET_TO_REG PRV_U, t5
.endm

.macro S_FAULT n, insn, va, cause
  li s1, \va
  TRAP_EXPECT .Lf\@
  MRET_TO PRV_S, .Ls\@
.Ls\@:
  \insn
.Lf\@:
  CHECK_TRAP \n, \cause, \va
.endm

  .text
  .globl test_main
test_main:
  call build_tables
  SATP_SET SATP_SV48, pt_root
  TESTNUM 1
  csrr a0, satp
  srli a0, a0, 60
  _CHECK 1, a0, 9

  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f              /* identity: root[0] -> l2_id[2] gigapage */
2:
  la t1, page_a
  li t0, VA_TERA
  add t0, t0, t1
  ld s2, 0(t0)                   /* page_a through the terapage */
  li t0, VA_4K
  ld s3, 0(t0)
  li t0, VA_MEGA + 0x2340
  li t1, 0x4242
  sd t1, 0(t0)
  la t1, page_c
  li t2, RAM
  sub t1, t1, t2
  li t0, VA_GIGA
  add t0, t0, t1
  ld s4, 0(t0)
  la t1, page_b
  li t0, VA_HIGH
  add t0, t0, t1
  ld s5, 0(t0)
  li t0, VA_4K_RO
  ld s6, 0(t0)
  ecall
1:
  CHECK_TRAP 2, CAUSE_ECALL_S, 0
  CHECK 3, s2, VAL_A
  CHECK 4, s3, VAL_A
  TESTNUM 5
  li t0, SCRATCH + 0x2340
  ld a0, 0(t0)
  _CHECK 5, a0, 0x4242
  CHECK 6, s4, VAL_C
  CHECK 7, s5, VAL_B
  CHECK 8, s6, VAL_C

  /* faults */
  S_FAULT 9, "ld a0, 0(s1)", VA_4K_NONE, CAUSE_LOAD_PAGE
  S_FAULT 10, "sd a0, 0(s1)", VA_4K_RO, CAUSE_STORE_PAGE
  S_FAULT 11, "ld a0, 0(s1)", VA_TERA_BAD + 0x80001000, CAUSE_LOAD_PAGE
  S_FAULT 12, "ld a0, 0(s1)", VA_NONCANON + 0x80001000, CAUSE_LOAD_PAGE
  S_FAULT 13, "sd a0, 0(s1)", VA_NONCANON, CAUSE_STORE_PAGE
  S_FAULT 14, "jalr s1", VA_NONCANON + 0x80000000, CAUSE_FETCH_PAGE
  S_FAULT 15, "ld a0, 0(s1)", 0xffff000080001000, CAUSE_LOAD_PAGE       /* bit 47 clear */
  S_FAULT 16, "ld a0, 0(s1)", 5 * TERA, CAUSE_LOAD_PAGE                 /* root[5] invalid */
  S_FAULT 17, "ld a0, 0(s1)", U_BASE + 0x80001000, CAUSE_LOAD_PAGE      /* U page, SUM = 0 */
  /* what is canonical in Sv48 but not in Sv39 was reached above (VA_4K) */

  /* U-mode through the U terapage */
  TRAP_EXPECT 1f
  GO_U 2f
2:
  la t0, page_c                  /* PC-relative: inside the U terapage */
  ld s2, 0(t0)
  li t1, 0x55
  sd t1, 8(t0)
  ecall
1:
  CHECK_TRAP 18, CAUSE_ECALL_U, 0
  CHECK 19, s2, VAL_C
  CHECK_MEM 20, page_c + 8, 0x55
  li s1, VA_4K
  TRAP_EXPECT 1f
  GO_U 2f
2:
  ld a0, 0(s1)
1:
  CHECK_TRAP 21, CAUSE_LOAD_PAGE, VA_4K

  /* A/D on a 4K leaf four levels down */
  TESTNUM 22
  PTE_ADDR pt_l0, VPN0(VA_4K_B)
  ld a0, 0(a0)
  andi a0, a0, PTE_A | PTE_D
  _CHECK 22, a0, 0
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  li t0, VA_4K_B
  li t1, 0x66
  sd t1, 0(t0)
  ecall
1:
  CHECK_TRAP 23, CAUSE_ECALL_S, 0
  TESTNUM 24
  PTE_ADDR pt_l0, VPN0(VA_4K_B)
  ld a0, 0(a0)
  andi a0, a0, PTE_A | PTE_D
  _CHECK 24, a0, PTE_A | PTE_D
  CHECK_MEM 25, page_b, 0x66

  /* delegated, and sfence.vma after a change */
  li a0, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
  csrw medeleg, a0
  li s1, VA_4K_NONE + 0x18
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  sd zero, 0(s1)
1:
  CHECK_STRAP 26, CAUSE_STORE_PAGE, VA_4K_NONE + 0x18
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  PTE_ADDR pt_l0, VPN0(VA_4K_NONE)
  la a1, page_c
  srli a1, a1, 12
  slli a1, a1, 10
  ori a1, a1, PTE_RW
  sd a1, 0(a0)
  sfence.vma s1, zero
  ld s2, -0x18(s1)
  ecall
1:
  CHECK_TRAP 27, CAUSE_ECALL_S, 0
  CHECK 28, s2, VAL_C
  csrw medeleg, zero

  csrw satp, zero
  sfence.vma
  TEST_DONE

build_tables:
  addi sp, sp, -16
  sd ra, 0(sp)
  PTE_TO_LABEL pt_root, 0, pt_l2_id, PTE_V
  PTE_TO_PA pt_l2_id, VPN2(RAM), RAM, PTE_LEAF_S
  PTE_TO_PA pt_root, 1, 0, PTE_RW
  PTE_TO_PA pt_root, 2, RAM, PTE_RW
  PTE_TO_LABEL pt_root, 3, pt_l2, PTE_V
  PTE_TO_PA pt_root, 4, 0, PTE_LEAF_U
  PTE_TO_PA pt_root, 256, 0, PTE_RW
  PTE_TO_LABEL pt_l2, 0, pt_l1, PTE_V
  PTE_TO_PA pt_l2, 1, RAM, PTE_RW
  PTE_TO_LABEL pt_l1, 0, pt_l0, PTE_V
  PTE_TO_PA pt_l1, 1, SCRATCH, PTE_RW
  PTE_TO_LABEL pt_l0, VPN0(VA_4K), page_a, PTE_RW
  PTE_TO_LABEL pt_l0, VPN0(VA_4K_B), page_b, PTE_V | PTE_R | PTE_W
  PTE_TO_LABEL pt_l0, VPN0(VA_4K_RO), page_c, PTE_V | PTE_R | PTE_A
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  VM_ROUTINES

  .data
  .balign 4096
page_a: .dword VAL_A
  .balign 4096
page_b: .dword VAL_B
  .balign 4096
page_c: .dword VAL_C
  .balign 4096

  .bss
  .balign 4096
pt_root:  .space 4096
pt_l2_id: .space 4096
pt_l2:    .space 4096
pt_l1:    .space 4096
pt_l0:    .space 4096
