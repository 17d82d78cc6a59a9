#!/usr/bin/env node
// tsemu-img: disk image tool in qemu-img's spellings.
//
// bin/tsemu-img is a link to this file: Node runs a main script by its real path, so this
// one runs as CommonJS, without starting the ES module loader (~3.5 ms; qemu-img does a
// whole small convert in ~10).
//
// When `npm run build` made dist/bundle/tsemu-img.js (scripts/bundle-img.mjs: the modules
// below dist/services/block/img/main.js in one script, with V8's code cache of it) and no
// dist file in it has changed since, run that: one read and no compile instead of ~30
// module loads. Otherwise import dist/ as usual.
'use strict';
const { readFileSync, statSync, writeFileSync, renameSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const dist = join(__dirname, '../dist');

function bundled() {
  const base = join(dist, 'bundle/tsemu-img');
  let manifest;
  let source;
  try {
    manifest = JSON.parse(readFileSync(`${base}.json`, 'utf8'));
    for (const [key, mtimeMs, size] of manifest.files) {
      const st = statSync(join(dist, key));
      if (st.mtimeMs !== mtimeMs || st.size !== size) return undefined;
    }
    source = readFileSync(`${base}.js`, 'utf8');
  } catch {
    return undefined;
  }
  const write = process.env.TSEMU_IMG_WRITE_CODE_CACHE;
  let cachedData;
  try {
    cachedData = readFileSync(`${base}.cache`);
  } catch {}
  const script = new Script(source, { filename: `${base}.js`, cachedData });
  if (write) {
    // scripts/bundle-img.mjs: after this run, the compiled code of what it ran (and what the cache held).
    process.on('exit', () => {
      try {
        writeFileSync(`${write}.tmp`, script.createCachedData());
        renameSync(`${write}.tmp`, write);
      } catch {}
    });
  }
  return script.runInThisContext()(createRequire(join(dist, manifest.entry)), pathToFileURL(dist).href + '/');
}

(async () => {
  const mod = bundled() ?? (await import('../dist/services/block/img/main.js').catch(() => {
    process.stderr.write('tsemu-img: not built yet: run npm install (or npm run build)\n');
    process.exit(1);
  }));
  process.exitCode = await mod.main(process.argv.slice(2));
})();
