/**
 * The block service's drives (each attached virtio-blk device's image and counters) and
 * QMP's block commands answered from them, in QEMU's JSON shapes (qapi/block-core.json):
 * query-block, query-named-block-nodes, query-blockstats, block_resize,
 * blockdev-snapshot-internal-sync, blockdev-snapshot-delete-internal-sync.
 *
 * Each drive is two nodes, as QEMU opens a -drive: the format node (qcow2, raw: the
 * device's `node-name`) over a protocol node (file).
 */
import type { BlockCommandReply } from '../../../proto/gen/block.js';
import { infoJson } from '../img/info.js';
import type { BlockImage, SnapshotInfo } from '../format/types.js';
import type { VirtioBlkBackend } from './backend.js';

export interface Drive {
  /** QMP's device name (the -drive id); '' for a -blockdev, known by node name only. */
  device: string;
  nodeName: string;
  fileNodeName: string;
  /** The device's QOM path (BlockInfo.qdev). */
  qdev: string;
  /** QEMU's cache mode: writeback, none, writethrough, directsync, unsafe. */
  cache: string;
  image: BlockImage;
  backend: VirtioBlkBackend;
}

class Drives {
  private readonly byId = new Map<string, Drive>();
  private nodes = 0;

  add(id: string, d: Omit<Drive, 'nodeName' | 'fileNodeName'> & { nodeName?: string }): Drive {
    // QEMU names unnamed nodes "#block" and three digits
    const auto = () => `#block${String((this.nodes++ * 173 + 106) % 1000).padStart(3, '0')}`;
    const drive: Drive = { ...d, nodeName: d.nodeName ?? auto(), fileNodeName: auto() };
    this.byId.set(id, drive);
    return drive;
  }

  remove(id: string, d: Drive): void {
    if (this.byId.get(id) === d) this.byId.delete(id);
  }

  list(): Drive[] {
    return [...this.byId.values()];
  }

  /** QEMU's lookup: the device name first, then the node name. */
  find(device: string, nodeName: string): Drive | undefined {
    const all = this.list();
    return (device ? all.find((d) => d.device === device) : undefined) ?? (nodeName ? all.find((d) => d.nodeName === nodeName) : undefined);
  }
}

export const drives = new Drives();

class QmpError extends Error {
  constructor(readonly errorClass: string, desc: string) {
    super(desc);
  }
}
const generic = (desc: string) => new QmpError('GenericError', desc);

function cacheJson(mode: string) {
  return {
    writeback: mode !== 'writethrough' && mode !== 'directsync',
    direct: mode === 'none' || mode === 'directsync',
    'no-flush': mode === 'unsafe',
  };
}

/** BlockDeviceInfo for one node; `image` is its ImageInfo. */
function nodeJson(d: Drive, nodeName: string, drv: string, image: Record<string, unknown>) {
  return {
    iops_rd: 0,
    detect_zeroes: 'off',
    image,
    iops_wr: 0,
    ro: d.image.readOnly,
    'node-name': nodeName,
    backing_file_depth: 0,
    drv,
    iops: 0,
    bps_wr: 0,
    write_threshold: 0,
    encrypted: false,
    bps: 0,
    bps_rd: 0,
    cache: cacheJson(d.cache),
    file: d.image.protocol.filename,
  };
}

async function formatNode(d: Drive) {
  const i = await d.image.getInfo();
  const info = infoJson(i);
  // QMP's SnapshotInfo leaves icount out when none was recorded
  if (info.snapshots) info.snapshots = i.snapshots.map(snapshotJson);
  return nodeJson(d, d.nodeName, d.image.format, info);
}

async function fileNode(d: Drive) {
  const p = d.image.protocol;
  const actual = await p.allocatedSize?.();
  const image: Record<string, unknown> = { 'virtual-size': await p.size(), filename: p.filename, format: p.driver };
  if (actual !== undefined) image['actual-size'] = actual;
  image['dirty-flag'] = false;
  return nodeJson(d, d.fileNodeName, p.driver, image);
}

function statsJson(d: Drive, own: boolean) {
  const io = d.backend.io;
  const z = !own;
  const v = (n: number) => (z ? 0 : n);
  return {
    unmap_operations: v(io.unmapOps),
    unmap_merged: 0,
    flush_total_time_ns: v(io.flushNs),
    wr_highest_offset: v(io.wrHighest),
    wr_total_time_ns: v(io.wrNs),
    failed_wr_operations: v(io.failedWr),
    failed_rd_operations: v(io.failedRd),
    wr_merged: 0,
    wr_bytes: v(io.wrBytes),
    timed_stats: [],
    failed_unmap_operations: v(io.failedUnmap),
    failed_flush_operations: v(io.failedFlush),
    account_invalid: own,
    rd_total_time_ns: v(io.rdNs),
    invalid_unmap_operations: v(io.invalidUnmap),
    flush_operations: v(io.flushOps),
    wr_operations: v(io.wrOps),
    unmap_bytes: v(io.unmapBytes),
    rd_merged: 0,
    rd_bytes: v(io.rdBytes),
    unmap_total_time_ns: v(io.unmapNs),
    invalid_flush_operations: v(io.invalidFlush),
    account_failed: own,
    rd_operations: v(io.rdOps),
    invalid_wr_operations: v(io.invalidWr),
    invalid_rd_operations: v(io.invalidRd),
  };
}

/** SnapshotInfo as QMP returns it (icount only when the snapshot has one). */
function snapshotJson(s: SnapshotInfo) {
  return {
    'vm-clock-nsec': s.vmClockNsec % 1e9,
    name: s.name,
    'date-sec': s.dateSec,
    'date-nsec': s.dateNsec,
    'vm-clock-sec': Math.floor(s.vmClockNsec / 1e9),
    id: s.id,
    'vm-state-size': s.vmStateSize,
    ...(s.icount !== undefined && s.icount >= 0 ? { icount: s.icount } : {}),
  };
}

function snapshotsOf(d: Drive, device: string) {
  const sn = d.image.snapshots;
  if (!sn) throw generic(`Block format '${d.image.format}' used by device '${device}' does not support internal snapshots`);
  return sn;
}

async function run(command: string, args: Record<string, unknown>): Promise<unknown> {
  const str = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : '');
  const has = (k: string) => typeof args[k] === 'string';
  switch (command) {
    case 'query-block': {
      const out = [];
      for (const d of drives.list()) {
        out.push({
          'io-status': 'ok',
          device: d.device,
          locked: false,
          removable: false,
          inserted: await formatNode(d),
          qdev: d.qdev,
          type: 'unknown',
        });
      }
      return out;
    }
    case 'query-named-block-nodes': {
      const out = [];
      for (const d of drives.list()) out.push(await formatNode(d), await fileNode(d));
      return out;
    }
    case 'query-blockstats':
      return drives.list().map((d) => ({
        device: d.device,
        parent: {
          stats: statsJson(d, false),
          'node-name': d.fileNodeName,
          'driver-specific': { 'discard-bytes-ok': 0, 'discard-nb-ok': 0, driver: d.image.protocol.driver, 'discard-nb-failed': 0 },
        },
        stats: statsJson(d, true),
        'node-name': d.nodeName,
        qdev: d.qdev,
      }));
    case 'block_resize': {
      const d = drives.find(str('device'), str('node-name'));
      if (!d) throw generic(`Cannot find device='${str('device')}' nor node-name='${str('node-name')}'`);
      const size = args.size;
      if (typeof size !== 'number' || !Number.isSafeInteger(size)) throw new QmpError('GenericError', "Parameter 'size' expects integer");
      if (size < 0) throw generic('Parameter size must not be negative');
      if (size % 512 !== 0) throw generic('The new size must be a multiple of 512');
      if (d.image.readOnly) throw generic(`Node '${d.nodeName}' is read only`);
      if (size !== d.image.size) {
        await d.image.resize(size);
        await d.image.flush();
        d.backend.resized();
      }
      return {};
    }
    case 'blockdev-snapshot-internal-sync': {
      const device = str('device');
      const name = str('name');
      const d = drives.find(device, device);
      if (!d) throw generic(`Cannot find device='${device}' nor node-name='${device}'`);
      if (!name) throw generic('Name is empty');
      if (d.image.readOnly) throw generic(`Device '${device}' is read only`);
      const sn = snapshotsOf(d, device);
      if ((await sn.list()).some((s) => s.name === name)) throw generic(`Snapshot with name '${name}' already exists on device '${device}'`);
      await d.image.flush();
      // QEMU records no instruction count (-1) outside record/replay
      await sn.create(name, { icount: -1 });
      return {};
    }
    case 'blockdev-snapshot-delete-internal-sync': {
      const device = str('device');
      const d = drives.find(device, device);
      if (!d) throw generic(`Cannot find device='${device}' nor node-name='${device}'`);
      if (!has('id') && !has('name')) throw generic('Name or id must be provided');
      if (d.image.readOnly) throw generic(`Device '${device}' is read only`);
      const sn = snapshotsOf(d, device);
      const id = has('id') ? str('id') : undefined;
      const name = has('name') ? str('name') : undefined;
      const found = (await sn.list()).find((s) => (id === undefined || s.id === id) && (name === undefined || s.name === name));
      if (!found) throw generic(`Snapshot with id '${id ?? 'null'}' and name '${name ?? 'null'}' does not exist on device '${device}'`);
      await sn.delete(found.id);
      return snapshotJson(found);
    }
    default:
      throw new QmpError('CommandNotFound', `The command ${command} has not been found`);
  }
}

/** One QMP block command: its JSON answer or QMP's error class and description. */
export async function blockCommand(command: string, argumentsJson: string): Promise<BlockCommandReply> {
  try {
    const args = argumentsJson ? (JSON.parse(argumentsJson) as Record<string, unknown>) : {};
    const v = await run(command, args);
    return { returnJson: JSON.stringify(v), errorClass: '', errorDesc: '' };
  } catch (e) {
    if (e instanceof QmpError) return { returnJson: '', errorClass: e.errorClass, errorDesc: e.message };
    return { returnJson: '', errorClass: 'GenericError', errorDesc: (e as Error).message };
  }
}
