/**
 * Block devices on the command line, in QEMU's spellings, and their attachment to the
 * block service:
 *
 *   -drive file=X[,format=raw|qcow2][,if=virtio|none][,id=ID][,readonly=on][,cache=MODE][,serial=S]
 *          [,werror=enospc|stop|report|ignore][,rerror=report|stop|ignore|enospc]
 *   -blockdev driver=qcow2|raw,node-name=N,file.driver=file,file.filename=X[,read-only=on][,cache.direct=on]
 *   -blockdev driver=file,node-name=F,filename=X   then   -blockdev driver=qcow2,node-name=N,file=F
 *   -blockdev driver=nbd,node-name=F,server.type=inet,server.host=H,server.port=P[,export=E]
 *             (or server.type=unix,server.path=S)[,tls-creds=DIR][,reconnect-delay=SECONDS]
 *             usable as file=F of a format node, or directly as a raw drive; also file.driver=nbd,
 *             file.server.host=... on a format node; -drive file=nbd://... passes through as is.
 *             tls-creds names a directory laid out as QEMU's tls-creds-x509 dir= (no -object here).
 *   -blockdev driver=rbd,node-name=R,pool=P,image=I[,namespace=NS][,snapshot=S][,conf=C][,user=U]
 *             [,server.0.host=H,server.0.port=PORT...][,auth-client-required=cephx]
 *             (a device may use R itself, as raw, or a format node over it: file=R or file.driver=rbd,file.pool=...)
 *   -drive file=rbd:pool/image[@snap][:opt=val...],format=raw[,file.key-secret=ID]
 *             key-secret=ID (-blockdev) / file.key-secret=ID (-drive; password-secret is its
 *             old name) names an -object secret with the client's key; the secret goes to the
 *             block service with the device, never into the name.
 *   -device virtio-blk-pci,drive=ID|N[,id=DEV][,num-queues=N][,queue-size=N][,serial=S][,addr=SLOT][,werror=..][,rerror=..]
 *
 * `if=virtio` (the default here) makes a virtio-blk-pci device of the drive at once, as
 * QEMU does; `if=none` leaves it for a -device. Each device becomes a virtio-pci function
 * on the PCIe root bus (the machine's transport, virtio-pci.ts) whose queues the block
 * service serves (services/block/virtio-blk) after `attachBlockDevices`.
 */
import { BlockClient } from '../../../proto/gen/block.js';
import type { DeviceSpec } from '../../../proto/gen/common.js';
import { parseKeyValues } from '../../common/cli-args.js';
import { rbdEscapeValue, rbdNameFromOptions } from '../../common/rbd-name.js';
import { secretBase64 } from '../../common/secret.js';
import { call, connect } from '../../common/grpc.js';

import type { PciDeviceRequest } from './pci/board.js';
import type { VirtMachine } from './virt.js';
import { DRAM_BASE } from './virt-map.js';

export class BlockOptionError extends Error {}

export interface BlockDevice {
  /** The device's id (QEMU's -device id=, else the drive's). */
  id: string;
  /** QMP's device name: the -drive id ('' for a -blockdev). */
  drive: string;
  /** The -blockdev node-name (a -drive's node is named by the block service). */
  nodeName?: string;
  /** The device's QOM path, QMP's BlockInfo.qdev. */
  qdev: string;
  file: string;
  format?: string;
  readOnly: boolean;
  cache?: string;
  serial?: string;
  /** QEMU's error policies (werror= default enospc, rerror= default report), applied by the block service. */
  werror?: string;
  rerror?: string;
  /** undefined: one per hart, as QEMU's num-queues=auto. */
  numQueues?: number;
  queueSize: number;
  slot?: number;
}

function onOff(v: string | undefined, what: string): boolean {
  if (v === undefined || v === 'off' || v === 'false') return false;
  if (v === 'on' || v === 'true') return true;
  throw new BlockOptionError(`Parameter '${what}' expects 'on' or 'off'`);
}

/** A werror= / rerror= value (BlockdevOnError), as QEMU checks it. */
function errorAction(v: string | undefined, what: 'read' | 'write'): string | undefined {
  if (v === undefined || ['ignore', 'report', 'stop', 'enospc'].includes(v)) return v;
  throw new BlockOptionError(`'${v}' invalid ${what} error action`);
}

function posInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === 'auto') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new BlockOptionError(`Parameter '${what}' expects a positive number`);
  return n;
}

interface Drive {
  id: string;
  file: string;
  format?: string;
  readOnly: boolean;
  cache?: string;
  serial?: string;
  werror?: string;
  rerror?: string;
  used: boolean;
  /** Made by -blockdev: no QMP device name, only a node name. */
  blockdev?: boolean;
}

/**
 * The nbd:// or nbd+unix:// URL for -blockdev driver=nbd options (under `prefix`, "" or
 * "file."): server.type=inet|unix, server.host/port or server.path, export, tls-creds,
 * reconnect-delay (the last two as the block service's URL query parameters).
 */
function nbdUrl(kv: Map<string, string>, prefix: string, spec: string): string {
  const get = (k: string) => kv.get(prefix + k);
  const type = get('server.type') ?? (get('server.path') !== undefined ? 'unix' : 'inet');
  const name = encodeURIComponent(get('export') ?? '');
  const query: string[] = [];
  let url: string;
  if (type === 'unix') {
    const path = get('server.path');
    if (!path) throw new BlockOptionError(`-blockdev ${spec}: server.type=unix needs server.path=`);
    url = `nbd+unix:///${name}`;
    query.push(`socket=${encodeURIComponent(path)}`);
  } else if (type === 'inet') {
    const host = get('server.host');
    if (!host) throw new BlockOptionError(`-blockdev ${spec}: server.type=inet needs server.host=`);
    const port = get('server.port') ?? '10809';
    if (!/^\d+$/.test(port)) throw new BlockOptionError(`-blockdev ${spec}: server.port must be a port number`);
    url = `nbd://${host.includes(':') ? `[${host}]` : host}:${port}/${name}`;
  } else throw new BlockOptionError(`-blockdev ${spec}: server.type '${type}' is not supported (inet or unix)`);
  for (const k of ['tls-creds', 'reconnect-delay']) {
    const v = get(k);
    if (v !== undefined) query.push(`${k}=${encodeURIComponent(v)}`);
  }
  return query.length ? `${url}?${query.join('&')}` : url;
}

/**
 * A -blockdev driver=rbd node's options (keys after `prefix`) as the rbd: name the block
 * service opens (services/common/rbd-name.ts).
 */
export function rbdFilename(kv: Map<string, string>, prefix = ''): string {
  try {
    return rbdNameFromOptions((k) => kv.get(prefix + k));
  } catch (e) {
    throw new BlockOptionError(`-blockdev driver=rbd: ${(e as Error).message.replace(/\b(pool|image)=/g, `${prefix}$1=`)}`);
  }
}

/** The block devices that -drive, -blockdev and -device ask for. */
export function parseBlockOptions(drives: readonly string[], blockdevs: readonly string[], devices: readonly string[]): BlockDevice[] {
  const byId = new Map<string, Drive>();
  const out: BlockDevice[] = [];
  let anon = 0;
  const anonPath = () => `/machine/peripheral-anon/device[${anon++}]/virtio-backend`;
  drives.forEach((spec, n) => {
    const kv = parseKeyValues(spec);
    const file = kv.get('file');
    if (!file) throw new BlockOptionError(`-drive ${spec}: needs file=`);
    const iface = kv.get('if') ?? 'virtio';
    if (iface !== 'virtio' && iface !== 'none') throw new BlockOptionError(`-drive ${spec}: if=${iface} is not supported (virtio or none)`);
    const id = kv.get('id') ?? `virtio${n}`;
    const keySecret = kv.get('file.key-secret') ?? kv.get('file.password-secret');
    if (keySecret !== undefined && !file.startsWith('rbd:')) throw new BlockOptionError(`-drive ${spec}: file.key-secret is for rbd: images`);
    const fileName = keySecret !== undefined ? `${file}:key-secret=${rbdEscapeValue(keySecret)}` : file;
    if (byId.has(id)) throw new BlockOptionError(`Duplicate ID '${id}' for drive`);
    const d: Drive = {
      id, file: fileName, format: kv.get('format'), readOnly: onOff(kv.get('readonly') ?? kv.get('read-only'), 'readonly'), cache: kv.get('cache'), serial: kv.get('serial'),
      werror: errorAction(kv.get('werror'), 'write'), rerror: errorAction(kv.get('rerror'), 'read'), used: false,
    };
    byId.set(id, d);
    if (iface === 'virtio') {
      d.used = true;
      out.push({ id, drive: id, qdev: anonPath(), file: fileName, format: d.format, readOnly: d.readOnly, cache: d.cache, serial: d.serial, werror: d.werror, rerror: d.rerror, queueSize: 256 });
    }
  });
  const files = new Map<string, string>();
  for (const spec of blockdevs) {
    const kv = parseKeyValues(spec);
    const driver = kv.get('driver');
    const node = kv.get('node-name');
    if (!driver || !node) throw new BlockOptionError(`-blockdev ${spec}: needs driver= and node-name=`);
    if (driver === 'file') {
      const f = kv.get('filename');
      if (!f) throw new BlockOptionError(`-blockdev ${spec}: needs filename=`);
      files.set(node, f);
      continue;
    }
    if (driver === 'nbd') {
      const url = nbdUrl(kv, '', spec);
      files.set(node, url);
      // A protocol node used as a drive is its raw bytes, as in QEMU.
      if (byId.has(node)) throw new BlockOptionError(`Duplicate nodes with node-name='${node}'`);
      byId.set(node, { id: node, file: url, format: 'raw', readOnly: onOff(kv.get('read-only'), 'read-only'), used: false, blockdev: true });
      continue;
    }
    if (driver === 'rbd') {
      // a protocol node: a format node may sit on it, or a device use it as raw bytes
      const f = rbdFilename(kv);
      files.set(node, f);
      if (byId.has(node)) throw new BlockOptionError(`Duplicate nodes with node-name='${node}'`);
      byId.set(node, { id: node, file: f, format: 'raw', readOnly: onOff(kv.get('read-only'), 'read-only'), cache: kv.get('cache.direct') === 'on' ? 'none' : undefined, used: false, blockdev: true });
      continue;
    }
    if (driver !== 'raw' && driver !== 'qcow2' && driver !== 'qed') throw new BlockOptionError(`-blockdev ${spec}: driver '${driver}' is not supported`);
    const fileRef = kv.get('file');
    const fileDriver = kv.get('file.driver');
    if (fileDriver !== undefined && !['file', 'nbd', 'rbd'].includes(fileDriver)) throw new BlockOptionError(`-blockdev ${spec}: file.driver '${fileDriver}' is not supported`);
    const file = fileDriver === 'nbd' ? nbdUrl(kv, 'file.', spec) : fileDriver === 'rbd' ? rbdFilename(kv, 'file.') : kv.get('file.filename') ?? (fileRef !== undefined ? files.get(fileRef) : undefined);
    if (!file) throw new BlockOptionError(`-blockdev ${spec}: needs file.filename= or file=NODE of a driver=file node`);
    const cache = kv.get('cache.direct') === 'on' ? 'none' : kv.get('cache.no-flush') === 'on' ? 'unsafe' : undefined;
    if (byId.has(node)) throw new BlockOptionError(`Duplicate nodes with node-name='${node}'`);
    byId.set(node, { id: node, file, format: driver, readOnly: onOff(kv.get('read-only'), 'read-only'), cache, used: false, blockdev: true });
  }
  for (const spec of devices) {
    const kv = parseKeyValues(spec, 'driver');
    const driver = kv.get('driver');
    if (driver !== 'virtio-blk-pci' && driver !== 'virtio-blk') throw new BlockOptionError(`-device ${driver}: not supported (virtio-blk-pci)`);
    const ref = kv.get('drive');
    if (!ref) throw new BlockOptionError(`-device ${spec}: Parameter 'drive' is missing`);
    const d = byId.get(ref);
    if (!d) throw new BlockOptionError(`-device ${spec}: Property 'virtio-blk-pci.drive' can't find value '${ref}'`);
    if (d.used) throw new BlockOptionError(`-device ${spec}: Drive '${ref}' is already in use`);
    d.used = true;
    const addr = kv.get('addr');
    const slot = addr === undefined ? undefined : Number.parseInt(addr.split('.')[0]!, addr.startsWith('0x') ? 16 : 10);
    if (slot !== undefined && !(slot >= 1 && slot <= 31)) throw new BlockOptionError(`-device ${spec}: bad addr`);
    const queueSize = posInt(kv.get('queue-size'), 'queue-size') ?? 256;
    const devId = kv.get('id');
    out.push({
      id: devId ?? ref,
      drive: d.blockdev ? '' : d.id,
      nodeName: d.blockdev ? d.id : undefined,
      qdev: devId !== undefined ? `/machine/peripheral/${devId}/virtio-backend` : anonPath(),
      file: d.file,
      format: d.format,
      readOnly: d.readOnly,
      cache: d.cache,
      serial: kv.get('serial') ?? d.serial,
      werror: errorAction(kv.get('werror'), 'write') ?? d.werror,
      rerror: errorAction(kv.get('rerror'), 'read') ?? d.rerror,
      numQueues: posInt(kv.get('num-queues'), 'num-queues'),
      queueSize,
      slot,
    });
  }
  return out;
}

/** The PCI functions the machine must create for `devs` on a machine with `harts` harts. */
export function pciRequests(devs: readonly BlockDevice[], harts: number): PciDeviceRequest[] {
  return devs.map((d) => ({ kind: 'virtio-blk', id: d.id, numQueues: Math.min(d.numQueues ?? harts, 64), queueSize: d.queueSize, slot: d.slot }));
}

/** Asks the block service at `address` to serve each device's queues. */
export async function attachBlockDevices(address: string, virt: VirtMachine, devs: readonly BlockDevice[]): Promise<void> {
  if (devs.length === 0) return;
  const shm = virt.sharedMemory();
  const client = connect(BlockClient, address);
  try {
    for (const d of devs) {
      const fn = virt.pciConfig.functions.find((f) => f.id === d.id);
      if (!fn) throw new Error(`no PCI function for '${d.id}'`);
      const props: Record<string, string> = {
        file: d.file,
        readonly: d.readOnly ? 'on' : 'off',
        'state-offset': String(fn.stateOffset),
        'irq-offset': String(virt.pciConfig.irqOffset),
      };
      if (d.format) props.format = d.format;
      if (d.cache) props.cache = d.cache;
      if (d.serial) props.serial = d.serial;
      // the secrets an rbd: name refers to (key-secret=ID), by value: the block service has no -object
      for (const m of d.file.matchAll(/:key-secret=((?:\\.|[^:\\])*)/g)) {
        const sid = m[1]!.replace(/\\(.)/g, '$1');
        props[`secret.${sid}`] = secretBase64(sid);
      }
      if (d.werror) props.werror = d.werror;
      if (d.rerror) props.rerror = d.rerror;
      virt.blockNames.set(d.id, { device: d.drive, nodeName: d.nodeName });
      props.drive = d.drive;
      props.qdev = d.qdev;
      if (d.nodeName) props['node-name'] = d.nodeName;
      const spec: DeviceSpec = {
        id: d.id,
        driver: 'virtio-blk-pci',
        props,
        regions: [
          { role: 'ram', path: shm.ram.path, size: shm.ram.size, guestBase: DRAM_BASE },
          { role: 'code-track', path: shm.codeTrack.path, size: shm.codeTrack.size, guestBase: 0 },
          { role: 'pci-state', path: shm.pci.path, size: shm.pci.size, guestBase: 0 },
        ],
      };
      await call(client, client.attach, spec, 30_000);
    }
  } finally {
    client.close();
  }
}
