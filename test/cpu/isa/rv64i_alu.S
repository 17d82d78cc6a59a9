# rv64i_alu: RV64I register/immediate arithmetic, logic, shifts, compares, W forms,
# lui/auipc, and x0.
#include "rt.h"
  PROGRAM rv64i_alu
  .option norvc      /* the 32-bit encodings (RVC has its own program) */
  .text
  .globl test_main
test_main:
  /* add / sub, wrapping at 64 bits */
  TEST_RR 1, add, 0x0000000000000003, 1, 2
  TEST_RR 2, add, 0x8000000000000000, 0x7fffffffffffffff, 1
  TEST_RR 3, add, 0x0000000000000000, -1, 1
  TEST_RR 4, add, 0x0000000100000000, 0xffffffff, 1
  TEST_RR 5, sub, 0xffffffffffffffff, 0, 1
  TEST_RR 6, sub, 0x7fffffffffffffff, 0x8000000000000000, 1
  TEST_RR 7, sub, 0x0000000000000000, 0x123456789abcdef0, 0x123456789abcdef0
  TEST_RR_SAME1 8, add, 0x2468acf13579bde0, 0x123456789abcdef0, 0x123456789abcdef0
  /* logic */
  TEST_RR 9,  and, 0x0f000f000f000f00, 0xff00ff00ff00ff00, 0x0f0f0f0f0f0f0f0f
  TEST_RR 10, or,  0xff0fff0fff0fff0f, 0xff00ff00ff00ff00, 0x0f0f0f0f0f0f0f0f
  TEST_RR 11, xor, 0xf00ff00ff00ff00f, 0xff00ff00ff00ff00, 0x0f0f0f0f0f0f0f0f
  TEST_RI 12, andi, 0x0000000000000700, 0xff00ff00ff00ff00, 0x70f
  TEST_RI 13, andi, 0xff00ff00ff00ff00, 0xff00ff00ff00ff00, -1
  TEST_RI 14, andi, 0xff00ff00ff00f800, 0xff00ff00ff00ff00, -0x800
  TEST_RI 15, ori,  0xff00ff00ff00ff0f, 0xff00ff00ff00ff00, 0x00f
  TEST_RI 16, ori,  0xfffffffffffffff0, 0x0000000000000000, -16
  TEST_RI 17, xori, 0x00ff00ff00ff00ff, 0xff00ff00ff00ff00, -1
  TEST_RI 18, xori, 0xff00ff00ff00fff0, 0xff00ff00ff00ff00, 0x0f0
  /* addi: sign-extended 12-bit immediates */
  TEST_RI 19, addi, 0x0000000000000000, 1, -1
  TEST_RI 20, addi, 0x00000000000007ff, 0, 2047
  TEST_RI 21, addi, 0xfffffffffffff800, 0, -2048
  TEST_RI 22, addi, 0x8000000000000000, 0x7fffffffffffffff, 1
  TEST_RI 23, addi, 0x7fffffffffffffff, 0x8000000000000000, -1
  /* sll / srl / sra by 0, 1, 31, 32, 63, and amounts using only the low 6 bits */
  TEST_RR 24, sll, 0x8000000000000001, 0x8000000000000001, 0
  TEST_RR 25, sll, 0x0000000000000002, 0x8000000000000001, 1
  TEST_RR 26, sll, 0x0000000080000000, 1, 31
  TEST_RR 27, sll, 0x0000000100000000, 1, 32
  TEST_RR 28, sll, 0x8000000000000000, 1, 63
  TEST_RR 29, sll, 0x8000000000000000, 0xffffffffffffffff, 63
  TEST_RR 30, sll, 0x0000000000000001, 1, 64
  TEST_RR 31, sll, 0x8000000000000000, 1, -1
  TEST_RR 32, sll, 0x0000000000000002, 1, 0xffffffffffffffc1
  TEST_RR 33, srl, 0x8000000000000000, 0x8000000000000000, 0
  TEST_RR 34, srl, 0x0000000100000000, 0x8000000000000000, 31
  TEST_RR 35, srl, 0x0000000080000000, 0x8000000000000000, 32
  TEST_RR 36, srl, 0x0000000000000001, 0x8000000000000000, 63
  TEST_RR 37, srl, 0x0000000000000001, 0xffffffffffffffff, 63
  TEST_RR 38, srl, 0x8000000000000000, 0x8000000000000000, 64
  TEST_RR 39, sra, 0x8000000000000000, 0x8000000000000000, 0
  TEST_RR 40, sra, 0xffffffff00000000, 0x8000000000000000, 31
  TEST_RR 41, sra, 0xffffffff80000000, 0x8000000000000000, 32
  TEST_RR 42, sra, 0xffffffffffffffff, 0x8000000000000000, 63
  TEST_RR 43, sra, 0x0000000000000000, 0x7fffffffffffffff, 63
  TEST_RR 44, sra, 0x00000000ffffffff, 0x7fffffffffffffff, 31
  TEST_RR 45, sra, 0xc000000000000000, 0x8000000000000000, 0xffffffffffffff41
  TEST_RI 46, slli, 0x8000000000000001, 0x8000000000000001, 0
  TEST_RI 47, slli, 0x0000000080000000, 1, 31
  TEST_RI 48, slli, 0x0000000100000000, 1, 32
  TEST_RI 49, slli, 0x8000000000000000, 1, 63
  TEST_RI 50, srli, 0x8000000000000000, 0x8000000000000000, 0
  TEST_RI 51, srli, 0x0000000100000000, 0x8000000000000000, 31
  TEST_RI 52, srli, 0x0000000080000000, 0x8000000000000000, 32
  TEST_RI 53, srli, 0x0000000000000001, 0x8000000000000000, 63
  TEST_RI 54, srai, 0x8000000000000000, 0x8000000000000000, 0
  TEST_RI 55, srai, 0xffffffff00000000, 0x8000000000000000, 31
  TEST_RI 56, srai, 0xffffffff80000000, 0x8000000000000000, 32
  TEST_RI 57, srai, 0xffffffffffffffff, 0x8000000000000000, 63
  TEST_RI 58, srai, 0x0000000000000001, 0x7fffffffffffffff, 62
  /* slt / sltu / slti / sltiu: signed versus unsigned */
  TEST_RR 59, slt,  1, -1, 1
  TEST_RR 60, sltu, 0, -1, 1
  TEST_RR 61, slt,  0, 1, -1
  TEST_RR 62, sltu, 1, 1, -1
  TEST_RR 63, slt,  1, 0x8000000000000000, 0x7fffffffffffffff
  TEST_RR 64, sltu, 0, 0x8000000000000000, 0x7fffffffffffffff
  TEST_RR 65, slt,  0, 5, 5
  TEST_RR 66, sltu, 0, 5, 5
  TEST_RR 67, sltu, 1, 0, 1
  TEST_RI 68, slti, 1, -1, 0
  TEST_RI 69, slti, 0, 0, -1
  TEST_RI 70, slti, 1, 0x8000000000000000, -2048
  TEST_RI 71, slti, 0, 2047, 2047
  TEST_RI 72, sltiu, 1, 0, 1
  TEST_RI 73, sltiu, 0, 1, 1
  TEST_RI 74, sltiu, 1, 0xfffffffffffffffe, -1
  TEST_RI 75, sltiu, 0, 0xffffffffffffffff, -1
  TEST_RI 76, sltiu, 0, -1, 2047
  TEST_RI 77, sltiu, 1, 0x7fffffffffffffff, -2048
  /* W forms: 32-bit results, sign-extended, upper input bits ignored */
  TEST_RR 78, addw, 0xffffffff80000000, 0x7fffffff, 1
  TEST_RR 79, addw, 0x0000000000000000, 0xffffffff, 1
  TEST_RR 80, addw, 0x0000000000000003, 0x1234567800000001, 0xabcdef0000000002
  TEST_RR 81, addw, 0xffffffffffffffff, 0x00000000ffffffff, 0
  TEST_RR 82, subw, 0x000000007fffffff, 0x80000000, 1
  TEST_RR 83, subw, 0xffffffffffffffff, 0, 1
  TEST_RR 84, subw, 0xffffffff80000000, 0x100000000, 0x80000000
  TEST_RI 85, addiw, 0xffffffff80000000, 0x7fffffff, 1
  TEST_RI 86, addiw, 0x0000000023456789, 0x123456789, 0
  TEST_RI 87, addiw, 0xffffffffffffffff, 0xffffffff00000000, -1
  TEST_RI 88, addiw, 0x00000000000007fe, 0xffffffff, 2047
  TEST_RR 89, sllw, 0xffffffff80000000, 1, 31
  TEST_RR 90, sllw, 0x0000000000000001, 1, 32
  TEST_RR 91, sllw, 0x0000000000000000, 0xffffffff00000000, 0
  TEST_RR 92, sllw, 0xffffffffffffffff, 0x00000000ffffffff, 0
  TEST_RR 93, sllw, 0x0000000012345678, 0x0000000012345678, 0xffffffffffffffe0
  TEST_RR 94, srlw, 0xffffffff80000000, 0x80000000, 0
  TEST_RR 95, srlw, 0x0000000040000000, 0x80000000, 1
  TEST_RR 96, srlw, 0x0000000000000001, 0xffffffff80000000, 31
  TEST_RR 97, srlw, 0xffffffff80000000, 0x80000000, 32
  TEST_RR 98, srlw, 0x000000007fffffff, 0xfffffffffffffffe, 33
  TEST_RR 99, sraw, 0xffffffff80000000, 0x80000000, 0
  TEST_RR 100, sraw, 0xffffffffc0000000, 0x80000000, 1
  TEST_RR 101, sraw, 0xffffffffffffffff, 0x80000000, 31
  TEST_RR 102, sraw, 0x0000000000000000, 0x7fffffff, 31
  TEST_RR 103, sraw, 0x0000000000000001, 0xffffffff40000000, 30
  TEST_RI 104, slliw, 0xffffffff80000000, 1, 31
  TEST_RI 105, slliw, 0x0000000012345678, 0xff12345678, 0
  TEST_RI 106, slliw, 0xffffffffabcdef00, 0x12abcdef, 8
  TEST_RI 107, srliw, 0xffffffff80000000, 0x80000000, 0
  TEST_RI 108, srliw, 0x0000000000000001, 0x80000000, 31
  TEST_RI 109, srliw, 0x0000000000ffffff, 0x7ffffffff, 8
  TEST_RI 110, sraiw, 0xffffffff80000000, 0x80000000, 0
  TEST_RI 111, sraiw, 0xffffffffffffffff, 0x80000000, 31
  TEST_RI 112, sraiw, 0x0000000000000000, 0xffffffff7fffffff, 31
  TEST_RI 113, sraiw, 0xffffffffffff8000, 0x0000000080000000, 16
  /* sext.w is addiw rd, rs, 0 */
  TEST_R 114, sext.w, 0xffffffff89abcdef, 0x0123456789abcdef
  TEST_R 115, sext.w, 0x0000000001234567, 0x89abcdef01234567

  /* lui: 20-bit immediate to bits 31:12, sign-extended from bit 31 */
  TESTNUM 116
  lui a0, 0x80000
  _CHECK 116, a0, 0xffffffff80000000
  TESTNUM 117
  lui a0, 0xfffff
  _CHECK 117, a0, 0xfffffffffffff000
  TESTNUM 118
  lui a0, 0x7ffff
  _CHECK 118, a0, 0x000000007ffff000
  TESTNUM 119
  lui a0, 0
  _CHECK 119, a0, 0
  TESTNUM 120
  lui a0, 0x12345
  addiw a0, a0, 0x678
  _CHECK 120, a0, 0x12345678

  /* auipc: pc + sign-extended (imm << 12) */
  TESTNUM 121
1:
  auipc a0, 0
  la a1, 1b
  _CHECKR 121, a0, a1
  TESTNUM 122
1:
  auipc a0, 0xfffff
  la a1, 1b
  li a2, -4096
  add a1, a1, a2
  _CHECKR 122, a0, a1
  TESTNUM 123
1:
  auipc a0, 0x80000
  la a1, 1b
  li a2, 0xffffffff80000000
  add a1, a1, a2
  _CHECKR 123, a0, a1
  TESTNUM 124
1:
  auipc a0, 0x7ffff
  la a1, 1b
  li a2, 0x7ffff000
  add a1, a1, a2
  _CHECKR 124, a0, a1

  /* x0 is always zero, whatever is written to it */
  TESTNUM 125
  li a1, 5
  addi x0, a1, 1
  _CHECK 125, x0, 0
  TESTNUM 126
  li a1, -1
  li a2, 7
  add x0, a1, a2
  sub zero, a1, a2
  or zero, a1, a2
  _CHECK 126, zero, 0
  TESTNUM 127
  lui x0, 0x12345
  auipc x0, 0x1
  _CHECK 127, x0, 0
  TESTNUM 128
  la a1, some_data
  ld x0, 0(a1)
  lw x0, 0(a1)
  _CHECK 128, x0, 0
  TESTNUM 129
  mv a0, x0
  addi a0, x0, -1
  _CHECK 129, a0, -1
  TESTNUM 130
  jal x0, 1f
  li a0, 1
1:
  _CHECK 130, x0, 0
  TESTNUM 131
  li a1, 1
  slli x0, a1, 3
  sltu x0, zero, a1
  addw x0, a1, a1
  _CHECK 131, x0, 0
  /* reading x0 as an operand */
  TEST_RR 132, sub, 0xfffffffffffffff9, 0, 7
  TESTNUM 133
  li a1, 9
  sub a0, x0, a1
  _CHECK 133, a0, -9
  TESTNUM 134
  li a1, 9
  sltu a0, x0, a1     /* snez */
  _CHECK 134, a0, 1
  TESTNUM 135
  sltu a0, x0, x0
  _CHECK 135, a0, 0
  /* the same register as both sources and destination */
  TESTNUM 136
  li a0, 0x0123456789abcdef
  xor a0, a0, a0
  _CHECK 136, a0, 0
  TESTNUM 137
  li a0, 0x40
  sll a0, a0, a0     /* shift by 0x40 & 63 = 0 */
  _CHECK 137, a0, 0x40
  TESTNUM 138
  li a0, 3
  sll a0, a0, a0
  _CHECK 138, a0, 24
  /* nop and hint encodings do nothing */
  TESTNUM 139
  li a0, 42
  nop
  .option push
  .option norvc
  addi x0, x0, 0
  slli x0, x0, 0x1f    /* a HINT */
  .option pop
  _CHECK 139, a0, 42
  TEST_DONE

  .data
  .balign 8
some_data: .dword 0x1122334455667788
