// Differential test of services/cpu/hart/fpu.ts against real RISC-V FP instructions.
//
// test/cpu/fpu/fpuvec.c is compiled with riscv64-linux-gnu-gcc (cached under
// test/fixtures/build/, keyed by a hash of the source and flags) and run under
// qemu-riscv64. It prints, for every operation and rounding mode, the operands,
// the result bits and fflags; every line is checked against fpu.ts, through the
// public (fast-path) functions and, where one exists, the exact slow path.
//
// Environment overrides for development: FPU_SEED, FPU_COUNT (tuples per op).

import test from "ava";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as fpu from "../../services/cpu/hart/fpu.js";

const GCC = "riscv64-linux-gnu-gcc";
const QEMU = "qemu-riscv64";
const CFLAGS = ["-O2", "-static", "-Wall"];
const SEED = process.env.FPU_SEED ?? "20240601";
const COUNT = process.env.FPU_COUNT ?? "800";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "test", "cpu", "fpu", "fpuvec.c"))) return dir;
    const up = resolve(dir, "..");
    if (up === dir) throw new Error("fpu.test: cannot locate the repository root (test/cpu/fpu/fpuvec.c)");
    dir = up;
  }
}

function requireTool(cmd: string, pkg: string): void {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      `fpu.test needs '${cmd}' (Debian/Ubuntu package ${pkg}) to build and run the RISC-V reference vectors, ` +
        `but it could not be run: ${r.error?.message ?? r.stderr}`,
    );
  }
}

function buildGenerator(root: string): string {
  const src = join(root, "test", "cpu", "fpu", "fpuvec.c");
  const source = readFileSync(src);
  const gccVersion = spawnSync(GCC, ["-dumpfullversion"], { encoding: "utf8" }).stdout.trim();
  const hash = createHash("sha256").update(source).update(CFLAGS.join(" ")).update(gccVersion).digest("hex").slice(0, 16);
  const outDir = join(root, "test", "fixtures", "build");
  const exe = join(outDir, `fpuvec-${hash}`);
  if (existsSync(exe)) return exe;
  mkdirSync(outDir, { recursive: true });
  const tmp = `${exe}.${process.pid}.tmp`;
  const r = spawnSync(GCC, [...CFLAGS, "-o", tmp, src], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(`building ${src} with ${GCC} failed:\n${r.error?.message ?? ""}${r.stderr}`);
  }
  renameSync(tmp, exe);
  // Drop binaries built from older versions of the generator.
  for (const name of readdirSync(outDir)) {
    if (/^fpuvec-[0-9a-f]{16}$/.test(name) && join(outDir, name) !== exe) rmSync(join(outDir, name), { force: true });
  }
  return exe;
}

interface Vec {
  rm: number;
  a: string;
  b: string;
  c: string;
  res: string;
  flags: number;
}

const vectors = new Map<string, Vec[]>();

test.before(() => {
  requireTool(GCC, "gcc-riscv64-linux-gnu");
  requireTool(QEMU, "qemu-user");
  const exe = buildGenerator(findRoot());
  const r = spawnSync(QEMU, [exe, SEED, COUNT], { encoding: "latin1", maxBuffer: 1 << 30 });
  if (r.error || r.status !== 0) {
    throw new Error(`running ${exe} under ${QEMU} failed: ${r.error?.message ?? ""} ${r.stderr}`);
  }
  for (const line of r.stdout.split("\n")) {
    if (line === "") continue;
    const [op, rm, a, b, c, res, fl] = line.split(" ");
    let list = vectors.get(op);
    if (!list) vectors.set(op, (list = []));
    list.push({ rm: Number(rm), a, b, c, res, flags: Number(fl) });
  }
});

// ---------------------------------------------------------------------------
// Operand / result adapters.

const s32 = (h: string): number => parseInt(h, 16) >>> 0;
const d64 = (h: string): bigint => BigInt.asIntN(64, BigInt("0x" + h));
const hex32 = (n: number): string => (n >>> 0).toString(16).padStart(8, "0");
const hex64 = (v: bigint): string => BigInt.asUintN(64, v).toString(16).padStart(16, "0");
const xreg = (n: number): string => hex64(BigInt(n)); // integer results are sign-extended to XLEN
const int32Of = (h: string): number => Number(BigInt.asIntN(32, BigInt("0x" + h)));
const uint32Of = (h: string): number => Number(BigInt.asUintN(32, BigInt("0x" + h)));

type Impl = (v: Vec) => string;

interface OpDef {
  impl: Impl;
  slow?: Impl;
}

const S = fpu.slowPathForTest;

const OPS: Record<string, OpDef> = {
  "fadd.s": { impl: (v) => hex32(fpu.addS(s32(v.a), s32(v.b), v.rm)), slow: (v) => hex32(S.addS(s32(v.a), s32(v.b), v.rm)) },
  "fsub.s": { impl: (v) => hex32(fpu.subS(s32(v.a), s32(v.b), v.rm)), slow: (v) => hex32(S.subS(s32(v.a), s32(v.b), v.rm)) },
  "fmul.s": { impl: (v) => hex32(fpu.mulS(s32(v.a), s32(v.b), v.rm)), slow: (v) => hex32(S.mulS(s32(v.a), s32(v.b), v.rm)) },
  "fdiv.s": { impl: (v) => hex32(fpu.divS(s32(v.a), s32(v.b), v.rm)), slow: (v) => hex32(S.divS(s32(v.a), s32(v.b), v.rm)) },
  "fsqrt.s": { impl: (v) => hex32(fpu.sqrtS(s32(v.a), v.rm)), slow: (v) => hex32(S.sqrtS(s32(v.a), v.rm)) },
  "fmadd.s": fmaS(false, false),
  "fmsub.s": fmaS(false, true),
  "fnmsub.s": fmaS(true, false),
  "fnmadd.s": fmaS(true, true),
  "fmin.s": { impl: (v) => hex32(fpu.minS(s32(v.a), s32(v.b))) },
  "fmax.s": { impl: (v) => hex32(fpu.maxS(s32(v.a), s32(v.b))) },
  "feq.s": { impl: (v) => xreg(fpu.eqS(s32(v.a), s32(v.b))) },
  "flt.s": { impl: (v) => xreg(fpu.ltS(s32(v.a), s32(v.b))) },
  "fle.s": { impl: (v) => xreg(fpu.leS(s32(v.a), s32(v.b))) },
  "fclass.s": { impl: (v) => xreg(fpu.classifyS(s32(v.a))) },
  "fcvt.w.s": { impl: (v) => xreg(fpu.cvtWS(s32(v.a), v.rm)) },
  "fcvt.wu.s": { impl: (v) => xreg(fpu.cvtWUS(s32(v.a), v.rm)) },
  "fcvt.l.s": { impl: (v) => hex64(fpu.cvtLS(s32(v.a), v.rm)) },
  "fcvt.lu.s": { impl: (v) => hex64(fpu.cvtLUS(s32(v.a), v.rm)) },
  "fcvt.s.w": { impl: (v) => hex32(fpu.cvtSW(int32Of(v.a), v.rm)) },
  "fcvt.s.wu": { impl: (v) => hex32(fpu.cvtSWU(uint32Of(v.a), v.rm)) },
  "fcvt.s.l": { impl: (v) => hex32(fpu.cvtSL(d64(v.a), v.rm)), slow: (v) => hex32(S.cvtSL(d64(v.a), v.rm)) },
  "fcvt.s.lu": { impl: (v) => hex32(fpu.cvtSLU(d64(v.a), v.rm)), slow: (v) => hex32(S.cvtSLU(d64(v.a), v.rm)) },

  "fadd.d": { impl: (v) => hex64(fpu.addD(d64(v.a), d64(v.b), v.rm)), slow: (v) => hex64(S.addD(d64(v.a), d64(v.b), v.rm)) },
  "fsub.d": { impl: (v) => hex64(fpu.subD(d64(v.a), d64(v.b), v.rm)), slow: (v) => hex64(S.subD(d64(v.a), d64(v.b), v.rm)) },
  "fmul.d": { impl: (v) => hex64(fpu.mulD(d64(v.a), d64(v.b), v.rm)), slow: (v) => hex64(S.mulD(d64(v.a), d64(v.b), v.rm)) },
  "fdiv.d": { impl: (v) => hex64(fpu.divD(d64(v.a), d64(v.b), v.rm)), slow: (v) => hex64(S.divD(d64(v.a), d64(v.b), v.rm)) },
  "fsqrt.d": { impl: (v) => hex64(fpu.sqrtD(d64(v.a), v.rm)), slow: (v) => hex64(S.sqrtD(d64(v.a), v.rm)) },
  "fmadd.d": fmaD(false, false),
  "fmsub.d": fmaD(false, true),
  "fnmsub.d": fmaD(true, false),
  "fnmadd.d": fmaD(true, true),
  "fmin.d": { impl: (v) => hex64(fpu.minD(d64(v.a), d64(v.b))) },
  "fmax.d": { impl: (v) => hex64(fpu.maxD(d64(v.a), d64(v.b))) },
  "feq.d": { impl: (v) => xreg(fpu.eqD(d64(v.a), d64(v.b))) },
  "flt.d": { impl: (v) => xreg(fpu.ltD(d64(v.a), d64(v.b))) },
  "fle.d": { impl: (v) => xreg(fpu.leD(d64(v.a), d64(v.b))) },
  "fclass.d": { impl: (v) => xreg(fpu.classifyD(d64(v.a))) },
  "fcvt.w.d": { impl: (v) => xreg(fpu.cvtWD(d64(v.a), v.rm)) },
  "fcvt.wu.d": { impl: (v) => xreg(fpu.cvtWUD(d64(v.a), v.rm)) },
  "fcvt.l.d": { impl: (v) => hex64(fpu.cvtLD(d64(v.a), v.rm)) },
  "fcvt.lu.d": { impl: (v) => hex64(fpu.cvtLUD(d64(v.a), v.rm)) },
  "fcvt.d.w": { impl: (v) => hex64(fpu.cvtDW(int32Of(v.a), v.rm)) },
  "fcvt.d.wu": { impl: (v) => hex64(fpu.cvtDWU(uint32Of(v.a), v.rm)) },
  "fcvt.d.l": { impl: (v) => hex64(fpu.cvtDL(d64(v.a), v.rm)), slow: (v) => hex64(S.cvtDL(d64(v.a), v.rm)) },
  "fcvt.d.lu": { impl: (v) => hex64(fpu.cvtDLU(d64(v.a), v.rm)), slow: (v) => hex64(S.cvtDLU(d64(v.a), v.rm)) },

  "fcvt.s.d": { impl: (v) => hex32(fpu.cvtSD(d64(v.a), v.rm)), slow: (v) => hex32(S.cvtSD(d64(v.a), v.rm)) },
  "fcvt.d.s": { impl: (v) => hex64(fpu.cvtDS(s32(v.a))) },
};

function fmaS(np: boolean, na: boolean): OpDef {
  return {
    impl: (v) => hex32(fpu.fmaS(s32(v.a), s32(v.b), s32(v.c), v.rm, np, na)),
    slow: (v) => hex32(S.fmaS(s32(v.a), s32(v.b), s32(v.c), v.rm, np, na)),
  };
}

function fmaD(np: boolean, na: boolean): OpDef {
  return {
    impl: (v) => hex64(fpu.fmaD(d64(v.a), d64(v.b), d64(v.c), v.rm, np, na)),
    slow: (v) => hex64(S.fmaD(d64(v.a), d64(v.b), d64(v.c), v.rm, np, na)),
  };
}

const RM_NAMES = ["rne", "rtz", "rdn", "rup", "rmm"];

function check(list: Vec[], impl: Impl): { bad: number; examples: string[] } {
  let bad = 0;
  const examples: string[] = [];
  for (const v of list) {
    fpu.takeFlags();
    const got = impl(v);
    const gotFlags = fpu.takeFlags();
    if (got !== v.res || gotFlags !== v.flags) {
      bad++;
      if (examples.length < 12) {
        examples.push(
          `rm=${RM_NAMES[v.rm]} a=${v.a} b=${v.b} c=${v.c}: expected ${v.res} flags ${v.flags}, got ${got} flags ${gotFlags}`,
        );
      }
    }
  }
  return { bad, examples };
}

for (const [name, def] of Object.entries(OPS)) {
  test(name, (t) => {
    const list = vectors.get(name) ?? [];
    t.true(list.length > 0, `no vectors produced for ${name}`);
    const fast = check(list, def.impl);
    t.log(`${name}: ${list.length} vectors, ${fast.bad} mismatches`);
    t.is(fast.bad, 0, `${name}: ${fast.bad}/${list.length} mismatches\n${fast.examples.join("\n")}`);
    if (def.slow) {
      const slow = check(list, def.slow);
      t.is(slow.bad, 0, `${name} (slow path): ${slow.bad}/${list.length} mismatches\n${slow.examples.join("\n")}`);
    }
  });
}

test("every generated op is covered", (t) => {
  const unknown = [...vectors.keys()].filter((k) => !(k in OPS));
  t.deepEqual(unknown, []);
});

test("takeFlags returns and clears the accumulator", (t) => {
  fpu.takeFlags();
  fpu.divD(0x3ff0000000000000n, 0n, fpu.RM_RNE); // 1/0
  fpu.addS(0x7f800001, 0x3f800000, fpu.RM_RNE); // sNaN
  t.is(fpu.takeFlags(), fpu.FLAG_DZ | fpu.FLAG_NV);
  t.is(fpu.takeFlags(), 0);
});
