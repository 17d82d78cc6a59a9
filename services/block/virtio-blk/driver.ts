/**
 * The block service's `virtio-blk-pci` driver: Attach maps what the machine shares
 * (guest RAM, the harts' code tracking, the PCI state holding the function's register
 * file), opens the image and starts a VirtioBlkBackend on it.
 *
 * DeviceSpec.regions: role "ram" (guest_base = where RAM starts), "code-track",
 * "pci-state". DeviceSpec.props (QEMU's spellings where QEMU has one): file, format,
 * readonly=on|off, cache, serial, and the transport's state-offset and irq-offset (bytes
 * into pci-state), and for QMP: drive (the -drive id, QEMU's BlockBackend name; empty
 * for a -blockdev), node-name, qdev (the device's QOM path).
 */
import type { DeviceSpec } from '../../../proto/gen/common.js';
import { ServiceError, type Backend } from '../../common/devices.js';
import { grpc } from '../../common/grpc.js';
import { codeTrackViews, GuestMemory } from '../../common/guest-memory.js';
import { setSecretBase64 } from '../../common/secret.js';
import { SharedMemory } from '../../common/shm.js';
import { VirtioFnState } from '../../common/virtio/pci-state.js';
import { openImage } from '../format/open.js';
import { BlockError } from '../format/types.js';
import { ERROR_POLICIES, VirtioBlkBackend, type ErrorPolicy } from './backend.js';
import { drives } from './drives.js';

const bad = (msg: string) => new ServiceError(grpc.status.INVALID_ARGUMENT, msg);

function onOff(v: string | undefined, what: string): boolean {
  if (v === undefined || v === 'off' || v === 'false' || v === 'no') return false;
  if (v === 'on' || v === 'true' || v === 'yes') return true;
  throw bad(`Parameter '${what}' expects 'on' or 'off'`);
}

/** A werror= / rerror= value, checked as QEMU words it. */
function policy(v: string | undefined, what: 'read' | 'write'): ErrorPolicy | undefined {
  if (!v) return undefined;
  if (!(ERROR_POLICIES as readonly string[]).includes(v)) throw bad(`'${v}' invalid ${what} error action`);
  return v as ErrorPolicy;
}

export async function attachVirtioBlk(spec: DeviceSpec): Promise<Backend & { backend: VirtioBlkBackend }> {
  const region = (role: string) => {
    const r = spec.regions.find((x) => x.role === role);
    if (!r) throw bad(`virtio-blk-pci: the '${role}' shared region is missing`);
    return r;
  };
  const p = spec.props;
  if (!p.file) throw bad("virtio-blk-pci: Parameter 'drive' is missing (no image file)");
  const ramR = region('ram');
  const trackR = region('code-track');
  const pciR = region('pci-state');
  const stateOffset = Number(p['state-offset']);
  const irqOffset = Number(p['irq-offset'] ?? '0');
  if (!Number.isInteger(stateOffset) || !Number.isInteger(irqOffset)) throw bad('virtio-blk-pci: bad state-offset or irq-offset');
  const maps: SharedMemory[] = [];
  const map = (path: string, size: number) => {
    const m = SharedMemory.open(path, { size });
    maps.push(m);
    return m;
  };
  let image;
  try {
    const ram = map(ramR.path, Number(ramR.size));
    const track = map(trackR.path, Number(trackR.size));
    const pci = map(pciR.path, Number(pciR.size));
    for (const m of maps) m.close(); // the mappings stay; the fds are not needed
    // secrets the machine's -object gave for this device's rbd: name (key-secret=ID)
    for (const [k, v] of Object.entries(p)) if (k.startsWith('secret.')) setSecretBase64(k.slice(7), v);
    image = await openImage(p.file, { format: p.format || undefined, readOnly: onOff(p.readonly, 'readonly'), cache: p.cache || undefined });
    const mem = new GuestMemory(ram.buffer, Number(ramR.guestBase), Number(ramR.size), codeTrackViews(track.buffer, Number(ramR.size)));
    const st = new VirtioFnState(pci.buffer, stateOffset);
    const backend = new VirtioBlkBackend(mem, st, new Int32Array(pci.buffer, irqOffset, 1), image,
      { serial: p.serial, werror: policy(p.werror, 'write'), rerror: policy(p.rerror, 'read') });
    backend.start();
    const img = image;
    const drive = drives.add(spec.id, {
      device: p.drive ?? spec.id,
      nodeName: p['node-name'] || undefined,
      qdev: p.qdev || `/machine/peripheral/${spec.id}/virtio-backend`,
      cache: p.cache || 'writeback',
      image,
      backend,
    });
    return {
      backend,
      state: () => backend.state(),
      stop: async () => {
        drives.remove(spec.id, drive);
        await backend.stop();
        await img.close();
      },
    };
  } catch (e) {
    for (const m of maps) m.close();
    await image?.close().catch(() => {});
    if (e instanceof BlockError) throw new ServiceError(e.errno === 'ENOENT' ? grpc.status.NOT_FOUND : grpc.status.FAILED_PRECONDITION, e.message);
    throw e;
  }
}
