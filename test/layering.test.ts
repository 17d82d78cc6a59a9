/**
 * DESIGN.md's layering rule (a service never imports another service's internals), as
 * scripts/check-layering.mjs checks it over services/.
 */
import test from 'ava';
import { join } from 'node:path';
import { projectRoot } from '../services/common/native.js';
import { run } from './helpers/procs.js';

test('no service imports another service\'s internals', async (t) => {
  const r = await run(t, process.execPath, [join(projectRoot(), 'scripts/check-layering.mjs')]);
  t.is(r.stderr, '');
  t.is(r.code, 0);
});
