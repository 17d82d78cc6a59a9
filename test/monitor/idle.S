# idle: every hart waits for interrupts forever; the machine has nothing to do.
  .globl _start
_start:
1:
  wfi
  j 1b
