/**
 * x and memsave read virtual addresses as the hart sees them: through its Sv39/Sv48 page
 * tables in S/U mode (4 KiB pages and superpages), physically in M-mode or with satp off.
 */
import test from 'ava';
import { readGuest, type MachineControl } from '../../services/cpu/machine-service.js';
import type { Registers } from '../../proto/gen/machine.js';

const RAM = 0x80000000;

function machine(satp: bigint, priv: number) {
  const ram = new Uint8Array(1 << 20);
  const dv = new DataView(ram.buffer);
  const m = {
    name: 'vm',
    harts: 1,
    ramSize: ram.length,
    registers: (): Registers => ({ hart: 0, pc: '0x0', x: [], f: [], csrs: { satp: `0x${satp.toString(16)}` }, priv, state: 'paused' }),
    readPhysical: (addr: number, size: number) => (addr >= RAM && addr + size <= RAM + ram.length ? ram.slice(addr - RAM, addr - RAM + size) : undefined),
  } as unknown as MachineControl;
  const pte = (at: number, pa: number, leaf: boolean) => dv.setBigUint64(at - RAM, (BigInt(pa >>> 12) << 10n) | (leaf ? 0xfn : 0x1n), true);
  return { m, ram, pte };
}

test('Sv39: 4 KiB pages, a 2 MiB megapage, a hole; M-mode and satp=0 read physically', (t) => {
  const root = RAM + 0x1000;
  const { m, ram, pte } = machine((8n << 60n) | BigInt((root >>> 12) & 0xfffff), 1);
  // VA 0x40000000 -> level 2 index 1 -> table at +0x2000 -> level 1 index 0 -> table at +0x3000
  pte(root + 1 * 8, RAM + 0x2000, false);
  pte(RAM + 0x2000, RAM + 0x3000, false);
  pte(RAM + 0x3000 + 0 * 8, RAM + 0x10000, true); // VA 0x40000000 -> PA 0x80010000
  pte(RAM + 0x3000 + 1 * 8, RAM + 0x20000, true); // VA 0x40001000 -> PA 0x80020000
  pte(RAM + 0x2000 + 1 * 8, RAM, true); // VA 0x40200000: a 2 MiB megapage at RAM
  ram.set([1, 2, 3, 4], 0x10ffe);
  ram.set([5, 6], 0x20000);
  t.deepEqual([...readGuest(m, 0, 0x40000ffen, 4, false)], [1, 2, 5, 6], 'across two pages mapped apart');
  t.deepEqual([...readGuest(m, 0, 0x40210ffen, 2, false)], [1, 2], 'inside the megapage');
  t.deepEqual([...readGuest(m, 0, 0x40001ffen, 4, false)], [0, 0], 'stops where the mapping ends');
  t.deepEqual([...readGuest(m, 0, 0x80010ffen, 2, true)], [1, 2], 'xp reads physically');

  const mmode = machine((8n << 60n) | BigInt((root >>> 12) & 0xfffff), 3);
  mmode.ram.set([9], 0x10000);
  t.deepEqual([...readGuest(mmode.m, 0, 0x80010000n, 1, false)], [9], 'M-mode does not translate');
  const bare = machine(0n, 1);
  bare.ram.set([7], 0x10000);
  t.deepEqual([...readGuest(bare.m, 0, 0x80010000n, 1, false)], [7], 'satp off does not translate');
});

test('Sv48: a kernel address (a 1 GiB page at the top) reads exactly; a non-canonical one does not', (t) => {
  const root = RAM + 0x1000;
  const { m, ram, pte } = machine((9n << 60n) | BigInt((root >>> 12) & 0xfffff), 1);
  // VA 0xffffffff80000000: level 3 index 0x1ff -> table at +0x2000, level 2 index 0x1fe: a gigapage at RAM
  pte(root + 0x1ff * 8, RAM + 0x2000, false);
  pte(RAM + 0x2000 + 0x1fe * 8, RAM, true);
  ram.set([1, 2], 0x10ffe);
  t.deepEqual([...readGuest(m, 0, 0xffffffff80010ffen, 2, false)], [1, 2]);
  t.deepEqual([...readGuest(m, 0, 0x0000ffff80010ffen, 2, false)], [], 'bits 63..48 must copy bit 47');
});
