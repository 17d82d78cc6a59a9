/**
 * HMP, the human monitor: the commands an operator types at `(qemu)`, with QEMU's
 * output, over the same machine link QMP uses. Output lines end in "\r\n" as QEMU's do.
 * One Hmp per session: it remembers the last x/xp format and the current CPU.
 */
import type { MachineLink } from './machine-link.js';
import type { Registers } from '../../proto/gen/machine.js';
import { version } from '../common/version.js';

const ABI = ['zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6'];
const FABI = ['ft0', 'ft1', 'ft2', 'ft3', 'ft4', 'ft5', 'ft6', 'ft7', 'fs0', 'fs1', 'fa0', 'fa1', 'fa2', 'fa3', 'fa4', 'fa5', 'fa6', 'fa7', 'fs2', 'fs3', 'fs4', 'fs5', 'fs6', 'fs7', 'fs8', 'fs9', 'fs10', 'fs11', 'ft8', 'ft9', 'ft10', 'ft11'];

const HELP: [string, string][] = [
  ['cont|c', 'resume emulation'],
  ['cpu index', 'set the default CPU'],
  ['help|? [cmd]', 'show the help'],
  ['info [subcommand]', 'show various information about the system state'],
  ['quit|q', 'quit the emulator'],
  ['stop|s', 'stop emulation'],
  ['system_powerdown', 'send system power down event'],
  ['system_reset', 'reset the system'],
  ['x /fmt addr', 'virtual memory dump starting at \'addr\''],
  ['xp /fmt addr', 'physical memory dump starting at \'addr\''],
];

const INFO: [string, string][] = [
  ['block', 'show info of one block device or all block devices'],
  ['cpus', 'show infos for each CPU'],
  ['mtree', 'show memory tree'],
  ['name', 'show the current VM name'],
  ['qtree', 'show device tree'],
  ['registers [-a|vcpu]', "show the cpu registers (-a: show register info for all cpus; vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)"],
  ['status', 'show the current VM status (running|paused)'],
  ['version', 'show the version of QEMU'],
];

const hex16 = (s: string) => BigInt.asUintN(64, BigInt(s)).toString(16).padStart(16, '0');

/** `info registers` for one hart, in the layout of QEMU's riscv_cpu_dump_state. */
export function formatRegisters(r: Registers): string {
  const lines: string[] = ['', `CPU#${r.hart}`, ' V      =   0', ` pc       ${hex16(r.pc)}`, ` mhartid  ${r.hart.toString(16).padStart(16, '0')}`];
  for (const n of ['mstatus', 'mip', 'mie', 'mideleg', 'medeleg', 'mtvec', 'stvec', 'mepc', 'sepc', 'mcause', 'scause', 'mtval', 'stval', 'mscratch', 'sscratch', 'satp']) {
    lines.push(` ${n.padEnd(8)} ${hex16(r.csrs[n] ?? '0')}`);
  }
  const row = (names: string[], vals: string[], prefix: string) => {
    for (let i = 0; i < 32; i += 4) {
      let l = '';
      for (let j = i; j < i + 4; j++) l += ` ${`${prefix}${j}/${names[j]}`.padEnd(8)} ${hex16(vals[j] ?? '0')}`;
      lines.push(l);
    }
  };
  row(ABI, r.x, 'x');
  row(FABI, r.f, 'f');
  return lines.map((l) => `${l}\r\n`).join('');
}

export class HmpError extends Error {}

export class Hmp {
  /** The current CPU (QEMU's `cpu N`; human-monitor-command's cpu-index). */
  cpu = 0;
  private fmt = { count: 1, format: 'x', size: 4 };
  /** Set by `quit`: the session ends after the reply. */
  quitRequested = false;

  constructor(private readonly link: MachineLink) {}

  /** Runs one command line; returns its output ("" for none). */
  async run(line: string): Promise<string> {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) return '';
    const [cmd, ...rest] = words as [string, ...string[]];
    switch (cmd) {
      case 'help':
      case '?':
        return HELP.map(([c, d]) => `${c} -- ${d}\r\n`).join('');
      case 'info':
        return this.info(rest);
      case 'stop':
      case 's':
        await this.link.control('stop');
        return '';
      case 'cont':
      case 'c':
        await this.link.control('cont');
        return '';
      case 'system_reset':
        await this.link.control('systemReset');
        return '';
      case 'system_powerdown':
        await this.link.control('systemPowerdown');
        return '';
      case 'quit':
      case 'q':
        this.quitRequested = true;
        await this.link.control('quit', 'host-qmp-quit');
        return '';
      case 'cpu': {
        const s = await this.link.status();
        const n = Number(rest[0]);
        if (rest[0] === undefined || !Number.isInteger(n) || n < 0 || n >= s.harts) return 'invalid CPU index\r\n';
        this.cpu = n;
        return '';
      }
      case 'x':
      case 'xp':
        return this.dump(cmd === 'xp', line.trim().slice(cmd.length).trim());
      default:
        return `unknown command: '${cmd}'\r\n`;
    }
  }

  private async info(args: string[]): Promise<string> {
    const [what, ...rest] = args;
    if (!what) return INFO.map(([c, d]) => `info ${c} -- ${d}\r\n`).join('');
    switch (what) {
      case 'status': {
        const s = await this.link.status();
        const st = s.state === 'running' ? 'running' : s.state === 'paused' ? 'paused' : `paused (${s.state})`;
        return `VM status: ${st}\r\n`;
      }
      case 'name': {
        const s = await this.link.status();
        return s.name ? `${s.name}\r\n` : '';
      }
      case 'version':
        return `${version()} (tsemu)\r\n`;
      case 'cpus': {
        const r = await this.link.cpus();
        return r.cpus.map((c) => `${c.cpuIndex === this.cpu ? '*' : ' '} CPU #${c.cpuIndex}: thread_id=${c.threadId}\r\n`).join('');
      }
      case 'registers': {
        const s = await this.link.status();
        let harts = [this.cpu];
        if (rest[0] === '-a') harts = Array.from({ length: s.harts }, (_, i) => i);
        else if (rest[0] !== undefined) {
          const n = Number(rest[0]);
          if (!Number.isInteger(n) || n < 0 || n >= s.harts) return `CPU#${rest[0]} not available\r\n`;
          harts = [n];
        }
        let out = '';
        for (const h of harts) out += formatRegisters(await this.link.registers(h));
        return out;
      }
      case 'block': {
        const r = await this.link.block('query-block', {});
        type Info = { device: string; qdev?: string; inserted?: { 'node-name': string; file: string; drv: string; ro: boolean; cache: { writeback: boolean; direct: boolean; 'no-flush': boolean } } };
        const list = r.returnJson ? (JSON.parse(r.returnJson) as Info[]) : [];
        const want = rest[0];
        return list
          .filter((b) => !want || b.device === want || b.inserted?.['node-name'] === want)
          .map((b) => {
            const i = b.inserted;
            if (!i) return `${b.device}: [not inserted]\r\n`;
            // QEMU's format: "d0 (#block179): x.qcow2 (qcow2)", then the device and cache mode
            const name = b.device ? `${b.device} (${i['node-name']})` : i['node-name'];
            const cache = [i.cache.writeback ? 'writeback' : 'writethrough', ...(i.cache.direct ? ['direct'] : []), ...(i.cache['no-flush'] ? ['ignore flushes'] : [])].join(', ');
            return (
              `${name}: ${i.file} (${i.drv}${i.ro ? ', read-only' : ''})\r\n` +
              (b.qdev ? `    Attached to:      ${b.qdev}\r\n` : '') +
              `    Cache mode:       ${cache}\r\n`
            );
          })
          .join('\r\n');
      }
      case 'mtree':
      case 'qtree': {
        const r = await this.link.info(what);
        return r.text.replace(/\r?\n/g, '\r\n');
      }
      default:
        return `unknown command: 'info ${what}'\r\n`;
    }
  }

  /** Reads an address expression: a number (0x.., 0.., decimal) or $register, with + and -. */
  private async expr(text: string): Promise<bigint> {
    const toks = text.match(/\$?[A-Za-z0-9_]+|[+-]/g);
    if (!toks) throw new HmpError('unexpected end of expression');
    let sum = 0n;
    let sign = 1n;
    for (const t of toks) {
      if (t === '+') sign = 1n;
      else if (t === '-') sign = -1n;
      else {
        let v: bigint;
        if (t.startsWith('$')) {
          const r = await this.link.registers(this.cpu);
          const n = t.slice(1);
          const i = ABI.indexOf(n) >= 0 ? ABI.indexOf(n) : /^x\d+$/.test(n) ? Number(n.slice(1)) : -1;
          if (n === 'pc') v = BigInt(r.pc);
          else if (i >= 0 && i < 32) v = BigInt(r.x[i]!);
          else if (r.csrs[n] !== undefined) v = BigInt(r.csrs[n]!);
          else throw new HmpError(`unknown register`);
        } else {
          try {
            v = BigInt(t);
          } catch {
            throw new HmpError('invalid char in expression');
          }
        }
        sum += sign * v;
      }
    }
    return BigInt.asUintN(64, sum);
  }

  private async dump(physical: boolean, argText: string): Promise<string> {
    const cmd = physical ? 'xp' : 'x';
    let rest = argText;
    const f = { ...this.fmt };
    if (rest.startsWith('/')) {
      const m = /^\/(\d*)([a-z]*)\s*/.exec(rest);
      if (!m) return `invalid format\r\nTry "help ${cmd}" for more information\r\n`;
      if (m[1]) f.count = Number(m[1]);
      for (const ch of m[2]!) {
        if ('xduocai'.includes(ch)) f.format = ch;
        else if (ch === 'b') f.size = 1;
        else if (ch === 'h') f.size = 2;
        else if (ch === 'w') f.size = 4;
        else if (ch === 'g') f.size = 8;
        else return `invalid format\r\nTry "help ${cmd}" for more information\r\n`;
      }
      rest = rest.slice(m[0].length);
      if (f.format === 'c') f.size = 1;
    }
    let addr: bigint;
    try {
      addr = await this.expr(rest);
    } catch (e) {
      return `${(e as Error).message}\r\nTry "help ${cmd}" for more information\r\n`;
    }
    this.fmt = { count: 1, format: f.format, size: f.size };
    if (f.format === 'i') return 'tsemu cannot disassemble: use /x\r\n';
    const total = Math.min(f.count * f.size, 1 << 20);
    const data = await this.link.readMemory(addr, total, physical, this.cpu);
    const lineSize = f.size === 1 ? 8 : 16;
    const digits =
      f.format === 'x' ? (f.size * 8 + 3) >> 2 : f.format === 'o' ? Math.floor((f.size * 8 + 2) / 3) : Math.floor((f.size * 8 * 10 + 32) / 33);
    let out = '';
    for (let off = 0; off < total; off += lineSize) {
      out += `${(addr + BigInt(off)).toString(16).padStart(16, '0')}:`;
      if (off + Math.min(lineSize, total - off) > data.length) {
        // QEMU prints the values it could read on this line, then gives up
        for (let o = off; o + f.size <= data.length; o += f.size) out += this.value(data, o, f, digits);
        return `${out} Cannot access memory\r\n`;
      }
      for (let o = off; o < Math.min(off + lineSize, total); o += f.size) out += this.value(data, o, f, digits);
      out += '\r\n';
    }
    return out;
  }

  private value(data: Uint8Array, o: number, f: { format: string; size: number }, digits: number): string {
    let v = 0n;
    for (let i = f.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[o + i]!);
    switch (f.format) {
      case 'x':
        return ` 0x${v.toString(16).padStart(digits, '0')}`;
      case 'o':
        return ` ${`0${v.toString(8)}`.padStart(digits, ' ')}`;
      case 'd':
        return ` ${BigInt.asIntN(f.size * 8, v).toString().padStart(digits, ' ')}`;
      case 'u':
        return ` ${v.toString().padStart(digits, ' ')}`;
      case 'c': {
        const c = Number(v);
        return c >= 32 && c < 127 ? ` '${String.fromCharCode(c)}'` : ` '\\x${c.toString(16).padStart(2, '0')}'`;
      }
      default:
        return ` 0x${v.toString(16).padStart(digits, '0')}`;
    }
  }
}
