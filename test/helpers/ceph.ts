/**
 * A throwaway Ceph cluster for RBD tests, from Debian's ceph-mon / ceph-osd / ceph-common:
 * one monitor and one OSD (`osd objectstore = memstore`: its data lives in the OSD's memory
 * and is saved to its directory at a clean shutdown) on 127.0.0.1, cephx on, a pool `rbd`
 * of size 1. Everything is in one temp directory; stop() kills the daemons and removes it.
 * It comes up in a few seconds; tests of one file share one cluster.
 *
 * Two clients: client.admin (the conf file names its keyring) and client.tsemu with
 * `profile rbd` caps on the pool and its own keyring, as a user would give one to QEMU.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  try {
    const r = await exec(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 });
    return r.stdout;
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${x.stderr || x.stdout || x.message}`);
  }
}

const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;

function waitExit(p: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(p)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    p.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export class CephCluster {
  private mon?: ChildProcess;
  private osd?: ChildProcess;
  readonly pool = 'rbd';

  private constructor(
    readonly dir: string,
    readonly conf: string,
    readonly monPort: number,
  ) {}

  /** The keyring of client.tsemu (rbd profile on the pool only). */
  get userKeyring(): string {
    return join(this.dir, 'client.tsemu.keyring');
  }

  /** client.tsemu's secret (the base64 key, for `:key=`). */
  userKey(): string {
    return /key = (\S+)/.exec(readFileSync(this.userKeyring, 'utf8'))![1]!;
  }

  /** `rbd:rbd/IMAGE:conf=...` plus any `:opt=val` given; the admin client. */
  name(image: string, extra = ''): string {
    return `rbd:${this.pool}/${image}:conf=${this.conf}${extra}`;
  }

  rbd(args: string[], timeoutMs?: number): Promise<string> {
    return run('rbd', ['-c', this.conf, ...args], timeoutMs);
  }

  ceph(args: string[], timeoutMs?: number): Promise<string> {
    return run('ceph', ['-c', this.conf, ...args], timeoutMs);
  }

  /**
   * A daemon in the foreground, as a child that dies with this process even when it is
   * killed before stop() (an ava timeout): setpriv --pdeathsig, and a kill at exit.
   */
  private daemon(cmd: string, id: string): ChildProcess {
    const p = spawn('setpriv', ['--pdeathsig', 'KILL', cmd, '-c', this.conf, '-i', id, '-f'], { stdio: 'ignore' });
    p.on('error', () => {});
    const onExit = () => p.kill('SIGKILL');
    process.once('exit', onExit);
    p.once('exit', () => process.off('exit', onExit));
    return p;
  }

  static async start(): Promise<CephCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'tsemu-ceph-'));
    try {
      const c = new CephCluster(dir, join(dir, 'ceph.conf'), await freePort());
      await c.setUp();
      return c;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private async setUp(): Promise<void> {
    const d = this.dir;
    for (const sub of ['run', 'log', 'mon/ceph-a', 'osd/ceph-0']) mkdirSync(join(d, sub), { recursive: true });
    const fsid = randomUUID();
    writeFileSync(this.conf, `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${this.monPort}
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = ${d}/client.admin.keyring
run dir = ${d}/run
admin socket = ${d}/run/$name.$pid.asok
log file = ${d}/log/$name.log
pid file = ${d}/run/$name.pid
crash dir = ${d}/crash
mon data = ${d}/mon/$cluster-$id
osd data = ${d}/osd/$cluster-$id
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 8589934592
osd fast shutdown = false
client mount timeout = 20
[osd]
keyring = ${d}/osd/$cluster-$id/keyring
[mon]
keyring = ${d}/mon.keyring
`);
    const authtool = (args: string[]) => run('ceph-authtool', args);
    await authtool(['-C', join(d, 'mon.keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await authtool(['-C', join(d, 'client.admin.keyring'), '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']);
    await authtool([join(d, 'mon.keyring'), '--import-keyring', join(d, 'client.admin.keyring')]);
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${this.monPort}]`, join(d, 'monmap')]);
    await run('ceph-mon', ['-c', this.conf, '--mkfs', '-i', 'a', '--monmap', join(d, 'monmap'), '--keyring', join(d, 'mon.keyring')]);
    this.mon = this.daemon('ceph-mon', 'a');
    const osdUuid = randomUUID();
    await this.ceph(['osd', 'new', osdUuid]);
    await run('ceph-osd', ['-c', this.conf, '-i', '0', '--mkfs', '--mkkey', '--no-mon-config', '--osd-uuid', osdUuid]);
    await this.ceph(['auth', 'add', 'osd.0', 'osd', 'allow *', 'mon', 'allow profile osd', 'mgr', 'allow profile osd', '-i', join(d, 'osd/ceph-0/keyring')]);
    await this.startOsd();
    await this.ceph(['osd', 'pool', 'create', this.pool, '8']);
    await this.ceph(['osd', 'pool', 'set', this.pool, 'size', '1', '--yes-i-really-mean-it']);
    await this.rbd(['pool', 'init', this.pool]);
    await this.ceph(['auth', 'get-or-create', 'client.tsemu', 'mon', 'profile rbd', 'osd', `profile rbd pool=${this.pool}`, '-o', this.userKeyring]);
  }

  /** Starts the OSD and waits until the monitor sees it up. */
  async startOsd(): Promise<void> {
    this.osd = this.daemon('ceph-osd', '0');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const dump = JSON.parse(await this.ceph(['osd', 'dump', '--format=json'])) as { osds: { osd: number; up: number }[] };
      if (dump.osds.some((o) => o.osd === 0 && o.up === 1)) return;
      if (exited(this.osd)) throw new Error(`ceph-osd exited (${this.osd.exitCode ?? this.osd.signalCode}); see ${this.dir}/log/osd.0.log`);
      if (Date.now() > deadline) throw new Error('ceph-osd did not come up in 30 s');
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Stops the OSD cleanly (memstore saves its objects) and tells the monitor it is down. */
  async stopOsd(): Promise<void> {
    const p = this.osd;
    if (!p || exited(p)) return;
    p.kill('SIGTERM');
    if (!(await waitExit(p, 20_000))) {
      p.kill('SIGKILL');
      await waitExit(p, 5_000);
    }
    await this.ceph(['osd', 'down', '0']).catch(() => {});
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the OSD: requests to it hang until it thaws. */
  freezeOsd(frozen: boolean): void {
    this.osd?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Freezes or thaws the monitor. */
  freezeMon(frozen: boolean): void {
    this.mon?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  async stop(): Promise<void> {
    for (const p of [this.osd, this.mon]) {
      if (!p || exited(p)) continue;
      p.kill('SIGCONT');
      p.kill('SIGKILL');
      await waitExit(p, 5_000);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
