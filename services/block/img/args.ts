/**
 * Command-line parsing the way qemu-img's getopt_long does it: short options (clustered,
 * with their argument attached or next), long options (--name=value or --name value),
 * options and operands in any order, `--` ends options.
 */
import { BlockError } from '../format/types.js';

export interface ArgSpec {
  /** Short options; a trailing ':' means it takes an argument ("f:O:cp"). */
  short: string;
  /** Long options; a trailing '=' means it takes an argument. */
  long?: string[];
}

export interface Parsed {
  opts: Map<string, string[]>;
  operands: string[];
}

export function parseArgs(argv: string[], spec: ArgSpec): Parsed {
  const opts = new Map<string, string[]>();
  const operands: string[] = [];
  const add = (k: string, v: string) => opts.set(k, [...(opts.get(k) ?? []), v]);
  const takes = (c: string) => {
    const i = spec.short.indexOf(c);
    if (i < 0 || c === ':') return undefined;
    return spec.short[i + 1] === ':';
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { operands.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const l = (spec.long ?? []).find((x) => x.replace(/=$/, '') === name);
      if (!l) throw new BlockError(`unrecognized option '${a}'`, 'EINVAL');
      if (l.endsWith('=')) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new BlockError(`option '--${name}' requires an argument`, 'EINVAL');
        add(name, v);
      } else add(name, '');
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const t = takes(c);
        if (t === undefined) throw new BlockError(`invalid option -- '${c}'`, 'EINVAL');
        if (t) {
          const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
          if (v === undefined) throw new BlockError(`option requires an argument -- '${c}'`, 'EINVAL');
          add(c, v);
          break;
        }
        add(c, '');
      }
      continue;
    }
    operands.push(a);
  }
  return { opts, operands };
}

export function last(p: Parsed, k: string): string | undefined {
  return p.opts.get(k)?.at(-1);
}

export function has(p: Parsed, k: string): boolean {
  return p.opts.has(k);
}

/** Splits "-o a=1,b=2" lists (",," escapes a comma) into a map; several -o accumulate. */
export function parseOptionList(values: string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values ?? []) {
    const parts: string[] = [];
    let cur = '';
    for (let i = 0; i < v.length; i++) {
      if (v[i] === ',' && v[i + 1] === ',') { cur += ','; i++; }
      else if (v[i] === ',') { parts.push(cur); cur = ''; }
      else cur += v[i];
    }
    parts.push(cur);
    for (const p of parts) {
      if (!p) continue;
      const eq = p.indexOf('=');
      if (eq < 0) out.set(p, 'on');
      else out.set(p.slice(0, eq), p.slice(eq + 1));
    }
  }
  return out;
}
