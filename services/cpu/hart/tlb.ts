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
  /**
   * The entries filled since the last flush, while there are at most FILL_LOG of them
   * (more: FILL_LOG + 1): a flush then clears just those. Linux flushes often (every
   * address-space switch) and most TLBs (other privileges, other access kinds) hold
   * nothing or little by then.
   */
  private readonly filled = new Int32Array(FILL_LOG);
  private nFilled = FILL_LOG + 1;
  constructor() {
    this.flush();
  }
  /** Fills the entry at index `t` (tlbIndex). */
  set(t: number, lo: number, hi: number, ramOffset: number): void {
    const e = this.e;
    e[t] = lo & -4096;
    e[t + 1] = hi;
    e[t + 2] = ramOffset;
    const n = this.nFilled;
    if (n < FILL_LOG) this.filled[n] = t;
    if (n <= FILL_LOG) this.nFilled = n + 1;
  }
  flush(): void {
    const e = this.e;
    const n = this.nFilled;
    if (n <= FILL_LOG) for (let i = 0; i < n; i++) e[this.filled[i]!] = 1;
    else for (let i = 0; i < e.length; i += 4) e[i] = 1;
    this.nFilled = 0;
  }
}

/** How many fills a TLB remembers for a cheap flush. */
const FILL_LOG = 64;

/** The TLB index of the page holding virtual address low word `lo` (int32), times 4. */
export function tlbIndex(lo: number): number {
  return (lo >>> 10) & ((TLB_SIZE - 1) << 2);
}
