# zicsr: csrrw/csrrs/csrrc and the immediate forms (old value returned; no write when
# rs1 = x0 or uimm = 0, even to read-only CSRs; a write to a read-only CSR traps),
# fcsr/frm/fflags aliasing, the counters (cycle/time/instret readable, minstret
# writable, mcounteren/scounteren gating S and U), misa, mhartid, mstatus views
# (sstatus, sie/sip restricted by mideleg), satp ignoring unsupported modes.
#include "rt.h"
  PROGRAM zicsr
  .option norvc

  .text
  .globl test_main
test_main:
  /* csrrw: swap */
  TESTNUM 1
  li a1, 0x0123456789abcdef
  csrw mscratch, a1
  li a2, 0xfedcba9876543210
  csrrw a0, mscratch, a2
  _CHECK 1, a0, 0x0123456789abcdef
  csrr a0, mscratch
  _CHECK 1, a0, 0xfedcba9876543210
  TESTNUM 2
  li a0, 5
  csrrw a0, mscratch, a0          /* rd == rs1 */
  _CHECK 2, a0, 0xfedcba9876543210
  csrr a0, mscratch
  _CHECK 2, a0, 5
  TESTNUM 3
  csrrw x0, mscratch, zero         /* write 0, no read */
  csrr a0, mscratch
  _CHECK 3, a0, 0
  /* csrrs / csrrc: set / clear bits, return the old value */
  TESTNUM 4
  li a1, 0xf0
  csrw mscratch, a1
  li a2, 0x0f0f
  csrrs a0, mscratch, a2
  _CHECK 4, a0, 0xf0
  csrr a0, mscratch
  _CHECK 4, a0, 0x0fff
  TESTNUM 5
  li a2, 0xff0
  csrrc a0, mscratch, a2
  _CHECK 5, a0, 0x0fff
  csrr a0, mscratch
  _CHECK 5, a0, 0x00f
  TESTNUM 6
  li a2, -1
  csrrs a0, mscratch, a2
  csrr a0, mscratch
  _CHECK 6, a0, -1
  /* immediate forms: 5-bit zero-extended uimm */
  TESTNUM 7
  csrrwi a0, mscratch, 31
  _CHECK 7, a0, -1
  csrr a0, mscratch
  _CHECK 7, a0, 31
  TESTNUM 8
  csrrci a0, mscratch, 0x15
  _CHECK 8, a0, 31
  csrr a0, mscratch
  _CHECK 8, a0, 0x0a
  TESTNUM 9
  csrrsi a0, mscratch, 0x10
  _CHECK 9, a0, 0x0a
  csrr a0, mscratch
  _CHECK 9, a0, 0x1a
  TESTNUM 10
  csrrsi a0, mscratch, 0          /* no write */
  csrrci a1, mscratch, 0
  _CHECK 10, a0, 0x1a
  _CHECK 10, a1, 0x1a
  la t0, rt_msave                 /* the trap handler's save area */
  csrw mscratch, t0

  /* read-only CSRs: reading with rs1 = x0 / uimm = 0 never traps */
  TESTNUM 11
  csrrs a0, mhartid, x0
  csrrc a0, mhartid, x0
  csrrsi a0, mhartid, 0
  csrrci a0, mvendorid, 0
  csrrs a0, marchid, x0
  csrrs a0, mimpid, x0
  csrr a0, cycle
  csrrsi a0, instret, 0
  csrr a0, mhartid
  ld a1, rt_hartid
  _CHECKR 11, a0, a1
  /* but a write is illegal. (The spec says csrrs/csrrc with rs1 != x0 write even a
     zero value; QEMU 7.2 does not trap for a zero value, so that is not tested.) */
  TRAP_EXPECT 1f
2:
  csrw mhartid, zero
1:
  CHECK_TRAP_INSN 12, CAUSE_ILLEGAL, 2b
  li a1, 1
  TRAP_EXPECT 1f
2:
  csrrs a0, mhartid, a1
1:
  CHECK_TRAP_INSN 13, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  csrrci a0, mvendorid, 1
1:
  CHECK_TRAP_INSN 14, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  csrw cycle, zero
1:
  CHECK_TRAP_INSN 15, CAUSE_ILLEGAL, 2b
  TRAP_EXPECT 1f
2:
  csrrwi a0, time, 0
1:
  CHECK_TRAP_INSN 16, CAUSE_ILLEGAL, 2b
  /* a CSR that does not exist */
  TRAP_EXPECT 1f
2:
  csrr a0, 0x8ff
1:
  CHECK_TRAP_INSN 17, CAUSE_ILLEGAL, 2b
  /* the trapping write left the destination register alone */
  TESTNUM 18
  li a0, 18
  TRAP_EXPECT 1f
  csrrw a0, mhartid, a0
1:
  TRAP_DISARM
  _CHECK 18, a0, 18

  /* fcsr = frm[7:5] | fflags[4:0] */
  TESTNUM 19
  li a1, 0xff
  csrw fcsr, a1
  csrr a0, fflags
  _CHECK 19, a0, 0x1f
  csrr a0, frm
  _CHECK 19, a0, 7
  csrr a0, fcsr
  _CHECK 19, a0, 0xff
  TESTNUM 20
  csrwi frm, 3
  csrr a0, fcsr
  _CHECK 20, a0, 0x7f
  TESTNUM 21
  csrwi fflags, 0x05
  csrr a0, fcsr
  _CHECK 21, a0, 0x65
  TESTNUM 22
  li a1, 0xffffffff
  csrw fflags, a1                 /* only 5 bits */
  csrr a0, fflags
  _CHECK 22, a0, 0x1f
  csrr a0, frm
  _CHECK 22, a0, 3
  TESTNUM 23
  li a1, 0xfffffffd
  csrw frm, a1                    /* only 3 bits */
  csrr a0, frm
  _CHECK 23, a0, 5
  csrr a0, fcsr
  _CHECK 23, a0, 0xbf
  TESTNUM 24
  csrrci a0, fflags, 0x11
  _CHECK 24, a0, 0x1f
  csrrsi a0, frm, 2
  _CHECK 24, a0, 5
  csrr a0, fcsr
  _CHECK 24, a0, 0xee
  TESTNUM 25
  li a1, 0x123
  csrrw a0, fcsr, a1
  _CHECK 25, a0, 0xee
  csrr a0, fcsr
  _CHECK 25, a0, 0x23
  csrw fcsr, zero

  /* counters: instret and cycle advance, time follows mtime. (QEMU 7.2 without
     -icount derives instret from host ticks, not retired instructions, so only
     growth is checked.) */
  TESTNUM 26
  rdinstret a1
  nop
  nop
  nop
  rdinstret a2
  sltu a0, a1, a2
  _CHECK 26, a0, 1
  TESTNUM 27
  rdcycle a1
  li a3, 100
1:
  addi a3, a3, -1
  bnez a3, 1b
  rdcycle a2
  sltu a0, a1, a2
  _CHECK 27, a0, 1
  TESTNUM 28
  li a4, CLINT_MTIME
  ld a1, 0(a4)
  rdtime a2
  ld a3, 0(a4)
  sltu a0, a2, a1                /* rdtime < first mtime? */
  _CHECK 28, a0, 0
  sltu a0, a3, a2                /* second mtime < rdtime? */
  _CHECK 28, a0, 0
  /* minstret/mcycle are writable; instret/cycle read them */
  TESTNUM 29
  li a1, 0x100000000000
  csrw minstret, a1
  csrr a2, instret
  sub a0, a2, a1
  srli a0, a0, 32                /* read >= written, and not far beyond */
  _CHECK 29, a0, 0
  TESTNUM 30
  li a1, 0x200000000000
  csrw mcycle, a1
  csrr a2, cycle
  sub a0, a2, a1
  srli a0, a0, 32
  _CHECK 30, a0, 0
  TESTNUM 31
  li a1, 0x300000000000
  csrw minstret, a1
  csrr a2, minstret
  sub a0, a2, a1
  srli a0, a0, 32
  _CHECK 31, a0, 0
  /* mcounteren gates S-mode counter reads; scounteren (too) gates U-mode */
  csrw mcounteren, zero
  csrw scounteren, zero
  STRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  rdcycle a0
  ecall
1:
  CHECK_TRAP 32, CAUSE_ILLEGAL, 0xc0002573     /* rdcycle a0 */
  li a1, 7
  csrw mcounteren, a1
  TRAP_EXPECT 1f
  MRET_TO PRV_S, 2f
2:
  rdcycle a0
  rdtime a0
  rdinstret a0
  ecall                          /* back to M: cause 9 */
1:
  CHECK_TRAP 33, CAUSE_ECALL_S, 0
  /* U-mode: mcounteren alone is not enough */
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  rdtime a0
  ecall
1:
  CHECK_TRAP 34, CAUSE_ILLEGAL, 0xc0102573     /* rdtime a0 */
  li a1, 2                       /* TM only */
  csrw scounteren, a1
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  rdtime a0
  ecall
1:
  CHECK_TRAP 35, CAUSE_ECALL_U, 0
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  rdinstret a0
  ecall
1:
  CHECK_TRAP 36, CAUSE_ILLEGAL, 0xc0202573     /* rdinstret a0 */
  /* scounteren set but mcounteren clear: U still traps */
  li a1, 7
  csrw scounteren, a1
  csrw mcounteren, zero
  TRAP_EXPECT 1f
  MRET_TO PRV_U, 2f
2:
  rdcycle a0
  ecall
1:
  CHECK_TRAP 37, CAUSE_ILLEGAL, 0xc0002573
  csrw scounteren, zero

  /* misa: RV64 with I, M, A, F, D, C, S, U */
  TESTNUM 38
  csrr a0, misa
  srli a1, a0, 62
  _CHECK 38, a1, 2
  TESTNUM 39
  li a2, (1 << ('I' - 'A')) | (1 << ('M' - 'A')) | (1 << ('A' - 'A')) | (1 << ('F' - 'A')) | (1 << ('D' - 'A')) | (1 << ('C' - 'A')) | (1 << ('S' - 'A')) | (1 << ('U' - 'A'))
  and a1, a0, a2
  _CHECKR 39, a1, a2
  TESTNUM 40
  andi a1, a0, 1 << ('E' - 'A')
  _CHECK 40, a1, 0
  /* mstatus: UXL = SXL = 2 (64-bit) */
  TESTNUM 41
  csrr a0, mstatus
  srli a0, a0, 32
  andi a0, a0, 0xf
  _CHECK 41, a0, 0xa
  /* sstatus is a view of mstatus: SIE/SPIE/SPP/SUM/MXR shared, M fields hidden */
  TESTNUM 42
  li a1, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP
  csrc mstatus, a1
  li a1, MSTATUS_SIE | MSTATUS_SUM
  csrs sstatus, a1
  csrr a0, mstatus
  and a0, a0, a1
  _CHECKR 42, a0, a1
  TESTNUM 43
  li a1, MSTATUS_MPP | MSTATUS_MIE
  csrs mstatus, a1
  csrr a0, sstatus
  and a0, a0, a1
  _CHECK 43, a0, 0
  TESTNUM 44
  li a1, MSTATUS_MPP
  csrc sstatus, a1               /* not an sstatus field: no effect */
  csrr a0, mstatus
  and a0, a0, a1
  _CHECK 44, a0, MSTATUS_MPP
  li a1, MSTATUS_MIE | MSTATUS_MPP | MSTATUS_SIE | MSTATUS_SUM
  csrc mstatus, a1
  /* sie/sip show only the interrupts delegated in mideleg */
  TESTNUM 45
  csrw mideleg, zero
  li a1, MIP_SSIP | MIP_STIP
  csrs mie, a1
  csrr a0, sie
  _CHECK 45, a0, 0
  TESTNUM 46
  li a1, MIP_SSIP | MIP_STIP
  csrw mideleg, a1
  csrr a0, sie
  _CHECK 46, a0, MIP_SSIP | MIP_STIP
  TESTNUM 47
  li a1, MIP_STIP
  csrc sie, a1
  csrr a0, mie
  _CHECK 47, a0, MIP_SSIP
  TESTNUM 48
  csrsi sip, MIP_SSIP            /* SSIP is writable through sip when delegated */
  csrr a0, mip
  andi a0, a0, MIP_SSIP
  _CHECK 48, a0, MIP_SSIP
  csrci sip, MIP_SSIP
  csrr a0, mip
  andi a0, a0, MIP_SSIP
  _CHECK 48, a0, 0
  TESTNUM 49
  csrw mideleg, zero
  csrsi mip, MIP_SSIP
  csrr a0, sip                   /* pending, but not delegated: reads 0 */
  _CHECK 49, a0, 0
  csrci mip, MIP_SSIP
  csrw mie, zero
  /* mip.MSIP/MTIP are read-only (the CLINT drives them) */
  TESTNUM 50
  li a1, MIP_MSIP | MIP_MTIP
  csrs mip, a1
  csrr a0, mip
  and a0, a0, a1
  _CHECK 50, a0, 0
  /* satp: an unsupported MODE makes the whole write have no effect */
  TESTNUM 51
  csrw satp, zero
  li a1, (1 << 60) | 0x12345
  csrw satp, a1
  csrr a0, satp
  _CHECK 51, a0, 0
  TESTNUM 52
  li a1, SATP_SV39 | 0x12345
  csrw satp, a1
  csrr a0, satp
  _CHECK 52, a0, SATP_SV39 | 0x12345
  csrw satp, zero
  /* mtvec/stvec: direct and vectored modes read back */
  TESTNUM 53
  csrr s0, mtvec
  la a1, vec_table
  ori a1, a1, 1
  csrw mtvec, a1
  csrr a0, mtvec
  csrw mtvec, s0
  _CHECKR 53, a0, a1
  TESTNUM 54
  csrr s0, stvec
  la a1, vec_table
  ori a1, a1, 1
  csrw stvec, a1
  csrr a0, stvec
  csrw stvec, s0
  _CHECKR 54, a0, a1
  /* mscratch/sscratch/mepc/sepc/mtval/stval hold 64 bits */
  TESTNUM 55
  li a1, 0x8000000000000001
  csrw sscratch, a1
  csrr a0, sscratch
  la t0, rt_ssave
  csrw sscratch, t0
  _CHECKR 55, a0, a1
  TESTNUM 56
  li a1, 0x8000000000000002
  csrw mtval, a1
  csrr a0, mtval
  _CHECKR 56, a0, a1
  csrw stval, a1
  csrr a0, stval
  _CHECKR 56, a0, a1
  csrw sepc, a1
  csrr a0, sepc
  _CHECKR 56, a0, a1
  csrw mepc, a1
  csrr a0, mepc
  _CHECKR 56, a0, a1
  TEST_DONE

  .balign 256
vec_table:
  j vec_table
