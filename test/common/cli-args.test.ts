/** Command lines in QEMU's spellings (services/common/cli-args.ts). */
import test from 'ava';
import { all, has, last, parseArgs, UsageError } from '../../services/common/cli-args.js';

const spec = {
  name: { value: true },
  m: { value: true, aliases: ['memory'] },
  S: {},
  drive: { value: true, repeat: true },
  help: { aliases: ['h'] },
} as const;

test('values in -x V, --x V and --x=V; flags; aliases', (t) => {
  const p = parseArgs(['-name', 'vm1', '--m', '512', '-S', '--drive=file=a.img', '-h'], spec);
  t.is(last(p, 'name'), 'vm1');
  t.is(last(p, 'm'), '512');
  t.true(has(p, 'S'));
  t.true(has(p, 'help'));
  t.deepEqual(all(p, 'drive'), ['file=a.img']);
  t.is(last(parseArgs(['-memory', '1G'], spec), 'm'), '1G');
  t.false(has(p, 'nothing'));
  t.is(last(p, 'nothing'), undefined);
  t.deepEqual(all(p, 'nothing'), []);
});

test('repeatable options collect; others keep the last value', (t) => {
  const p = parseArgs(['-drive', 'a', '-name', 'x', '-drive', 'b', '-name', 'y'], spec);
  t.deepEqual(all(p, 'drive'), ['a', 'b']);
  t.deepEqual(all(p, 'name'), ['y']);
});

test('positionals, -- and stopAtPositional', (t) => {
  const p = parseArgs(['a', '-S', 'b', '--', '-name', 'c'], spec);
  t.deepEqual(p.positional, ['a', 'b', '-name', 'c']);
  t.true(has(p, 'S'));
  t.deepEqual(parseArgs(['-'], spec).positional, ['-']);
  const q = parseArgs(['-S', 'cmd', '-name', 'x'], spec, true);
  t.deepEqual(q.positional, ['cmd', '-name', 'x']);
  t.false(has(q, 'name'));
});

test('unknown options, missing values and values on flags are UsageErrors', (t) => {
  t.throws(() => parseArgs(['--bogus'], spec), { instanceOf: UsageError, message: "unknown option '--bogus'" });
  t.throws(() => parseArgs(['-x'], spec), { instanceOf: UsageError, message: "unknown option '-x'" });
  t.throws(() => parseArgs(['-name'], spec), { instanceOf: UsageError, message: "option '-name' needs a value" });
  t.throws(() => parseArgs(['--S=1'], spec), { instanceOf: UsageError, message: "option '--S=1' takes no value" });
});
