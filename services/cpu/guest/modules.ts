/**
 * Kernel modules: their metadata, the dependency files depmod writes, and the load order
 * an initramfs needs.
 *
 * Debian's linux-image package ships the modules xz-compressed (`*.ko.xz`) with
 * modules.order, modules.builtin and modules.builtin.modinfo, but no modules.dep: depmod
 * writes that when the package is installed. When it is missing, `writeModulesIndex`
 * writes modules.dep, modules.alias and modules.softdep in depmod's formats from each
 * module's `.modinfo` section (`depends=`, `softdep=`, `alias=`), which modpost filled
 * from the same symbol resolution depmod does. Module names treat '-' and '_' alike.
 *
 * `resolveLoadOrder` then reads those files and orders the chosen modules and everything
 * they need, dependencies and `softdep pre:` modules first, skipping modules built into
 * the kernel (modules.builtin).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GuestError } from './paths.js';

export const normalizeModuleName = (name: string) => name.replace(/-/g, '_');

const KO_SUFFIX = /\.ko(\.xz|\.gz|\.zst)?$/;

/** "kernel/fs/ext4/ext4.ko.xz" -> "ext4"; "kernel/lib/crc-ccitt.ko" -> "crc_ccitt". */
export function moduleNameFromPath(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return normalizeModuleName(base.replace(KO_SUFFIX, ''));
}

/** "a.ko.xz" -> "a.ko": the name a decompressed module keeps. */
export const uncompressedPath = (path: string) => path.replace(/\.ko\.(xz|gz|zst)$/, '.ko');

/** key=value strings of an ELF's `.modinfo` section, in order (keys repeat: alias, ...). */
export function readModinfo(elf: Uint8Array, what = 'module'): [string, string][] {
  const b = Buffer.from(elf.buffer, elf.byteOffset, elf.byteLength);
  if (b.length < 64 || b.toString('latin1', 0, 4) !== '\x7fELF') throw new Error(`${what} is not an ELF file`);
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${what} is not a 64-bit little-endian ELF`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  if (shentsize < 64 || shoff + shnum * shentsize > b.length || shstrndx >= shnum) throw new Error(`${what}: section headers out of range`);
  const sec = (i: number) => {
    const h = shoff + i * shentsize;
    return { name: b.readUInt32LE(h), offset: Number(b.readBigUInt64LE(h + 0x18)), size: Number(b.readBigUInt64LE(h + 0x20)) };
  };
  const strtab = sec(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = sec(i);
    const nameAt = strtab.offset + s.name;
    const name = b.toString('latin1', nameAt, b.indexOf(0, nameAt));
    if (name !== '.modinfo') continue;
    if (s.offset + s.size > b.length) throw new Error(`${what}: .modinfo runs past the end`);
    return b
      .toString('utf8', s.offset, s.offset + s.size)
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]);
  }
  return [];
}

/** "pre: a b post: c" -> { pre: [a, b], post: [c] } */
export function parseSoftdep(spec: string): { pre: string[]; post: string[] } {
  const out = { pre: [] as string[], post: [] as string[] };
  let into: string[] | undefined;
  for (const w of spec.trim().split(/\s+/).filter(Boolean)) {
    if (w === 'pre:') into = out.pre;
    else if (w === 'post:') into = out.post;
    else into?.push(w);
  }
  return out;
}

/** Runs a decompressor and collects its stdout; a missing tool or a failure is a GuestError. */
function runTool(tool: string, args: string[], what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new GuestError(e.code === 'ENOENT' ? `cannot decompress ${what}: '${tool}' is not installed (Debian package ${tool === 'xz' ? 'xz-utils' : tool})` : `cannot run ${tool}: ${e.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new GuestError(`${tool} ${args[0]} ${what} failed: ${err.trim().split('\n')[0] || `status ${code}`}`));
    });
  });
}

/** The uncompressed bytes of a module file (.ko, .ko.xz with the host's xz, .ko.gz, .ko.zst with zstd). */
export async function readModuleFile(path: string): Promise<Buffer> {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  if (path.endsWith('.xz')) return runTool('xz', ['-dc', '--', path], path);
  if (path.endsWith('.zst')) return runTool('zstd', ['-dcq', '--', path], path);
  throw new Error(`${path}: not a kernel module file`);
}

/**
 * Several .xz files with one `xz -dc`: their uncompressed sizes come from the streams'
 * indexes (`xz --robot --list`), which is how the concatenated output is cut apart.
 * Spawning xz once per module would cost more than decompressing them.
 */
export async function readXzFiles(paths: readonly string[]): Promise<Buffer[]> {
  if (paths.length === 0) return [];
  const what = paths.length === 1 ? paths[0]! : `${paths[0]} and ${paths.length - 1} more`;
  const list = (await runTool('xz', ['--robot', '--list', '--', ...paths], what)).toString('utf8').split('\n');
  const sizes: number[] = [];
  for (const line of list) {
    const f = line.split('\t');
    if (f[0] === 'file') sizes.push(Number(f[4]));
  }
  if (sizes.length !== paths.length || sizes.some((n) => !Number.isSafeInteger(n))) throw new GuestError(`xz --list ${what}: unexpected output`);
  const all = await runTool('xz', ['-dc', '--', ...paths], what);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (all.length !== total) throw new GuestError(`xz -dc ${what}: ${all.length} bytes out, the indexes say ${total}`);
  const out: Buffer[] = [];
  let off = 0;
  for (const n of sizes) {
    out.push(all.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function findModuleFiles(dir: string, base: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findModuleFiles(p, base, out);
    else if (KO_SUFFIX.test(e.name)) out.push(relative(base, p));
  }
}

export interface ModuleInfo {
  name: string;
  /** relative to the modules dir, as in modules.dep */
  path: string;
  depends: string[];
  softPre: string[];
  softPost: string[];
  aliases: string[];
}

/** Load order of `name`'s hard dependencies (deepest first), not including `name`. */
function hardClosure(name: string, byName: Map<string, ModuleInfo>, stack: string[] = []): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string, path: string[]) => {
    if (path.includes(n)) throw new GuestError(`module dependency cycle: ${[...path, n].join(' -> ')}`);
    if (seen.has(n)) return;
    seen.add(n);
    for (const d of byName.get(n)?.depends ?? []) visit(d, [...path, n]);
    order.push(n);
  };
  visit(name, stack);
  return order.slice(0, -1);
}

/** depmod's modules.dep: "path: dep dep ..." with the dependency loaded first listed last. */
export function formatModulesDep(mods: readonly ModuleInfo[]): string {
  const byName = new Map(mods.map((m) => [m.name, m]));
  return mods
    .map((m) => {
      const deps = hardClosure(m.name, byName)
        .reverse()
        .map((d) => byName.get(d)?.path)
        .filter((p): p is string => p !== undefined);
      return `${m.path}:${deps.length ? ` ${deps.join(' ')}` : ''}\n`;
    })
    .join('');
}

/**
 * Reads every module under `modulesDir` and writes modules.dep, modules.alias and
 * modules.softdep there (modules.dep last, so its presence means the set is complete).
 * Takes some seconds for Debian's 3000-odd modules: each is decompressed once.
 */
export async function writeModulesIndex(modulesDir: string, progress?: (msg: string) => void): Promise<ModuleInfo[]> {
  const files: string[] = [];
  findModuleFiles(modulesDir, modulesDir, files);
  const order = readModulesOrder(modulesDir);
  const rank = (p: string) => order.get(moduleNameFromPath(p)) ?? Number.MAX_SAFE_INTEGER;
  files.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  progress?.(`indexing ${files.length} kernel modules in ${modulesDir}`);
  const infos = new Array<ModuleInfo>(files.length);
  const record = (i: number, elf: Buffer) => {
    const file = files[i]!;
    const info = readModinfo(elf, file);
    const get = (k: string) => info.filter(([key]) => key === k).map(([, v]) => v);
    const soft = get('softdep').map(parseSoftdep);
    infos[i] = {
      name: normalizeModuleName(get('name')[0] ?? moduleNameFromPath(file)),
      path: file,
      depends: get('depends').flatMap((d) => d.split(',')).filter(Boolean).map(normalizeModuleName),
      softPre: soft.flatMap((s) => s.pre),
      softPost: soft.flatMap((s) => s.post),
      aliases: get('alias'),
    };
  };
  // .xz modules in batches of 48 per xz process, the others one by one
  const batches: number[][] = [];
  const singles: number[] = [];
  files.forEach((f, i) => {
    if (!f.endsWith('.xz')) singles.push(i);
    else if (!batches.length || batches[batches.length - 1]!.length >= 48) batches.push([i]);
    else batches[batches.length - 1]!.push(i);
  });
  await pool(batches, availableParallelism() + 2, async (batch) => {
    const bodies = await readXzFiles(batch.map((i) => join(modulesDir, files[i]!)));
    batch.forEach((fileIndex, k) => record(fileIndex, bodies[k]!));
  });
  await pool(singles, Math.max(2, availableParallelism()), async (i) => record(i, await readModuleFile(join(modulesDir, files[i]!))));
  const write = (name: string, text: string) => {
    const tmp = join(modulesDir, `.${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(modulesDir, name));
  };
  write('modules.alias', `# Aliases extracted from modules themselves.\n${infos.flatMap((m) => m.aliases.map((a) => `alias ${a} ${m.name}\n`)).join('')}`);
  write(
    'modules.softdep',
    `# Soft dependencies extracted from modules themselves.\n${infos
      .filter((m) => m.softPre.length || m.softPost.length)
      .map((m) => `softdep ${m.name}${m.softPre.length ? ` pre: ${m.softPre.join(' ')}` : ''}${m.softPost.length ? ` post: ${m.softPost.join(' ')}` : ''}\n`)
      .join('')}`,
  );
  write('modules.dep', formatModulesDep(infos));
  return infos;
}

function readModulesOrder(modulesDir: string): Map<string, number> {
  const m = new Map<string, number>();
  const p = join(modulesDir, 'modules.order');
  if (!existsSync(p)) return m;
  readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .forEach((line, i) => {
      const n = moduleNameFromPath(line.trim());
      if (!m.has(n)) m.set(n, i);
    });
  return m;
}

/** What resolution needs: the contents of modules.dep, .builtin, .alias and .softdep. */
export interface ModuleDb {
  /** module name -> its file and its dependencies' names, as modules.dep lists them */
  modules: Map<string, { path: string; deps: string[] }>;
  builtin: Set<string>;
  /** alias -> module names (loadable or built in) */
  aliases: Map<string, string[]>;
  softdeps: Map<string, { pre: string[]; post: string[] }>;
}

export function parseModulesDep(text: string): ModuleDb['modules'] {
  const out: ModuleDb['modules'] = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleNameFromPath);
    out.set(moduleNameFromPath(path), { path, deps });
  }
  return out;
}

export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim()).filter(Boolean).map(moduleNameFromPath));
}

/** "alias PATTERN MODULE" lines (modules.alias) into `into`. */
export function parseModulesAlias(text: string, into: ModuleDb['aliases'] = new Map()): ModuleDb['aliases'] {
  for (const line of text.split('\n')) {
    const m = /^alias\s+(\S+)\s+(\S+)/.exec(line.trim());
    if (!m) continue;
    const list = into.get(m[1]!) ?? [];
    const name = normalizeModuleName(m[2]!);
    if (!list.includes(name)) list.push(name);
    into.set(m[1]!, list);
  }
  return into;
}

/** modules.builtin.modinfo: "module.key=value\0" records; the aliases of built-in code. */
export function parseBuiltinModinfoAliases(bytes: Uint8Array, into: ModuleDb['aliases'] = new Map()): ModuleDb['aliases'] {
  for (const rec of Buffer.from(bytes).toString('utf8').split('\0')) {
    const m = /^([^.=]+)\.alias=(.+)$/.exec(rec);
    if (!m) continue;
    const list = into.get(m[2]!) ?? [];
    const name = normalizeModuleName(m[1]!);
    if (!list.includes(name)) list.push(name);
    into.set(m[2]!, list);
  }
  return into;
}

export function parseModulesSoftdep(text: string): ModuleDb['softdeps'] {
  const out: ModuleDb['softdeps'] = new Map();
  for (const line of text.split('\n')) {
    const m = /^softdep\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (m) out.set(normalizeModuleName(m[1]!), parseSoftdep(m[2]!));
  }
  return out;
}

/** Reads a modules dir (after `writeModulesIndex` or depmod). */
export function loadModuleDb(modulesDir: string): ModuleDb {
  const read = (n: string) => {
    const p = join(modulesDir, n);
    return existsSync(p) ? readFileSync(p) : undefined;
  };
  const dep = read('modules.dep');
  if (!dep) throw new GuestError(`${modulesDir} has no modules.dep (run 'tsemu guest fetch' to write it)`);
  const aliases: ModuleDb['aliases'] = new Map();
  const alias = read('modules.alias');
  if (alias) parseModulesAlias(alias.toString('utf8'), aliases);
  const bmi = read('modules.builtin.modinfo');
  if (bmi) parseBuiltinModinfoAliases(bmi, aliases);
  const builtin = read('modules.builtin');
  const soft = read('modules.softdep');
  return {
    modules: parseModulesDep(dep.toString('utf8')),
    builtin: builtin ? parseModulesBuiltin(builtin.toString('utf8')) : new Set(),
    aliases,
    softdeps: soft ? parseModulesSoftdep(soft.toString('utf8')) : new Map(),
  };
}

export interface LoadOrder {
  /** modules to insmod, in this order */
  load: { name: string; path: string }[];
  /** requested (or needed) modules that are built into the kernel: nothing to load */
  builtin: string[];
}

/**
 * The modules to load for `wanted`, each after everything it depends on. A wanted name
 * may be a module name or an alias (as modprobe takes "fs-ext4" or "crypto-crc32c").
 * Built-in modules are skipped; an unknown wanted name is an error; an unknown soft
 * dependency is left out (modprobe too carries on without it).
 */
export function resolveLoadOrder(db: ModuleDb, wanted: readonly string[]): LoadOrder {
  const load: LoadOrder['load'] = [];
  const builtin: string[] = [];
  const done = new Set<string>();
  const lookup = (raw: string): { kind: 'module' | 'builtin'; names: string[] } | undefined => {
    const n = normalizeModuleName(raw);
    if (db.modules.has(n)) return { kind: 'module', names: [n] };
    if (db.builtin.has(n)) return { kind: 'builtin', names: [n] };
    const targets = db.aliases.get(raw) ?? db.aliases.get(n);
    if (!targets?.length) return undefined;
    // as modprobe: an alias met by built-in code needs nothing loaded
    const inKernel = targets.filter((t) => db.builtin.has(t));
    if (inKernel.length) return { kind: 'builtin', names: inKernel };
    const loadable = targets.filter((t) => db.modules.has(t));
    return loadable.length ? { kind: 'module', names: loadable } : undefined;
  };
  const visit = (name: string, path: string[]) => {
    if (done.has(name)) return;
    if (path.includes(name)) throw new GuestError(`module dependency cycle: ${[...path, name].join(' -> ')}`);
    const mod = db.modules.get(name);
    if (!mod) {
      if (db.builtin.has(name)) {
        if (!builtin.includes(name)) builtin.push(name);
        return;
      }
      throw new GuestError(`module '${path[path.length - 1]}' needs '${name}', which modules.dep does not list`);
    }
    const here = [...path, name];
    const soft = db.softdeps.get(name);
    for (const s of soft?.pre ?? []) softVisit(s, here);
    // modules.dep lists the dependency to load first last (depmod), as modprobe reads it
    for (const d of [...mod.deps].reverse()) visit(d, here);
    if (!done.has(name)) {
      done.add(name);
      load.push({ name, path: mod.path });
    }
    for (const s of soft?.post ?? []) softVisit(s, here);
  };
  const softVisit = (raw: string, path: string[]) => {
    const r = lookup(raw);
    if (!r) return;
    if (r.kind === 'builtin') return;
    for (const n of r.names) if (!path.includes(n)) visit(n, path);
  };
  for (const w of wanted) {
    const r = lookup(w);
    if (!r) throw new GuestError(`no kernel module or built-in named '${w}'`);
    if (r.kind === 'builtin') {
      for (const n of r.names) if (!builtin.includes(n)) builtin.push(n);
      continue;
    }
    for (const n of r.names) visit(n, []);
  }
  return { load, builtin };
}
