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
  /**
   * The RAM offset of virtual address `va` (a 64-bit address as a double), or -1 if its page
   * is not here. (The interpreter and the blocks inline this on int32 halves.)
   */
  lookup(va: number): number {
    const lo = va | 0;
    const t = tlbIndex(lo);
    const e = this.e;
    return e[t] === (lo & -4096) && e[t + 1] === highWord(va) ? (e[t + 2]! + (lo & 4095)) >>> 0 : -1;
  }

  /** Maps the page of `va` to the RAM page at `ramPage` (a multiple of 4096). */
  set(va: number, ramPage: number): void {
    const e = this.e;
    const lo = va | 0;
    const t = tlbIndex(lo);
    e[t] = lo & -4096;
    e[t + 1] = highWord(va);
    e[t + 2] = ramPage;
    const n = this.nFilled;
    if (n < FILL_LOG) this.filled[n] = t;
    if (n <= FILL_LOG) this.nFilled = n + 1;
  }
  /** Forgets the page of `va`, if held. */
  drop(va: number): void {
    const lo = va | 0;
    const t = tlbIndex(lo);
    if (this.e[t] === (lo & -4096) && this.e[t + 1] === highWord(va)) this.e[t] = 1;
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

/** The high word of 64-bit address `va` held in a double (below 2^53 in magnitude). */
function highWord(va: number): number {
  return Math.floor(va / 4294967296) | 0;
}

/** The TLB index of the page holding virtual address low word `lo` (int32), times 4. */
export function tlbIndex(lo: number): number {
  return (lo >>> 10) & ((TLB_SIZE - 1) << 2);
}
