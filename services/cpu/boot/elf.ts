/**
 * ELF64 little-endian RISC-V images: the loadable segments and the entry point, with
 * clear errors for files that are not such images.
 */

export interface ElfSegment {
  /** Physical load address (p_paddr). */
  paddr: number;
  vaddr: number;
  data: Uint8Array;
  /** Bytes in memory (filesz bytes of data, then zeroes). */
  memsz: number;
}

export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
}

export class ImageError extends Error {}

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

export function parseElf(bytes: Uint8Array, what = 'image'): ElfImage {
  if (!isElf(bytes)) throw new ImageError(`${what} is not an ELF file`);
  if (bytes.length < 64) throw new ImageError(`${what}: truncated ELF header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[4] !== 2) throw new ImageError(`${what}: not a 64-bit ELF`);
  if (bytes[5] !== 1) throw new ImageError(`${what}: not a little-endian ELF`);
  const machine = dv.getUint16(18, true);
  if (machine !== 243) throw new ImageError(`${what}: ELF machine ${machine} is not RISC-V (243)`);
  const entry = Number(dv.getBigUint64(24, true));
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (phentsize < 56 || phoff + phnum * phentsize > bytes.length) throw new ImageError(`${what}: program headers out of range`);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (dv.getUint32(p, true) !== 1) continue; // PT_LOAD
    const offset = Number(dv.getBigUint64(p + 8, true));
    const vaddr = Number(dv.getBigUint64(p + 16, true));
    const paddr = Number(dv.getBigUint64(p + 24, true));
    const filesz = Number(dv.getBigUint64(p + 32, true));
    const memsz = Number(dv.getBigUint64(p + 40, true));
    if (offset + filesz > bytes.length) throw new ImageError(`${what}: segment ${i} extends past the end of the file`);
    if (filesz > memsz) throw new ImageError(`${what}: segment ${i} has filesz > memsz`);
    segments.push({ paddr, vaddr, data: bytes.subarray(offset, offset + filesz), memsz });
  }
  if (segments.length === 0) throw new ImageError(`${what}: no loadable segments`);
  return { entry, segments };
}
