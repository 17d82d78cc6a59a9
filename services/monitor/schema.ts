/**
 * The QMP schema of the commands and events the monitor implements, in QAPI's terms:
 * argument checking with QEMU's messages ("Parameter 'size' is missing", "Invalid
 * parameter type for 'size', expected: integer", "Parameter 'x' is unexpected") and the
 * introspection query-qmp-schema returns (SchemaInfo, with type names masked as QEMU does).
 */
import type { Json } from './json.js';

/** A type: a builtin, an enum or object name in TYPES, or a list `[T]`. */
export type TypeRef = 'str' | 'int' | 'bool' | 'number' | 'any' | 'size' | string | [TypeRef];

/** Members of an object; a leading '*' marks an optional one, as in QAPI. */
export type Members = Record<string, TypeRef>;

export interface CommandDef {
  args?: Members;
  returns?: TypeRef;
}

const ENUMS: Record<string, string[]> = {
  QMPCapability: ['oob'],
  RunState: ['debug', 'inmigrate', 'internal-error', 'io-error', 'paused', 'postmigrate', 'prelaunch', 'finish-migrate', 'restore-vm', 'running', 'save-vm', 'shutdown', 'suspended', 'watchdog', 'guest-panicked', 'colo'],
  ShutdownCause: ['none', 'host-error', 'host-qmp-quit', 'host-qmp-system-reset', 'host-signal', 'host-ui', 'guest-shutdown', 'guest-reset', 'guest-panic', 'subsystem-reset', 'snapshot-load'],
  SysEmuTarget: ['riscv64'],
  IoOperationType: ['read', 'write'],
  BlockErrorAction: ['ignore', 'report', 'stop'],
};

const OBJECTS: Record<string, Members> = {
  VersionTriple: { major: 'int', minor: 'int', micro: 'int' },
  VersionInfo: { qemu: 'VersionTriple', package: 'str' },
  CommandInfo: { name: 'str' },
  StatusInfo: { running: 'bool', singlestep: 'bool', status: 'RunState' },
  NameInfo: { '*name': 'str' },
  UuidInfo: { UUID: 'str' },
  TargetInfo: { arch: 'SysEmuTarget' },
  KvmInfo: { enabled: 'bool', present: 'bool' },
  CpuInstanceProperties: { '*core-id': 'int' },
  CpuInfoFast: { 'cpu-index': 'int', 'qom-path': 'str', 'thread-id': 'int', props: 'CpuInstanceProperties', target: 'SysEmuTarget' },
  SchemaInfo: { name: 'str', 'meta-type': 'str' },
  BlockInfo: { device: 'str', '*qdev': 'str', type: 'str', removable: 'bool', locked: 'bool', '*inserted': 'any' },
  BlockStats: { '*device': 'str', '*node-name': 'str', stats: 'any' },
  BlockDeviceInfo: { file: 'str', '*node-name': 'str', ro: 'bool', drv: 'str' },
};

export const COMMANDS: Record<string, CommandDef> = {
  qmp_capabilities: { args: { '*enable': ['QMPCapability'] } },
  'query-version': { returns: 'VersionInfo' },
  'query-commands': { returns: ['CommandInfo'] },
  'query-qmp-schema': { returns: ['SchemaInfo'] },
  'query-status': { returns: 'StatusInfo' },
  'query-name': { returns: 'NameInfo' },
  'query-uuid': { returns: 'UuidInfo' },
  'query-target': { returns: 'TargetInfo' },
  'query-kvm': { returns: 'KvmInfo' },
  'query-cpus-fast': { returns: ['CpuInfoFast'] },
  stop: {},
  cont: {},
  system_reset: {},
  system_powerdown: {},
  quit: {},
  'query-block': { returns: ['BlockInfo'] },
  'query-blockstats': { args: { '*query-nodes': 'bool' }, returns: ['BlockStats'] },
  'query-named-block-nodes': { args: { '*flat': 'bool' }, returns: ['BlockDeviceInfo'] },
  block_resize: { args: { '*device': 'str', '*node-name': 'str', size: 'int' } },
  'blockdev-snapshot-internal-sync': { args: { device: 'str', name: 'str' } },
  'blockdev-snapshot-delete-internal-sync': { args: { device: 'str', '*id': 'str', '*name': 'str' }, returns: 'any' },
  memsave: { args: { val: 'int', size: 'int', filename: 'str', '*cpu-index': 'int' } },
  pmemsave: { args: { val: 'int', size: 'int', filename: 'str' } },
  'human-monitor-command': { args: { 'command-line': 'str', '*cpu-index': 'int' }, returns: 'str' },
};

export const EVENTS: Record<string, Members> = {
  STOP: {},
  RESUME: {},
  RESET: { guest: 'bool', reason: 'ShutdownCause' },
  SHUTDOWN: { guest: 'bool', reason: 'ShutdownCause' },
  POWERDOWN: {},
  BLOCK_IO_ERROR: { device: 'str', '*node-name': 'str', operation: 'IoOperationType', action: 'BlockErrorAction', '*nospace': 'bool', reason: 'str' },
  // tsemu's own: a device service process died, or (re)started and was attached
  SERVICE_DOWN: { service: 'str', reason: 'str' },
  SERVICE_UP: { service: 'str', address: 'str' },
};

/** QEMU's names for JSON types in "expected: ..." messages. */
function expectedName(t: TypeRef): string {
  if (Array.isArray(t)) return 'array';
  if (t === 'str' || ENUMS[t]) return 'string';
  if (t === 'int' || t === 'size') return 'integer';
  if (t === 'bool') return 'boolean';
  if (t === 'number') return 'number';
  return 'object';
}

export class ArgumentError extends Error {}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function checkValue(name: string, t: TypeRef, v: Json): void {
  const bad = () => {
    throw new ArgumentError(`Invalid parameter type for '${name}', expected: ${expectedName(t)}`);
  };
  if (Array.isArray(t)) {
    if (!Array.isArray(v)) bad();
    // QEMU 7.2 names list elements 'null' in its messages
    for (const e of v as Json[]) checkValue('null', t[0], e);
    return;
  }
  if (t === 'any') return;
  if (t === 'str') {
    if (typeof v !== 'string') bad();
    return;
  }
  if (t === 'int' || t === 'size') {
    if (typeof v === 'bigint') {
      if (v < INT64_MIN || v > (t === 'size' ? 2n ** 64n - 1n : INT64_MAX)) bad();
      return;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) bad();
    return;
  }
  if (t === 'bool') {
    if (typeof v !== 'boolean') bad();
    return;
  }
  if (t === 'number') {
    if (typeof v !== 'number' && typeof v !== 'bigint') bad();
    return;
  }
  const e = ENUMS[t];
  if (e) {
    if (typeof v !== 'string') bad();
    if (!e.includes(v as string)) throw new ArgumentError(`Parameter '${name}' does not accept value '${v as string}'`);
    return;
  }
  const members = OBJECTS[t];
  if (members) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad();
    checkMembers(members, v as Record<string, Json>);
  }
}

/** Checks arguments as QEMU's generated visitors do: members in order, then extras. */
export function checkMembers(members: Members, args: Record<string, Json>): void {
  for (const [key, t] of Object.entries(members)) {
    const optional = key.startsWith('*');
    const name = optional ? key.slice(1) : key;
    if (!(name in args)) {
      if (optional) continue;
      throw new ArgumentError(`Parameter '${name}' is missing`);
    }
    checkValue(name, t, args[name]!);
  }
  const known = new Set(Object.keys(members).map((k) => k.replace(/^\*/, '')));
  for (const k of Object.keys(args)) if (!known.has(k)) throw new ArgumentError(`Parameter '${k}' is unexpected`);
}

/**
 * query-qmp-schema: SchemaInfo for every command and event here and the types they use.
 * As QEMU does, names of types that are not builtins are masked as numbers.
 */
export function introspect(): Json[] {
  const out: Json[] = [];
  const names = new Map<string, string>();
  const builtin: Record<string, string> = { str: 'string', int: 'int', bool: 'boolean', number: 'number', any: 'value', size: 'int' };
  const ref = (t: TypeRef): string => {
    if (Array.isArray(t)) {
      const el = ref(t[0]);
      const n = `[${el}]`;
      if (!names.has(n)) {
        names.set(n, n);
        out.push({ name: n, 'meta-type': 'array', 'element-type': el });
      }
      return n;
    }
    if (builtin[t]) {
      if (!names.has(t)) {
        names.set(t, t);
        out.push({ name: t, 'meta-type': 'builtin', 'json-type': builtin[t]! });
      }
      return t;
    }
    const known = names.get(t);
    if (known) return known;
    const n = String(names.size);
    names.set(t, n);
    if (ENUMS[t]) out.push({ name: n, 'meta-type': 'enum', members: ENUMS[t]!.map((v) => ({ name: v })), values: ENUMS[t]! });
    else out.push(objectInfo(n, OBJECTS[t] ?? {}));
    return n;
  };
  const objectInfo = (n: string, members: Members): Json => ({
    name: n,
    'meta-type': 'object',
    members: Object.entries(members).map(([k, t]): Json =>
      k.startsWith('*') ? { name: k.slice(1), default: null, type: ref(t) } : { name: k, type: ref(t) },
    ),
  });
  const argType = (m: Members | undefined): string => {
    const key = `args:${JSON.stringify(m ?? {})}`;
    const known = names.get(key);
    if (known) return known;
    const n = String(names.size);
    names.set(key, n);
    out.push(objectInfo(n, m ?? {}));
    return n;
  };
  for (const [name, def] of Object.entries(COMMANDS)) {
    out.push({ name, 'meta-type': 'command', 'arg-type': argType(def.args), 'ret-type': def.returns ? ref(def.returns) : argType(undefined) });
  }
  for (const [name, members] of Object.entries(EVENTS)) {
    out.push({ name, 'meta-type': 'event', 'arg-type': argType(members) });
  }
  return out;
}
