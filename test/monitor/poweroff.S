# poweroff: hart 0 powers the machine off through the sifive_test device at once.
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, 2f
  li t1, 0x100000
  li t2, 0x5555
  sw t2, 0(t1)
2:
  wfi
  j 2b
