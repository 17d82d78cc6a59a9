/**
 * The device tree of the `virt` board, as OpenSBI and Linux expect it and as QEMU's
 * riscv64 virt machine writes it (`-M virt,dumpdtb=FILE`): /cpus with one cpu@N and its
 * local interrupt controller per hart, /memory, /soc with the CLINT, the PLIC, the test
 * (syscon) device, UART0 and the goldfish RTC, the syscon poweroff and reboot nodes,
 * /chosen and /aliases.
 *
 * The PCIe host bridge's node comes from pci/host.ts through `extraNodes`. Devices we do
 * not emulate yet (virtio-mmio, flash, fw-cfg, the PMU node) are left out; one `addMmioDevice` call adds a /soc device with its PLIC interrupts, and
 * `VirtDtConfig.devices` takes a list of them.
 *
 * Deliberate differences from QEMU 7.2's tree (see test/cpu/fdt.test.ts): riscv,ndev is
 * 95 (sources 1..95; QEMU 7.2 says 96, later QEMU 95), the cpus also carry
 * riscv,isa-base / riscv,isa-extensions (the newer binding; Linux 6.7+ prefers it), the
 * initrd bounds are 64-bit, and /aliases names serial0 (as later QEMU does).
 */
import { DeviceTree, type FdtNode } from './fdt.js';
import { CLINT_BASE, CLINT_SIZE } from './clint.js';
import { PLIC_BASE, PLIC_NDEV, PLIC_SIZE } from './plic.js';
import { RTC_BASE, RTC_IRQ, RTC_SIZE } from './goldfish-rtc.js';
import { TEST_BASE, TEST_SIZE } from './sifive-test.js';
import { UART0_BASE, UART0_IRQ, UART0_SIZE } from './uart.js';

export interface VirtDtConfig {
  harts: number;
  ramBase: number;
  ramSize: number;
  /** The ISA string for riscv,isa, e.g. "rv64imafdc_zicsr_zifencei_zba_zbb_zbs_sstc". */
  isa: string;
  mmuType: 'riscv,sv39' | 'riscv,sv48' | 'riscv,sv57';
  bootargs?: string;
  initrd?: { start: number; end: number };
  timebaseHz: number;
  /** Bytes for /chosen/rng-seed (Linux seeds its RNG with them early); none when absent. */
  rngSeed?: Uint8Array;
  /** More devices on /soc (virtio-mmio, ...). */
  devices?: readonly MmioDeviceNode[];
  /** Adds further nodes (the PCIe host bridge) before the tree is flattened. */
  extraNodes?: readonly ((vt: VirtTree) => void)[];
}

/** An MMIO device on /soc, interrupting through the PLIC. */
export interface MmioDeviceNode {
  /** Node name before the unit address ("virtio_mmio"). */
  name: string;
  base: number;
  size: number;
  compatible: readonly string[];
  /** PLIC interrupt sources. */
  irqs?: readonly number[];
  /** Further properties. */
  props?: (node: FdtNode) => void;
}

/** The tree before flattening, with the nodes other nodes refer to. */
export interface VirtTree {
  tree: DeviceTree;
  soc: FdtNode;
  plic: FdtNode;
  /** Each hart's riscv,cpu-intc node. */
  intcs: FdtNode[];
}

/** 64 bytes: the cache-block size the Zicbom/Zicboz/Zicbop instructions work on. */
export const CACHE_BLOCK_BYTES = 64;

const hex = (n: number) => n.toString(16);

/**
 * Splits an ISA string ("rv64gc_zba_zbb", "rv64imafdch_zicsr_sstc") into its base
 * ("rv64i") and the lower-case extension names riscv,isa-extensions lists ("i", "m",
 * ..., "zicsr", ...); G is expanded to IMAFD_Zicsr_Zifencei.
 */
export function parseIsa(isa: string): { base: string; extensions: string[] } {
  const s = isa.toLowerCase();
  const m = /^rv(32|64)([a-z0-9_]*)$/.exec(s);
  if (!m) throw new RangeError(`not a RISC-V ISA string: '${isa}'`);
  const xlen = m[1]!;
  const [letters = '', ...multi] = m[2]!.split('_');
  const exts: string[] = [];
  const add = (e: string) => {
    if (e && !exts.includes(e)) exts.push(e);
  };
  const later: string[] = [];
  // The first segment holds single-letter extensions (each maybe with a version, "i2p1"),
  // unless it already is a multi-letter one.
  if (/^[zsx]/.test(letters)) multi.unshift(letters);
  else {
    for (const c of letters.replace(/[0-9]+(p[0-9]+)?/g, '')) {
      if (c === 'g') {
        for (const e of ['i', 'm', 'a', 'f', 'd']) add(e);
        later.push('zicsr', 'zifencei');
      } else add(c);
    }
  }
  if (!exts.includes('i') && !exts.includes('e')) throw new RangeError(`ISA string '${isa}' has no base (I or E)`);
  for (const e of multi) add(e.replace(/[0-9]+(p[0-9]+)?$/, ''));
  for (const e of later) add(e);
  return { base: `rv${xlen}${exts.includes('e') && !exts.includes('i') ? 'e' : 'i'}`, extensions: exts };
}

/** Adds a /soc device: reg, compatible, and its PLIC interrupts. */
export function addMmioDevice(vt: VirtTree, d: MmioDeviceNode): FdtNode {
  const n = vt.soc.child(`${d.name}@${hex(d.base)}`);
  if (d.irqs && d.irqs.length > 0) n.interrupts(vt.plic, ...d.irqs);
  d.props?.(n);
  n.reg([d.base, d.size]);
  n.strings('compatible', d.compatible);
  return n;
}

/** The virt board's tree, for callers that add nodes before flattening it. */
export function buildVirtTree(cfg: VirtDtConfig): VirtTree {
  if (!Number.isInteger(cfg.harts) || cfg.harts < 1) throw new RangeError(`invalid hart count ${cfg.harts}`);
  const isa = parseIsa(cfg.isa);
  const tree = new DeviceTree();
  const root = tree.root;
  root.u32('#address-cells', 2).u32('#size-cells', 2);
  root.string('compatible', 'riscv-virtio').string('model', 'riscv-virtio,qemu');

  // /cpus: one node per hart, each with its local interrupt controller (mip bits)
  const cpus = root.child('cpus');
  cpus.u32('#address-cells', 1).u32('#size-cells', 0).u32('timebase-frequency', cfg.timebaseHz);
  const cpuNodes: FdtNode[] = [];
  const intcs: FdtNode[] = [];
  for (let h = 0; h < cfg.harts; h++) {
    const cpu = cpus.child(`cpu@${hex(h)}`);
    cpu.phandle();
    cpu.string('device_type', 'cpu').u32('reg', h).string('status', 'okay').string('compatible', 'riscv');
    cpu.string('riscv,isa', cfg.isa);
    cpu.string('riscv,isa-base', isa.base).strings('riscv,isa-extensions', isa.extensions);
    if (isa.extensions.includes('zicbom')) cpu.u32('riscv,cbom-block-size', CACHE_BLOCK_BYTES);
    if (isa.extensions.includes('zicboz')) cpu.u32('riscv,cboz-block-size', CACHE_BLOCK_BYTES);
    if (isa.extensions.includes('zicbop')) cpu.u32('riscv,cbop-block-size', CACHE_BLOCK_BYTES);
    cpu.string('mmu-type', cfg.mmuType);
    const intc = cpu.child('interrupt-controller');
    intc.u32('#interrupt-cells', 1).empty('interrupt-controller').string('compatible', 'riscv,cpu-intc');
    intc.phandle();
    cpuNodes.push(cpu);
    intcs.push(intc);
  }
  const cluster = cpus.child('cpu-map').child('cluster0');
  cpuNodes.forEach((cpu, h) => cluster.child(`core${h}`).ref('cpu', cpu));

  const mem = root.child(`memory@${hex(cfg.ramBase)}`);
  mem.string('device_type', 'memory').reg([cfg.ramBase, cfg.ramSize]);

  const soc = root.child('soc');
  soc.u32('#address-cells', 2).u32('#size-cells', 2).string('compatible', 'simple-bus').ranges();

  // CLINT: machine software (3) and timer (7) interrupts of every hart
  const clint = soc.child(`clint@${hex(CLINT_BASE)}`);
  clint.interruptsExtended(intcs.flatMap((ic) => [[ic, 3], [ic, 7]] as const));
  clint.reg([CLINT_BASE, CLINT_SIZE]).strings('compatible', ['sifive,clint0', 'riscv,clint0']);

  // PLIC: contexts 2h (M-mode external, 11) and 2h+1 (S-mode external, 9)
  const plic = soc.child(`plic@${hex(PLIC_BASE)}`);
  plic.phandle();
  plic.u32('riscv,ndev', PLIC_NDEV).reg([PLIC_BASE, PLIC_SIZE]);
  plic.interruptsExtended(intcs.flatMap((ic) => [[ic, 11], [ic, 9]] as const));
  plic.empty('interrupt-controller').strings('compatible', ['sifive,plic-1.0.0', 'riscv,plic0']);
  plic.u32('#address-cells', 0).u32('#interrupt-cells', 1);

  const vt: VirtTree = { tree, soc, plic, intcs };

  const test = soc.child(`test@${hex(TEST_BASE)}`);
  test.phandle();
  test.reg([TEST_BASE, TEST_SIZE]).strings('compatible', ['sifive,test1', 'sifive,test0', 'syscon']);

  addMmioDevice(vt, {
    name: 'serial',
    base: UART0_BASE,
    size: UART0_SIZE,
    compatible: ['ns16550a'],
    irqs: [UART0_IRQ],
    props: (n) => n.u32('clock-frequency', 0x384000),
  });
  addMmioDevice(vt, { name: 'rtc', base: RTC_BASE, size: RTC_SIZE, compatible: ['google,goldfish-rtc'], irqs: [RTC_IRQ] });
  for (const d of cfg.devices ?? []) addMmioDevice(vt, d);
  for (const add of cfg.extraNodes ?? []) add(vt);

  // the syscon drivers write `value` at `offset` of the test device
  root.child('poweroff').u32('value', 0x5555).u32('offset', 0).ref('regmap', test).string('compatible', 'syscon-poweroff');
  root.child('reboot').u32('value', 0x7777).u32('offset', 0).ref('regmap', test).string('compatible', 'syscon-reboot');

  const serialPath = `/soc/serial@${hex(UART0_BASE)}`;
  const chosen = root.child('chosen');
  if (cfg.initrd) chosen.u64('linux,initrd-end', cfg.initrd.end).u64('linux,initrd-start', cfg.initrd.start);
  if (cfg.rngSeed) chosen.setProp('rng-seed', cfg.rngSeed.slice());
  if (cfg.bootargs !== undefined) chosen.string('bootargs', cfg.bootargs);
  chosen.string('stdout-path', serialPath);
  root.child('aliases').string('serial0', serialPath);
  return vt;
}

/** The virt board's device tree blob. */
export function buildVirtDeviceTree(cfg: VirtDtConfig): Uint8Array {
  return buildVirtTree(cfg).tree.toBlob();
}
