/**
 * What kind of kernel file a package ships, and how to make it one tsemu's loader takes
 * (an ELF, or a flat RISC-V Linux Image placed at a 2 MiB boundary after the firmware).
 *
 * Debian trixie's linux-image-*-riscv64 ships `/boot/vmlinux-KVER`: the uncompressed
 * Image with its EFI stub (it starts "MZ" and `file` calls it a PE32+ EFI application),
 * carrying the Image header of Documentation/arch/riscv/boot-image-header.rst: text_offset
 * at 0x08, image_size at 0x10, "RISCV\0\0\0" at 0x30, "RSC\x05" at 0x38, the PE header
 * offset at 0x3c. That file is handed to the emulator as it is. Kernels built with
 * CONFIG_EFI_ZBOOT (an EFI app "MZ".."zimg" wrapping a compressed Image: payload offset at
 * 0x08, size at 0x0c, compression name at 0x18) or shipped gzip-compressed are
 * decompressed to a raw Image first.
 */
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';

export type KernelFormat =
  | { kind: 'image'; textOffset: number; imageSize: number; efiStub: boolean }
  | { kind: 'elf' }
  | { kind: 'gzip' }
  | { kind: 'zboot'; compression: string; payloadOffset: number; payloadSize: number }
  | { kind: 'unknown' };

export function kernelFormat(b: Uint8Array): KernelFormat {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ascii = (from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('latin1');
  if (b.length >= 4 && ascii(0, 4) === '\x7fELF') return { kind: 'elf' };
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return { kind: 'gzip' };
  if (b.length >= 0x40 && ascii(0, 2) === 'MZ' && ascii(4, 8) === 'zimg') {
    const end = b.indexOf(0, 0x18);
    return {
      kind: 'zboot',
      compression: ascii(0x18, end < 0 || end > 0x38 ? 0x38 : end),
      payloadOffset: dv.getUint32(0x08, true),
      payloadSize: dv.getUint32(0x0c, true),
    };
  }
  if (b.length >= 0x40 && ascii(0x30, 0x35) === 'RISCV' && dv.getUint32(0x38, true) === 0x05435352) {
    return {
      kind: 'image',
      textOffset: Number(dv.getBigUint64(0x08, true)),
      imageSize: Number(dv.getBigUint64(0x10, true)),
      efiStub: ascii(0, 2) === 'MZ',
    };
  }
  return { kind: 'unknown' };
}

export function describeKernelFormat(f: KernelFormat): string {
  switch (f.kind) {
    case 'image':
      return `RISC-V Linux Image, uncompressed${f.efiStub ? ', with EFI stub' : ''} (text_offset 0x${f.textOffset.toString(16)}, image_size 0x${f.imageSize.toString(16)})`;
    case 'elf':
      return 'ELF';
    case 'gzip':
      return 'gzip-compressed Image';
    case 'zboot':
      return `EFI zboot (${f.compression}-compressed Image)`;
    default:
      return 'unknown';
  }
}

function decompressWithTool(tool: string, args: string[], data: Uint8Array, what: string): Buffer {
  const r = spawnSync(tool, args, { input: data, maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`${what}: cannot run ${tool}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: ${tool} failed: ${r.stderr.toString().trim().split('\n')[0]}`);
  return r.stdout;
}

/**
 * The bytes to hand the emulator for `file`: the file itself when it is already an Image
 * or an ELF (returns undefined), else the decompressed Image.
 */
export function loadableKernel(b: Uint8Array, what = 'kernel'): Buffer | undefined {
  const f = kernelFormat(b);
  let out: Buffer;
  switch (f.kind) {
    case 'image':
    case 'elf':
      return undefined;
    case 'gzip':
      out = gunzipSync(b);
      break;
    case 'zboot': {
      if (f.payloadOffset + f.payloadSize > b.length) throw new Error(`${what}: zboot payload runs past the end of the file`);
      const payload = b.subarray(f.payloadOffset, f.payloadOffset + f.payloadSize);
      if (f.compression === 'gzip') out = gunzipSync(payload);
      else if (/^(xz|xzkern|lzma)$/.test(f.compression)) out = decompressWithTool('xz', ['-dc', '--format=auto'], payload, what);
      else if (/^zstd/.test(f.compression)) out = decompressWithTool('zstd', ['-dc'], payload, what);
      else throw new Error(`${what}: zboot compression '${f.compression}' is not supported (gzip, xz, lzma, zstd are)`);
      break;
    }
    default:
      throw new Error(`${what} is neither a RISC-V Linux Image nor an ELF`);
  }
  const inner = kernelFormat(out);
  if (inner.kind !== 'image' && inner.kind !== 'elf') throw new Error(`${what}: the decompressed kernel is not a RISC-V Linux Image or an ELF`);
  return out;
}
