/** Sizes as qemu-img reads them ("64k", "1G", "1.5M") and prints them ("324 KiB"). */
import { BlockError } from '../format/types.js';

const UNITS = 'BKMGTPE';

export function parseSize(text: string, what = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bBkKmMgGtTpPeE]?)$/.exec(text.trim());
  if (!m) {
    throw new BlockError(`Invalid ${what} specified. You may use k, M, G, T, P or E suffixes for\nkilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.`, 'EINVAL');
  }
  const unit = m[2] ? UNITS.indexOf(m[2].toUpperCase()) : 0;
  const v = Number(m[1]) * 1024 ** unit;
  if (v >= 2 ** 63) throw new BlockError('Image size must be less than 8 EiB!', 'EINVAL');
  if (!Number.isSafeInteger(Math.round(v))) {
    throw new BlockError(`The ${what} is too large for tsemu (sizes must be below 8 PiB)`, 'EFBIG');
  }
  if (unit === 0 && !Number.isInteger(v)) throw new BlockError(`Invalid ${what} specified: it must be a whole number of bytes`, 'EINVAL');
  return Math.round(v);
}

/** qemu's size_to_str: three significant digits and a binary unit. */
export function humanSize(n: number): string {
  let i = 0;
  while (i < 6 && n >= 1024 ** (i + 1) * 0.9995) i++;
  let s = (n / 1024 ** i).toPrecision(3);
  if (s.includes('e')) s = String(Math.round(n / 1024 ** i));
  if (s.includes('.')) s = s.replace(/\.?0+$/, '');
  return `${s} ${i ? UNITS[i] + 'iB' : 'B'}`;
}
