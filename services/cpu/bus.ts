/**
 * The physical address space a hart sees: one RAM region (typed-array views on shared
 * memory, the fast path) and device regions dispatched by address.
 *
 * A device region declares its size and the access widths it takes; the bus splits
 * wider accesses a device does not take into narrower ones and refuses what no region
 * covers, which the hart turns into an access fault. Regions may not overlap.
 */

export interface MmioDevice {
  readonly name: string;
  /** Access widths in bytes the device takes natively (default 1, 2, 4). */
  readonly widths?: readonly number[];
  /** Returns the value read (unsigned bits; a bigint for 8-byte reads). */
  read(offset: number, size: number): number | bigint;
  write(offset: number, size: number, value: number | bigint): void;
}

export interface Region {
  base: number;
  size: number;
  device: MmioDevice;
  /** Instruction fetch is allowed (boot ROM). */
  executable?: boolean;
}

export class Ram {
  readonly u8: Uint8Array;
  readonly i16: Int16Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  /**
   * The same bytes as doubles: the cheapest way to move 8 bytes at once (one aligned 8-byte
   * load or store, so single-copy atomic like LD/SD must be, and no BigInt allocated).
   * V8 keeps every bit pattern, NaN payloads included, when a double goes from one typed
   * array straight into another; never do arithmetic or comparisons on these values.
   */
  readonly f64: Float64Array;
  readonly view: DataView;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly base: number,
    readonly size: number,
  ) {
    if (size > buffer.byteLength) throw new RangeError('RAM size exceeds its buffer');
    if (size % 4096 !== 0) throw new RangeError('RAM size must be a multiple of 4 KiB');
    this.u8 = new Uint8Array(buffer, 0, size);
    this.i16 = new Int16Array(buffer, 0, size >> 1);
    this.u16 = new Uint16Array(buffer, 0, size >> 1);
    this.i32 = new Int32Array(buffer, 0, size >> 2);
    this.i64 = new BigInt64Array(buffer, 0, Math.floor(size / 8));
    this.f64 = new Float64Array(buffer, 0, Math.floor(size / 8));
    this.view = new DataView(buffer, 0, size);
  }
}

export class AddressSpace {
  private readonly regions: Region[] = [];

  constructor(readonly ram: Ram) {}

  map(region: Region): void {
    const end = region.base + region.size;
    if (region.size <= 0) throw new RangeError(`${region.device.name}: empty region`);
    const overlaps = (b: number, e: number) => region.base < e && b < end;
    if (overlaps(this.ram.base, this.ram.base + this.ram.size)) {
      throw new Error(`${region.device.name} at 0x${region.base.toString(16)} overlaps RAM`);
    }
    for (const r of this.regions) {
      if (overlaps(r.base, r.base + r.size)) {
        throw new Error(`${region.device.name} at 0x${region.base.toString(16)} overlaps ${r.device.name}`);
      }
    }
    this.regions.push(region);
    this.regions.sort((a, b) => a.base - b.base);
  }

  find(pa: number): Region | undefined {
    const rs = this.regions;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = rs[mid]!;
      if (pa < r.base) hi = mid - 1;
      else if (pa >= r.base + r.size) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** Device read; undefined when nothing answers at `pa` (an access fault). */
  read(pa: number, size: number): number | bigint | undefined {
    const r = this.find(pa);
    if (!r || pa + size > r.base + r.size) return undefined;
    const off = pa - r.base;
    const widths = r.device.widths ?? [1, 2, 4];
    if (widths.includes(size)) return r.device.read(off, size);
    if (size === 8 && widths.includes(4)) {
      const lo = r.device.read(off, 4) as number;
      const hi = r.device.read(off + 4, 4) as number;
      return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    }
    // Narrower than the device takes: read the containing word and extract.
    const w = Math.min(...widths.filter((x) => x > size && x <= 4));
    if (!Number.isFinite(w)) return undefined;
    const aligned = off & ~(w - 1);
    const v = r.device.read(aligned, w) as number;
    const shift = (off - aligned) * 8;
    return size === 4 ? v >>> 0 : (v >>> shift) & ((1 << (size * 8)) - 1);
  }

  /** Device write; false when nothing answers at `pa`. */
  write(pa: number, size: number, value: number | bigint): boolean {
    const r = this.find(pa);
    if (!r || pa + size > r.base + r.size) return false;
    const off = pa - r.base;
    const widths = r.device.widths ?? [1, 2, 4];
    if (widths.includes(size)) {
      r.device.write(off, size, value);
      return true;
    }
    if (size === 8 && widths.includes(4)) {
      const v = BigInt.asUintN(64, BigInt(value));
      r.device.write(off, 4, Number(v & 0xffffffffn));
      r.device.write(off + 4, 4, Number(v >> 32n));
      return true;
    }
    // Narrower than the device takes: read-modify-write of the containing word.
    const w = Math.min(...widths.filter((x) => x > size && x <= 4));
    if (!Number.isFinite(w)) return false;
    const aligned = off & ~(w - 1);
    const shift = (off - aligned) * 8;
    const mask = ((size === 4 ? 0xffffffff : (1 << (size * 8)) - 1) << shift) >>> 0;
    const old = r.device.read(aligned, w) as number;
    const nv = ((old & ~mask) | ((Number(value) << shift) & mask)) >>> 0;
    r.device.write(aligned, w, nv);
    return true;
  }

  isExecutable(pa: number): boolean {
    return this.find(pa)?.executable === true;
  }
}
