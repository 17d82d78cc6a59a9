/**
 * The virt board's PCI state: one shared buffer holding the IRQ doorbell word, the host
 * bridge's configuration space and, per virtio function, its configuration space and
 * virtio register file. `planPci` lays it out (main thread, once); `buildPci` builds the
 * objects over it, on every hart thread and on the main thread alike.
 *
 * Slots as QEMU fills them: the host bridge at 00:00.0, devices from 00:01.0 on in the
 * order of the command line.
 */
import { VIRTIO_FN_BYTES } from '../../../common/virtio/pci-state.js';
import type { Plic } from '../plic.js';
import { VirtioPciTransport, type VirtioKind, type VirtioPciFunctionConfig } from '../virtio-pci.js';
import { PCI_FN_BYTES, PciFunction } from './config-space.js';
import { HOST_BRIDGE_SPEC, intxIrq, PcieHost } from './host.js';

export interface PciBoardConfig {
  buffer: SharedArrayBuffer;
  /** Byte offset of the IRQ doorbell word (Int32) backends bump after setting ISR bits. */
  irqOffset: number;
  hostOffset: number;
  functions: VirtioPciFunctionConfig[];
}

export interface PciDeviceRequest {
  kind: VirtioKind;
  id: string;
  numQueues: number;
  queueSize: number;
  /** A slot of its own choosing (QEMU's addr=); else the next free one. */
  slot?: number;
}

const align64 = (n: number) => Math.ceil(n / 64) * 64;

/** Lays out the PCI state; returns the bytes it needs and where each function goes. */
export function planPci(devices: readonly PciDeviceRequest[]): { bytes: number; irqOffset: number; hostOffset: number; functions: VirtioPciFunctionConfig[] } {
  let at = 64;
  const hostOffset = at;
  at += align64(PCI_FN_BYTES);
  const used = new Set<number>([0]);
  const functions: VirtioPciFunctionConfig[] = [];
  for (const d of devices) {
    let slot = d.slot;
    if (slot === undefined) {
      slot = 1;
      while (used.has(slot)) slot++;
    }
    if (slot < 1 || slot > 31) throw new RangeError(`PCI: no free slot for '${d.id}'`);
    if (used.has(slot)) throw new RangeError(`PCI: slot ${slot} is taken ('${d.id}')`);
    used.add(slot);
    const pciOffset = at;
    at += align64(PCI_FN_BYTES);
    const stateOffset = at;
    at += align64(VIRTIO_FN_BYTES);
    functions.push({ kind: d.kind, id: d.id, slot, pciOffset, stateOffset, numQueues: d.numQueues, queueSize: d.queueSize });
  }
  return { bytes: at, irqOffset: 0, hostOffset, functions };
}

export interface PciDevices {
  host: PcieHost;
  bridge: PciFunction;
  virtio: VirtioPciTransport[];
  /** The IRQ doorbell word (index 0 of this view). */
  irqWord: Int32Array;
}

export function buildPci(cfg: PciBoardConfig, plic: Plic, init: boolean): PciDevices {
  const host = new PcieHost();
  const bridge = new PciFunction(cfg.buffer, cfg.hostOffset, HOST_BRIDGE_SPEC, init);
  host.add(0, 0, bridge);
  const virtio = cfg.functions.map((f) => {
    const irq = intxIrq(f.slot, 1);
    const t = new VirtioPciTransport(cfg.buffer, f, (l) => plic.setLevel(irq, l), init);
    host.add(f.slot, 0, t.fn);
    return t;
  });
  const irqWord = new Int32Array(cfg.buffer, cfg.irqOffset, 1);
  if (init) Atomics.store(irqWord, 0, 0);
  return { host, bridge, virtio, irqWord };
}
