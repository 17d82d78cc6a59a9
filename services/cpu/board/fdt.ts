/**
 * A flattened device tree (DTB) writer, format version 17 as the Devicetree
 * Specification (v0.4, chapter 5) lays it out:
 *
 *   header (40 bytes, big-endian u32s)
 *   memory reservation block: (address, size) u64 pairs, ended by a (0, 0) pair
 *   structure block: FDT_BEGIN_NODE name / FDT_PROP len nameoff value / FDT_END_NODE ...
 *                    FDT_END; every token 4-byte aligned, properties before subnodes
 *   strings block: property names, NUL-terminated, each stored once
 *
 * Build the tree with `DeviceTree` and `FdtNode` (properties are kept in the order they
 * are set, children in the order they are added), then `toBlob()`. Cells are u32; a
 * number or bigint wider than the cells asked for is an error, not a silent truncation.
 * Phandles are handed out on demand (`node.phandle()`), so a node that nobody references
 * has none.
 */

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_END = 9;
const FDT_VERSION = 17;
const FDT_LAST_COMP_VERSION = 16;
const HEADER_BYTES = 40;

/** A 64-bit address or size: a safe integer, or a bigint. */
export type Addr = number | bigint;

const encoder = new TextEncoder();

function toBig(v: Addr, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n) throw new RangeError(`${what}: negative value ${v}`);
    return v;
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${v} is not a non-negative integer`);
  return BigInt(v);
}

/** `v` as `n` big-endian u32 cells. */
export function toCells(v: Addr, n: number, what = 'value'): number[] {
  const b = toBig(v, what);
  if (n < 0 || n > 4) throw new RangeError(`${what}: ${n} cells`);
  if (n < 4 && b >> BigInt(32 * n) !== 0n) throw new RangeError(`${what}: 0x${b.toString(16)} does not fit in ${n} cell(s)`);
  const out: number[] = [];
  for (let i = n - 1; i >= 0; i--) out.push(Number((b >> BigInt(32 * i)) & 0xffffffffn));
  return out;
}

function cellBytes(cells: readonly number[], what: string): Uint8Array {
  const out = new Uint8Array(cells.length * 4);
  const dv = new DataView(out.buffer);
  cells.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) throw new RangeError(`${what}: cell ${c} is not a u32`);
    dv.setUint32(i * 4, c);
  });
  return out;
}

function stringBytes(list: readonly string[], what: string): Uint8Array {
  const parts = list.map((s) => {
    if (s.includes('\0')) throw new RangeError(`${what}: a string holds a NUL`);
    return encoder.encode(s);
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length + 1;
  }
  return out;
}

// Devicetree Specification 2.2.1 / 2.2.4: allowed characters of node and property names.
const NODE_NAME = /^[0-9A-Za-z,._+-]{1,31}(@[0-9A-Za-z,._+-]+)?$/;
const PROP_NAME = /^[0-9A-Za-z,._+?#-]{1,31}$/;

interface Prop {
  name: string;
  value: Uint8Array;
}

export class FdtNode {
  private readonly props: Prop[] = [];
  private readonly kids: FdtNode[] = [];
  private handle = 0;

  /** Use `DeviceTree.root` and `node.child()`. */
  constructor(
    readonly name: string,
    readonly parent: FdtNode | undefined,
    private readonly tree: DeviceTree,
  ) {}

  /** The node's path, "/" for the root. */
  get path(): string {
    if (!this.parent) return '/';
    const up = this.parent.path;
    return up === '/' ? `/${this.name}` : `${up}/${this.name}`;
  }

  get children(): readonly FdtNode[] {
    return this.kids;
  }

  /** Adds a child node; its name must be new among its siblings. */
  child(name: string): FdtNode {
    if (!NODE_NAME.test(name)) throw new RangeError(`invalid node name '${name}'`);
    if (this.kids.some((k) => k.name === name)) throw new Error(`${this.path}: node '${name}' exists already`);
    const n = new FdtNode(name, this, this.tree);
    this.kids.push(n);
    return n;
  }

  /** The child called `name`, if any. */
  find(name: string): FdtNode | undefined {
    return this.kids.find((k) => k.name === name);
  }

  /** Sets a property to raw bytes (replacing an earlier value, keeping its place). */
  setProp(name: string, value: Uint8Array): this {
    if (!PROP_NAME.test(name)) throw new RangeError(`invalid property name '${name}'`);
    const old = this.props.find((p) => p.name === name);
    if (old) old.value = value;
    else this.props.push({ name, value });
    return this;
  }

  getProp(name: string): Uint8Array | undefined {
    return this.props.find((p) => p.name === name)?.value;
  }

  hasProp(name: string): boolean {
    return this.props.some((p) => p.name === name);
  }

  /** A property with no value (`interrupt-controller;`). */
  empty(name: string): this {
    return this.setProp(name, new Uint8Array(0));
  }

  /** `name = <a b c>`: u32 cells. */
  u32(name: string, ...cells: number[]): this {
    return this.setProp(name, cellBytes(cells, `${this.path}:${name}`));
  }

  /** `name = /bits/ 64 <a b>`: each value as two cells. */
  u64(name: string, ...values: Addr[]): this {
    return this.u32(name, ...values.flatMap((v) => toCells(v, 2, `${this.path}:${name}`)));
  }

  string(name: string, s: string): this {
    return this.setProp(name, stringBytes([s], `${this.path}:${name}`));
  }

  /** A string list: `"a", "b"` (NUL-separated). */
  strings(name: string, list: readonly string[]): this {
    if (list.length === 0) throw new RangeError(`${this.path}:${name}: an empty string list`);
    return this.setProp(name, stringBytes(list, `${this.path}:${name}`));
  }

  /** A u32 property holding another node's phandle (interrupt-parent, regmap, cpu). */
  ref(name: string, target: FdtNode): this {
    return this.u32(name, target.phandle());
  }

  /**
   * `reg`: (address, size) pairs, in the parent's #address-cells and #size-cells
   * (2 and 1 when the parent does not say, as the specification's defaults).
   */
  reg(...entries: Array<readonly [Addr, Addr]>): this {
    const p = this.parent;
    if (!p) throw new Error('the root node has no reg');
    const ac = p.cellCount('#address-cells', 2);
    const sc = p.cellCount('#size-cells', 1);
    const what = `${this.path}:reg`;
    return this.u32('reg', ...entries.flatMap(([a, s]) => [...toCells(a, ac, what), ...toCells(s, sc, what)]));
  }

  /**
   * `ranges`: (child address, parent address, size) triples in this node's
   * #address-cells, the parent's #address-cells and this node's #size-cells; no
   * entries is the empty `ranges;` (identity mapping).
   */
  ranges(...entries: Array<readonly [Addr, Addr, Addr]>): this {
    if (entries.length === 0) return this.empty('ranges');
    const p = this.parent;
    if (!p) throw new Error('the root node has no ranges');
    const cac = this.cellCount('#address-cells', 2);
    const pac = p.cellCount('#address-cells', 2);
    const sc = this.cellCount('#size-cells', 1);
    const what = `${this.path}:ranges`;
    return this.u32(
      'ranges',
      ...entries.flatMap(([c, a, s]) => [...toCells(c, cac, what), ...toCells(a, pac, what), ...toCells(s, sc, what)]),
    );
  }

  /**
   * `interrupts-extended`: for each interrupt, the controller and its specifier cells
   * (as many as the controller's #interrupt-cells says).
   */
  interruptsExtended(entries: ReadonlyArray<readonly [FdtNode, ...number[]]>): this {
    const cells: number[] = [];
    for (const [ctrl, ...spec] of entries) {
      const n = ctrl.cellCount('#interrupt-cells', -1);
      if (n !== spec.length) {
        throw new RangeError(`${this.path}: ${ctrl.path} takes ${n} interrupt cell(s), not ${spec.length}`);
      }
      cells.push(ctrl.phandle(), ...spec);
    }
    return this.u32('interrupts-extended', ...cells);
  }

  /** `interrupts` and `interrupt-parent`: interrupts of one controller. */
  interrupts(parent: FdtNode, ...spec: number[]): this {
    const n = parent.cellCount('#interrupt-cells', -1);
    if (n <= 0 || spec.length % n !== 0) throw new RangeError(`${this.path}: ${parent.path} takes ${n} interrupt cell(s) per interrupt`);
    return this.u32('interrupts', ...spec).ref('interrupt-parent', parent);
  }

  /** This node's phandle, allocated (and its `phandle` property set) on first use. */
  phandle(): number {
    if (this.handle === 0) {
      this.handle = this.tree.allocPhandle();
      this.u32('phandle', this.handle);
    }
    return this.handle;
  }

  private cellCount(name: string, dflt: number): number {
    const v = this.getProp(name);
    if (!v) {
      if (dflt < 0) throw new Error(`${this.path} has no ${name}`);
      return dflt;
    }
    if (v.length !== 4) throw new Error(`${this.path}:${name} is not one cell`);
    return new DataView(v.buffer, v.byteOffset, 4).getUint32(0);
  }

  /** @internal serialization: props first, then children, as the format requires */
  emit(out: StructWriter, strings: StringTable): void {
    out.u32(FDT_BEGIN_NODE);
    out.bytes(encoder.encode(this.name));
    out.u8(0);
    out.align4();
    for (const p of this.props) {
      out.u32(FDT_PROP);
      out.u32(p.value.length);
      out.u32(strings.offsetOf(p.name));
      out.bytes(p.value);
      out.align4();
    }
    for (const k of this.kids) k.emit(out, strings);
    out.u32(FDT_END_NODE);
  }
}

/** @internal a growable big-endian byte buffer */
class StructWriter {
  private buf = new Uint8Array(4096);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.length));
    this.buf = nb;
    this.dv = new DataView(nb.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.dv.setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  align4(): void {
    while (this.length % 4 !== 0) this.u8(0);
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** @internal the strings block: each name stored once */
class StringTable {
  private readonly offsets = new Map<string, number>();
  private readonly w = new StructWriter();

  offsetOf(name: string): number {
    let off = this.offsets.get(name);
    if (off === undefined) {
      off = this.w.length;
      this.offsets.set(name, off);
      this.w.bytes(encoder.encode(name));
      this.w.u8(0);
    }
    return off;
  }

  result(): Uint8Array {
    return this.w.result();
  }
}

export class DeviceTree {
  readonly root: FdtNode = new FdtNode('', undefined, this);
  /** The boot CPU's physical id, in the header. */
  bootCpuid = 0;
  private readonly reserved: Array<[bigint, bigint]> = [];
  private nextPhandle = 1;

  /** @internal */
  allocPhandle(): number {
    return this.nextPhandle++;
  }

  /** Adds a memory reservation block entry. */
  reserve(address: Addr, size: Addr): void {
    this.reserved.push([toBig(address, 'reservation address'), toBig(size, 'reservation size')]);
  }

  /** The node at an absolute path ("/soc/serial@10000000"), if any. */
  find(path: string): FdtNode | undefined {
    if (!path.startsWith('/')) return undefined;
    let n: FdtNode | undefined = this.root;
    for (const part of path.split('/').filter((s) => s.length > 0)) {
      n = n.find(part);
      if (!n) return undefined;
    }
    return n;
  }

  /** Creates every missing node along an absolute path and returns the last. */
  ensure(path: string): FdtNode {
    let n = this.root;
    for (const part of path.split('/').filter((s) => s.length > 0)) n = n.find(part) ?? n.child(part);
    return n;
  }

  /** The flattened tree. */
  toBlob(): Uint8Array {
    const strings = new StringTable();
    const st = new StructWriter();
    this.root.emit(st, strings);
    st.u32(FDT_END);
    const structBlock = st.result();
    const stringBlock = strings.result();

    const rsvOff = HEADER_BYTES; // 8-byte aligned
    const rsvLen = 16 * (this.reserved.length + 1);
    const structOff = rsvOff + rsvLen; // 4-byte aligned
    const stringsOff = structOff + structBlock.length;
    const total = stringsOff + stringBlock.length;

    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    const header = [
      FDT_MAGIC,
      total,
      structOff,
      stringsOff,
      rsvOff,
      FDT_VERSION,
      FDT_LAST_COMP_VERSION,
      this.bootCpuid,
      stringBlock.length,
      structBlock.length,
    ];
    header.forEach((v, i) => dv.setUint32(i * 4, v >>> 0));
    this.reserved.forEach(([a, s], i) => {
      dv.setBigUint64(rsvOff + 16 * i, a);
      dv.setBigUint64(rsvOff + 16 * i + 8, s);
    });
    out.set(structBlock, structOff);
    out.set(stringBlock, stringsOff);
    return out;
  }
}
