/**
 * The command lines: bin/tsemu, bin/tsemu-img, bin/tsemu-nbd. Help exits 0 with usage text;
 * a mistake gives one line on stderr and status 1, never a stack trace.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { version } from '../services/common/version.js';
import { binPath, run, tempDir } from './helpers/procs.js';

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (!('TSEMU_LOG' in extra)) delete e.TSEMU_LOG;
  delete e.TSEMU_LOG_FILE;
  delete e.TSEMU_READY_FD;
  return e;
}

function cli(t: ExecutionContext, bin: 'tsemu' | 'tsemu-img' | 'tsemu-nbd', args: string[], extraEnv: Record<string, string> = {}) {
  return run(t, process.execPath, [binPath(bin), ...args], { env: env(extraEnv) });
}

/** One line on stderr, nothing on stdout, status 1, no stack trace. */
async function oneLineError(t: ExecutionContext, bin: 'tsemu' | 'tsemu-img' | 'tsemu-nbd', args: string[], extraEnv: Record<string, string> = {}) {
  const r = await cli(t, bin, args, extraEnv);
  const what = `${bin} ${args.join(' ')}`;
  t.is(r.code, 1, `${what}: status`);
  t.is(r.signal, null);
  t.is(r.stdout, '', `${what}: nothing on stdout`);
  t.true(r.stderr.endsWith('\n'), `${what}: stderr ends its line`);
  t.is(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line on stderr, got: ${r.stderr}`);
  t.notRegex(r.stderr, /^\s+at |Error:|node:internal/m, `${what}: no stack trace`);
  return r.stderr.trimEnd();
}

test('tsemu --help and -h print the usage and exit 0', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = await cli(t, 'tsemu', [flag]);
    t.is(r.code, 0);
    t.regex(r.stdout, /^usage: tsemu \[options\]/);
    t.regex(r.stdout, /--services LIST/);
    t.regex(r.stdout, /tsemu service \{block\|display\|net\|monitor\}/);
    t.is(r.stderr, '');
  }
});

test('tsemu --version prints the version', async (t) => {
  const r = await cli(t, 'tsemu', ['--version']);
  t.is(r.code, 0);
  t.is(r.stdout, `tsemu version ${version()}\n`);
});

test('tsemu-img --help and tsemu-nbd --help print their usage and exit 0', async (t) => {
  const img = await cli(t, 'tsemu-img', ['--help']);
  t.is(img.code, 0);
  t.regex(img.stdout, /^usage: tsemu-img /);
  t.regex(img.stdout, /create \[-f fmt\]/);
  t.is(img.stderr, '');
  const nbd = await cli(t, 'tsemu-nbd', ['--help']);
  t.is(nbd.code, 0);
  t.regex(nbd.stdout, /^Usage: tsemu-nbd \[OPTIONS\] FILE/);
  t.is(nbd.stderr, '');
  for (const [bin, re] of [
    ['tsemu-img', /^tsemu-img version /],
    ['tsemu-nbd', /^tsemu-nbd version /],
  ] as const) {
    const v = await cli(t, bin, ['--version']);
    t.is(v.code, 0);
    t.regex(v.stdout, re);
  }
});

test('tsemu service NAME --help prints the service usage', async (t) => {
  for (const name of ['block', 'display', 'net', 'monitor']) {
    const r = await cli(t, 'tsemu', ['service', name, '--help']);
    t.is(r.code, 0, name);
    t.regex(r.stdout, new RegExp(`^usage: tsemu service ${name} `));
  }
});

test('an unknown option is one line on stderr and status 1', async (t) => {
  const [a, b, img, nbd, svc] = await Promise.all([
    oneLineError(t, 'tsemu', ['--bogus']),
    oneLineError(t, 'tsemu', ['-x']),
    oneLineError(t, 'tsemu-img', ['--bogus']),
    oneLineError(t, 'tsemu-nbd', ['--bogus']),
    oneLineError(t, 'tsemu', ['service', 'block', '--bogus']),
  ]);
  t.is(a, "tsemu: unknown option '--bogus' (see tsemu --help)");
  t.is(b, "tsemu: unknown option '-x' (see tsemu --help)");
  t.regex(img, /^tsemu-img: .*--bogus/);
  t.regex(nbd, /^tsemu-nbd: /);
  t.is(svc, "tsemu service block: unknown option '--bogus'");
});

test('other mistakes are one line on stderr and status 1 too', async (t) => {
  const cases: Array<[args: string[], expected: RegExp, env?: Record<string, string>]> = [
    [['-name'], /option '-name' needs a value/],
    [['--help=yes'], /takes no value/],
    [['stray'], /unexpected argument 'stray'/],
    [['-M', 'pc'], /unsupported machine type 'pc'/],
    [['--services', 'block,floppy'], /unknown service 'floppy' in --services/],
    [['-d', 'loud'], /unknown log level 'loud'/],
    [['-d', '=debug'], /names no service/],
    [[], /^tsemu: TSEMU_LOG: unknown log level 'loud'/, { TSEMU_LOG: 'loud' }],
    [['service', 'floppy'], /^tsemu service: name one of block, display, net, monitor$/],
    [['service', 'net', '--listen'], /option '--listen' needs a value/],
    [['service', 'net', '--log', 'loud'], /^tsemu service net: unknown log level 'loud'/],
    [['service', 'net'], /^tsemu service net: TSEMU_LOG: unknown log level 'x'/, { TSEMU_LOG: 'x' }],
  ];
  await Promise.all(cases.map(async ([args, re, extra]) => t.regex(await oneLineError(t, 'tsemu', args, extra), re)));
  t.regex(await oneLineError(t, 'tsemu-img', ['frobnicate']), /Command not found: frobnicate/);
});

test('tsemu-img with no command says how to get help, status 1', async (t) => {
  const r = await cli(t, 'tsemu-img', []);
  t.is(r.code, 1);
  t.is(r.stderr, "tsemu-img: Not enough arguments\nTry 'tsemu-img --help' for more information\n");
});

test('a service that cannot listen says so, without a stack trace', async (t) => {
  const dir = tempDir(t);
  // grpc-js may log a line of its own before ours, so only the last line is checked here.
  const r = await cli(t, 'tsemu', ['service', 'block', '--listen', `unix:${join(dir, 'no/such/dir/b.sock')}`]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.regex(r.stderr.trimEnd().split('\n').pop()!, /^tsemu service block: cannot listen on unix:.*b\.sock: /);
  t.notRegex(r.stderr, /^\s+at /m, 'no stack trace');
  t.regex(await oneLineError(t, 'tsemu', ['service', 'block', '--listen', 'nowhere']), /^tsemu service block: bad address 'nowhere'/);
  t.false(existsSync(join(dir, 'no')));
});
