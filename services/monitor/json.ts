/**
 * JSON as QMP speaks it: a byte stream split into top-level values the way QEMU's JSON
 * streamer does (by counting braces and brackets outside strings, so no newline is
 * needed), a parser that keeps 64-bit integers exact (bigint beyond 2^53) and knows
 * how deep it is, and a writer in QEMU's spacing (`{"return": {}, "id": 1}`).
 */

export type Json = null | boolean | number | bigint | string | Json[] | { [k: string]: Json };

export class JsonError extends Error {}

/** Limits that keep one client from costing the monitor much. */
export interface SplitLimits {
  /** Largest message, in characters (QMP has none; ours is 1 MiB). */
  maxMessage: number;
  /** Deepest nesting (QEMU's MAX_NESTING is 1024). */
  maxDepth: number;
}

export const DEFAULT_LIMITS: SplitLimits = { maxMessage: 1 << 20, maxDepth: 1024 };

/** One piece out of the splitter: the text of a value, or why it was refused. */
export type Piece = { text: string } | { error: string; fatal: boolean };

/**
 * Splits text into top-level JSON values. A value too long is fatal (the stream cannot be
 * trusted to resynchronise); one nested too deep is skipped with an error.
 */
export class JsonSplitter {
  private buf: string[] = [];
  private len = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  private bare = false;
  private tooDeep = false;
  private dead = false;

  constructor(private readonly limits: SplitLimits = DEFAULT_LIMITS) {}

  push(chunk: string): Piece[] {
    const out: Piece[] = [];
    if (this.dead) return out;
    let start = 0;
    const keep = (end: number) => {
      if (end > start && !this.tooDeep) this.buf.push(chunk.slice(start, end));
      this.len += end - start;
      start = end;
    };
    const finish = (end: number) => {
      keep(end);
      if (this.tooDeep) out.push({ error: 'JSON nesting depth limit exceeded', fatal: false });
      else out.push({ text: this.buf.join('') });
      this.buf = [];
      this.len = 0;
      this.tooDeep = false;
      this.bare = false;
    };
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.len + (i - start) > this.limits.maxMessage) {
        this.dead = true;
        out.push({ error: `JSON message longer than ${this.limits.maxMessage} bytes`, fatal: true });
        return out;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === 0x5c) this.escape = true;
        else if (c === 0x22) {
          this.inString = false;
          if (this.depth === 0) finish(i + 1);
        }
        continue;
      }
      const space = c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
      if (this.depth === 0) {
        if (this.bare) {
          if (space || c === 0x7b || c === 0x5b || c === 0x22 || c === 0x7d || c === 0x5d) finish(i);
          else continue;
        }
        if (space) {
          start = i + 1;
          continue;
        }
        if (c === 0x7d || c === 0x5d) {
          start = i + 1;
          out.push({ error: `JSON parse error, stray '${String.fromCharCode(c)}'`, fatal: false });
          continue;
        }
        start = i;
        if (c === 0x22) this.inString = true;
        else if (c === 0x7b || c === 0x5b) this.depth = 1;
        else this.bare = true;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (++this.depth > this.limits.maxDepth && !this.tooDeep) {
          this.tooDeep = true;
          this.buf = [];
        }
      } else if (c === 0x7d || c === 0x5d) {
        if (--this.depth === 0) finish(i + 1);
      }
    }
    keep(chunk.length);
    return out;
  }
}

/** Parses one JSON text; integers beyond 2^53 come back as bigint. */
export function parseJson(text: string, maxDepth = DEFAULT_LIMITS.maxDepth): Json {
  let i = 0;
  const fail = (what: string): never => {
    throw new JsonError(`JSON parse error, ${what}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const value = (depth: number): Json => {
    if (depth > maxDepth) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o: { [k: string]: Json } = {};
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('key is not a string in object');
        const k = str();
        ws();
        if (text[i++] !== ':') fail("missing ':' in object pair");
        o[k] = value(depth + 1);
        ws();
        const d = text[i++];
        if (d === '}') return o;
        if (d !== ',') fail("expected ',' or '}' in object");
      }
    }
    if (c === '[') {
      i++;
      const a: Json[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        const d = text[i++];
        if (d === ']') return a;
        if (d !== ',') fail("expected ',' or ']' in array");
      }
    }
    if (c === '"') return str();
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m && m[0].length) {
      i += m[0].length;
      if (m[1] || m[2]) return Number(m[0]);
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    const w = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 64));
    if (w) {
      i += w[0].length;
      if (w[0] === 'true') return true;
      if (w[0] === 'false') return false;
      if (w[0] === 'null') return null;
      fail(`invalid keyword '${w[0]}'`);
    }
    return fail(c === undefined ? 'premature end of input' : `stray '${c}'`);
  };
  const str = (): string => {
    // the token ends at the first unescaped quote; JSON.parse does the escapes
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    if (j >= text.length) fail('missing end of string');
    const tok = text.slice(i, j + 1);
    i = j + 1;
    try {
      return JSON.parse(tok) as string;
    } catch {
      return fail('invalid string');
    }
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail(`stray '${text[i]}'`);
  return v;
}

/** Writes JSON with QEMU's separators: `{"a": 1, "b": [1, 2]}`. */
export function toJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return String(v);
    case 'string':
      return JSON.stringify(v);
    case 'object':
      if (Array.isArray(v)) return `[${v.map(toJson).join(', ')}]`;
      return `{${Object.entries(v as object)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => `${JSON.stringify(k)}: ${toJson(x)}`)
        .join(', ')}}`;
    default:
      return 'null';
  }
}
