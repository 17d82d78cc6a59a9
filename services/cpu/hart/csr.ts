/** CSR numbers, mstatus/mip bits, trap causes: the names the privileged spec gives them. */

export const CSR = {
  fflags: 0x001, frm: 0x002, fcsr: 0x003,
  cycle: 0xc00, time: 0xc01, instret: 0xc02, hpmcounter3: 0xc03, hpmcounter31: 0xc1f,
  sstatus: 0x100, sie: 0x104, stvec: 0x105, scounteren: 0x106, senvcfg: 0x10a,
  sscratch: 0x140, sepc: 0x141, scause: 0x142, stval: 0x143, sip: 0x144, stimecmp: 0x14d,
  satp: 0x180,
  mvendorid: 0xf11, marchid: 0xf12, mimpid: 0xf13, mhartid: 0xf14, mconfigptr: 0xf15,
  mstatus: 0x300, misa: 0x301, medeleg: 0x302, mideleg: 0x303, mie: 0x304, mtvec: 0x305,
  mcounteren: 0x306, menvcfg: 0x30a, mcountinhibit: 0x320, mhpmevent3: 0x323, mhpmevent31: 0x33f,
  mscratch: 0x340, mepc: 0x341, mcause: 0x342, mtval: 0x343, mip: 0x344,
  pmpcfg0: 0x3a0, pmpcfg15: 0x3af, pmpaddr0: 0x3b0, pmpaddr63: 0x3ef,
  mcycle: 0xb00, minstret: 0xb02, mhpmcounter3: 0xb03, mhpmcounter31: 0xb1f,
} as const;

// mstatus bits (low 32; UXL/SXL and SD are composed on read)
export const MS = {
  SIE: 1 << 1, MIE: 1 << 3, SPIE: 1 << 5, MPIE: 1 << 7, SPP: 1 << 8,
  MPP_SHIFT: 11, MPP: 3 << 11, FS_SHIFT: 13, FS: 3 << 13,
  MPRV: 1 << 17, SUM: 1 << 18, MXR: 1 << 19, TVM: 1 << 20, TW: 1 << 21, TSR: 1 << 22,
} as const;

export const MSTATUS_WRITABLE = MS.SIE | MS.MIE | MS.SPIE | MS.MPIE | MS.SPP | MS.MPP | MS.FS |
  MS.MPRV | MS.SUM | MS.MXR | MS.TVM | MS.TW | MS.TSR;
export const SSTATUS_MASK = MS.SIE | MS.SPIE | MS.SPP | MS.FS | MS.SUM | MS.MXR;
/** UXL = SXL = 2 (64-bit), read-only. */
export const MSTATUS_XL = (2n << 32n) | (2n << 34n);

// interrupt bits (mip/mie) and numbers
export const IRQ = {
  SSI: 1, MSI: 3, STI: 5, MTI: 7, SEI: 9, MEI: 11,
} as const;
export const MIP_SSIP = 1 << IRQ.SSI;
export const MIP_MSIP = 1 << IRQ.MSI;
export const MIP_STIP = 1 << IRQ.STI;
export const MIP_MTIP = 1 << IRQ.MTI;
export const MIP_SEIP = 1 << IRQ.SEI;
export const MIP_MEIP = 1 << IRQ.MEI;
export const S_INTERRUPTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
export const ALL_INTERRUPTS = S_INTERRUPTS | MIP_MSIP | MIP_MTIP | MIP_MEIP;

/** Exception causes. */
export const EXC = {
  INSN_MISALIGNED: 0, INSN_ACCESS: 1, ILLEGAL: 2, BREAKPOINT: 3,
  LOAD_MISALIGNED: 4, LOAD_ACCESS: 5, STORE_MISALIGNED: 6, STORE_ACCESS: 7,
  ECALL_U: 8, ECALL_S: 9, ECALL_M: 11,
  INSN_PAGE: 12, LOAD_PAGE: 13, STORE_PAGE: 15,
} as const;

/** Exceptions that may be delegated to S-mode (medeleg's writable bits). */
export const MEDELEG_WRITABLE = 0xb3ff; // 0-9, 12, 13, 15 (not 10, 11: ECALL from HS/M)

export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

/** menvcfg / senvcfg fields. */
export const ENVCFG = {
  FIOM: 1n, CBIE: 3n << 4n, CBCFE: 1n << 6n, CBZE: 1n << 7n, PBMTE: 1n << 62n, STCE: 1n << 63n,
} as const;
