/**
 * The hart's software TLB (one per privilege and access kind), shared in layout with the
 * translated blocks (translate.ts reads it inline).
 */

/** Entries per TLB (a power of two). */
export const TLB_SIZE = 1024;

/**
 * A software TLB: TLB_SIZE entries of four int32 each, indexed by the low bits of the
 * virtual page number. Entry i: [4i] the virtual address's low word with its page offset
 * cleared, [4i+1] its high word (so a hit is two int32 compares, with no 64-bit double
 * arithmetic on the address), [4i+2] the RAM offset of the page (as uint32). An empty
 * entry has 1 in its low word, which no page address has.
 */
export class Tlb {
  readonly e = new Int32Array(TLB_SIZE * 4);
  constructor() {
    this.flush();
  }
  flush(): void {
    const e = this.e;
    for (let i = 0; i < e.length; i += 4) e[i] = 1;
  }
}

/** The TLB index of the page holding virtual address low word `lo` (int32), times 4. */
export function tlbIndex(lo: number): number {
  return (lo >>> 10) & ((TLB_SIZE - 1) << 2);
}
