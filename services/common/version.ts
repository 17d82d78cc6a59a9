/** The version every service reports, from package.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './native.js';

let cached: string | undefined;

export function version(): string {
  if (!cached) {
    const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}
