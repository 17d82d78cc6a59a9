# spin: counts forever in a0 so run control can be observed from outside.
#include "rt.h"
  PROGRAM spin
  .text
  .globl test_main
test_main:
  li a0, 0
1:
  addi a0, a0, 1
  j 1b
