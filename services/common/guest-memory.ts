/**
 * Guest RAM as a device backend sees it: bounds-checked views by guest-physical address,
 * and the code-tracking bump every DMA write into RAM owes the harts.
 *
 * The harts keep decoded code per 4 KiB RAM page (services/cpu/hart/hart.ts). The shared
 * code-track object holds, for a RAM of P pages, P Int32 write generations followed by P
 * flag bytes; a flag is set while some hart holds that page decoded. Whoever writes such a
 * page clears the flag and bumps the generation, and the harts drop the stale page at the
 * next FENCE.I: a backend that reads a program from disk into RAM calls `dmaWritten`.
 */

/** Bytes of the code-track object for a RAM of `ramSize` bytes. */
export function codeTrackBytes(ramSize: number): number {
  const pages = Math.ceil(ramSize / 4096);
  return pages * 4 + pages;
}

/** The code-track views over `buffer` for a RAM of `ramSize` bytes. */
export function codeTrackViews(buffer: SharedArrayBuffer, ramSize: number): { gens: Int32Array; flags: Uint8Array } {
  const pages = Math.ceil(ramSize / 4096);
  return { gens: new Int32Array(buffer, 0, pages), flags: new Uint8Array(buffer, pages * 4, pages) };
}

export class GuestMemoryError extends Error {}

export class GuestMemory {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly view: DataView;
  readonly end: number;

  constructor(
    readonly buffer: SharedArrayBuffer,
    /** Guest-physical address of byte 0. */
    readonly base: number,
    readonly size: number,
    private readonly track?: { gens: Int32Array; flags: Uint8Array },
  ) {
    if (size > buffer.byteLength) throw new RangeError('guest RAM size exceeds its buffer');
    this.u8 = new Uint8Array(buffer, 0, size);
    this.u16 = new Uint16Array(buffer, 0, size >> 1);
    this.view = new DataView(buffer, 0, size);
    this.end = base + size;
  }

  /** True when [gpa, gpa+len) lies in RAM. */
  contains(gpa: number, len: number): boolean {
    return Number.isSafeInteger(gpa) && len >= 0 && gpa >= this.base && gpa + len <= this.end;
  }

  /** The RAM offset of [gpa, gpa+len), or a GuestMemoryError. */
  offset(gpa: number, len: number): number {
    if (!this.contains(gpa, len)) throw new GuestMemoryError(`guest range 0x${gpa.toString(16)}+0x${len.toString(16)} is outside RAM`);
    return gpa - this.base;
  }

  /** A view of guest RAM (no copy): what a backend reads from or DMAs into. */
  slice(gpa: number, len: number): Uint8Array {
    const o = this.offset(gpa, len);
    return this.u8.subarray(o, o + len);
  }

  /** Call after writing [gpa, gpa+len) of RAM: harts re-decode code they held there. */
  dmaWritten(gpa: number, len: number): void {
    const t = this.track;
    if (!t || len <= 0) return;
    const first = Math.floor((gpa - this.base) / 4096);
    const last = Math.floor((gpa - this.base + len - 1) / 4096);
    // Every page, flagged or not: a hart may be between reading a generation and setting
    // its flag, and an Atomics.add per 4 KiB costs nothing next to the I/O.
    for (let p = first; p <= last; p++) {
      t.flags[p] = 0;
      Atomics.add(t.gens, p, 1);
    }
  }
}
