# oracle: none (QEMU 7.2 has no Zicond; the harness checks this program on QEMU built
# with -DORACLE_EMULATION, which emulates czero.* in the trap handler, see emul.h)
# zicond: czero.eqz / czero.nez on all 64 bits of the condition, with x0 operands,
# rd aliasing rs1/rs2, and the conditional-select idiom.
#include "rt.h"
#include "emul.h"
  PROGRAM zicond
  .option norvc

/* binutils 2.40 does not know Zicond: OP, funct7 0000111, funct3 101 / 111 */
#define CZERO_EQZ(rd, rs1, rs2) .insn r 0x33, 5, 7, rd, rs1, rs2
#define CZERO_NEZ(rd, rs1, rs2) .insn r 0x33, 7, 7, rd, rs1, rs2

/* TEST n: rd = czero.<which> (v1, cond) == expect */
.macro TEST_CZ n, which, expect, v1, cond
  TESTNUM \n
  li a1, \v1
  li a2, \cond
  .ifc \which, eqz
  CZERO_EQZ(a0, a1, a2)
  .else
  CZERO_NEZ(a0, a1, a2)
  .endif
  _CHECK \n, a0, \expect
.endm

  .text
  .globl test_main
test_main:
  EMULATOR_INSTALL
  TEST_CZ 1, eqz, 0, 0x123456789abcdef0, 0
  TEST_CZ 2, eqz, 0x123456789abcdef0, 0x123456789abcdef0, 1
  TEST_CZ 3, eqz, 0x123456789abcdef0, 0x123456789abcdef0, -1
  TEST_CZ 4, eqz, 0x123456789abcdef0, 0x123456789abcdef0, 0x8000000000000000
  TEST_CZ 5, eqz, 0x123456789abcdef0, 0x123456789abcdef0, 0x100000000   /* all 64 bits */
  TEST_CZ 6, eqz, 0, 0, 5
  TEST_CZ 7, nez, 0x123456789abcdef0, 0x123456789abcdef0, 0
  TEST_CZ 8, nez, 0, 0x123456789abcdef0, 1
  TEST_CZ 9, nez, 0, 0x123456789abcdef0, -1
  TEST_CZ 10, nez, 0, 0x123456789abcdef0, 0x8000000000000000
  TEST_CZ 11, nez, 0, 0x123456789abcdef0, 0x100000000
  TEST_CZ 12, nez, -1, -1, 0
  /* x0 as the condition: eqz always zeroes, nez always copies */
  TESTNUM 13
  li a1, 77
  CZERO_EQZ(a0, a1, x0)
  _CHECK 13, a0, 0
  TESTNUM 14
  CZERO_NEZ(a0, a1, x0)
  _CHECK 14, a0, 77
  /* x0 as the value */
  TESTNUM 15
  li a2, 0
  li a0, 5
  CZERO_NEZ(a0, x0, a2)
  _CHECK 15, a0, 0
  /* x0 as the destination: nothing is written */
  TESTNUM 16
  li a1, 1
  CZERO_NEZ(x0, a1, x0)
  _CHECK 16, x0, 0
  /* rd == rs1, rd == rs2 */
  TESTNUM 17
  li a0, 0x55
  li a2, 3
  CZERO_EQZ(a0, a0, a2)
  _CHECK 17, a0, 0x55
  TESTNUM 18
  li a1, 0x66
  li a0, 0
  CZERO_NEZ(a0, a1, a0)          /* condition 0: copy */
  _CHECK 18, a0, 0x66
  TESTNUM 19
  li a1, 0x66
  li a0, 9
  CZERO_NEZ(a0, a1, a0)          /* condition 9: zero */
  _CHECK 19, a0, 0
  TESTNUM 20
  li a0, 0x77
  CZERO_EQZ(a0, a0, a0)          /* nonzero: itself */
  _CHECK 20, a0, 0x77
  /* select: rd = c ? a : b */
  TESTNUM 21
  li s0, 0x1111                  /* a */
  li s1, 0x2222                  /* b */
  li s2, 42                      /* c != 0 */
  CZERO_EQZ(t0, s0, s2)
  CZERO_NEZ(t1, s1, s2)
  or a0, t0, t1
  _CHECK 21, a0, 0x1111
  TESTNUM 22
  li s2, 0
  CZERO_EQZ(t0, s0, s2)
  CZERO_NEZ(t1, s1, s2)
  or a0, t0, t1
  _CHECK 22, a0, 0x2222
  /* in U-mode as well (an unprivileged instruction) */
  TRAP_EXPECT 1f
  li a1, 0x99
  li a2, 1
  MRET_TO PRV_U, 2f
2:
  CZERO_EQZ(s3, a1, a2)
  CZERO_NEZ(s4, a1, a2)
  ecall
1:
  CHECK_TRAP 23, CAUSE_ECALL_U, 0
  CHECK 24, s3, 0x99
  CHECK 25, s4, 0
  TEST_DONE

  EMULATOR
