/**
 * strerror(3) for an errno number, in glibc's words as QEMU prints them (BLOCK_IO_ERROR's
 * `reason`): libuv's messages (util.getSystemErrorMap) are glibc's in lower case, except
 * for the few spelled out here.
 */
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

const GLIBC: Record<number, string> = {
  [constants.errno.EIO]: 'Input/output error',
  [constants.errno.EDQUOT]: 'Disk quota exceeded',
  [constants.errno.EISDIR]: 'Is a directory',
  [constants.errno.EADDRNOTAVAIL]: 'Cannot assign requested address',
};

export function strerror(errno: number): string {
  const known = GLIBC[errno];
  if (known) return known;
  const m = getSystemErrorMap().get(-errno)?.[1];
  return m ? m[0]!.toUpperCase() + m.slice(1) : `Unknown error ${errno}`;
}

/** strerror for an errno name (a Node error's `code`), or `fallback` for a name that is not one. */
export function strerrorOf(code: string, fallback: string): string {
  const n = (constants.errno as Record<string, number | undefined>)[code];
  return n === undefined ? fallback : strerror(n);
}
