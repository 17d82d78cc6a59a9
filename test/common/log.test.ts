/**
 * Logging (services/common/log.ts): level specs, per-service levels, the file destination,
 * and clear errors for bad specs. Tests that configure logging change this process's
 * environment, so they run one at a time.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configureLogging, LEVELS, Logger, logger, parseLogSpec } from '../../services/common/log.js';
import { tempDir } from '../helpers/procs.js';

const index = (name: string) => LEVELS.indexOf(name as (typeof LEVELS)[number]);

test('the levels, most severe first', (t) => {
  t.deepEqual([...LEVELS], ['error', 'warn', 'info', 'debug', 'trace']);
});

test('parseLogSpec: empty is warn; a bare level sets the default', (t) => {
  t.deepEqual(parseLogSpec(''), { defaultLevel: index('warn'), perService: new Map() });
  for (const l of LEVELS) t.is(parseLogSpec(l).defaultLevel, index(l));
  t.is(parseLogSpec(' info ').defaultLevel, index('info'));
});

test('parseLogSpec: per-service levels beside a default, in any order', (t) => {
  const a = parseLogSpec('info,block=debug,cpu=trace');
  t.is(a.defaultLevel, index('info'));
  t.deepEqual([...a.perService], [
    ['block', index('debug')],
    ['cpu', index('trace')],
  ]);
  const b = parseLogSpec('net=error, warn ,block=info,');
  t.is(b.defaultLevel, index('warn'));
  t.is(b.perService.get('net'), index('error'));
  t.is(b.perService.get('block'), index('info'));
  t.is(parseLogSpec('block=debug').defaultLevel, index('warn'), 'the default stays warn');
  t.is(parseLogSpec('block=info,block=trace').perService.get('block'), index('trace'), 'the last one wins');
});

test('parseLogSpec: bad specs are errors that say what is wrong', (t) => {
  t.throws(() => parseLogSpec('loud'), { message: "unknown log level 'loud' (one of error, warn, info, debug, trace)" });
  t.throws(() => parseLogSpec('INFO'), { message: /unknown log level 'INFO'/ });
  t.throws(() => parseLogSpec('info,block=chatty'), { message: /unknown log level 'chatty'/ });
  t.throws(() => parseLogSpec('block='), { message: /unknown log level ''/ });
  t.throws(() => parseLogSpec('=debug'), { message: /names no service/ });
  t.throws(() => parseLogSpec('block=debug=trace'), { message: /unknown log level 'debug=trace'/ });
});

test.serial('configureLogging: per-service levels decide what is written, to the file', (t) => {
  const saved = { log: process.env.TSEMU_LOG, file: process.env.TSEMU_LOG_FILE };
  t.teardown(() => {
    restore('TSEMU_LOG', saved.log);
    restore('TSEMU_LOG_FILE', saved.file);
    configureLogging(undefined);
  });
  const file = join(tempDir(t), 'tsemu.log');
  configureLogging('warn,block=debug', file);
  t.is(process.env.TSEMU_LOG, 'warn,block=debug', 'children inherit the spec');
  t.is(process.env.TSEMU_LOG_FILE, file, 'children inherit the file');

  const block = logger('block');
  t.is(logger('block'), block, 'one logger per service');
  const net = new Logger('net');
  t.true(block.enabled('debug'));
  t.false(block.enabled('trace'));
  t.true(net.enabled('warn'));
  t.false(net.enabled('info'));

  block.debug('block debug line', { a: 1 });
  block.trace('block trace line');
  net.info('net info line');
  net.warn('net warn line', 'extra');
  net.error('net error line', new Error('boom'));
  const text = readFileSync(file, 'utf8');
  const lines = text.trimEnd().split('\n');
  t.regex(text, /DEBUG block\[\d+\] block debug line \{"a":1\}/);
  t.regex(text, /WARN  net\[\d+\] net warn line extra/);
  t.regex(text, /ERROR net\[\d+\] net error line Error: boom/);
  t.notRegex(text, /block trace line/);
  t.notRegex(text, /net info line/);
  t.regex(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z DEBUG /, 'lines start with an ISO time and the level');

  // Changing the spec takes effect at once.
  configureLogging('trace');
  t.true(net.enabled('trace'));
  net.trace('now traced');
  t.regex(readFileSync(file, 'utf8'), /TRACE net\[\d+\] now traced/);
});

test.serial('configureLogging: a bad spec is an error and changes nothing', (t) => {
  const saved = process.env.TSEMU_LOG;
  t.teardown(() => {
    restore('TSEMU_LOG', saved);
    configureLogging(undefined);
  });
  configureLogging('info');
  t.throws(() => configureLogging('info,cpu=shout'), { message: /unknown log level 'shout'/ });
  t.is(process.env.TSEMU_LOG, 'info');
  t.true(new Logger('x').enabled('info'));
});

test.serial('a bad TSEMU_LOG is an error from configureLogging and never from a log call', (t) => {
  const saved = process.env.TSEMU_LOG;
  const write = process.stderr.write;
  let captured = '';
  t.teardown(() => {
    process.stderr.write = write;
    restore('TSEMU_LOG', saved);
    configureLogging(undefined);
  });
  process.env.TSEMU_LOG = 'loud';
  t.throws(() => configureLogging(undefined), { message: /^TSEMU_LOG: unknown log level 'loud'/ });
  process.stderr.write = ((s: string) => {
    captured += s;
    return true;
  }) as typeof process.stderr.write;
  const l = new Logger('x');
  t.notThrows(() => l.warn('still logs'));
  t.regex(captured, /ignoring TSEMU_LOG: unknown log level 'loud'/);
  t.regex(captured, /WARN  x\[\d+\] still logs/, 'the default level applies');
});

test.serial('a log file that cannot be written falls back to stderr', (t) => {
  const saved = process.env.TSEMU_LOG_FILE;
  const write = process.stderr.write;
  let captured = '';
  t.teardown(() => {
    process.stderr.write = write;
    restore('TSEMU_LOG_FILE', saved);
    configureLogging(undefined);
  });
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), '');
  configureLogging('warn', join(dir, 'file', 'not-a-dir.log'));
  process.stderr.write = ((s: string) => {
    captured += s;
    return true;
  }) as typeof process.stderr.write;
  logger('fallback').error('not lost');
  t.regex(captured, /ERROR fallback\[\d+\] not lost/);
});

test('child loggers are named service.sub', (t) => {
  t.is(new Logger('block').child('qcow2').service, 'block.qcow2');
});

function restore(key: string, value: string | undefined): void {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}
