/**
 * The two wrappers around a generated sequence, both producing the same dump:
 *
 *  - 'user': a static Linux executable for qemu-riscv64; `_start` jumps to the common part,
 *    which writes the dump to stdout with write(2) and leaves with exit(0).
 *  - 'bare': an M-mode image entered at 0x80000000 as QEMU's `-bios none` enters it (a0 hart
 *    id, a1 DTB, both ignored); it sets mtvec and mstatus.FS, runs the same common part, then
 *    prints the dump byte by byte on the ns16550a UART at 0x10000000 and writes 0x5555 to the
 *    sifive_test device at 0x100000. A trap prints `TRAP mcause mepc mtval` and exits with
 *    status 1 through the same device.
 *
 * The common part (initial state, the sequence, saving the state, checksumming the buffer,
 * formatting the dump) and the data sit at the same addresses in both images, so the sequence
 * sees the same addresses on both sides. The dump is text between two marker lines: one
 * line of 16 hex digits per value, in DUMP_NAMES order.
 */
import { BUF_SIZE, RESERVED_X, type Program } from './gen.js';

export type Variant = 'user' | 'bare';

export const BEGIN_MARK = 'TSEMU-DIFF-BEGIN';
export const END_MARK = 'TSEMU-DIFF-END';
export const TRAP_MARK = 'TSEMU-DIFF-TRAP';

/** How many 512-byte chunks of the data buffer get a checksum each. */
export const MEM_CHUNKS = 8;

const ABI = [
  'zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5',
  'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6',
];

/** The names of the dumped values, in dump order. */
export const DUMP_NAMES: readonly string[] = [
  ...ABI.map((a, i) => `x${i}(${a})`),
  ...Array.from({ length: 32 }, (_, i) => `f${i}`),
  'fcsr',
  ...Array.from({ length: MEM_CHUNKS }, (_, i) => `mem[${i * 512}..${i * 512 + 511}]`),
];

/** Dump entries the sequence cannot change (x0 and the reserved registers). */
export const CONSTANT_ENTRIES: ReadonlySet<number> = new Set([0, ...RESERVED_X.keys()]);

/** The linker script, the same for both variants. */
export const LINKER_SCRIPT = `/* tsemu differential test: the same layout for the user and bare images. */
OUTPUT_ARCH(riscv)
ENTRY(_start)
SECTIONS {
  . = 0x80000000;
  .text.entry : { *(.text.entry) }
  . = 0x80001000;
  .text.common : { *(.text.common) }
  . = 0x80400000;
  .text.io : { *(.text.io) }
  . = 0x80500000;
  .data : { *(.data) }
  /DISCARD/ : { *(.note*) *(.comment) }
}
`;

const hex = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16).padStart(16, '0')}`;

function dwords(values: readonly bigint[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += 4) out.push(`  .dword ${values.slice(i, i + 4).map(hex).join(', ')}`);
  return out;
}

/** The part shared by both images: state setup, the sequence, the dump. */
function common(p: Program): string[] {
  const L: string[] = [];
  const ins = (s: string): void => void L.push(`  ${s}`);
  L.push('.section .text.common, "ax"', '.globl common_start', 'common_start:');
  ins('lla x31, init_f');
  for (let i = 0; i < 32; i++) ins(`fld f${i}, ${i * 8}(x31)`);
  ins('ld x30, 256(x31)');
  ins('fscsr x30');
  ins('lla x2, buf');
  ins('lla x8, buf_mid');
  ins('lla x31, init_x');
  for (let i = 1; i < 31; i++) if (!RESERVED_X.has(i)) ins(`ld x${i}, ${i * 8}(x31)`);
  ins('ld x31, 248(x31)');
  L.push('# ---- the generated sequence ----', 'seq_start:');
  p.units.forEach((u, i) => {
    L.push(`unit_${i}:`);
    for (const line of u.lines) L.push(line.endsWith(':') ? line : `  ${line}`);
  });
  L.push('seq_end:', '# ---- save the state: x8 + 2048 is the save area, just after the buffer ----');
  ins('addi x8, x8, 2047');
  ins('addi x8, x8, 1');
  for (let i = 1; i < 32; i++) if (i !== 8) ins(`sd x${i}, ${i * 8}(x8)`);
  ins('sd x0, 0(x8)');
  ins('addi x9, x8, -2048');
  ins('sd x9, 64(x8)');
  for (let i = 0; i < 32; i++) ins(`fsd f${i}, ${256 + i * 8}(x8)`);
  ins('frcsr x9');
  ins('sd x9, 512(x8)');
  // checksums of the buffer, one per chunk: h = rotl(h, 5) ^ w, then h += K, per doubleword
  L.push('# ---- buffer checksums ----');
  ins('lla x10, buf');
  ins('addi x11, x8, 520'); // where the checksums go
  ins(`li x12, ${MEM_CHUNKS}`);
  ins('li x15, 0x9e3779b97f4a7c15');
  L.push('.Lchunk:');
  ins('li x13, 0');
  ins(`li x14, ${BUF_SIZE / MEM_CHUNKS / 8}`);
  L.push('.Lword:');
  ins('ld x16, 0(x10)');
  ins('slli x17, x13, 5');
  ins('srli x13, x13, 59');
  ins('or x13, x13, x17');
  ins('xor x13, x13, x16');
  ins('add x13, x13, x15');
  ins('addi x10, x10, 8');
  ins('addi x14, x14, -1');
  ins('bnez x14, .Lword');
  ins('sd x13, 0(x11)');
  ins('addi x11, x11, 8');
  ins('addi x12, x12, -1');
  ins('bnez x12, .Lchunk');
  L.push('# ---- format the dump ----');
  ins('lla a0, out');
  ins('lla a1, begin_mark');
  ins('call put_str');
  ins('mv s1, x8');
  ins(`li s2, ${DUMP_NAMES.length}`);
  L.push('.Lvalue:');
  ins('ld a1, 0(s1)');
  ins('call put_hex');
  ins('addi s1, s1, 8');
  ins('addi s2, s2, -1');
  ins('bnez s2, .Lvalue');
  ins('lla a1, end_mark');
  ins('call put_str');
  ins('lla a1, out');
  ins('sub a1, a0, a1');
  ins('lla a0, out');
  ins('tail output');
  L.push(
    '# put_str: copy the NUL-terminated string at a1 to a0; a0 advances past it',
    'put_str:',
    '  lbu t0, 0(a1)',
    '  beqz t0, .Lput_str_done',
    '  sb t0, 0(a0)',
    '  addi a0, a0, 1',
    '  addi a1, a1, 1',
    '  j put_str',
    '.Lput_str_done:',
    '  ret',
    '# put_hex: write a1 as 16 hex digits and a newline at a0; a0 advances past them',
    'put_hex:',
    '  li t0, 60',
    '.Lput_hex_digit:',
    '  srl t1, a1, t0',
    '  andi t1, t1, 15',
    '  li t2, 10',
    '  blt t1, t2, .Lput_hex_dec',
    "  addi t1, t1, 'a' - '0' - 10",
    '.Lput_hex_dec:',
    "  addi t1, t1, '0'",
    '  sb t1, 0(a0)',
    '  addi a0, a0, 1',
    '  addi t0, t0, -4',
    '  bgez t0, .Lput_hex_digit',
    '  li t1, 10',
    '  sb t1, 0(a0)',
    '  addi a0, a0, 1',
    '  ret',
  );
  L.push(
    '.section .data, "aw"',
    '.balign 4096',
    'buf:',
    ...dwords(p.mem.slice(0, BUF_SIZE / 16)),
    'buf_mid:',
    ...dwords(p.mem.slice(BUF_SIZE / 16)),
    'save_area:',
    `  .space ${DUMP_NAMES.length * 8}`,
    '.balign 8',
    'init_x:',
    ...dwords(p.x),
    'init_f:',
    ...dwords(p.f),
    `  .dword ${p.fcsr}`,
    `begin_mark: .asciz "${BEGIN_MARK}\\n"`,
    `end_mark: .asciz "${END_MARK}\\n"`,
    `trap_mark: .asciz "${TRAP_MARK} mcause mepc mtval\\n"`,
    '.balign 8',
    'out:',
    `  .space ${(DUMP_NAMES.length + 8) * 17 + 128}`,
  );
  return L;
}

const USER_WRAPPER = `
.section .text.entry, "ax"
.globl _start
_start:
  j common_start

.section .text.io, "ax"
# output: write(1, a0, a1) until all is written, then exit(0)
output:
  mv s1, a0
  mv s2, a1
.Lwrite:
  beqz s2, .Lexit
  li a0, 1
  mv a1, s1
  mv a2, s2
  li a7, 64
  ecall
  blez a0, .Lfail
  add s1, s1, a0
  sub s2, s2, a0
  j .Lwrite
.Lexit:
  li a0, 0
  li a7, 93
  ecall
.Lfail:
  li a0, 2
  li a7, 93
  ecall
`;

const BARE_WRAPPER = `
.equ UART, 0x10000000
.equ TEST_DEVICE, 0x100000
.section .text.entry, "ax"
.globl _start
_start:
  lla t0, trap
  csrw mtvec, t0
  li t0, 0x6000
  csrs mstatus, t0
  j common_start

.section .text.io, "ax"
# output: send a1 bytes from a0 to the UART, then pass through the test device
output:
  li t0, UART
.Lbyte:
  beqz a1, .Lpass
.Lwait:
  lbu t1, 5(t0)
  andi t1, t1, 0x20
  beqz t1, .Lwait
  lbu t2, 0(a0)
  sb t2, 0(t0)
  addi a0, a0, 1
  addi a1, a1, -1
  j .Lbyte
.Lpass:
  # wait until the transmitter is empty (LSR.THRE and LSR.TEMT), or the last byte may be
  # lost when the machine stops
  lbu t1, 5(t0)
  andi t1, t1, 0x60
  li t2, 0x60
  bne t1, t2, .Lpass
  li t0, TEST_DEVICE
  li t1, 0x5555
  sw t1, 0(t0)
.Lhang:
  wfi
  j .Lhang

.balign 4
trap:
  lla a0, out
  lla a1, trap_mark
  call put_str
  csrr a1, mcause
  call put_hex
  csrr a1, mepc
  call put_hex
  csrr a1, mtval
  call put_hex
  lla a1, out
  sub a1, a0, a1
  lla a0, out
  li t0, UART
.Ltbyte:
  beqz a1, .Ltdrain
.Ltwait:
  lbu t1, 5(t0)
  andi t1, t1, 0x20
  beqz t1, .Ltwait
  lbu t2, 0(a0)
  sb t2, 0(t0)
  addi a0, a0, 1
  addi a1, a1, -1
  j .Ltbyte
.Ltdrain:
  lbu t1, 5(t0)
  andi t1, t1, 0x60
  li t2, 0x60
  bne t1, t2, .Ltdrain
.Lfail:
  li t0, TEST_DEVICE
  li t1, 0x13333
  sw t1, 0(t0)
  j .Lfail
`;

/** The complete assembly source of one image. */
export function assemble(p: Program, variant: Variant): string {
  return [
    `# tsemu differential test, seed ${p.seed}, ${p.units.length} units, ${variant} wrapper (generated)`,
    '.option norelax',
    variant === 'user' ? USER_WRAPPER : BARE_WRAPPER,
    ...common(p),
    '',
  ].join('\n');
}
