/**
 * Command lines in QEMU's and qemu-img's spellings: `-name X`, `--name X`, `--name=X`,
 * flags without values, repeatable options. Unknown options are errors that say so.
 */

export interface OptionSpec {
  /** Takes a value (`-m 512`); otherwise a flag. */
  value?: boolean;
  /** May be given more than once; values collect in order. */
  repeat?: boolean;
  /** Other spellings, e.g. ['h'] for 'help'. */
  aliases?: readonly string[];
}

export interface Parsed {
  options: Map<string, string[]>;
  positional: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], spec: Readonly<Record<string, OptionSpec>>, stopAtPositional = false): Parsed {
  const byName = new Map<string, string>();
  for (const [name, s] of Object.entries(spec)) {
    byName.set(name, name);
    for (const a of s.aliases ?? []) byName.set(a, name);
  }
  const options = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      if (stopAtPositional) {
        positional.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    let key = arg.replace(/^--?/, '');
    let inline: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0 && arg.startsWith('--')) {
      inline = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    const name = byName.get(key);
    if (!name) throw new UsageError(`unknown option '${arg}'`);
    const s = spec[name]!;
    let value = 'on';
    if (s.value) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new UsageError(`option '${arg}' needs a value`);
    } else if (inline !== undefined) {
      throw new UsageError(`option '${arg}' takes no value`);
    }
    const list = options.get(name) ?? [];
    if (!s.repeat && list.length > 0) list.length = 0;
    list.push(value);
    options.set(name, list);
  }
  return { options, positional };
}

export function last(p: Parsed, name: string): string | undefined {
  const v = p.options.get(name);
  return v ? v[v.length - 1] : undefined;
}

export function all(p: Parsed, name: string): string[] {
  return p.options.get(name) ?? [];
}

export function has(p: Parsed, name: string): boolean {
  return p.options.has(name);
}

/** QEMU's key=value,key=value with ',,' for a comma; a first item without '=' is `implied`. */
export function parseKeyValues(s: string, implied?: string): Map<string, string> {
  const out = new Map<string, string>();
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === ',') {
      if (s[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      items.push(cur);
      cur = '';
    } else cur += s[i];
  }
  items.push(cur);
  items.forEach((it, i) => {
    const eq = it.indexOf('=');
    if (eq < 0) {
      if (i === 0 && implied) out.set(implied, it);
      else if (it) out.set(it, 'on');
      return;
    }
    out.set(it.slice(0, eq), it.slice(eq + 1));
  });
  return out;
}
