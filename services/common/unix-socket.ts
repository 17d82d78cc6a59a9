/**
 * Taking a unix socket path to listen on. A socket file left by a process that was killed
 * (SIGKILL leaves it behind) is stale when nobody accepts on it: it is removed, as QEMU
 * removes the path before it binds. A live socket (another instance) or a file that is not
 * a socket is an error naming the path; nothing is removed then.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';

export async function claimSocketPath(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket`);
  const live = await new Promise<boolean>((res) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
  if (live) throw new Error(`another instance is listening on ${path}`);
  try {
    unlinkSync(path);
  } catch {
    // removed meanwhile
  }
}
