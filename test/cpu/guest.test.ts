/**
 * The guest tooling: the newc cpio writer checked against GNU cpio, mirror detection from
 * apt sources files, kernel module dependency resolution, kernel image formats, keyring
 * checks, and an end-to-end fetch of Debian trixie's riscv64 packages with the host's apt
 * (once, into test/fixtures/cache/, reused between runs) whose initramfs then boots under
 * qemu-system-riscv64, the reference machine.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, lstatSync, mkdirSync, openSync, closeSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { projectRoot } from '../../services/common/native.js';
import { linuxImageInfo } from '../../services/cpu/board/virt.js';
import { fetchGuest, readValidManifest, versionedKernelPackage, debFileName, aptFailure, type FetchResult } from '../../services/cpu/guest/apt-fetch.js';
import { parseModuleList } from '../../services/cpu/guest/cli.js';
import { CpioBuilder, readNewc, writeNewc, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, type CpioEntry } from '../../services/cpu/guest/cpio.js';
import { ensureDefaultVm } from '../../services/cpu/guest/default-vm.js';
import { BANNER, buildInitramfs, DEFAULT_MODULES } from '../../services/cpu/guest/initramfs.js';
import { kernelFormat, loadableKernel } from '../../services/cpu/guest/kernel-image.js';
import { chooseKeyring, keyringUserIds } from '../../services/cpu/guest/keyring.js';
import { normalizeMirror, parseDeb822Sources, parseOneLineSources, pickMirror, readHostSources, resolveMirror } from '../../services/cpu/guest/mirror.js';
import { formatModulesDep, loadModuleDb, parseModulesDep, readModinfo, readModuleFile, resolveLoadOrder, type ModuleInfo } from '../../services/cpu/guest/modules.js';
import { cacheRoot, GuestError, guestPaths } from '../../services/cpu/guest/paths.js';
import { run, spawnChild, tempDir, waitFor } from '../helpers/procs.js';

const FIXTURE_CACHE = join(projectRoot(), 'test', 'fixtures', 'cache');
const RUN_CLI = fileURLToPath(new URL('./guest-tools/run-cli.js', import.meta.url));

function cli(t: ExecutionContext, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  delete env.TSEMU_LOG;
  delete env.TSEMU_LOG_FILE;
  return run(t, process.execPath, [RUN_CLI, ...args], { env });
}

/** Status 1, nothing on stdout, one line on stderr, no stack trace. */
async function oneLineError(t: ExecutionContext, args: string[]): Promise<string> {
  const r = await cli(t, args);
  t.is(r.code, 1, `tsemu guest ${args.join(' ')}: status; stderr: ${r.stderr}`);
  t.is(r.stdout, '');
  t.is(r.stderr.trimEnd().split('\n').length, 1, `one line on stderr, got: ${r.stderr}`);
  t.notRegex(r.stderr, /^\s+at |node:internal/m);
  return r.stderr.trimEnd();
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function hasTool(cmd: string, arg = '--version'): boolean {
  return !spawnSync(cmd, [arg], { stdio: 'ignore' }).error;
}

// ---------------------------------------------------------------------------------------
// cpio

const major = (rdev: number) => ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
const minor = (rdev: number) => (rdev & 0xff) | ((rdev >> 12) & ~0xff);

function sampleArchive(withDevices: boolean): CpioBuilder {
  const b = new CpioBuilder({ mtime: 1_700_000_000 });
  b.dir('etc', 0o755);
  b.dir('root', 0o700);
  b.dir('tmp', 0o1777);
  // names and sizes of every length mod 4, to exercise both paddings
  for (let n = 0; n < 9; n++) {
    const data = Buffer.alloc(n * 5 + (n % 4), 0);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + n) & 0xff;
    b.file(`data/${'f'.repeat(n + 1)}`, data, 0o640);
  }
  b.file('bin/busybox', Buffer.from('\x7fELF not really, but executable\n'), 0o755);
  b.file('init', '#!/bin/sh\necho hi\n', 0o755);
  b.file('deep/a/b/c/d.txt', 'nested parents come first\n');
  b.symlink('bin/sh', 'busybox');
  b.symlink('lib64', '/usr/lib');
  b.add({ type: 'fifo', path: 'run/fifo', mode: 0o620 });
  if (withDevices) {
    b.charDevice('dev/console', 5, 1, 0o600);
    b.charDevice('dev/null', 1, 3, 0o666);
    b.add({ type: 'block', path: 'dev/vda', major: 254, minor: 0, mode: 0o660 });
  }
  return b;
}

function typeBits(e: CpioEntry): number {
  return { dir: S_IFDIR, file: S_IFREG, symlink: S_IFLNK, char: S_IFCHR, block: S_IFBLK, fifo: S_IFIFO }[e.type];
}

test('newc header layout: 110-byte ASCII header, names and data padded to 4, trailer', (t) => {
  const out = writeNewc([{ type: 'file', path: '/init', data: Buffer.from('abc'), mode: 0o755 }], { mtime: 0x1234 });
  const hdr = out.toString('latin1', 0, 110);
  t.is(hdr.slice(0, 6), '070701');
  const f = (i: number) => parseInt(hdr.slice(6 + i * 8, 14 + i * 8), 16);
  t.is(f(0), 1, 'ino');
  t.is(f(1), S_IFREG | 0o755, 'mode');
  t.is(f(4), 1, 'nlink');
  t.is(f(5), 0x1234, 'mtime');
  t.is(f(6), 3, 'filesize');
  t.is(f(11), 5, 'namesize counts the NUL of "init"');
  t.is(f(12), 0, 'check');
  // 110 + 5 = 115 -> padded to 116; data 3 -> padded to 4
  t.is(out.toString('latin1', 110, 115), 'init\0');
  t.is(out.toString('latin1', 116, 119), 'abc');
  t.is(out[119], 0);
  t.is(out.toString('latin1', 120, 126), '070701');
  t.is(out.toString('latin1', 230, 240), 'TRAILER!!!');
  t.is(out.length % 4, 0);
  t.throws(() => writeNewc([{ type: 'file', path: '../x', data: Buffer.alloc(0) }]), { message: /'\.\.'/ });
  t.throws(() => writeNewc([{ type: 'file', path: 'x', data: Buffer.alloc(0), mode: 0o100644 }]), { message: /07777/ });
});

test('our reader reads back what our writer wrote, gzip-compressed or not', (t) => {
  const b = sampleArchive(true);
  const raw = b.toBuffer();
  for (const input of [raw, gzipSync(raw)]) {
    const members = readNewc(input);
    const entries = b.list();
    t.deepEqual(members.map((m) => m.name), entries.map((e) => e.path));
    for (const [i, e] of entries.entries()) {
      const m = members[i]!;
      t.is(m.mode & S_IFMT, typeBits(e), e.path);
      if (e.type === 'file') t.deepEqual(Buffer.from(m.data), Buffer.from(e.data));
      if (e.type === 'symlink') t.is(Buffer.from(m.data).toString(), e.target);
      if (e.type === 'char' || e.type === 'block') t.deepEqual([m.rdevMajor, m.rdevMinor], [e.major, e.minor]);
    }
  }
  // parents precede children even when added later
  const names = b.list().map((e) => e.path);
  t.true(names.indexOf('deep/a/b/c') < names.indexOf('deep/a/b/c/d.txt'));
  t.true(names.indexOf('dev') < names.indexOf('dev/console'));
});

test('GNU cpio lists and extracts our archive with the same contents, modes, symlinks and device nodes', async (t) => {
  if (!hasTool('cpio')) {
    t.fail('GNU cpio is not installed (Debian package cpio; .ci/run must install it)');
    return;
  }
  const root = process.getuid?.() === 0; // mknod needs root
  const b = sampleArchive(root);
  const dir = tempDir(t);
  const archive = join(dir, 'a.cpio');
  writeFileSync(archive, b.toBuffer());
  const withStdin = async (args: string[], cwd: string) => {
    const fd = openSync(archive, 'r');
    try {
      return await run(t, 'cpio', args, { cwd, stdio: [fd, 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    } finally {
      closeSync(fd);
    }
  };

  const list = await withStdin(['-it', '--quiet'], dir);
  t.is(list.code, 0, list.stderr);
  t.deepEqual(list.stdout.trim().split('\n'), b.list().map((e) => e.path));
  const verbose = await withStdin(['-itv', '--quiet'], dir);
  t.regex(verbose.stdout, /^lrwxrwxrwx .* bin\/sh -> busybox$/m);
  t.regex(verbose.stdout, /^drwxrwxrwt .* tmp$/m);
  if (root) t.regex(verbose.stdout, /^crw------- .*\b5,\s+1 .* dev\/console$/m);

  const out = join(dir, 'x');
  mkdirSync(out);
  const x = await withStdin(['-idm', '--quiet', '--no-absolute-filenames'], out);
  t.is(x.code, 0, x.stderr);
  for (const e of b.list()) {
    const p = join(out, e.path);
    const st = lstatSync(p);
    t.is(st.mode & S_IFMT, typeBits(e), `${e.path}: type`);
    if (e.type !== 'symlink') t.is(st.mode & 0o7777, e.mode ?? -1, `${e.path}: mode 0${(st.mode & 0o7777).toString(8)}`);
    if (e.type === 'file') {
      t.deepEqual(readFileSync(p), Buffer.from(e.data), `${e.path}: contents`);
      t.is(st.mtimeMs, 1_700_000_000 * 1000, `${e.path}: mtime`);
    }
    if (e.type === 'symlink') t.is(readlinkSync(p), e.target);
    if (e.type === 'char' || e.type === 'block') t.deepEqual([major(st.rdev), minor(st.rdev)], [e.major, e.minor], `${e.path}: device number`);
  }

  // and the other way: an archive GNU cpio writes from that tree, read by our reader
  const find = spawnSync('find', ['.', '-mindepth', '1'], { cwd: out, encoding: 'utf8' });
  const names = find.stdout.split('\n').filter(Boolean).map((n) => n.slice(2)).sort();
  const gnu = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: out, input: `${names.join('\n')}\n`, maxBuffer: 1 << 24 });
  t.is(gnu.status, 0, gnu.stderr?.toString());
  const members = new Map(readNewc(gnu.stdout).map((m) => [m.name, m]));
  for (const e of b.list()) {
    const m = members.get(e.path);
    if (!m) {
      t.fail(`${e.path} missing from GNU cpio's archive`);
      continue;
    }
    t.is(m.mode & S_IFMT, typeBits(e), e.path);
    if (e.type === 'file') t.deepEqual(Buffer.from(m.data), Buffer.from(e.data));
    if (e.type === 'symlink') t.is(Buffer.from(m.data).toString(), e.target);
    if (e.type === 'char' || e.type === 'block') t.deepEqual([m.rdevMajor, m.rdevMinor], [e.major, e.minor]);
  }
});

test('CpioBuilder refuses a member under a non-directory', (t) => {
  const b = new CpioBuilder();
  b.file('bin', 'x');
  t.throws(() => b.file('bin/sh', 'y'), { message: /'bin' is a file/ });
});

// ---------------------------------------------------------------------------------------
// mirror

function etcApt(t: ExecutionContext, files: Record<string, string>): string {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'sources.list.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('mirror: the first http(s) Debian archive in a one-line sources.list, not security or third-party', (t) => {
  const dir = etcApt(t, {
    'sources.list': [
      '# deb http://commented.example/debian bookworm main',
      'deb cdrom:[Debian GNU/Linux 12]/ bookworm main',
      'deb http://security.example/debian-security bookworm-security main',
      'deb-src http://src-only.example/debian bookworm main',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian/ bookworm main contrib # trailing comment',
      'deb http://second.example/debian bookworm-updates main',
      '',
    ].join('\n'),
    'sources.list.d/a-cloud.list': 'deb https://packages.example/apt cloud-sdk-bookworm main\n',
  });
  const m = resolveMirror(undefined, dir);
  t.is(m.uri, 'http://mirror.example/debian');
  t.regex(m.origin, /sources\.list:5$/);
  // deb-src only counts when no deb line qualifies
  t.is(pickMirror(parseOneLineSources('deb-src http://src-only.example/debian trixie main\n'))?.uri, 'http://src-only.example/debian');
  t.is(pickMirror(parseOneLineSources('deb http://x.example/debian trixie contrib\n')), undefined, 'no main component');
  t.is(pickMirror(parseOneLineSources('deb http://x.example/debian-ports sid main\n')), undefined, 'ports');
  t.is(pickMirror(parseOneLineSources('deb http://x.example/debian-debug bookworm-debug main\n')), undefined, 'debug');
  t.is(pickMirror(parseOneLineSources('deb ftp://x.example/debian bookworm main\n')), undefined, 'not http');
});

test('mirror: deb822 .sources as Debian 12 installs them, disabled stanzas and sources.list.d order', (t) => {
  const debianSources = [
    'Types: deb',
    '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
    'URIs: http://deb.example.org/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://deb.example.org/debian-security',
    'Suites: bookworm-security',
    'Components: main',
    '',
  ].join('\n');
  const parsed = parseDeb822Sources(debianSources);
  t.is(parsed.length, 2);
  t.deepEqual(parsed[0]!.suites, ['bookworm', 'bookworm-updates']);
  t.is(pickMirror(parsed)?.uri, 'http://deb.example.org/debian');

  const dir = etcApt(t, {
    'sources.list.d/00-disabled.sources': 'Types: deb\nURIs: https://disabled.example/debian\nSuites: trixie\nComponents: main\nEnabled: no\n',
    'sources.list.d/10-nodesource.sources': 'Types: deb\nURIs: https://deb.nodesource.example/node_20.x\nSuites: nodistro\nComponents: main\n',
    'sources.list.d/20-multi.sources': 'Types: deb-src deb\nURIs:\n https://first.example/debian\n http://second.example/debian\nSuites: stable\nComponents: main non-free-firmware\n',
    'sources.list.d/debian.sources': debianSources,
    'sources.list.d/ignored.list.disabled': 'deb http://ignored.example/debian bookworm main\n',
  });
  t.is(readHostSources(dir).length, 5);
  t.is(resolveMirror(undefined, dir).uri, 'https://first.example/debian', 'continuation lines, multi-valued fields, name order');
});

test('mirror: --mirror overrides the host; a host without a Debian archive is one clear error', (t) => {
  const dir = etcApt(t, { 'sources.list': 'deb http://security.example/debian-security bookworm-security main\n' });
  t.deepEqual(resolveMirror('https://override.example/debian/', dir), { uri: 'https://override.example/debian', origin: '--mirror' });
  const e = t.throws(() => resolveMirror(undefined, dir), { instanceOf: GuestError });
  t.regex(e!.message, /no http\(s\) Debian archive .* --mirror URL/);
  t.throws(() => normalizeMirror('ftp://x.example/debian'), { message: /not an http or https URL/ });
  t.throws(() => normalizeMirror('deb.example.org/debian'), { message: /not a URL/ });
  t.is(normalizeMirror('HTTP://Mirror.Example/debian//'), 'http://mirror.example/debian');
});

// ---------------------------------------------------------------------------------------
// modules

function syntheticModulesDir(t: ExecutionContext): string {
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'modules.dep'),
    [
      'kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz',
      'kernel/fs/jbd2/jbd2.ko.xz:',
      'kernel/fs/mbcache.ko.xz:',
      'kernel/lib/crc16.ko.xz:',
      'kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz',
      'kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz',
      'kernel/net/core/failover.ko.xz:',
      'kernel/drivers/block/virtio_blk.ko.xz:',
      'kernel/crypto/crc32c_generic.ko.xz:',
      'kernel/lib/crc-itu-t.ko.xz:',
      'kernel/drivers/x/top.ko: kernel/drivers/x/mid.ko', // direct dependencies only: still resolved
      'kernel/drivers/x/mid.ko: kernel/drivers/x/low.ko',
      'kernel/drivers/x/low.ko:',
      'kernel/loop/a.ko: kernel/loop/b.ko',
      'kernel/loop/b.ko: kernel/loop/a.ko',
      'kernel/broken/needs.ko: kernel/broken/absent.ko',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'modules.builtin'), 'kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/lib/crc32.ko\n');
  writeFileSync(join(dir, 'modules.alias'), '# Aliases\nalias crypto-crc32c crc32c_generic\nalias fs-ext4 ext4\nalias virtio:d00000002v* virtio_blk\n');
  writeFileSync(join(dir, 'modules.softdep'), '# Soft\nsoftdep ext4 pre: crypto-crc32c\nsoftdep virtio_blk pre: not-a-module post: crc-itu-t\nsoftdep jbd2 pre: crc32\n');
  writeFileSync(join(dir, 'modules.builtin.modinfo'), 'virtio_pci.alias=pci:v00001AF4d*sv*sd*bc*sc*i*\0crc32.alias=crypto-crc32\0crc32.license=GPL\0');
  return dir;
}

test('modules: load order from modules.dep, soft dependencies, built-ins skipped', (t) => {
  const db = loadModuleDb(syntheticModulesDir(t));
  const r = resolveLoadOrder(db, DEFAULT_MODULES);
  t.deepEqual(r.builtin, ['virtio_pci']);
  t.deepEqual(
    r.load.map((m) => m.name),
    ['virtio_blk', 'crc_itu_t', 'failover', 'net_failover', 'virtio_net', 'crc32c_generic', 'jbd2', 'mbcache', 'crc16', 'ext4'],
  );
  t.is(r.load.find((m) => m.name === 'crc_itu_t')!.path, 'kernel/lib/crc-itu-t.ko.xz', "'-' and '_' are the same name");
  // every module comes after what modules.dep says it needs
  const pos = new Map(r.load.map((m, i) => [m.name, i]));
  for (const m of r.load) for (const d of db.modules.get(m.name)!.deps) t.true(pos.get(d)! < pos.get(m.name)!, `${d} before ${m.name}`);

  t.deepEqual(resolveLoadOrder(db, ['top']).load.map((m) => m.name), ['low', 'mid', 'top']);
  t.deepEqual(resolveLoadOrder(db, ['fs-ext4', 'ext4']).load.map((m) => m.name), ['crc32c_generic', 'jbd2', 'mbcache', 'crc16', 'ext4'], 'aliases, no duplicates');
  t.deepEqual(resolveLoadOrder(db, ['crypto-crc32', 'virtio-pci', 'virtio']), { load: [], builtin: ['crc32', 'virtio_pci', 'virtio'] });
  t.deepEqual(resolveLoadOrder(db, []), { load: [], builtin: [] });
  t.throws(() => resolveLoadOrder(db, ['nope']), { instanceOf: GuestError, message: "no kernel module or built-in named 'nope'" });
  t.throws(() => resolveLoadOrder(db, ['a']), { message: /cycle: a -> b -> a/ });
  t.throws(() => resolveLoadOrder(db, ['needs']), { message: /'needs' needs 'absent'/ });
});

test('modules: the modules.dep we write lists the transitive closure, loaded from the last', (t) => {
  const mod = (name: string, path: string, depends: string[] = []): ModuleInfo => ({ name, path, depends, softPre: [], softPost: [], aliases: [] });
  const mods = [mod('top', 'k/top.ko.xz', ['mid', 'side']), mod('mid', 'k/mid.ko.xz', ['low']), mod('low', 'k/low.ko.xz'), mod('side', 'k/side.ko.xz', ['low'])];
  const text = formatModulesDep(mods);
  t.is(text, 'k/top.ko.xz: k/side.ko.xz k/mid.ko.xz k/low.ko.xz\nk/mid.ko.xz: k/low.ko.xz\nk/low.ko.xz:\nk/side.ko.xz: k/low.ko.xz\n');
  const db = { modules: parseModulesDep(text), builtin: new Set<string>(), aliases: new Map(), softdeps: new Map() };
  t.deepEqual(resolveLoadOrder(db, ['top']).load.map((m) => m.name), ['low', 'mid', 'side', 'top']);
});

test('--modules: a list, none, or additions to the default set', (t) => {
  t.deepEqual(parseModuleList(undefined), [...DEFAULT_MODULES]);
  t.deepEqual(parseModuleList('none'), []);
  t.deepEqual(parseModuleList('ext4, virtio_blk'), ['ext4', 'virtio_blk']);
  t.deepEqual(parseModuleList('+virtio_mmio'), [...DEFAULT_MODULES, 'virtio_mmio']);
  t.throws(() => parseModuleList('ext4,+virtio_mmio'), { message: /not both/ });
});

// ---------------------------------------------------------------------------------------
// kernel images and keyrings

function fakeImage(size = 4096): Buffer {
  const b = Buffer.alloc(size);
  b.write('MZ', 0, 'latin1');
  b.writeBigUInt64LE(0x200000n, 0x08);
  b.writeBigUInt64LE(BigInt(size * 4), 0x10);
  b.write('RISCV\0\0\0', 0x30, 'latin1');
  b.write('RSC\x05', 0x38, 'latin1');
  for (let i = 0x40; i < size; i++) b[i] = i & 0xff;
  return b;
}

test('kernel images: a raw Image is used as is; gzip and EFI zboot are decompressed to one', (t) => {
  const img = fakeImage();
  t.deepEqual(kernelFormat(img), { kind: 'image', textOffset: 0x200000, imageSize: 4096 * 4, efiStub: true });
  t.is(loadableKernel(img), undefined);
  t.deepEqual(loadableKernel(gzipSync(img)), img);
  const payload = gzipSync(img);
  const zboot = Buffer.alloc(0x40 + payload.length);
  zboot.write('MZ\0\0zimg', 0, 'latin1');
  zboot.writeUInt32LE(0x40, 0x08);
  zboot.writeUInt32LE(payload.length, 0x0c);
  zboot.write('gzip\0', 0x18, 'latin1');
  payload.copy(zboot, 0x40);
  t.like(kernelFormat(zboot), { kind: 'zboot', compression: 'gzip', payloadOffset: 0x40 });
  t.deepEqual(loadableKernel(zboot), img);
  t.deepEqual(linuxImageInfo(loadableKernel(zboot)!), { imageSize: 4096 * 4 }, "tsemu's loader takes the result");
  t.throws(() => loadableKernel(Buffer.alloc(256, 1)), { message: /neither a RISC-V Linux Image nor an ELF/ });
});

function uidPacket(text: string, newFormat: boolean): Buffer {
  const body = Buffer.from(text);
  return Buffer.concat([Buffer.from(newFormat ? [0xc0 | 13, body.length] : [0x80 | (13 << 2), body.length]), body]);
}

function keyring(...uids: string[]): Buffer {
  const key = Buffer.alloc(300, 0x42); // a stand-in public key packet (tag 6, 2-byte length)
  return Buffer.concat([Buffer.from([0x80 | (6 << 2) | 1, 0x01, 0x2c]), key, ...uids.map((u, i) => uidPacket(u, i % 2 === 1))]);
}

test('keyrings: user IDs of binary and armored keyrings; trixie keys looked for where Debian puts them', (t) => {
  const bookworm = 'Debian Archive Automatic Signing Key (12/bookworm) <ftpmaster@debian.org>';
  const trixie = 'Debian Stable Release Key (13/trixie) <debian-release@lists.debian.org>';
  t.deepEqual(keyringUserIds(keyring(bookworm, trixie)), [bookworm, trixie]);
  const armored = `-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n${keyring(trixie).toString('base64').replace(/(.{64})/g, '$1\n')}\n=AbCd\n-----END PGP PUBLIC KEY BLOCK-----\n`;
  t.deepEqual(keyringUserIds(Buffer.from(armored)), [trixie]);

  const dir = tempDir(t);
  const share = join(dir, 'share');
  const trusted = join(dir, 'trusted');
  mkdirSync(share);
  mkdirSync(trusted);
  writeFileSync(join(share, 'debian-archive-keyring.gpg'), keyring(bookworm));
  t.throws(() => chooseKeyring('trixie', undefined, { share, trusted }), { instanceOf: GuestError, message: /no keyring on this host holds Debian trixie's archive keys.*--keyring FILE/ });
  writeFileSync(join(trusted, 'debian-archive-trixie-stable.asc'), armored);
  t.deepEqual(chooseKeyring('trixie', undefined, { share, trusted }).files, [join(trusted, 'debian-archive-trixie-stable.asc')]);
  writeFileSync(join(share, 'debian-archive-trixie-automatic.gpg'), keyring(trixie));
  t.deepEqual(chooseKeyring('trixie', undefined, { share, trusted }).files, [join(share, 'debian-archive-trixie-automatic.gpg')]);
  writeFileSync(join(share, 'debian-archive-keyring.gpg'), keyring(bookworm, trixie));
  t.deepEqual(chooseKeyring('trixie', undefined, { share, trusted }).files, [join(share, 'debian-archive-keyring.gpg')]);
  t.throws(() => chooseKeyring('trixie', join(dir, 'absent.gpg')), { message: /does not exist/ });
});

test('apt helpers: versioned kernel dependency, deb file names, failure lines', (t) => {
  t.is(versionedKernelPackage('linux-image-6.12.117+deb13-riscv64 (= 6.12.117-1)'), 'linux-image-6.12.117+deb13-riscv64');
  t.is(versionedKernelPackage('initramfs-tools | linux-initramfs-tool, linux-image-6.1.0-9-riscv64 (= 6.1.27-1)'), 'linux-image-6.1.0-9-riscv64');
  t.is(versionedKernelPackage('linux-image-riscv64-signed'), undefined);
  t.is(debFileName('busybox-static', '1:1.37.0-6+b9', 'riscv64'), 'busybox-static_1%3a1.37.0-6+b9_riscv64.deb');
  const r = (stderr: string) => ({ code: 100, stdout: '', stderr });
  t.is(
    aptFailure('update', r("W: Some index files failed to download.\nE: Failed to fetch http://m/debian/dists/trixie/InRelease  Could not resolve 'm'\nE: The repository 'http://m/debian trixie InRelease' is not signed.\n"), 'k'),
    "update: Failed to fetch http://m/debian/dists/trixie/InRelease Could not resolve 'm'",
  );
  t.regex(aptFailure('update', r('W: GPG error: http://m/debian trixie InRelease: NO_PUBKEY 6ED0E7B82643E131\nE: The repository is not signed.\n'), 'K'), /^update: signature check failed with keyring K: GPG error: .*NO_PUBKEY.*--keyring FILE/);
});

test('cache root: TSEMU_CACHE, then XDG_CACHE_HOME, then ~/.cache', (t) => {
  t.is(cacheRoot({ TSEMU_CACHE: '/c/t', XDG_CACHE_HOME: '/x', HOME: '/h' }), '/c/t');
  t.is(cacheRoot({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/tsemu');
  t.is(cacheRoot({ XDG_CACHE_HOME: 'relative', HOME: '/h' }), '/h/.cache/tsemu');
  t.is(cacheRoot({ HOME: '/h' }), '/h/.cache/tsemu');
  t.is(guestPaths('/c').manifest, '/c/guest/manifest.json');
});

// ---------------------------------------------------------------------------------------
// command line

test('tsemu guest: help, unknown commands and options, nothing fetched yet', async (t) => {
  const help = await cli(t, ['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: tsemu guest boot/);
  t.regex(help.stdout, /tsemu guest fetch/);
  t.regex(await oneLineError(t, []), /name a command/);
  t.regex(await oneLineError(t, ['frobnicate']), /unknown command 'frobnicate'/);
  t.regex(await oneLineError(t, ['fetch', '--bogus']), /^tsemu guest fetch: unknown option '--bogus'/);
  t.regex(await oneLineError(t, ['fetch', '--mirror', 'ftp://x.example/debian', '--cache', tempDir(t)]), /not an http or https URL/);
  t.regex(await oneLineError(t, ['initramfs', '--cache', tempDir(t)]), /nothing fetched .* run 'tsemu guest fetch' first/);
});

test('tsemu guest fetch from a mirror that does not answer: one line, status 1', async (t) => {
  t.timeout(60_000);
  // port 9 (discard) on loopback: refused at once, no network needed
  const line = await oneLineError(t, ['fetch', '-q', '--mirror', 'http://127.0.0.1:9/debian', '--cache', tempDir(t)]);
  t.regex(line, /^tsemu guest fetch: apt-get update from http:\/\/127\.0\.0\.1:9\/debian failed: .*(Could not connect|Failed to fetch)/);
});

// ---------------------------------------------------------------------------------------
// end to end: the real packages, through the host's apt

let fixture: Promise<FetchResult> | undefined;
/** One fetch per run into test/fixtures/cache/ (gitignored), kept between runs. */
function fetchedGuest(): Promise<FetchResult> {
  return (fixture ??= fetchGuest({ cache: FIXTURE_CACHE }));
}

test('fetch: Debian trixie riscv64 kernel, modules, busybox and OpenSBI, in a manifest the emulator can use', async (t) => {
  t.timeout(300_000, 'a cold cache downloads ~115 MB and indexes 3000 modules');
  const { manifest: m, manifestPath } = await fetchedGuest();
  t.deepEqual(readValidManifest(guestPaths(FIXTURE_CACHE)), JSON.parse(readFileSync(manifestPath, 'utf8')));
  t.is(m.suite, 'trixie');
  t.regex(m.kernelRelease, /^6\.12\.\S+-riscv64$/);
  t.deepEqual(m.packages.map((p) => p.package), ['linux-image-riscv64', `linux-image-${m.kernelRelease}`, 'busybox-static', 'opensbi']);
  for (const p of m.packages) t.true(existsSync(p.deb), p.deb);

  // the kernel: what tsemu's loader accepts as a flat Image (Debian ships it uncompressed)
  const kernel = readFileSync(m.kernel);
  const info = linuxImageInfo(kernel);
  t.truthy(info && info !== 'compressed', `${m.kernel}: ${m.kernelFormat}`);
  t.like(kernelFormat(kernel), { kind: 'image', textOffset: 0x200000 });
  t.true(typeof info === 'object' && info.imageSize >= kernel.length);

  // OpenSBI fw_dynamic for the generic platform, and busybox as a static riscv64 ELF
  t.true(m.firmware.endsWith('/opensbi/generic/fw_dynamic.bin'));
  t.true(readFileSync(m.firmware).length > 64 * 1024);
  const bb = readFileSync(m.busybox);
  t.is(bb.toString('latin1', 0, 4), '\x7fELF');
  t.is(bb.readUInt16LE(18), 243, 'EM_RISCV');

  // modules.dep written from the modules themselves; a real module's .modinfo read
  const db = loadModuleDb(m.modulesDir);
  t.true(db.modules.size > 1000);
  t.deepEqual([...db.modules.get('ext4')!.deps].sort(), ['crc16', 'jbd2', 'mbcache']);
  t.true(db.builtin.has('virtio_pci'));
  const ext4 = readModinfo(await readModuleFile(join(m.modulesDir, db.modules.get('ext4')!.path)));
  t.true(ext4.some(([k, v]) => k === 'vermagic' && v.startsWith(`${m.kernelRelease} `)));

  // a second fetch has nothing to do and needs no network
  const again = await fetchGuest({ cache: FIXTURE_CACHE });
  t.false(again.changed);
  const r = await cli(t, ['fetch', '--cache', FIXTURE_CACHE]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /already fetched: nothing to do/);
  t.regex(r.stdout, /^kernel +\S+\/boot\/vmlinux-/m);
});

test('initramfs from the fetched packages: busybox, /init, devices, the default modules decompressed in order', async (t) => {
  t.timeout(300_000);
  const { manifest: m } = await fetchedGuest();
  const out = join(tempDir(t), 'initramfs.cpio.gz');
  const r = await buildInitramfs(m, { output: out });
  t.deepEqual(r.builtin, ['virtio_pci']);
  const names = r.load.map((x) => x.name);
  t.deepEqual([...names].sort(), ['crc16', 'crc32c_generic', 'ext4', 'failover', 'jbd2', 'mbcache', 'net_failover', 'virtio_blk', 'virtio_net']);
  t.true(names.indexOf('crc32c_generic') < names.indexOf('ext4'), "ext4's softdep pre: crypto-crc32c");
  t.true(names.indexOf('failover') < names.indexOf('net_failover') && names.indexOf('net_failover') < names.indexOf('virtio_net'));

  const members = new Map(readNewc(readFileSync(out)).map((x) => [x.name, x]));
  const init = members.get('init')!;
  t.is(init.mode, S_IFREG | 0o755);
  t.regex(Buffer.from(init.data).toString(), /setsid cttyhack sh/);
  t.is(members.get('bin/busybox')!.mode, S_IFREG | 0o755);
  t.deepEqual(Buffer.from(members.get('bin/busybox')!.data), readFileSync(m.busybox));
  t.is(Buffer.from(members.get('bin/sh')!.data).toString(), 'busybox');
  t.like(members.get('dev/console'), { mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 });
  t.like(members.get('dev/null'), { mode: S_IFCHR | 0o666, rdevMajor: 1, rdevMinor: 3 });
  const kdir = `lib/modules/${m.kernelRelease}`;
  const order = Buffer.from(members.get('etc/tsemu/modules')!.data).toString().trim().split('\n');
  t.is(order.length, names.length);
  for (const [i, path] of order.entries()) {
    t.true(path.startsWith(`/${kdir}/kernel/`), path);
    t.is(path.slice(path.lastIndexOf('/') + 1).replace(/-/g, '_'), `${names[i]}.ko`);
    const ko = members.get(path.slice(1))!;
    t.is(Buffer.from(ko.data).toString('latin1', 0, 4), '\x7fELF', `${path} is decompressed`);
  }
  t.regex(Buffer.from(members.get(`${kdir}/modules.dep`)!.data).toString(), /^kernel\/fs\/ext4\/ext4\.ko: /m);

  // the command line: extra modules, a custom init, an unknown module
  const dir = tempDir(t);
  const custom = join(dir, 'my-init');
  writeFileSync(custom, '#!/bin/sh\nexec sh\n');
  const c = await cli(t, ['initramfs', '--cache', FIXTURE_CACHE, '--modules', '+virtio_mmio', '--init', custom, '--output', join(dir, 'x.cpio.gz')]);
  t.is(c.code, 0, c.stderr);
  t.is(c.stdout.trim(), join(dir, 'x.cpio.gz'));
  const xm = new Map(readNewc(readFileSync(join(dir, 'x.cpio.gz'))).map((x) => [x.name, x]));
  t.is(Buffer.from(xm.get('init')!.data).toString(), '#!/bin/sh\nexec sh\n');
  t.truthy(xm.get(`${kdir}/kernel/drivers/virtio/virtio_mmio.ko`));
  t.regex(await oneLineError(t, ['initramfs', '--cache', FIXTURE_CACHE, '--modules', 'no_such_module', '--output', join(dir, 'y.cpio.gz')]), /no kernel module or built-in named 'no_such_module'/);
});

test('ensureDefaultVm: the files npm start boots, built once', async (t) => {
  t.timeout(300_000);
  await fetchedGuest();
  const vm = await ensureDefaultVm({ cache: FIXTURE_CACHE });
  for (const f of [vm.firmware, vm.kernel, vm.initrd]) t.true(existsSync(f), f);
  t.is(vm.initrd, guestPaths(FIXTURE_CACHE).defaultInitramfs);
  t.is(vm.append, 'console=ttyS0');
  t.deepEqual(vm.modules, ['virtio_blk', 'failover', 'net_failover', 'virtio_net', 'crc32c_generic', 'jbd2', 'mbcache', 'crc16', 'ext4']);
  const before = statSync(vm.initrd).mtimeMs;
  const again = await ensureDefaultVm({ cache: FIXTURE_CACHE });
  t.is(statSync(again.initrd).mtimeMs, before, 'not rebuilt when nothing changed');
});

test('the initramfs boots Debian\'s kernel under qemu-system-riscv64 and loads its modules', async (t) => {
  if (!hasTool('qemu-system-riscv64')) {
    t.log('qemu-system-riscv64 not installed (qemu-system-misc): skipped');
    t.pass();
    return;
  }
  t.timeout(300_000);
  const { manifest: m } = await fetchedGuest();
  const dir = tempDir(t);
  const initrd = join(dir, 'initramfs.cpio.gz');
  await buildInitramfs(m, { output: initrd });
  const disk = join(dir, 'disk.raw');
  writeFileSync(disk, Buffer.alloc(1 << 20));
  const q = spawnChild(
    t,
    [
      '-M', 'virt', '-m', '512M', '-smp', '2', '-nographic', '-no-reboot',
      '-bios', m.firmware, '-kernel', m.kernel, '-initrd', initrd, '-append', 'console=ttyS0',
      '-drive', `file=${disk},if=none,format=raw,id=d0`, '-device', 'virtio-blk-pci,drive=d0',
      '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
    ],
    { command: 'qemu-system-riscv64' },
  );
  let console_ = '';
  q.child.stdout!.setEncoding('utf8').on('data', (s: string) => (console_ += s));
  const until = (re: RegExp, ms: number, what: string) => waitFor(() => re.test(console_), ms, `${what}; console so far:\n${console_.slice(-3000)}`);
  await until(new RegExp(`${BANNER}: Linux ${escapeRe(m.kernelRelease)} riscv64`), 240_000, 'the banner');
  q.child.stdin!.write('lsmod; ls /sys/block /sys/class/net; grep ext4 /proc/filesystems; echo END-OF-CHECKS\n');
  await until(/^END-OF-CHECKS\r?$/m, 60_000, 'the shell');
  for (const mod of ['ext4', 'jbd2', 'virtio_blk', 'virtio_net', 'net_failover']) t.regex(console_, new RegExp(`^${mod} +\\d+`, 'm'), `${mod} loaded`);
  t.regex(console_, /\bvda\b/, 'virtio-blk disk seen');
  t.regex(console_, /\beth0\b/, 'virtio-net interface seen');
  t.regex(console_, /^\s*ext4\r?$/m);
  t.notRegex(console_, /init: insmod .* failed/);
  q.child.stdin!.write('exit\n');
  const end = await q.exited;
  t.is(end.code, 0, 'exit powers the machine off');
});
