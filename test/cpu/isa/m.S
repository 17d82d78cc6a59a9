# m: RV64M multiply and divide, the W forms, division by zero and the signed
# overflow case (INT_MIN / -1).
#include "rt.h"
  PROGRAM m
  .option norvc

#define MIN64 0x8000000000000000
#define MAX64 0x7fffffffffffffff

  .text
  .globl test_main
test_main:
  /* mul: the low 64 bits */
  TEST_RR 1, mul, 6, 2, 3
  TEST_RR 2, mul, 1, -1, -1
  TEST_RR 3, mul, 0xfffffffffffffffe, MAX64, 2
  TEST_RR 4, mul, MIN64, MIN64, -1
  TEST_RR 5, mul, 0x0000000000000000, 0x100000000, 0x100000000
  TEST_RR 6, mul, 0x2236d88fe5618cf0, 0x0123456789abcdef, 0xfedcba9876543210
  TEST_RR 7, mul, 0, 0, -1
  /* mulh: signed x signed, the high 64 bits */
  TEST_RR 8, mulh, 0, -1, -1
  TEST_RR 9, mulh, 0xffffffffffffffff, -1, 1
  TEST_RR 10, mulh, 0x4000000000000000, MIN64, MIN64
  TEST_RR 11, mulh, 0x3fffffffffffffff, MAX64, MAX64
  TEST_RR 12, mulh, 0xc000000000000000, MIN64, MAX64
  TEST_RR 13, mulh, 0, 2, 3
  TEST_RR 14, mulh, 0xffffffffffffffff, -2, 3
  TEST_RR 15, mulh, 0xfffeb49923cc0953, 0x0123456789abcdef, 0xfedcba9876543210
  /* mulhu: unsigned x unsigned */
  TEST_RR 16, mulhu, 0xfffffffffffffffe, -1, -1
  TEST_RR 17, mulhu, 1, MIN64, 2
  TEST_RR 18, mulhu, 0, -1, 1
  TEST_RR 19, mulhu, 0x4000000000000000, MIN64, MIN64
  TEST_RR 20, mulhu, 0x0121fa00ad77d742, 0x0123456789abcdef, 0xfedcba9876543210
  /* mulhsu: signed rs1 x unsigned rs2 */
  TEST_RR 21, mulhsu, 0xffffffffffffffff, -1, -1
  TEST_RR 22, mulhsu, 0xffffffffffffffff, -1, 1
  TEST_RR 23, mulhsu, 0, 1, -1
  TEST_RR 24, mulhsu, 0x8000000000000000, MIN64, -1
  TEST_RR 25, mulhsu, 0x7ffffffffffffffe, MAX64, -1
  TEST_RR 26, mulhsu, 0xffffffffffffffff, -2, 3
  TEST_RR 27, mulhsu, 0x0121fa00ad77d742, 0x0123456789abcdef, 0xfedcba9876543210
  TEST_RR 28, mulhsu, 0xfede05ff528828bd, -0x0123456789abcdef, 0xfedcba9876543210
  /* mulw: the low 32 bits of the product, sign-extended; upper input bits ignored */
  TEST_RR 29, mulw, 0xfffffffffffffffe, 0x7fffffff, 2
  TEST_RR 30, mulw, 15, 0x100000003, 0x100000005
  TEST_RR 31, mulw, 0xffffffff80000000, 0x10000, 0x8000
  TEST_RR 32, mulw, 1, 0xffffffff, 0xffffffff
  TEST_RR 33, mulw, 0, 0x10000, 0x10000

  /* div / divu / rem / remu: rounding toward zero, the sign of the remainder */
  TEST_RR 34, div, 3, 7, 2
  TEST_RR 35, div, -3, -7, 2
  TEST_RR 36, div, -3, 7, -2
  TEST_RR 37, div, 3, -7, -2
  TEST_RR 38, rem, 1, 7, 2
  TEST_RR 39, rem, -1, -7, 2
  TEST_RR 40, rem, 1, 7, -2
  TEST_RR 41, rem, -1, -7, -2
  TEST_RR 42, divu, 0x7fffffffffffffff, -1, 2
  TEST_RR 43, divu, 0, 7, -1
  TEST_RR 44, divu, 1, -1, -1
  TEST_RR 45, remu, 1, -1, 2
  TEST_RR 46, remu, 7, 7, -1
  TEST_RR 47, remu, 0x0000000000000003, 0x0123456789abcdef, 4
  /* by zero: quotient all ones, remainder the dividend; no trap */
  TEST_RR 48, div, -1, 7, 0
  TEST_RR 49, div, -1, -7, 0
  TEST_RR 50, div, -1, 0, 0
  TEST_RR 51, divu, 0xffffffffffffffff, 7, 0
  TEST_RR 52, divu, 0xffffffffffffffff, 0, 0
  TEST_RR 53, rem, 7, 7, 0
  TEST_RR 54, rem, -7, -7, 0
  TEST_RR 55, rem, MIN64, MIN64, 0
  TEST_RR 56, remu, 7, 7, 0
  TEST_RR 57, remu, -7, -7, 0
  /* overflow: INT_MIN / -1 = INT_MIN, remainder 0 */
  TEST_RR 58, div, MIN64, MIN64, -1
  TEST_RR 59, rem, 0, MIN64, -1
  TEST_RR 60, divu, 0, MIN64, -1
  TEST_RR 61, remu, MIN64, MIN64, -1
  TEST_RR 62, div, -MAX64, MAX64, -1
  TEST_RR 63, div, 1, MIN64, MIN64

  /* W forms: 32-bit operands, 32-bit results sign-extended */
  TEST_RR 64, divw, 3, 0xffffffff00000007, 0x100000002
  TEST_RR 65, divw, -3, 0xfffffff9, 2
  TEST_RR 66, divw, 0xffffffff80000000, 0x80000000, -1
  TEST_RR 67, divw, -1, 5, 0
  TEST_RR 68, divw, -1, 5, 0x100000000     /* the divisor's low word is 0 */
  TEST_RR 69, divuw, 0x7fffffff, -1, 2
  TEST_RR 70, divuw, 0xffffffff80000000, 0x80000000, 1
  TEST_RR 71, divuw, 0xffffffffffffffff, 5, 0
  TEST_RR 72, divuw, 0, 0x80000000, -1
  TEST_RR 73, remw, -1, 0xfffffff9, 2
  TEST_RR 74, remw, 0, 0x80000000, -1
  TEST_RR 75, remw, 0xffffffff80000000, 0x80000000, 0
  TEST_RR 76, remw, 0x12345678, 0xabcdef0012345678, 0
  TEST_RR 77, remuw, 0xffffffff80000000, 0x80000000, 0
  TEST_RR 78, remuw, 1, 0xffffffff, 2
  TEST_RR 79, remuw, 0xffffffff80000000, 0x80000000, -1
  TEST_RR 80, remuw, 0x0000000000000007, 0x00000000fffffff7, 0x10
  TEST_RR 81, remw, 0xfffffffffffffff9, 0xfffffff9, 0x10

  /* the destination as a source */
  TEST_RR_SAME1 82, mul, 0x21, 3, 11
  TEST_RR_SAME1 83, divu, 3, 33, 11
  TEST_DONE
