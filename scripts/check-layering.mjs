#!/usr/bin/env node
/**
 * The layering rule of DESIGN.md, checked: a service never imports another service's
 * internals. A module under services/<name>/ may import its own service's modules,
 * services/common/, proto/ and packages (node: builtins, node_modules); services/common/
 * may import only itself, proto/ and packages. (Tests, benches and scripts may import
 * anything.) Prints each import that breaks the rule and exits 1 if there is one.
 *
 * `npm run layering`; test/layering.test.ts runs it with the tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const services = join(root, 'services');

function* sources(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield p;
  }
}

/** Relative specifiers of static imports, re-exports and dynamic imports in `text`. */
function specifiers(text) {
  const out = [];
  const patterns = [/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s*['"]([^'"]+)['"]/gm];
  for (const re of patterns) for (const m of text.matchAll(re)) if (m[1].startsWith('.')) out.push(m[1]);
  return out;
}

/** The top-level place a path is in: 'services/<name>', 'proto' or other. */
function place(path) {
  const parts = relative(root, path).split(sep);
  return parts[0] === 'services' ? `services/${parts[1]}` : parts[0];
}

const problems = [];
for (const file of sources(services)) {
  const from = place(file);
  for (const spec of specifiers(readFileSync(file, 'utf8'))) {
    const to = place(resolve(dirname(file), spec));
    const allowed = to === from || to === 'proto' || to === 'services/common';
    if (!allowed) problems.push(`${relative(root, file)}: imports ${spec} (${to}), another service's internals`);
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\nA service meets the others only in proto/ and services/common/ (DESIGN.md).\n`);
  process.exit(1);
}
process.stdout.write('layering: every service imports only itself, services/common and proto\n');
