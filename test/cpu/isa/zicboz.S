# oracle: none (QEMU 7.2 has no Zicboz; the harness checks this program on QEMU built
# with -DORACLE_EMULATION, which emulates cbo.zero in the trap handler, see emul.h)
# zicboz: cbo.zero zeroes the whole 64-byte cache block holding the address in rs1
# (any alignment, no misaligned exception) and nothing else; below M-mode it needs
# menvcfg.CBZE, and in U-mode senvcfg.CBZE too, else it is an illegal instruction.
# (Assumes a 64-byte cache block, as QEMU's default and the virt device tree give.)
#include "rt.h"
#include "emul.h"
  PROGRAM zicboz
  .option norvc

/* binutils 2.40 does not know Zicboz: MISC-MEM, funct3 010, imm 4, rd 0 */
#define CBO_ZERO(rs1) .insn i 0x0f, 2, x0, rs1, 4

/* fill the 256-byte buffer with 0xff bytes */
.macro FILL
  la t0, buf
  li t1, -1
  li t2, 32
.Lfill\@:
  sd t1, 0(t0)
  addi t0, t0, 8
  addi t2, t2, -1
  bnez t2, .Lfill\@
.endm

/* TEST n: the doublewords of buf are zero exactly in [lo, hi) (byte offsets) */
.macro CHECK_ZEROED n, lo, hi
  TESTNUM \n
  la t0, buf
  li t2, 0
.Lck\@:
  ld a0, 0(t0)
  li t1, \lo
  blt t2, t1, .Lone\@
  li t1, \hi
  bge t2, t1, .Lone\@
  _CHECK \n, a0, 0
  j .Lnext\@
.Lone\@:
  _CHECK \n, a0, -1
.Lnext\@:
  addi t0, t0, 8
  addi t2, t2, 8
  li t1, 256
  blt t2, t1, .Lck\@
.endm

  .text
  .globl test_main
test_main:
  EMULATOR_INSTALL
  li a0, (1 << 7)
  csrc CSR_MENVCFG, a0
  csrc CSR_SENVCFG, a0
  /* M-mode: always allowed */
  FILL
  la a1, buf + 64
  CBO_ZERO(a1)
  CHECK_ZEROED 1, 64, 128
  /* an address inside the block: the whole block */
  FILL
  la a1, buf + 128 + 13
  CBO_ZERO(a1)
  CHECK_ZEROED 2, 128, 192
  FILL
  la a1, buf + 63
  CBO_ZERO(a1)
  CHECK_ZEROED 3, 0, 64
  /* S-mode without menvcfg.CBZE: illegal */
  FILL
  la a1, buf
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  CBO_ZERO(a1)
1:
  CHECK_TRAP_INSN 4, CAUSE_ILLEGAL, 2b
  CHECK_ZEROED 5, 0, 0
  /* with it: zeroes */
  li a0, (1 << 7)
  csrs CSR_MENVCFG, a0
  la a1, buf + 192 + 40
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  CBO_ZERO(a1)
  ecall
1:
  CHECK_TRAP 6, CAUSE_ECALL_S, 0
  CHECK_ZEROED 7, 192, 256
  /* U-mode needs senvcfg.CBZE as well */
  FILL
  la a1, buf
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  CBO_ZERO(a1)
1:
  CHECK_TRAP_INSN 8, CAUSE_ILLEGAL, 2b
  CHECK_ZEROED 9, 0, 0
  li a0, (1 << 7)
  csrs CSR_SENVCFG, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  CBO_ZERO(a1)
  ecall
1:
  CHECK_TRAP 10, CAUSE_ECALL_U, 0
  CHECK_ZEROED 11, 0, 64
  /* senvcfg alone is not enough */
  FILL
  li a0, (1 << 7)
  csrc CSR_MENVCFG, a0
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  CBO_ZERO(a1)
1:
  CHECK_TRAP_INSN 12, CAUSE_ILLEGAL, 2b
  CHECK_ZEROED 13, 0, 0
  csrc CSR_SENVCFG, a0
  TEST_DONE

  EMULATOR

  .data
  .balign 64
buf:
  .space 256
