/**
 * Which Debian mirror to fetch the guest from: the one the host's apt already uses.
 *
 * apt reads `sources.list` and then `sources.list.d/` in name order: `*.list` in the
 * one-line format (`deb [opts] URI SUITE COMPONENT...`) and `*.sources` in the deb822
 * format (stanzas of `Types:`, `URIs:`, `Suites:`, `Components:`, `Enabled:`; see
 * sources.list(5)). The first http(s) URI of the main Debian archive wins: a suite that is
 * a Debian codename or alias (bookworm, bookworm-updates, stable, sid...), not a security
 * suite, not debian-security, debian-ports or debian-debug, and not a third-party
 * repository (which names its own suites, e.g. cloud-sdk-bookworm or nodistro).
 * No host name is written here; `--mirror URL` overrides all of this.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GuestError } from './paths.js';

export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  enabled: boolean;
  /** file and line (one-line format) or stanza start (deb822), for messages */
  origin: string;
}

const CODENAMES = [
  'buzz', 'rex', 'bo', 'hamm', 'slink', 'potato', 'woody', 'sarge', 'etch', 'lenny', 'squeeze', 'wheezy',
  'jessie', 'stretch', 'buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke', 'sid',
  'oldoldstable', 'oldstable', 'stable', 'testing', 'unstable', 'experimental', 'rc-buggy',
];
const SUITE_SUFFIXES = ['', '-updates', '-backports', '-backports-sloppy', '-proposed-updates'];

/** One-line format. Comments start with '#'; options sit in [brackets] after the type. */
export function parseOneLineSources(text: string, origin = 'sources.list'): AptSource[] {
  const out: AptSource[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^(\S+)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) return; // apt would refuse the file; here it is just not a source we can use
    out.push({
      types: [m[1]!],
      uris: [m[3]!],
      suites: [m[4]!],
      components: (m[5] ?? '').split(/\s+/).filter(Boolean),
      enabled: true,
      origin: `${origin}:${i + 1}`,
    });
  });
  return out;
}

/** deb822 format: stanzas separated by blank lines, continuation lines start with a space. */
export function parseDeb822Sources(text: string, origin = 'debian.sources'): AptSource[] {
  const out: AptSource[] = [];
  let fields = new Map<string, string>();
  let start = 0;
  let lastKey: string | undefined;
  const flush = () => {
    if (fields.size) {
      const list = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
      out.push({
        types: list('types'),
        uris: list('uris'),
        suites: list('suites'),
        components: list('components'),
        enabled: !/^(no|false|0)$/i.test((fields.get('enabled') ?? 'yes').trim()),
        origin: `${origin}:${start}`,
      });
    }
    fields = new Map();
    lastKey = undefined;
  };
  text.split('\n').forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    if (raw.trim() === '') {
      flush();
      return;
    }
    if (/^\s/.test(raw)) {
      if (lastKey) fields.set(lastKey, `${fields.get(lastKey)} ${raw.trim()}`);
      return;
    }
    const colon = raw.indexOf(':');
    if (colon <= 0) return;
    if (!fields.size) start = i + 1;
    lastKey = raw.slice(0, colon).trim().toLowerCase();
    fields.set(lastKey, raw.slice(colon + 1).trim());
  });
  flush();
  return out;
}

/** Every source the host's apt reads, in apt's order. */
export function readHostSources(etcApt = '/etc/apt'): AptSource[] {
  const out: AptSource[] = [];
  const main = join(etcApt, 'sources.list');
  if (existsSync(main)) out.push(...parseOneLineSources(readFileSync(main, 'utf8'), main));
  const dir = join(etcApt, 'sources.list.d');
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    // no sources.list.d
  }
  for (const name of names) {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    if (name.endsWith('.list')) out.push(...parseOneLineSources(text, path));
    else if (name.endsWith('.sources')) out.push(...parseDeb822Sources(text, path));
  }
  return out;
}

function isDebianSuite(suite: string): boolean {
  const s = suite.replace(/\/$/, '');
  return CODENAMES.some((c) => SUITE_SUFFIXES.some((x) => s === c + x));
}

/** Whether a URI of this source is the main Debian archive (not security, ports or debug). */
export function isMainDebianArchive(src: AptSource, uri: string): boolean {
  if (!src.enabled) return false;
  if (!src.types.some((t) => t === 'deb' || t === 'deb-src')) return false;
  if (!/^https?:\/\//i.test(uri)) return false;
  if (/debian-(security|ports|debug)\b/i.test(uri)) return false;
  if (!src.suites.length || !src.suites.every(isDebianSuite)) return false;
  return src.components.includes('main');
}

/** A mirror URI as apt wants it in a source line: http(s), no trailing slash. */
export function normalizeMirror(uri: string): string {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new GuestError(`mirror '${uri}' is not a URL (expected http://HOST/PATH or https://HOST/PATH)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new GuestError(`mirror '${uri}' is not an http or https URL`);
  if (u.search || u.hash) throw new GuestError(`mirror '${uri}' has a query or fragment`);
  return u.toString().replace(/\/+$/, '');
}

/** The first http(s) URI of the main Debian archive among `sources`, deb entries first. */
export function pickMirror(sources: readonly AptSource[]): { uri: string; origin: string } | undefined {
  for (const type of ['deb', 'deb-src']) {
    for (const src of sources) {
      if (!src.types.includes(type)) continue;
      for (const uri of src.uris) if (isMainDebianArchive(src, uri)) return { uri: normalizeMirror(uri), origin: src.origin };
    }
  }
  return undefined;
}

/** `--mirror` if given, else the host's; a GuestError if the host names none. */
export function resolveMirror(override: string | undefined, etcApt = '/etc/apt'): { uri: string; origin: string } {
  if (override !== undefined) return { uri: normalizeMirror(override), origin: '--mirror' };
  const found = pickMirror(readHostSources(etcApt));
  if (!found) {
    throw new GuestError(`no http(s) Debian archive in ${join(etcApt, 'sources.list')} or ${join(etcApt, 'sources.list.d')}: give one with --mirror URL`);
  }
  return found;
}
