/**
 * What each QMP command does, over the machine link. Replies and errors have QEMU's
 * shapes (qapi/*.json); the HMP commands live in hmp.ts and come in through
 * human-monitor-command.
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import type { Json } from './json.js';
import { toJson } from './json.js';
import { COMMANDS, introspect } from './schema.js';
import type { MachineLink } from './machine-link.js';
import { Hmp } from './hmp.js';
import { version } from '../common/version.js';

/** A QMP error: its class (GenericError, CommandNotFound, ...) and description. */
export class QmpError extends Error {
  constructor(
    readonly errorClass: string,
    desc: string,
  ) {
    super(desc);
  }
}

export function versionInfo(): { qemu: { major: number; minor: number; micro: number }; package: string } {
  const [major = 0, minor = 0, micro = 0] = version().split('.').map((x) => Number.parseInt(x, 10) || 0);
  return { qemu: { major, minor, micro }, package: `tsemu ${version()}` };
}

export interface CommandContext {
  link: MachineLink;
  /** The session's HMP state (x/xp formats, current CPU). */
  hmp: Hmp;
}

type Args = Record<string, Json>;

const asNumber = (v: Json | undefined): number => (typeof v === 'bigint' ? Number(v) : (v as number));

async function saveMemory(ctx: CommandContext, args: Args, physical: boolean): Promise<Json> {
  const addr = BigInt(args.val as number | bigint);
  const size = BigInt(args.size as number | bigint);
  const hart = args['cpu-index'] === undefined ? ctx.hmp.cpu : asNumber(args['cpu-index']);
  const cpus = await ctx.link.status();
  if (hart < 0 || hart >= cpus.harts) throw new QmpError('GenericError', "Parameter 'cpu-index' expects a CPU number");
  const addrU = BigInt.asUintN(64, addr);
  if (size < 0n || addrU + size > 2n ** 64n) {
    throw new QmpError('GenericError', `Invalid addr 0x${addrU.toString(16)}/size ${size} specified`);
  }
  const filename = args.filename as string;
  let fd: number;
  try {
    fd = openSync(filename, 'w', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : (e as Error).message;
    throw new QmpError('GenericError', `Could not open '${filename}': ${why}`);
  }
  try {
    let done = 0n;
    while (done < size) {
      const n = Number(size - done > 1n << 20n ? 1n << 20n : size - done);
      const data = await ctx.link.readMemory(addrU + done, n, physical, hart);
      // QEMU writes what it cannot read as zeros (cpu_physical_memory_read of unassigned memory)
      const block = new Uint8Array(n);
      block.set(data);
      writeSync(fd, block);
      done += BigInt(n);
    }
  } finally {
    closeSync(fd);
  }
  return {};
}

export async function runCommand(ctx: CommandContext, name: string, args: Args): Promise<Json> {
  const link = ctx.link;
  switch (name) {
    case 'query-version':
      return versionInfo();
    case 'query-commands':
      return Object.keys(COMMANDS).map((n) => ({ name: n }));
    case 'query-qmp-schema':
      return introspect();
    case 'query-status': {
      const s = await link.status();
      return { status: s.state, singlestep: false, running: s.running };
    }
    case 'query-name': {
      const s = await link.status();
      return s.name ? { name: s.name } : {};
    }
    case 'query-uuid':
      return { UUID: '00000000-0000-0000-0000-000000000000' };
    case 'query-target':
      return { arch: 'riscv64' };
    case 'query-kvm':
      return { enabled: false, present: false };
    case 'query-cpus-fast': {
      const r = await link.cpus();
      return r.cpus.map((c) => ({
        'thread-id': c.threadId,
        props: { 'core-id': c.cpuIndex },
        'qom-path': c.qomPath,
        'cpu-index': c.cpuIndex,
        target: 'riscv64',
      }));
    }
    case 'stop':
      await link.control('stop');
      return {};
    case 'cont':
      await link.control('cont');
      return {};
    case 'system_reset':
      await link.control('systemReset');
      return {};
    case 'system_powerdown':
      await link.control('systemPowerdown');
      return {};
    case 'quit':
      await link.control('quit', 'host-qmp-quit');
      return {};
    case 'query-block':
    case 'query-blockstats':
    case 'query-named-block-nodes':
    case 'block_resize':
    case 'blockdev-snapshot-internal-sync':
    case 'blockdev-snapshot-delete-internal-sync': {
      const r = await link.block(name, JSON.parse(toJson(args)));
      if (r.errorClass) throw new QmpError(r.errorClass, r.errorDesc);
      return JSON.parse(r.returnJson) as Json;
    }
    case 'memsave':
      return saveMemory(ctx, args, false);
    case 'pmemsave':
      return saveMemory(ctx, args, true);
    case 'human-monitor-command': {
      const cpu = args['cpu-index'];
      if (cpu !== undefined) {
        const s = await link.status();
        const n = asNumber(cpu);
        if (n < 0 || n >= s.harts) throw new QmpError('GenericError', "Parameter 'cpu-index' expects a CPU number");
        const saved = ctx.hmp.cpu;
        ctx.hmp.cpu = n;
        try {
          return await ctx.hmp.run(args['command-line'] as string);
        } finally {
          ctx.hmp.cpu = saved;
        }
      }
      return ctx.hmp.run(args['command-line'] as string);
    }
    default:
      throw new QmpError('CommandNotFound', `The command ${name} has not been found`);
  }
}
