#!/usr/bin/env node
/**
 * Start-up bundle for bin/tsemu-img (run by `npm run build`, after tsc).
 *
 * Node 20 loads an ES module graph file by file, each level of imports a round trip through
 * its thread pool, and compiles every module from source on every start: tsemu-img's ~30
 * modules cost it more than Node's own start (qemu-img writes its first byte in ~10 ms). So
 * this script gathers the modules tsemu-img can reach from dist/services/block/img/main.js
 * (static and dynamic imports) into one script, dist/bundle/tsemu-img.js, each module as
 * tsc's CommonJS form of the same dist file inside a function that runs on first require
 * (a dynamic import stays lazy: the module runs when the import is reached). Then it runs a
 * convert from a file and one from an NBD export (tsemu-nbd serving) to write V8's code cache
 * of the bundle, dist/bundle/tsemu-img.cache, so that a start deserializes the code those
 * run instead of compiling it (~3 ms of a start; other commands compile what they run).
 *
 * bin/tsemu-img uses the bundle only when dist/bundle/tsemu-img.json lists every bundled
 * dist file with the mtime and size it had here (else a `tsc` since has changed one and it
 * imports dist/ as before), and runs without the cache when V8 rejects it (another Node).
 * Nothing here is needed: on any failure this script says so and leaves no bundle.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, renameSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const outDir = join(dist, 'bundle');
const NAME = 'tsemu-img';
const ENTRY = 'services/block/img/main.js';
const files = { js: join(outDir, `${NAME}.js`), manifest: join(outDir, `${NAME}.json`), cache: join(outDir, `${NAME}.cache`) };

function clear() {
  for (const f of Object.values(files)) rmSync(f, { force: true });
}

function fail(message) {
  clear();
  process.stderr.write(`bundle-img: ${message}; bin/tsemu-img will import dist/ instead\n`);
  process.exit(0);
}

let ts;
try {
  ts = createRequire(join(root, 'package.json'))('typescript');
} catch {
  fail('typescript is not installed');
}
clear();

/** One module: its CommonJS text and the dist-relative keys of the modules it requires. */
function transform(key) {
  const path = join(dist, key);
  let src = readFileSync(path, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  src = src.replace(/\bimport\.meta\.url\b/g, '__importMetaUrl');
  if (/\bimport\.meta\b/.test(src)) fail(`${key} uses import.meta beyond import.meta.url`);
  if (/\bimport\s*\(\s*[^'"\s]/.test(src)) fail(`${key} has a dynamic import of a computed name`);
  // (without esModuleInterop, `import * as x` is the module object itself, as in ESM; only a
  // default import of a builtin would differ)
  if (/^\s*import\s+[\w$]+\s*(?:,[^;]*)?from\s*['"]node:/m.test(src)) fail(`${key} has a default import of a builtin module`);
  const out = ts.transpileModule(src, {
    fileName: path,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: false, sourceMap: false, inlineSourceMap: false, removeComments: true },
  }).outputText.replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const deps = [];
  for (const m of out.matchAll(/\brequire\((["'])([^"']+)\1\)/g)) {
    const spec = m[2];
    if (spec.startsWith('.')) deps.push(posix.normalize(posix.join(posix.dirname(key), spec)));
    else if (!spec.startsWith('node:')) fail(`${key} imports the package '${spec}' (its default export would differ)`);
  }
  return { text: out, deps };
}

const modules = new Map();
const queue = [ENTRY];
while (queue.length) {
  const key = queue.shift();
  if (modules.has(key)) continue;
  if (!existsSync(join(dist, key))) fail(`${key} is not built`);
  const m = transform(key);
  modules.set(key, m);
  queue.push(...m.deps);
}

const parts = [
  '(function (__bundleNodeRequire, __bundleDistUrl) {',
  '"use strict";',
  'const __bundleDefs = Object.create(null);',
  'const __bundleCache = Object.create(null);',
  'function __bundleResolve(from, spec) {',
  '  const parts = from.split("/"); parts.pop();',
  '  for (const p of spec.split("/")) { if (p === "..") parts.pop(); else if (p !== ".") parts.push(p); }',
  '  return parts.join("/");',
  '}',
  'function __bundleLoad(key) {',
  '  const hit = __bundleCache[key];',
  '  if (hit) return hit.exports;',
  '  const def = __bundleDefs[key];',
  '  if (!def) throw new Error(`tsemu-img bundle: no module ${key}`);',
  '  const module = { exports: {} };',
  '  __bundleCache[key] = module;',
  '  const require = (spec) => (spec[0] === "." ? __bundleLoad(__bundleResolve(key, spec)) : __bundleNodeRequire(spec));',
  '  try {',
  '    def.call(undefined, module.exports, require, module, __bundleDistUrl + key);',
  '  } catch (e) {',
  '    delete __bundleCache[key];',
  '    throw e;',
  '  }',
  '  return module.exports;',
  '}',
];
for (const [key, m] of modules) {
  parts.push(`__bundleDefs[${JSON.stringify(key)}] = function (exports, require, module, __importMetaUrl) {`, m.text, '};');
}
parts.push(`return __bundleLoad(${JSON.stringify(ENTRY)});`, '})');

mkdirSync(outDir, { recursive: true });
const stamp = [...modules.keys()].map((key) => {
  const st = statSync(join(dist, key));
  return [key, st.mtimeMs, st.size];
});
writeFileSync(files.js + '.tmp', parts.join('\n'));
renameSync(files.js + '.tmp', files.js);
writeFileSync(files.manifest, JSON.stringify({ entry: ENTRY, files: stamp }));

// The code cache: compiled code of what the converts run. (Without it the bundle still
// starts faster than dist/; a failure here only leaves it out.)
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const imgEnv = { ...env, TSEMU_IMG_WRITE_CODE_CACHE: files.cache };
const img = (...args) => spawnSync(process.execPath, [join(root, 'bin/tsemu-img'), ...args], { env: imgEnv, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 60_000 });
let nbd;
let work;
try {
  work = mkdtempSync(join(tmpdir(), 'tsemu-bundle-'));
  const raw = join(work, 'a.raw');
  writeFileSync(raw, Buffer.alloc(1 << 20, 1));
  // Only converts: the cache is read whole at every start, so what it holds is what the
  // commands run most (and are timed) and the rest compiles as it runs.
  img('convert', '-O', 'raw', raw, join(work, 'c.raw'));
  // The NBD client's code too: tsemu-nbd serves the file for one convert.
  const sock = join(work, 'n.sock');
  nbd = spawn(process.execPath, [join(root, 'bin/tsemu-nbd'), '-f', 'raw', '-r', '-t', '-k', sock, raw], { env, stdio: 'ignore' });
  nbd.on('error', () => {});
  const deadline = Date.now() + 10_000;
  while (!existsSync(sock) && Date.now() < deadline && nbd.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  if (existsSync(sock)) {
    // The last run writes the cache that stays: one that covers the NBD path and the raw convert.
    const r = img('convert', '-O', 'raw', `nbd+unix:///?socket=${sock}`, join(work, 'd.raw'));
    if (r.status !== 0) process.stderr.write(`bundle-img: warm-up convert over NBD failed: ${r.stderr}`);
  }
} catch (e) {
  process.stderr.write(`bundle-img: no code cache: ${e.message}\n`);
  rmSync(files.cache, { force: true });
} finally {
  nbd?.kill('SIGTERM');
  if (work) rmSync(work, { recursive: true, force: true });
}
const size = existsSync(files.cache) ? statSync(files.cache).size : 0;
process.stdout.write(`bundle-img: ${modules.size} modules in ${relative(root, files.js)}${size ? `, code cache ${size} bytes` : ' (no code cache)'}\n`);
