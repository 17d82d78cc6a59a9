/**
 * The device tree writer (services/cpu/board/fdt.ts) and the virt board's tree
 * (services/cpu/board/virt-dt.ts), checked against the real tools: dtc decompiles our
 * blob without errors, and without warnings that QEMU's own tree does not draw too; and
 * node by node our tree matches what `qemu-system-riscv64 -M virt,dumpdtb=FILE` writes
 * (nodes, compatible strings, reg, interrupt wiring, every other property QEMU sets),
 * apart from the devices we do not emulate yet and the differences listed below. Phandles
 * are compared by the path of the node they name, not by number.
 */
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceTree, toCells } from '../../services/cpu/board/fdt.js';
import { addMmioDevice, buildVirtDeviceTree, buildVirtTree, parseIsa, type VirtDtConfig } from '../../services/cpu/board/virt-dt.js';
import { run, tempDir } from '../helpers/procs.js';

const QEMU = 'qemu-system-riscv64';
const DTC = 'dtc';

// ---- what we leave out, or do differently, on purpose ----

/** QEMU nodes for devices we do not emulate yet. */
const NOT_EMULATED = [/^\/pmu$/, /^\/fw-cfg@/, /^\/flash@/, /^\/platform-bus@/, /^\/soc\/pci@/, /^\/soc\/virtio_mmio@/];
/** Nodes only we have: /aliases (later QEMU has it too). */
const OURS_ONLY_NODES = ['/aliases'];
/** Properties only QEMU sets: a random seed (ours is optional, tested apart). */
const QEMU_ONLY_PROPS: Record<string, string[]> = { '/chosen': ['rng-seed'] };
/** Properties only we set: the newer ISA binding and the cache-block sizes. */
const OURS_ONLY_PROPS = /^(riscv,isa-base|riscv,isa-extensions|riscv,cbo[mzp]-block-size)$/;

// ---- reading dtc's DTS output ----

interface DtsNode {
  path: string;
  props: Map<string, Uint8Array>;
  children: Map<string, DtsNode>;
}

interface Dts {
  root: DtsNode;
  memreserve: Array<[bigint, bigint]>;
}

/** Parses the DTS that `dtc -O dts` writes from a blob, every value to its bytes. */
function parseDts(text: string): Dts {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`DTS parse error at ${i} (${JSON.stringify(text.slice(i, i + 40))}): ${what}`);
  };
  const skip = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i]!)) i++;
      if (text.startsWith('//', i)) i = text.indexOf('\n', i) < 0 ? text.length : text.indexOf('\n', i);
      else if (text.startsWith('/*', i)) i = text.indexOf('*/', i) + 2;
      else return;
    }
  };
  const expect = (s: string) => {
    skip();
    if (!text.startsWith(s, i)) fail(`expected '${s}'`);
    i += s.length;
  };
  const name = (): string => {
    skip();
    const m = /^[A-Za-z0-9,._+*#?@-]+/.exec(text.slice(i, i + 200));
    if (!m) fail('expected a name');
    i += m![0].length;
    return m![0];
  };
  const num = (): bigint => {
    skip();
    const m = /^(0x[0-9a-fA-F]+|[0-9]+)/.exec(text.slice(i, i + 40));
    if (!m) fail('expected a number');
    i += m![0].length;
    return BigInt(m![0]);
  };
  const value = (): Uint8Array => {
    const out: number[] = [];
    for (;;) {
      skip();
      if (text[i] === '<') {
        i++;
        for (;;) {
          skip();
          if (text[i] === '>') break;
          const c = Number(num());
          out.push((c >>> 24) & 255, (c >>> 16) & 255, (c >>> 8) & 255, c & 255);
        }
        i++;
      } else if (text[i] === '"') {
        i++;
        while (text[i] !== '"') {
          if (i >= text.length) fail('unterminated string');
          if (text[i] === '\\') {
            const c = text[++i]!;
            const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, v: 11, f: 12, '\\': 92, '"': 34, "'": 39 };
            if (c in simple) {
              out.push(simple[c]!);
              i++;
            } else if (c === 'x') {
              const m = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 1, i + 3))!;
              out.push(parseInt(m[0], 16));
              i += 1 + m[0].length;
            } else if (/[0-7]/.test(c)) {
              const m = /^[0-7]{1,3}/.exec(text.slice(i, i + 3))!;
              out.push(parseInt(m[0], 8));
              i += m[0].length;
            } else fail(`unknown escape \\${c}`);
          } else {
            out.push(...new TextEncoder().encode(text[i]!));
            i++;
          }
        }
        i++;
        out.push(0);
      } else if (text[i] === '[') {
        i++;
        for (;;) {
          skip();
          if (text[i] === ']') break;
          out.push(parseInt(text.slice(i, i + 2), 16));
          i += 2;
        }
        i++;
      } else fail('expected a value');
      skip();
      if (text[i] === ',') {
        i++;
        continue;
      }
      return new Uint8Array(out);
    }
  };
  const node = (path: string): DtsNode => {
    const n: DtsNode = { path, props: new Map(), children: new Map() };
    for (;;) {
      skip();
      if (text[i] === '}') {
        i++;
        expect(';');
        return n;
      }
      const nm = name();
      skip();
      if (text[i] === '{') {
        i++;
        n.children.set(nm, node(path === '/' ? `/${nm}` : `${path}/${nm}`));
      } else if (text[i] === ';') {
        i++;
        n.props.set(nm, new Uint8Array(0));
      } else {
        expect('=');
        n.props.set(nm, value());
        expect(';');
      }
    }
  };
  expect('/dts-v1/;');
  const memreserve: Array<[bigint, bigint]> = [];
  for (;;) {
    skip();
    if (!text.startsWith('/memreserve/', i)) break;
    i += '/memreserve/'.length;
    memreserve.push([num(), num()]);
    expect(';');
  }
  expect('/');
  expect('{');
  const root = node('/');
  return { root, memreserve };
}

function allNodes(n: DtsNode, out: Map<string, DtsNode> = new Map()): Map<string, DtsNode> {
  out.set(n.path, n);
  for (const c of n.children.values()) allNodes(c, out);
  return out;
}

const cells = (b: Uint8Array): number[] => {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.length >> 2 }, (_, k) => dv.getUint32(k * 4));
};
const strs = (b: Uint8Array): string[] => new TextDecoder().decode(b).split('\0').slice(0, -1);

/**
 * A property's value in a form that compares across trees: phandles become the paths
 * of the nodes they name.
 */
function normalize(tree: Map<string, DtsNode>, node: DtsNode, prop: string): unknown {
  const byPhandle = new Map<number, DtsNode>();
  for (const n of tree.values()) {
    const ph = n.props.get('phandle');
    if (ph) byPhandle.set(cells(ph)[0]!, n);
  }
  const target = (ph: number) => {
    const n = byPhandle.get(ph);
    if (!n) throw new Error(`${node.path}:${prop} names phandle ${ph}, which no node has`);
    return n;
  };
  const v = node.props.get(prop)!;
  switch (prop) {
    case 'interrupt-parent':
    case 'regmap':
    case 'cpu':
      return `&${target(cells(v)[0]!).path}`;
    case 'interrupts-extended': {
      const c = cells(v);
      const out: string[] = [];
      for (let k = 0; k < c.length; ) {
        const ctrl = target(c[k]!);
        const n = cells(ctrl.props.get('#interrupt-cells')!)[0]!;
        out.push(`&${ctrl.path} ${c.slice(k + 1, k + 1 + n).join(' ')}`);
        k += 1 + n;
      }
      return out;
    }
    case 'compatible':
      return strs(v);
    default:
      return Array.from(v);
  }
}

// ---- running the tools ----

async function dumpQemu(t: ExecutionContext, dir: string, args: string[]): Promise<string> {
  const path = join(dir, `qemu-${args.join('_').replace(/[^A-Za-z0-9_-]/g, '')}.dtb`);
  let r;
  try {
    r = await run(t, QEMU, ['-M', `virt,dumpdtb=${path}`, '-display', 'none', '-serial', 'none', '-monitor', 'none', ...args]);
  } catch (e) {
    throw new Error(`${QEMU} did not run (Debian package qemu-system-misc): ${(e as Error).message}`);
  }
  if (r.code !== 0) throw new Error(`${QEMU} failed: ${r.stderr}`);
  return path;
}

/** Decompiles a blob: the DTS and dtc's warnings. */
async function decompile(t: ExecutionContext, path: string): Promise<{ dts: string; warnings: string[] }> {
  let r;
  try {
    r = await run(t, DTC, ['-I', 'dtb', '-O', 'dts', '-o', '-', path]);
  } catch (e) {
    throw new Error(`${DTC} did not run (Debian package device-tree-compiler): ${(e as Error).message}`);
  }
  if (r.code !== 0) throw new Error(`dtc failed on ${path}: ${r.stderr}`);
  const warnings = r.stderr.split('\n').filter((l) => l.trim().length > 0);
  return { dts: r.stdout, warnings };
}

const QEMU_DEFAULT_ISA = 'rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc';

/** A config that mirrors what QEMU was run with, its ISA string and MMU type taken from its tree. */
function configLike(q: Map<string, DtsNode>, harts: number, ramSize: number): VirtDtConfig {
  const cpu0 = q.get('/cpus/cpu@0')!;
  return {
    harts,
    ramBase: 0x80000000,
    ramSize,
    isa: strs(cpu0.props.get('riscv,isa')!)[0]!,
    mmuType: strs(cpu0.props.get('mmu-type')!)[0] as VirtDtConfig['mmuType'],
    timebaseHz: cells(q.get('/cpus')!.props.get('timebase-frequency')!)[0]!,
  };
}

/** Every difference between QEMU's tree and ours that is not on the lists above. */
function compareTrees(q: Map<string, DtsNode>, o: Map<string, DtsNode>, special: (path: string, prop: string, qv: unknown, ov: unknown) => string | undefined = () => undefined): string[] {
  const diffs: string[] = [];
  for (const [path, qn] of q) {
    if (NOT_EMULATED.some((re) => re.test(path))) continue;
    const on = o.get(path);
    if (!on) {
      diffs.push(`missing node ${path}`);
      continue;
    }
    for (const prop of qn.props.keys()) {
      if (prop === 'phandle' || QEMU_ONLY_PROPS[path]?.includes(prop)) continue;
      if (!on.props.has(prop)) {
        diffs.push(`${path}: missing property ${prop}`);
        continue;
      }
      const qv = normalize(q, qn, prop);
      const ov = normalize(o, on, prop);
      const sp = special(path, prop, qv, ov);
      if (sp === 'ok') continue;
      if (sp !== undefined) diffs.push(sp);
      else if (JSON.stringify(qv) !== JSON.stringify(ov)) diffs.push(`${path}:${prop}: QEMU ${JSON.stringify(qv)}, ours ${JSON.stringify(ov)}`);
    }
    for (const prop of on.props.keys()) {
      if (prop === 'phandle' && qn.props.has('phandle')) continue;
      if (!qn.props.has(prop) && !OURS_ONLY_PROPS.test(prop)) diffs.push(`${path}: extra property ${prop}`);
    }
  }
  for (const path of o.keys()) {
    if (!q.has(path) && !OURS_ONLY_NODES.includes(path)) diffs.push(`extra node ${path}`);
  }
  return diffs;
}

/** riscv,ndev: QEMU 7.2 says 96 (one past the last source); the binding wants the count, 95. */
const ndevRule = (path: string, prop: string, qv: unknown, ov: unknown): string | undefined => {
  if (path === '/soc/plic@c000000' && prop === 'riscv,ndev') {
    const q = JSON.stringify(qv) === JSON.stringify([0, 0, 0, 96]) || JSON.stringify(qv) === JSON.stringify([0, 0, 0, 95]);
    return q && JSON.stringify(ov) === JSON.stringify([0, 0, 0, 95]) ? 'ok' : `riscv,ndev: QEMU ${JSON.stringify(qv)}, ours ${JSON.stringify(ov)}`;
  }
  return undefined;
};

// ---- against QEMU ----

for (const harts of [1, 2, 4]) {
  for (const [mem, ramSize] of [['128M', 128 * 2 ** 20], ['1G', 2 ** 30]] as const) {
    test(`virt tree matches qemu-system-riscv64 -M virt -smp ${harts} -m ${mem}`, async (t) => {
      const dir = tempDir(t);
      const qpath = await dumpQemu(t, dir, ['-smp', String(harts), '-m', mem]);
      const qd = await decompile(t, qpath);
      const q = allNodes(parseDts(qd.dts).root);

      const cfg = configLike(q, harts, ramSize);
      t.is(cfg.isa, QEMU_DEFAULT_ISA, "QEMU's default CPU changed: check the comparison still means what it did");
      const opath = join(dir, 'ours.dtb');
      writeFileSync(opath, buildVirtDeviceTree(cfg));
      const od = await decompile(t, opath);
      const o = allNodes(parseDts(od.dts).root);

      t.deepEqual(od.warnings.filter((w) => !qd.warnings.includes(w)), [], 'dtc warns about nothing it does not warn about in QEMU\'s tree');
      t.deepEqual(compareTrees(q, o, ndevRule), []);

      // the wiring, spelled out: each hart's M/S external and M soft/timer interrupts
      const intc = (h: number) => `&/cpus/cpu@${h}/interrupt-controller`;
      const plic = o.get('/soc/plic@c000000')!;
      t.deepEqual(normalize(o, plic, 'interrupts-extended'), Array.from({ length: harts }, (_, h) => [`${intc(h)} 11`, `${intc(h)} 9`]).flat());
      const clint = o.get('/soc/clint@2000000')!;
      t.deepEqual(normalize(o, clint, 'interrupts-extended'), Array.from({ length: harts }, (_, h) => [`${intc(h)} 3`, `${intc(h)} 7`]).flat());
      t.deepEqual(cells(o.get(`/memory@80000000`)!.props.get('reg')!), [0, 0x80000000, ...toCells(ramSize, 2)]);
      t.deepEqual(normalize(o, o.get('/soc/serial@10000000')!, 'interrupt-parent'), '&/soc/plic@c000000');
      t.deepEqual(cells(o.get('/soc/serial@10000000')!.props.get('interrupts')!), [10]);
      t.deepEqual(cells(o.get('/soc/rtc@101000')!.props.get('interrupts')!), [11]);
      t.deepEqual(strs(o.get('/aliases')!.props.get('serial0')!), ['/soc/serial@10000000']);
    });
  }
}

test('/chosen: bootargs and the initrd bounds as QEMU writes them for -append and -initrd', async (t) => {
  const dir = tempDir(t);
  const kernel = join(dir, 'kernel.bin');
  const initrd = join(dir, 'initrd.bin');
  writeFileSync(kernel, new Uint8Array(4096).fill(0x13)); // a flat image of nops
  writeFileSync(initrd, new Uint8Array(1000).fill(0xaa));
  const bootargs = 'console=ttyS0 root=/dev/vda rw "quoted"';
  const qpath = await dumpQemu(t, dir, ['-smp', '1', '-m', '128M', '-kernel', kernel, '-initrd', initrd, '-append', bootargs]);
  const q = allNodes(parseDts((await decompile(t, qpath)).dts).root);
  const qc = q.get('/chosen')!;
  // QEMU 7.2 writes the bounds in one cell when they fit; later QEMU and we write two.
  const num = (b: Uint8Array) => cells(b).reduce((a, c) => a * 2 ** 32 + c, 0);
  const start = num(qc.props.get('linux,initrd-start')!);
  const end = num(qc.props.get('linux,initrd-end')!);
  t.is(end - start, 1000);

  const opath = join(dir, 'ours.dtb');
  writeFileSync(opath, buildVirtDeviceTree({ ...configLike(q, 1, 128 * 2 ** 20), bootargs, initrd: { start, end } }));
  const od = await decompile(t, opath);
  const o = allNodes(parseDts(od.dts).root);
  const oc = o.get('/chosen')!;
  t.is(num(oc.props.get('linux,initrd-start')!), start);
  t.is(num(oc.props.get('linux,initrd-end')!), end);
  t.is(oc.props.get('linux,initrd-start')!.length, 8);
  const initrdRule = (path: string, prop: string) => (path === '/chosen' && prop.startsWith('linux,initrd-') ? 'ok' : undefined);
  t.deepEqual(compareTrees(q, o, (p, pr, qv, ov) => initrdRule(p, pr) ?? ndevRule(p, pr, qv, ov)), []);
  t.deepEqual(strs(oc.props.get('bootargs')!), [bootargs]);
});

// ---- our own choices ----

test('ISA strings: riscv,isa-base and riscv,isa-extensions, G expanded, versions dropped', (t) => {
  t.deepEqual(parseIsa('rv64imafdc_zicsr_zifencei_zba_zbb_zbs_sstc'), {
    base: 'rv64i',
    extensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'zba', 'zbb', 'zbs', 'sstc'],
  });
  t.deepEqual(parseIsa('RV64GC_Zba'), { base: 'rv64i', extensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zba', 'zicsr', 'zifencei'] });
  t.deepEqual(parseIsa('rv64gc_zicsr'), { base: 'rv64i', extensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei'] });
  t.deepEqual(parseIsa('rv32i2p1m_zicsr2p0'), { base: 'rv32i', extensions: ['i', 'm', 'zicsr'] });
  t.throws(() => parseIsa('x86_64'), { instanceOf: RangeError });
  t.throws(() => parseIsa('rv64mac'), { instanceOf: RangeError, message: /base/ });
});

test('cpus: cache-block sizes with Zicbom/Zicboz, and a random seed in /chosen when given', async (t) => {
  const dir = tempDir(t);
  const seed = new Uint8Array(32).map((_, k) => k * 7 + 1);
  const path = join(dir, 'ours.dtb');
  writeFileSync(
    path,
    buildVirtDeviceTree({
      harts: 3,
      ramBase: 0x80000000,
      ramSize: 6 * 2 ** 30,
      isa: 'rv64imafdc_zicsr_zifencei_zicbom_zicboz_svpbmt',
      mmuType: 'riscv,sv57',
      timebaseHz: 10_000_000,
      rngSeed: seed,
    }),
  );
  const { dts, warnings } = await decompile(t, path);
  t.true(warnings.every((w) => /interrupt_provider.*Missing #address-cells/.test(w)), warnings.join('\n'));
  const o = allNodes(parseDts(dts).root);
  for (let h = 0; h < 3; h++) {
    const cpu = o.get(`/cpus/cpu@${h}`)!;
    t.deepEqual(cells(cpu.props.get('riscv,cbom-block-size')!), [64]);
    t.deepEqual(cells(cpu.props.get('riscv,cboz-block-size')!), [64]);
    t.false(cpu.props.has('riscv,cbop-block-size'));
    t.deepEqual(strs(cpu.props.get('mmu-type')!), ['riscv,sv57']);
    t.deepEqual(strs(cpu.props.get('riscv,isa-extensions')!), ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'zicbom', 'zicboz', 'svpbmt']);
    t.is(normalize(o, o.get(`/cpus/cpu-map/cluster0/core${h}`)!, 'cpu'), `&/cpus/cpu@${h}`);
  }
  // 6 GiB of RAM needs both cells of the size
  t.deepEqual(cells(o.get('/memory@80000000')!.props.get('reg')!), [0, 0x80000000, 1, 0x80000000]);
  t.deepEqual(Array.from(o.get('/chosen')!.props.get('rng-seed')!), Array.from(seed));
  t.false(o.get('/chosen')!.props.has('bootargs'));
  t.false(o.get('/chosen')!.props.has('linux,initrd-start'));
});

test('adding a /soc device is one call: virtio-mmio as QEMU describes it', async (t) => {
  const dir = tempDir(t);
  const qpath = await dumpQemu(t, dir, ['-smp', '2', '-m', '256M']);
  const q = allNodes(parseDts((await decompile(t, qpath)).dts).root);
  const vt = buildVirtTree(configLike(q, 2, 256 * 2 ** 20));
  for (let k = 0; k < 8; k++) {
    addMmioDevice(vt, { name: 'virtio_mmio', base: 0x10001000 + 0x1000 * k, size: 0x1000, compatible: ['virtio,mmio'], irqs: [1 + k] });
  }
  const path = join(dir, 'ours.dtb');
  writeFileSync(path, vt.tree.toBlob());
  const o = allNodes(parseDts((await decompile(t, path)).dts).root);
  let n = 0;
  for (const [p, qn] of q) {
    if (!p.startsWith('/soc/virtio_mmio@')) continue;
    n++;
    const on = o.get(p);
    t.truthy(on, p);
    for (const prop of qn.props.keys()) t.deepEqual(normalize(o, on!, prop), normalize(q, qn, prop), `${p}:${prop}`);
  }
  t.is(n, 8);
});

// ---- the writer itself ----

test('blob layout: v17 header, reservation block, each property name stored once', async (t) => {
  const dt = new DeviceTree();
  dt.bootCpuid = 2;
  dt.reserve(0x80000000, 0x200000);
  dt.reserve(0x1_0000_0000n, 0x1000);
  const r = dt.root.u32('#address-cells', 2).u32('#size-cells', 1);
  const a = r.child('a@1000').reg([0x1000, 0x10]).string('status', 'okay');
  r.child('b').u64('big', 0x1_2345_6789n, 5).strings('list', ['x', 'yz', '']).empty('flag').ref('link', a);
  a.string('status', 'disabled'); // replaces, keeps its place
  const blob = dt.toBlob();
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const h = Array.from({ length: 10 }, (_, k) => dv.getUint32(k * 4));
  const [magic, total, offStruct, offStrings, offRsv, version, lastComp, boot, sizeStrings, sizeStruct] = h;
  t.is(magic, 0xd00dfeed);
  t.is(total, blob.length);
  t.is(version, 17);
  t.is(lastComp, 16);
  t.is(boot, 2);
  t.is(offRsv! % 8, 0);
  t.is(offStruct! % 4, 0);
  t.is(offStruct, offRsv! + 16 * 3);
  t.is(offStrings, offStruct! + sizeStruct!);
  t.is(offStrings! + sizeStrings!, total);
  t.is(dv.getUint32(offStruct! + sizeStruct! - 4), 9, 'the structure block ends with FDT_END');
  const names = new TextDecoder().decode(blob.subarray(offStrings!, offStrings! + sizeStrings!)).split('\0').slice(0, -1);
  t.deepEqual(names, ['#address-cells', '#size-cells', 'reg', 'status', 'phandle', 'big', 'list', 'flag', 'link']);

  const dir = tempDir(t);
  const path = join(dir, 'w.dtb');
  writeFileSync(path, blob);
  const { dts, warnings } = await decompile(t, path);
  t.deepEqual(warnings, []);
  const p = parseDts(dts);
  t.deepEqual(p.memreserve, [[0x80000000n, 0x200000n], [0x100000000n, 0x1000n]]);
  const o = allNodes(p.root);
  t.deepEqual(cells(o.get('/a@1000')!.props.get('reg')!), [0, 0x1000, 0x10]);
  t.deepEqual(strs(o.get('/a@1000')!.props.get('status')!), ['disabled']);
  t.deepEqual(cells(o.get('/b')!.props.get('big')!), [1, 0x23456789, 0, 5]);
  t.deepEqual(strs(o.get('/b')!.props.get('list')!), ['x', 'yz', '']);
  t.is(o.get('/b')!.props.get('flag')!.length, 0);
  t.deepEqual(cells(o.get('/b')!.props.get('link')!), cells(o.get('/a@1000')!.props.get('phandle')!));
  t.deepEqual(cells(o.get('/a@1000')!.props.get('phandle')!), [1]);
});

test('the writer refuses values that do not fit and malformed names', (t) => {
  const dt = new DeviceTree();
  const r = dt.root.u32('#address-cells', 1).u32('#size-cells', 1);
  t.throws(() => r.child('x@1').reg([0x1_0000_0000, 1]), { instanceOf: RangeError, message: /does not fit/ });
  t.throws(() => r.u32('bad', 2 ** 32), { instanceOf: RangeError });
  t.throws(() => r.u32('bad', -1), { instanceOf: RangeError });
  t.throws(() => r.child('has space'), { instanceOf: RangeError });
  t.throws(() => r.string('this-property-name-is-longer-than-31', 'x'), { instanceOf: RangeError });
  t.throws(() => r.string('nul', 'a\0b'), { instanceOf: RangeError });
  r.child('y');
  t.throws(() => r.child('y'), { message: /exists/ });
  const ic = r.child('ic').u32('#interrupt-cells', 2);
  t.throws(() => r.child('dev').interruptsExtended([[ic, 1]]), { instanceOf: RangeError, message: /2 interrupt cell/ });
  t.is(dt.find('/ic'), ic);
  t.is(dt.ensure('/ic/sub/leaf').path, '/ic/sub/leaf');
  t.deepEqual(toCells(0x1234_5678_9abcn, 2), [0x1234, 0x56789abc]);
});
