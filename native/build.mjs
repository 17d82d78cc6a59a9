// Builds the native addon with node-gyp during `npm install`.
// Uses the Node headers installed on the machine (/usr/include/node) when present, so no
// header tarball is downloaded: these machines reach only the npm registry and Debian.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = ['rebuild', '--directory', here];
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node.h') ? '/usr' : '');
if (nodedir) args.push(`--nodedir=${nodedir}`);

// npm puts its bundled node-gyp on PATH for lifecycle scripts; fall back to the one beside npm.
let cmd = 'node-gyp';
const probe = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
if (probe.error) {
  const npmDir = dirname(dirname(process.execPath));
  const bundled = join(npmDir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  cmd = process.execPath;
  args.unshift(bundled);
}
const r = spawnSync(cmd, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('tsemu: building the native addon failed (node-gyp, g++ and Node headers are needed)');
  process.exit(r.status ?? 1);
}
