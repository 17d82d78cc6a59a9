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
};

export function strerror(errno: number): string {
  const known = GLIBC[errno];
  if (known) return known;
  const m = getSystemErrorMap().get(-errno)?.[1];
  return m ? m[0]!.toUpperCase() + m.slice(1) : `Unknown error ${errno}`;
}
