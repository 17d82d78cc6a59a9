/**
 * Which keyring apt checks the guest suite's signatures with.
 *
 * The private apt tree names one keyring with `signed-by=`; apt (gpgv) verifies the
 * InRelease file with it and refuses the repository otherwise. We never turn that off.
 * Before asking apt, we check that the keyring holds the suite's keys, by reading the
 * user IDs of its OpenPGP packets (RFC 4880 section 4: old- and new-format packet headers;
 * tag 13 is a User ID). Debian's archive keys are named like
 * "Debian Archive Automatic Signing Key (13/trixie) <ftpmaster@debian.org>".
 *
 * Candidates, in order: `--keyring FILE`; the host's debian-archive-keyring.gpg (bookworm's
 * package carries trixie's keys since 2023.3); the per-release files the same package
 * installs (/usr/share/keyrings/debian-archive-SUITE-*.gpg, /etc/apt/trusted.gpg.d/
 * debian-archive-SUITE-*.asc), which apt accepts in signed-by as well.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GuestError } from './paths.js';

export const HOST_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Bytes of an OpenPGP keyring, binary or ASCII-armored. */
export function dearmor(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  if (!text.startsWith('-----BEGIN PGP')) return bytes;
  const out: Buffer[] = [];
  const re = /-----BEGIN PGP [A-Z ]+-----\r?\n([\s\S]*?)-----END PGP [A-Z ]+-----/g;
  for (let m; (m = re.exec(text)); ) {
    // armor headers end at the first blank line; the checksum line starts with '='
    const body = m[1]!.split(/\r?\n\r?\n/).slice(1).join('\n') || m[1]!;
    const b64 = body.split(/\r?\n/).filter((l) => l && !l.startsWith('=')).join('');
    out.push(Buffer.from(b64, 'base64'));
  }
  return Buffer.concat(out);
}

/** The User ID strings in a keyring. Throws on a malformed packet stream. */
export function keyringUserIds(input: Uint8Array): string[] {
  const raw = dearmor(input);
  const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const ids: string[] = [];
  let off = 0;
  while (off < b.length) {
    const tagByte = b[off]!;
    if (!(tagByte & 0x80)) throw new Error(`not an OpenPGP packet at byte ${off}`);
    let tag: number;
    let len: number;
    let p = off + 1;
    if (tagByte & 0x40) {
      tag = tagByte & 0x3f;
      const o1 = b[p++]!;
      if (o1 < 192) len = o1;
      else if (o1 < 224) len = ((o1 - 192) << 8) + b[p++]! + 192;
      else if (o1 === 255) {
        len = b.readUInt32BE(p);
        p += 4;
      } else throw new Error(`partial-length OpenPGP packet at byte ${off} (not used in keyrings)`);
    } else {
      tag = (tagByte >> 2) & 0x0f;
      const lt = tagByte & 3;
      if (lt === 0) len = b[p++]!;
      else if (lt === 1) {
        len = b.readUInt16BE(p);
        p += 2;
      } else if (lt === 2) {
        len = b.readUInt32BE(p);
        p += 4;
      } else len = b.length - p;
    }
    if (p + len > b.length) throw new Error(`OpenPGP packet at byte ${off} runs past the end`);
    if (tag === 13) ids.push(Buffer.from(b.subarray(p, p + len)).toString('utf8'));
    off = p + len;
  }
  return ids;
}

/** Whether a keyring file names the suite in one of its keys' user IDs ("(13/trixie)"). */
export function keyringHasSuite(path: string, suite: string): boolean {
  let ids: string[];
  try {
    ids = keyringUserIds(readFileSync(path));
  } catch {
    return false;
  }
  return ids.some((id) => id.includes(`/${suite})`));
}

export interface KeyringChoice {
  /** absolute paths for signed-by= (comma-separated there) */
  files: string[];
  /** why these: for the log and for errors */
  note: string;
}

/**
 * The keyring(s) to verify `suite` with. An explicit keyring is used as given (apt will
 * say if it does not verify); otherwise the host's keyrings must hold the suite's keys.
 */
export function chooseKeyring(suite: string, explicit?: string, roots = { share: '/usr/share/keyrings', trusted: '/etc/apt/trusted.gpg.d' }): KeyringChoice {
  if (explicit) {
    if (!existsSync(explicit)) throw new GuestError(`keyring '${explicit}' does not exist`);
    return { files: [explicit], note: `--keyring ${explicit}` };
  }
  const main = join(roots.share, 'debian-archive-keyring.gpg');
  if (existsSync(main) && keyringHasSuite(main, suite)) return { files: [main], note: `${main} (has ${suite}'s keys)` };
  const perSuite: string[] = [];
  for (const dir of [roots.share, roots.trusted]) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      if (n.startsWith(`debian-archive-${suite}-`) && /\.(gpg|asc)$/.test(n) && keyringHasSuite(join(dir, n), suite)) perSuite.push(join(dir, n));
    }
    if (perSuite.length) break;
  }
  if (perSuite.length) return { files: perSuite, note: `${perSuite.join(', ')} (${main} lacks ${suite}'s keys)` };
  throw new GuestError(
    `no keyring on this host holds Debian ${suite}'s archive keys (${main} is missing or too old): ` +
      `upgrade debian-archive-keyring (2023.3 or later has them) or give one with --keyring FILE`,
  );
}
