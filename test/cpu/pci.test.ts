/**
 * The PCIe host bridge (services/cpu/board/pci): its device tree node against the one
 * `qemu-system-riscv64 -M virt,dumpdtb=FILE` writes (every property, the PLIC phandle
 * compared by what it names), and its configuration space as Linux's scan reads it
 * through ECAM: the host bridge at 00:00.0, all ones for empty slots, BAR sizing, the
 * virtio capabilities, the INTx swizzle.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildVirtDeviceTree } from '../../services/cpu/board/virt-dt.js';
import { addPcieHostNode, intxIrq, PCIE_ECAM_BASE } from '../../services/cpu/board/pci/host.js';
import { buildPci, planPci } from '../../services/cpu/board/pci/board.js';
import { Plic } from '../../services/cpu/board/plic.js';
import { tempDir } from '../helpers/procs.js';

/** Properties of a node of a DTS (as dtc writes it) and the phandle of every labelled node. */
function dtsNode(dts: string, name: string): Map<string, string> {
  const start = dts.indexOf(`\t${name} {`);
  if (start < 0) throw new Error(`no node ${name}`);
  const body = dts.slice(dts.indexOf('{', start) + 1, dts.indexOf('\n\t\t};', start));
  const props = new Map<string, string>();
  for (const line of body.split('\n')) {
    const m = /^\s*([#\w,.-]+)(?: = (.*))?;$/.exec(line);
    if (m) props.set(m[1]!, m[2] ?? '');
  }
  return props;
}

function plicPhandle(dts: string): string {
  const at = dts.indexOf('plic@c000000 {');
  return /phandle = <(0x[0-9a-f]+)>/.exec(dts.slice(at, dts.indexOf('};', at)))![1]!;
}

test('the pci@30000000 node is the one QEMU virt writes', (t) => {
  const dir = tempDir(t);
  const qemuDtb = join(dir, 'qemu.dtb');
  execFileSync('qemu-system-riscv64', ['-M', `virt,dumpdtb=${qemuDtb}`, '-smp', '2', '-m', '512M', '-nographic', '-display', 'none'], { stdio: 'ignore' });
  const ours = join(dir, 'ours.dtb');
  writeFileSync(ours, buildVirtDeviceTree({ harts: 2, ramBase: 0x80000000, ramSize: 512 << 20, isa: 'rv64imafdc', mmuType: 'riscv,sv48', timebaseHz: 10_000_000, extraNodes: [addPcieHostNode] }));
  const dts = (f: string) => execFileSync('dtc', ['-I', 'dtb', '-O', 'dts', f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const q = dts(qemuDtb);
  const o = dts(ours);
  const qp = dtsNode(q, 'pci@30000000');
  const op = dtsNode(o, 'pci@30000000');
  const norm = (v: string, plic: string) => v.replaceAll(` ${plic} `, ' PLIC ');
  t.deepEqual([...op.keys()].sort(), [...qp.keys()].sort());
  for (const [k, v] of qp) t.is(norm(op.get(k)!, plicPhandle(o)), norm(v, plicPhandle(q)), k);
});

test('ECAM: host bridge, empty slots, BAR sizing and placement, capabilities, INTx', (t) => {
  const plan = planPci([{ kind: 'virtio-blk', id: 'd0', numQueues: 2, queueSize: 256 }]);
  const buffer = new SharedArrayBuffer(plan.bytes);
  const ctl = new Int32Array(new SharedArrayBuffer(256));
  const plic = new Plic(new SharedArrayBuffer(Plic.bytesFor(1)), 0, 1, () => ctl, true);
  const pci = buildPci({ buffer, irqOffset: plan.irqOffset, hostOffset: plan.hostOffset, functions: plan.functions }, plic, true);
  const ecam = pci.host.ecam;
  const cfg = (slot: number, reg: number, size = 4) => Number(ecam.read((slot << 15) | reg, size)) >>> 0;
  t.is(cfg(0, 0), 0x00081b36, 'host bridge 1b36:0008');
  t.is(cfg(0, 8) >>> 8, 0x060000, 'class: host bridge');
  t.is(cfg(1, 0), 0x10421af4, 'virtio-blk (modern) 1af4:1042');
  t.is(cfg(1, 8) & 0xff, 1, 'revision 1');
  t.is(cfg(2, 0), 0xffffffff, 'an empty slot reads all ones');
  t.is(Number(ecam.read((1 << 20) | 0, 4)) >>> 0, 0xffffffff, 'bus 1 is empty');
  t.is(cfg(1, 0x3d, 1), 1, 'INTA#');
  t.is(intxIrq(1, 1), 33, 'slot 1 INTA# is PLIC source 33 as on QEMU virt');
  t.is(intxIrq(0, 1), 32);
  t.is(intxIrq(3, 2), 32);

  // BAR 4: 64-bit prefetchable, 16 KiB
  ecam.write((1 << 15) | 0x20, 4, 0xffffffff);
  ecam.write((1 << 15) | 0x24, 4, 0xffffffff);
  t.is(cfg(1, 0x20), (~(0x4000 - 1) & ~15 | 0xc) >>> 0);
  t.is(cfg(1, 0x24), 0xffffffff);
  ecam.write((1 << 15) | 0x20, 4, 0);
  ecam.write((1 << 15) | 0x24, 4, 4);
  t.is(cfg(1, 0x10), 0, 'unused BARs are read-only zero');

  // the vendor capabilities: common, ISR, device, notify, PCI_CFG
  t.truthy(cfg(1, 0x06, 2) & 0x10, 'capability list');
  const types: number[] = [];
  for (let at = cfg(1, 0x34, 1); at !== 0; at = cfg(1, at + 1, 1)) {
    t.is(cfg(1, at, 1), 9);
    types.push(cfg(1, at + 3, 1));
    if (cfg(1, at + 3, 1) !== 5) t.is(cfg(1, at + 4, 1), 4, 'in BAR 4'); // PCI_CFG's bar is the driver's to set
  }
  t.deepEqual(types, [1, 3, 4, 2, 5]);

  // memory decoding on: the BAR answers at 0x400000000 through the high window
  ecam.write((1 << 15) | 0x04, 2, 0x0002);
  const hit = pci.host.functionAt(1)!.barAt(false, 0x400000000 + 0x12);
  t.truthy(hit);
  t.is(hit!.base, 0x400000000);
  const common = pci.virtio[0]!.bar;
  t.is(Number(common.read(0x12, 2)), 2, 'num_queues');
  t.is(Number(common.read(0x18, 2)), 256, 'queue_size');
  t.is(Number(common.read(0x10, 2)), 0xffff, 'no MSI-X vector');
  // VIRTIO_PCI_CAP_PCI_CFG: bar 4, offset 0x12, length 2 reads num_queues through config space
  let at = cfg(1, 0x34, 1);
  while (cfg(1, at + 3, 1) !== 5) at = cfg(1, at + 1, 1);
  ecam.write((1 << 15) | (at + 4), 1, 4);
  ecam.write((1 << 15) | (at + 8), 4, 0x12);
  ecam.write((1 << 15) | (at + 12), 4, 2);
  t.is(cfg(1, at + 16), 2);
  void PCIE_ECAM_BASE;
});
