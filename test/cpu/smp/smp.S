# smp: several harts at once, with the patterns Linux relies on.
#
# Every hart (0 .. NHARTS-1) adds 1 to shared counters, each K times:
#   - a 64-bit counter with amoadd.d                              (K_AMO times)
#   - a 64-bit counter with an lr.d/sc.d retry loop               (K_LRSC times)
#   - a 32-bit counter with an lr.w/sc.w retry loop, next to a
#     guard word that must not change                             (K_LRSC times)
#   - a 64-bit counter under a ticket spinlock, with a plain
#     ld/addi/sd: the lock is Linux's asm-generic ticket lock
#     (one word: next ticket in the upper half, owner in the low half; amoadd.w takes a
#     ticket, a pause/load loop then an acquire fence waits for the owner, a 16-bit
#     store-release hands over)                                    (K_LOCK times)
# then adds 1 to a done counter. Hart 0 waits for all of them, checks that every sum is
# exactly NHARTS*K, and then sends a machine software interrupt (CLINT msip) to each other
# hart in turn: that hart's M-mode handler clears its msip and acknowledges, while it waits
# in a wfi loop. Hart 0 prints what it found and exits through the test device.
#
# The machine starts all harts with a0 = mhartid at the kernel's entry: QEMU 7.2's virt
# with -bios none enters at the ELF's lowest load address, tsemu at the ELF entry. So
# smp_entry is in .text.init and this file is linked before start.S (smp_entry is at
# 0x80000000, ahead of start.S's _start), and the ELF's entry is smp_entry (-e smp_entry).
# Hart 0 goes through the runtime's _start (start.S) and comes back in test_main; the
# others wait for it to finish initialising memory (.bss) before they touch anything but
# .data.
#
# Build-time parameters (-D): NHARTS (required), K_AMO, K_LRSC, K_LOCK, WAIT_TICKS
# (how long hart 0 waits for the others, in 10 MHz mtime ticks).
#
# Output (deterministic when all is well, so the oracle's and tsemu's can be compared),
# then "PASS smp"; lines starting "info:" (SC retry counts, how long each part took on
# hart 0 in mtime ticks) vary from run to run.
# A wrong sum prints "FAIL <what>: got X expected Y" and exits with that check's number.
#include "rt.h"
  PROGRAM smp

#ifndef NHARTS
#error "build with -DNHARTS=n"
#endif
#ifndef K_AMO
#define K_AMO 200000
#endif
#ifndef K_LRSC
#define K_LRSC 200000
#endif
#ifndef K_LOCK
#define K_LOCK 20000
#endif
#ifndef WAIT_TICKS
#define WAIT_TICKS 450000000            /* 45 s */
#endif

#define GUARD 0x5a5aa5a5

/* ------------------------------------------------------------------ entry, all harts */
  .section .text.init, "ax", @progbits
  .globl smp_entry
smp_entry:
  csrr a0, mhartid
  bnez a0, 1f
  j _start                              /* hart 0: the runtime's start, then test_main */
1:
  li t0, NHARTS
  bgeu a0, t0, smp_park                 /* harts beyond NHARTS take no part */
  mv s0, a0
  la t0, smp_mtrap
  csrw mtvec, t0
  la t0, smp_save
  slli t1, s0, 6
  add t0, t0, t1
  csrw mscratch, t0                     /* 64 bytes each, used only after smp_go */
  csrw mie, zero
  /* wait for hart 0 to have zeroed .bss (a load-acquire of the flag) */
1:
  lw t0, smp_go
  fence r, rw
  beqz t0, 1b
  call smp_work
  la t0, smp_done
  li t1, 1
  amoadd.w.aqrl zero, t1, (t0)
  /* wait for hart 0's IPI: MSIE on, interrupts on, sleep until acknowledged */
  la s1, smp_ack
  slli t0, s0, 2
  add s1, s1, t0
  li t0, MIP_MSIP
  csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
2:
  wfi
  lw t0, 0(s1)
  beqz t0, 2b
  j smp_park

  .text
smp_park:
  csrci mstatus, MSTATUS_MIE
  csrw mie, zero
3:
  wfi
  j 3b

/* Machine trap handler of harts 1..: a software interrupt clears this hart's msip and
   acknowledges (smp_ack[hart] += 1); anything else is recorded in smp_bad_cause and the
   hart stops, so hart 0 times out and reports it. */
  .balign 4
smp_mtrap:
  csrrw t0, mscratch, t0
  sd t1, 0(t0)
  sd t2, 8(t0)
  sd t3, 16(t0)
  csrr t1, mcause
  li t2, INTR | IRQ_MSI
  bne t1, t2, 9f
  csrr t1, mhartid
  slli t1, t1, 2
  li t2, CLINT_MSIP
  add t2, t2, t1
  sw zero, 0(t2)                        /* clear the interrupt first */
  la t2, smp_ack
  add t2, t2, t1
  li t3, 1
  amoadd.w.aqrl zero, t3, (t2)
  ld t1, 0(t0)
  ld t2, 8(t0)
  ld t3, 16(t0)
  csrrw t0, mscratch, t0
  mret
9:
  la t2, smp_bad_cause
  sd t1, 0(t2)
  csrw mie, zero
8:
  wfi
  j 8b

/* ------------------------------------------------------------------ the work, all harts */
/* All harts start each part together (a barrier before each), so that they contend. */
.macro BARRIER n
  la t0, smp_barrier + 64 * \n
  li t1, 1
  amoadd.w.aqrl zero, t1, (t0)
  li t1, NHARTS
.Lbar\@:
  lw t2, 0(t0)
  fence r, rw
  bne t1, t2, .Lbar\@
  bnez s0, .Lbar_not0\@                 /* hart 0 notes when each part starts */
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  la t0, smp_part_start + 8 * \n
  sd t1, 0(t0)
.Lbar_not0\@:
.endm

/* Leaf; s0 = hartid; uses a1-a5, t0-t4. */
smp_work:
  /* amoadd.d */
  BARRIER 0
  la a1, cnt_amo
  li a2, K_AMO
  li a3, 1
1:
  amoadd.d zero, a3, (a1)
  addi a2, a2, -1
  bnez a2, 1b

  /* lr.d/sc.d; a4 counts failed SCs */
  BARRIER 1
  la a1, cnt_lrsc_d
  li a2, K_LRSC
  li a4, 0
2:
  lr.d t0, (a1)
  addi t0, t0, 1
  sc.d t1, t0, (a1)
  beqz t1, 3f
  addi a4, a4, 1
  j 2b
3:
  addi a2, a2, -1
  bnez a2, 2b
  la t0, retries_d
  amoadd.d zero, a4, (t0)

  /* lr.w/sc.w (aq/rl, as Linux's atomic_add_return does); a4 counts failed SCs */
  BARRIER 2
  la a1, cnt_lrsc_w
  li a2, K_LRSC
  li a4, 0
4:
  lr.w.aq t0, (a1)
  addiw t0, t0, 1
  sc.w.rl t1, t0, (a1)
  beqz t1, 5f
  addi a4, a4, 1
  j 4b
5:
  addi a2, a2, -1
  bnez a2, 4b
  la t0, retries_w
  amoadd.d zero, a4, (t0)

  /* the ticket lock around a plain read-modify-write */
  BARRIER 3
  la a1, tlock
  la a5, cnt_locked
  li a2, K_LOCK
  li a3, 1 << 16
6:
  amoadd.w.aqrl t1, a3, (a1)            /* t1 = the lock word before: our ticket above */
  srliw t2, t1, 16                      /* t2 = our ticket */
  slli t3, t1, 48
  srli t3, t3, 48                       /* t3 = owner */
  beq t2, t3, 8f
7:
  .insn i MISC_MEM, 0, x0, x0, 0x010    /* pause (Zihintpause), as Linux's cpu_relax() */
  lw t3, 0(a1)                          /* spin on the owner (smp_cond_load_acquire) */
  slli t3, t3, 48
  srli t3, t3, 48
  bne t2, t3, 7b
  fence r, rw                           /* acquire */
8:
  ld t4, 0(a5)                          /* critical section: not atomic on its own */
  addi t4, t4, 1
  sd t4, 0(a5)
  addi t2, t2, 1                        /* unlock: owner = ticket + 1, store-release */
  fence rw, w
  sh t2, 0(a1)
  addi a2, a2, -1
  bnez a2, 6b
  ret

/* ------------------------------------------------------------------ hart 0 */
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  PUTS "smp: "
  li a0, NHARTS
  call rt_putdec
  PUTS " harts\n"
  /* .bss is zeroed: let the others go (store-release) */
  la t0, smp_go
  li t1, 1
  fence rw, w
  sw t1, 0(t0)

  li s0, 0
  call smp_work
  la t0, smp_done
  li t1, 1
  amoadd.w.aqrl zero, t1, (t0)

  /* wait for everyone, up to WAIT_TICKS */
  li t0, CLINT_MTIME
  ld s1, 0(t0)
  li t1, WAIT_TICKS
  add s1, s1, t1                        /* s1 = deadline */
1:
  lw t1, smp_done
  fence r, rw
  li t2, NHARTS
  beq t1, t2, 2f
  ld t3, 0(t0)
  bltu t3, s1, 1b
  call smp_times
  la a0, str_done
  lw a1, smp_done
  li a2, NHARTS
  li a3, 1
  call smp_check                        /* fails: not all harts finished in time */
  ld a1, smp_bad_cause
  beqz a1, 11f
  PUTS "a hart stopped on an unexpected trap, mcause "
  ld a0, smp_bad_cause
  call rt_puthex
  li a0, '\n'
  call rt_putc
11:
  j smp_finish
2:
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  sd t1, smp_part_start + 32, t0
  la a0, str_amo
  ld a1, cnt_amo
  li a2, NHARTS * K_AMO
  li a3, 2
  call smp_check
  la a0, str_lrsc_d
  ld a1, cnt_lrsc_d
  li a2, NHARTS * K_LRSC
  li a3, 3
  call smp_check
  la a0, str_lrsc_w
  lw a1, cnt_lrsc_w
  li a2, NHARTS * K_LRSC
  li a3, 4
  call smp_check
  la a0, str_guard
  lwu a1, guard_w
  li a2, GUARD
  li a3, 5
  call smp_check
  la a0, str_lock
  ld a1, cnt_locked
  li a2, NHARTS * K_LOCK
  li a3, 6
  call smp_check
  /* the lock is free: next == owner == (NHARTS*K_LOCK) mod 2^16 */
  la a0, str_lockword
  lwu a1, tlock
  li a2, ((NHARTS * K_LOCK) & 0xffff) * 0x10001
  li a3, 7
  call smp_check

  /* IPIs: one at a time, each acknowledged from the target's handler */
  li s2, 1                              /* s2 = target hart */
3:
  li t0, NHARTS
  bgeu s2, t0, 5f
  slli s3, s2, 2                        /* s3 = 4 * hart */
  li t0, CLINT_MSIP
  add t0, t0, s3
  li t1, 1
  sw t1, 0(t0)
  li t0, CLINT_MTIME
  ld s1, 0(t0)
  li t1, 50000000                       /* 5 s */
  add s1, s1, t1
  la s4, smp_ack
  add s4, s4, s3
4:
  lw t1, 0(s4)
  bnez t1, 6f
  ld t2, 0(t0)
  bltu t2, s1, 4b
6:
  la a0, str_ack
  lw a1, 0(s4)
  li a2, 1
  li a3, 8
  call smp_check_quiet                  /* exactly one acknowledgement */
  li t0, CLINT_MSIP
  add t0, t0, s3
  la a0, str_msip
  lw a1, 0(t0)
  li a2, 0
  li a3, 9
  call smp_check_quiet                  /* the handler cleared msip */
  addi s2, s2, 1
  j 3b
5:
  /* hart 0 itself saw none: its msip is clear, and nothing pending */
  la a0, str_msip0
  li t0, CLINT_MSIP
  lw a1, 0(t0)
  li a2, 0
  li a3, 10
  call smp_check_quiet
  la a0, str_bad
  ld a1, smp_bad_cause
  li a2, 0
  li a3, 11
  call smp_check_quiet
  ld t0, smp_failed
  bnez t0, 7f
  PUTS "ipi: "
  li a0, NHARTS - 1
  call rt_putdec
  PUTS " acknowledged\n"
7:
  PUTS "info: sc.d retries "
  ld a0, retries_d
  call rt_putdec
  PUTS ", sc.w retries "
  ld a0, retries_w
  call rt_putdec
  li a0, '\n'
  call rt_putc
  call smp_times

smp_finish:
  ld a0, smp_failed
  beqz a0, 1f
  li a1, 0
  li a2, 0
  j rt_fail                             /* exits with the first failed check's number */
1:
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* Prints how long each part took (from its start on hart 0 to the next part's start
   there, the last one to when all harts were done), in mtime ticks. */
smp_times:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s0, 8(sp)
  PUTS "info: ticks amoadd.d "
  li s0, 0
  call 1f
  PUTS ", lr.d/sc.d "
  call 1f
  PUTS ", lr.w/sc.w "
  call 1f
  PUTS ", ticket lock "
  call 1f
  li a0, '\n'
  call rt_putc
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 16
  ret
1:                                      /* prints part s0 (0 if it did not end), s0 += 1 */
  la t0, smp_part_start
  slli t1, s0, 3
  add t0, t0, t1
  ld t1, 0(t0)
  ld t2, 8(t0)
  li a0, 0
  beqz t2, 2f
  sub a0, t2, t1
2:
  addi s0, s0, 1
  j rt_putdec

/* a0 = what (string), a1 = got, a2 = expected, a3 = check number.
   Prints "what: got ok" or "FAIL what: got X expected Y"; a failure is remembered
   (the first one's number in smp_failed). The _quiet form prints only failures. */
smp_check_quiet:
  li t0, 1
  j 1f
smp_check:
  li t0, 0
1:
  addi sp, sp, -48
  sd ra, 0(sp)
  sd s0, 8(sp)
  sd s1, 16(sp)
  sd s2, 24(sp)
  sd s3, 32(sp)
  mv s0, a0
  mv s1, a1
  mv s2, a2
  mv s3, a3
  bne a1, a2, 2f
  bnez t0, 3f
  mv a0, s0
  call rt_puts
  PUTS ": "
  mv a0, s1
  call rt_putdec
  PUTS " ok\n"
  j 3f
2:
  PUTS "FAIL "
  mv a0, s0
  call rt_puts
  PUTS ": got "
  mv a0, s1
  call rt_putdec
  PUTS " expected "
  mv a0, s2
  call rt_putdec
  li a0, '\n'
  call rt_putc
  la t0, smp_failed
  ld t1, 0(t0)
  bnez t1, 3f
  sd s3, 0(t0)
3:
  ld ra, 0(sp)
  ld s0, 8(sp)
  ld s1, 16(sp)
  ld s2, 24(sp)
  ld s3, 32(sp)
  addi sp, sp, 48
  ret

  .section .rodata
str_done:     .asciz "harts done"
str_amo:      .asciz "amoadd.d"
str_lrsc_d:   .asciz "lr.d/sc.d"
str_lrsc_w:   .asciz "lr.w/sc.w"
str_guard:    .asciz "word after the lr.w/sc.w counter"
str_lock:     .asciz "ticket lock"
str_lockword: .asciz "ticket lock word"
str_ack:      .asciz "ipi acknowledgements"
str_msip:     .asciz "msip after acknowledgement"
str_msip0:    .asciz "hart 0 msip"
str_bad:      .asciz "unexpected trap on a hart (mcause)"

/* Shared words live in .data (loaded with the ELF), not .bss: harts 1.. read smp_go
   before hart 0 has zeroed .bss. Each counter has a cache line (64 bytes) of its own. */
  .data
  .balign 64
smp_go:       .word 0
  .balign 64
smp_done:     .word 0
  .balign 64
cnt_amo:      .dword 0
  .balign 64
cnt_lrsc_d:   .dword 0
  .balign 64
cnt_lrsc_w:   .word 0
guard_w:      .word GUARD
  .balign 64
tlock:        .word 0
  .balign 64
cnt_locked:   .dword 0
  .balign 64
retries_d:    .dword 0
retries_w:    .dword 0
smp_failed:   .dword 0
smp_bad_cause: .dword 0
smp_part_start: .dword 0, 0, 0, 0, 0    /* hart 0's mtime at each part's start, and at the end */
  .balign 64
smp_ack:      .space 4 * 64
  .balign 64
smp_barrier:  .space 64 * 4

  .bss
  .balign 64
smp_save:     .space 64 * 64
