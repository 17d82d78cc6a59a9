/**
 * `tsemu guest fetch`: Debian's riscv64 kernel, modules, busybox and OpenSBI, fetched by
 * the host's own apt into a private apt tree, unpacked with dpkg-deb, and described by a
 * manifest of the paths a VM needs.
 *
 * The private tree (<cache>/guest/apt/) has its own sources.list
 * (`deb [arch=riscv64 signed-by=KEYRING] MIRROR trixie main`), lists/, archives/, an empty
 * dpkg status and an apt.conf passed with `apt-get -c`, so the host's package state is
 * neither read nor touched, and anyone can re-run the same commands by hand:
 *
 *   apt-get -c <cache>/guest/apt/apt.conf update
 *   apt-get -c <cache>/guest/apt/apt.conf download PACKAGE...
 *
 * That apt.conf keeps the host's apt.conf.d (proxies, auth) but clears its update hooks
 * (they refresh the host's PackageKit/AppStream caches, which are not ours). Signatures
 * are verified as always: the keyring must hold trixie's keys (keyring.ts). Run as root,
 * apt's downloads would drop to the `_apt` user, who cannot enter a cache under /root;
 * there the tree says `APT::Sandbox::User "root"`, which is what apt falls back to anyway
 * after a warning.
 *
 * Idempotent: a valid manifest whose files are all present means nothing to do (no
 * network); otherwise debs already in archives/ with the index's SHA256 are kept, and a
 * package directory whose stamp names the same deb is not unpacked again.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseKeyring } from './keyring.js';
import { describeKernelFormat, kernelFormat, loadableKernel } from './kernel-image.js';
import { normalizeMirror, resolveMirror } from './mirror.js';
import { writeModulesIndex } from './modules.js';
import { GuestError, guestPaths, type GuestPaths } from './paths.js';

export const SUITE = 'trixie';
export const ARCH = 'riscv64';
/** The meta-package; its Depends names the versioned kernel package. */
export const KERNEL_META = 'linux-image-riscv64';
export const BUSYBOX_PACKAGE = 'busybox-static';
export const OPENSBI_PACKAGE = 'opensbi';
export const OPENSBI_FW_DYNAMIC = 'usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const MANIFEST_VERSION = 1;

export interface PackageRecord {
  package: string;
  version: string;
  architecture: string;
  /** the deb under archives/ */
  deb: string;
  size: number;
  sha256: string;
  /** where it is unpacked */
  root: string;
}

export interface GuestManifest {
  version: number;
  suite: string;
  arch: string;
  mirror: string;
  keyring: string[];
  fetched: string;
  kernelRelease: string;
  /** what to give -kernel: a RISC-V Linux Image (or ELF) the emulator loads as is */
  kernel: string;
  kernelFormat: string;
  /** the file in the package the kernel came from */
  kernelPackageFile: string;
  /** <modules dir> with modules.dep, .alias, .softdep, .builtin */
  modulesDir: string;
  busybox: string;
  /** OpenSBI fw_dynamic for the generic platform: what to give -bios */
  firmware: string;
  firmwareElf?: string;
  packages: PackageRecord[];
}

export interface FetchOptions {
  cache?: string;
  mirror?: string;
  keyring?: string;
  /** run apt-get update and re-check versions even when the manifest is complete */
  refresh?: boolean;
  /** where the host's apt configuration lives (tests point this at samples) */
  etcApt?: string;
  progress?: (msg: string) => void;
}

export interface FetchResult {
  manifest: GuestManifest;
  manifestPath: string;
  /** false when everything was already there */
  changed: boolean;
  downloadedBytes: number;
}

/** The manifest, if present and every file it names still exists. */
export function readValidManifest(paths: GuestPaths): GuestManifest | undefined {
  let m: GuestManifest;
  try {
    m = JSON.parse(readFileSync(paths.manifest, 'utf8')) as GuestManifest;
  } catch {
    return undefined;
  }
  if (m.version !== MANIFEST_VERSION || m.suite !== SUITE || m.arch !== ARCH) return undefined;
  const files = [m.kernel, m.busybox, m.firmware, join(m.modulesDir, 'modules.dep'), join(m.modulesDir, 'modules.builtin')];
  if (!files.every((f) => typeof f === 'string' && existsSync(f))) return undefined;
  for (const p of m.packages ?? []) if (!existsSync(join(p.root, '.tsemu-unpacked'))) return undefined;
  return m;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // messages are parsed: keep them in English
      env: { ...process.env, LC_ALL: 'C', LANGUAGE: '', DEBIAN_FRONTEND: 'noninteractive' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new GuestError(e.code === 'ENOENT' ? `'${cmd}' is not installed` : `cannot run ${cmd}: ${e.message}`)),
    );
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * The one line that says why apt failed: a GPG complaint first (with what to do about
 * it), then apt's first error, then its first warning.
 */
export function aptFailure(what: string, r: RunResult, keyringNote: string): string {
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim());
  const clean = (l: string) => l.replace(/^[EW]: /, '').replace(/\s+/g, ' ');
  const gpg = lines.find((l) => /^[EW]: /.test(l) && /GPG error|NO_PUBKEY|EXPKEYSIG|REVKEYSIG|BADSIG|couldn't be verified|Conflicting values set for option Signed-By/.test(l));
  if (gpg) {
    return `${what}: signature check failed with keyring ${keyringNote}: ${clean(gpg)} (install a debian-archive-keyring with ${SUITE}'s keys or give one with --keyring FILE; tsemu never skips verification)`;
  }
  const generic = /^E: (Some index files failed to download|Failed to download some files|Unable to fetch some archives)/;
  const err = lines.find((l) => l.startsWith('E: ') && !generic.test(l));
  const warn = lines.find((l) => l.startsWith('W: ') && !/unsandboxed/.test(l));
  const any = err ?? warn ?? lines.find((l) => l.startsWith('E: ')) ?? lines.filter(Boolean).pop() ?? `exit status ${r.code}`;
  return `${what}: ${clean(any)}`;
}

function aptConf(paths: GuestPaths, root: boolean): string {
  const q = (s: string) => `"${s.replace(/"/g, '\\"')}"`;
  return [
    '// The private apt tree of `tsemu guest fetch` (written by tsemu; safe to delete).',
    '// Host apt.conf.d is still read before this file: proxies and auth keep working.',
    '#clear APT::Update::Pre-Invoke;',
    '#clear APT::Update::Post-Invoke;',
    '#clear APT::Update::Post-Invoke-Success;',
    `Dir::State ${q(paths.apt)};`,
    `Dir::State::Lists ${q(paths.lists)};`,
    `Dir::State::status ${q(join(paths.apt, 'status'))};`,
    `Dir::State::extended_states ${q(join(paths.apt, 'extended_states'))};`,
    `Dir::Cache ${q(join(paths.apt, 'cache'))};`,
    `Dir::Cache::archives ${q(paths.archives)};`,
    `Dir::Etc::SourceList ${q(paths.sourcesList)};`,
    `Dir::Etc::SourceParts ${q(join(paths.apt, 'sources.list.d'))};`,
    `Dir::Etc::Preferences ${q(join(paths.apt, 'preferences'))};`,
    `Dir::Etc::PreferencesParts ${q(join(paths.apt, 'preferences.d'))};`,
    `APT::Architecture "${ARCH}";`,
    `#clear APT::Architectures;`,
    `APT::Architectures { "${ARCH}"; };`,
    'Acquire::Languages "none";',
    ...(root ? ['// as root: _apt cannot enter a cache under /root; apt would fall back to root with a warning', 'APT::Sandbox::User "root";'] : []),
    '',
  ].join('\n');
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Fields of the candidate version of each package, from `apt-cache show --no-all-versions`. */
function parseControlStanzas(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const rec: Record<string, string> = {};
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (/^\s/.test(line) && last) rec[last] += `\n${line.trim()}`;
      else {
        const c = line.indexOf(':');
        if (c > 0) rec[(last = line.slice(0, c))] = line.slice(c + 1).trim();
      }
    }
    if (rec.Package && !out.has(rec.Package)) out.set(rec.Package, rec);
  }
  return out;
}

/** The versioned kernel package a linux-image-riscv64 stanza depends on. */
export function versionedKernelPackage(depends: string | undefined): string | undefined {
  for (const alt of (depends ?? '').split(/[,|]/)) {
    const name = alt.trim().split(/\s|\(/)[0] ?? '';
    if (/^linux-image-\d\S*-riscv64$/.test(name)) return name;
  }
  return undefined;
}

/** apt-get download names debs PACKAGE_VERSION_ARCH.deb with the epoch's ':' as %3a. */
export function debFileName(pkg: string, version: string, arch: string): string {
  return `${pkg}_${version.replace(/:/g, '%3a')}_${arch}.deb`;
}

export async function fetchGuest(opts: FetchOptions = {}): Promise<FetchResult> {
  const paths = guestPaths(opts.cache);
  if (!opts.refresh) {
    const m = readValidManifest(paths);
    if (m && (opts.mirror === undefined || normalizeMirror(opts.mirror) === m.mirror)) {
      return { manifest: m, manifestPath: paths.manifest, changed: false, downloadedBytes: 0 };
    }
  }
  // one fetch at a time per cache: two processes (or test files) may ask at once
  const release = await lockCache(paths.root, opts.progress);
  try {
    return await fetchGuestLocked(opts, paths);
  } finally {
    release();
  }
}

/**
 * A lock directory in the cache holding the owner's pid; a lock whose owner is gone is
 * taken over. Waits up to 15 minutes for a live owner (a cold fetch takes a minute or two).
 */
async function lockCache(root: string, progress?: (m: string) => void): Promise<() => void> {
  const { mkdirSync: mk, writeFileSync: wr, readFileSync: rd, rmSync: rm } = await import('node:fs');
  mk(root, { recursive: true });
  const dir = join(root, '.fetch-lock');
  const deadline = Date.now() + 15 * 60_000;
  let told = false;
  for (;;) {
    try {
      mk(dir);
      wr(join(dir, 'pid'), String(process.pid));
      return () => rm(dir, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = 0;
    try {
      owner = Number(rd(join(dir, 'pid'), 'utf8'));
    } catch {
      // the owner is between mkdir and writing its pid
    }
    let alive = true;
    if (owner > 0) {
      try {
        process.kill(owner, 0);
      } catch {
        alive = false;
      }
    }
    if (!alive) {
      rm(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new GuestError(`the guest cache ${root} stayed locked by pid ${owner}`);
    if (!told) {
      progress?.(`waiting for another fetch into ${root} (pid ${owner})`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function fetchGuestLocked(opts: FetchOptions, paths: ReturnType<typeof guestPaths>): Promise<FetchResult> {
  const say = opts.progress ?? (() => {});
  if (!opts.refresh) {
    const m = readValidManifest(paths);
    if (m && (opts.mirror === undefined || normalizeMirror(opts.mirror) === m.mirror)) {
      return { manifest: m, manifestPath: paths.manifest, changed: false, downloadedBytes: 0 };
    }
  }

  const mirror = resolveMirror(opts.mirror, opts.etcApt);
  const keyring = chooseKeyring(SUITE, opts.keyring);
  for (const d of [paths.lists, join(paths.lists, 'partial'), paths.archives, join(paths.archives, 'partial'), join(paths.apt, 'cache'), join(paths.apt, 'sources.list.d'), join(paths.apt, 'preferences.d'), paths.pkgs]) {
    mkdirSync(d, { recursive: true });
  }
  if (!existsSync(join(paths.apt, 'status'))) writeFileSync(join(paths.apt, 'status'), '');
  const isRoot = process.getuid?.() === 0;
  writeFileSync(paths.aptConf, aptConf(paths, isRoot));
  const source = `deb [arch=${ARCH} signed-by=${keyring.files.join(',')}] ${mirror.uri} ${SUITE} main\n`;
  writeFileSync(paths.sourcesList, `# written by tsemu guest fetch; mirror from ${mirror.origin}\n${source}`);

  const apt = (tool: string, args: string[], cwd?: string) => run(tool, ['-c', paths.aptConf, ...args], { cwd });

  say(`apt-get update: ${mirror.uri} ${SUITE} main (${ARCH}), mirror from ${mirror.origin}, keyring ${keyring.note}`);
  const upd = await apt('apt-get', ['-q', '--error-on=any', 'update']);
  if (upd.code !== 0) throw new GuestError(aptFailure(`apt-get update from ${mirror.uri} failed`, upd, keyring.note));

  const show = async (pkgs: string[]) => {
    const r = await apt('apt-cache', ['show', '--no-all-versions', ...pkgs]);
    const recs = parseControlStanzas(r.stdout);
    const missing = pkgs.filter((p) => !recs.has(p));
    if (r.code !== 0 || missing.length) {
      throw new GuestError(`package ${missing.join(', ') || pkgs.join(', ')} not found in ${mirror.uri} ${SUITE} main for ${ARCH}${r.code !== 0 ? ` (${aptFailure('apt-cache', r, keyring.note).replace(/^apt-cache: /, '')})` : ''}`);
    }
    return recs;
  };
  const meta = (await show([KERNEL_META])).get(KERNEL_META)!;
  const kernelPkg = versionedKernelPackage(meta.Depends);
  if (!kernelPkg) throw new GuestError(`${KERNEL_META} ${meta.Version} depends on no linux-image-*-riscv64 package (Depends: ${meta.Depends ?? 'none'})`);
  const wanted = [KERNEL_META, kernelPkg, BUSYBOX_PACKAGE, OPENSBI_PACKAGE];
  const recs = await show(wanted);

  const records: PackageRecord[] = wanted.map((p) => {
    const r = recs.get(p)!;
    return {
      package: p,
      version: r.Version ?? '',
      architecture: r.Architecture ?? ARCH,
      deb: join(paths.archives, debFileName(p, r.Version ?? '', r.Architecture ?? ARCH)),
      size: Number(r.Size ?? 0),
      sha256: (r.SHA256 ?? '').toLowerCase(),
      root: join(paths.pkgs, p),
    };
  });

  const valid = async (rec: PackageRecord) => existsSync(rec.deb) && statSync(rec.deb).size === rec.size && (!rec.sha256 || (await sha256File(rec.deb)) === rec.sha256);
  const toGet: PackageRecord[] = [];
  for (const rec of records) if (!(await valid(rec))) toGet.push(rec);
  let downloadedBytes = 0;
  if (toGet.length) {
    const total = toGet.reduce((s, r) => s + r.size, 0);
    say(`apt-get download: ${toGet.map((r) => `${r.package} ${r.version}`).join(', ')} (${(total / 1e6).toFixed(1)} MB)`);
    for (const rec of toGet) rmSync(rec.deb, { force: true });
    const dl = await apt('apt-get', ['-q', 'download', ...toGet.map((r) => `${r.package}=${r.version}`)], paths.archives);
    if (dl.code !== 0) throw new GuestError(aptFailure(`apt-get download from ${mirror.uri} failed`, dl, keyring.note));
    for (const rec of toGet) {
      if (!(await valid(rec))) throw new GuestError(`apt-get download did not leave a valid ${rec.deb} (size or SHA256 differs from the index)`);
    }
    downloadedBytes = total;
  } else {
    say('all packages already downloaded');
  }

  let unpackedAny = false;
  for (const rec of records) {
    const stamp = join(rec.root, '.tsemu-unpacked');
    const want = `${rec.package} ${rec.version} ${rec.sha256}\n`;
    if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) continue;
    say(`dpkg-deb -x ${rec.deb}`);
    const tmp = `${rec.root}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const x = await run('dpkg-deb', ['-x', rec.deb, tmp]);
    if (x.code !== 0) throw new GuestError(`dpkg-deb -x ${rec.deb} failed: ${(x.stderr.trim().split('\n')[0] ?? '').replace(/^dpkg-deb: (error: )?/, '')}`);
    writeFileSync(join(tmp, '.tsemu-unpacked'), want);
    rmSync(rec.root, { recursive: true, force: true });
    renameSync(tmp, rec.root);
    unpackedAny = true;
  }

  const kernelRoot = join(paths.pkgs, kernelPkg);
  const kernelRelease = kernelPkg.replace(/^linux-image-/, '');
  const modulesDir = [join(kernelRoot, 'usr/lib/modules', kernelRelease), join(kernelRoot, 'lib/modules', kernelRelease)].find((d) => existsSync(d));
  if (!modulesDir) throw new GuestError(`${kernelPkg} has no /usr/lib/modules/${kernelRelease}`);
  const bootFile = ['vmlinux', 'vmlinuz', 'Image'].map((n) => join(kernelRoot, 'boot', `${n}-${kernelRelease}`)).find((p) => existsSync(p));
  if (!bootFile) throw new GuestError(`${kernelPkg} has no /boot/vmlinux-${kernelRelease} or /boot/vmlinuz-${kernelRelease}`);
  const kbytes = readFileSync(bootFile);
  const fmt = kernelFormat(kbytes);
  let kernel = bootFile;
  let formatText = describeKernelFormat(fmt);
  let loadable: Buffer | undefined;
  try {
    loadable = loadableKernel(kbytes, bootFile);
  } catch (e) {
    throw new GuestError((e as Error).message);
  }
  if (loadable) {
    mkdirSync(paths.kernel, { recursive: true });
    kernel = join(paths.kernel, `Image-${kernelRelease}`);
    writeFileSync(`${kernel}.tmp`, loadable);
    renameSync(`${kernel}.tmp`, kernel);
    formatText = `${formatText}, decompressed by tsemu to ${describeKernelFormat(kernelFormat(loadable))}`;
  }

  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    // Debian's package has no modules.dep (depmod writes it on install): write ours
    await writeModulesIndex(modulesDir, say);
  }

  const busybox = ['usr/bin/busybox', 'bin/busybox'].map((p) => join(paths.pkgs, BUSYBOX_PACKAGE, p)).find((p) => existsSync(p));
  if (!busybox) throw new GuestError(`${BUSYBOX_PACKAGE} has no /usr/bin/busybox`);
  const firmware = join(paths.pkgs, OPENSBI_PACKAGE, OPENSBI_FW_DYNAMIC);
  if (!existsSync(firmware)) throw new GuestError(`${OPENSBI_PACKAGE} has no /${OPENSBI_FW_DYNAMIC}`);
  const firmwareElf = firmware.replace(/\.bin$/, '.elf');

  const manifest: GuestManifest = {
    version: MANIFEST_VERSION,
    suite: SUITE,
    arch: ARCH,
    mirror: mirror.uri,
    keyring: keyring.files,
    fetched: new Date().toISOString(),
    kernelRelease,
    kernel,
    kernelFormat: formatText,
    kernelPackageFile: bootFile,
    modulesDir,
    busybox,
    firmware,
    ...(existsSync(firmwareElf) ? { firmwareElf } : {}),
    packages: records,
  };
  writeFileSync(`${paths.manifest}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${paths.manifest}.tmp`, paths.manifest);
  removeStalePackages(paths, records);
  return { manifest, manifestPath: paths.manifest, changed: downloadedBytes > 0 || unpackedAny, downloadedBytes };
}

/** Older versions' debs and package dirs (after a kernel update) are dropped. */
function removeStalePackages(paths: GuestPaths, records: PackageRecord[]): void {
  const debs = new Set(records.map((r) => r.deb.slice(r.deb.lastIndexOf('/') + 1)));
  const dirs = new Set(records.map((r) => r.package));
  for (const f of readdirSync(paths.archives)) if (f.endsWith('.deb') && !debs.has(f)) rmSync(join(paths.archives, f), { force: true });
  for (const d of readdirSync(paths.pkgs)) if (!dirs.has(d)) rmSync(join(paths.pkgs, d), { recursive: true, force: true });
}
