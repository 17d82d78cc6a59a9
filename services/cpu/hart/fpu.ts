// IEEE 754 binary32 / binary64 arithmetic with RISC-V "F" and "D" semantics.
//
// Representations (see the hart):
//   binary32: a `number` holding the bit pattern as an unsigned 32-bit integer.
//   binary64: a `bigint` holding the bit pattern as a signed 64-bit integer
//             (BigInt.asIntN(64, bits), as read from a BigInt64Array).
// Rounding modes use RISC-V's encoding (0 RNE, 1 RTZ, 2 RDN, 3 RUP, 4 RMM); the
// hart resolves DYN before calling. Every operation ORs the exception flags it
// raises (fflags encoding) into a module-level accumulator read by takeFlags().
//
// Structure: every operation has an exact slow path (significands as bigint,
// exact sum / product / quotient-with-sticky / integer-sqrt-with-sticky, and one
// round-and-pack routine that implements all five rounding modes, tininess
// after rounding, overflow results and the NX/UF/OF flags). In front of it sit
// fast paths using host double arithmetic for finite operands whose result is
// comfortably inside the normal range: the host result is the round-to-nearest
// value and an error-free transformation (TwoSum, Dekker's product, exact
// remainders) gives the exact residual, from which inexactness and the result in
// the other rounding modes are derived. Anything the fast paths cannot prove
// correct (NaN, infinities, zeros with sign subtleties, results near the
// underflow or overflow thresholds) drops to the slow path.

export const RM_RNE = 0;
export const RM_RTZ = 1;
export const RM_RDN = 2;
export const RM_RUP = 3;
export const RM_RMM = 4;

export const FLAG_NX = 1;
export const FLAG_UF = 2;
export const FLAG_OF = 4;
export const FLAG_DZ = 8;
export const FLAG_NV = 16;

let flags = 0;

/** Returns the accumulated exception flags (fflags bits) and clears them. */
export function takeFlags(): number {
  const f = flags;
  flags = 0;
  return f;
}

// ---------------------------------------------------------------------------
// Bit-pattern <-> host value conversion through one shared 8-byte buffer.

const BUF = new ArrayBuffer(8);
const F64 = new Float64Array(BUF);
const I64 = new BigInt64Array(BUF);
const U32 = new Uint32Array(BUF);
const F32 = new Float32Array(BUF);

F64[0] = 1;
if (U32[1] !== 0x3ff00000) throw new Error("fpu: little-endian host required");

function d2f(a: bigint): number {
  I64[0] = a;
  return F64[0];
}
function f2d(x: number): bigint {
  F64[0] = x;
  return I64[0];
}
function s2f(a: number): number {
  U32[0] = a;
  return F32[0];
}
function f2s(x: number): number {
  F32[0] = x;
  return U32[0];
}

const CNAN_S = 0x7fc00000;
const CNAN_D = 0x7ff8000000000000n;

/** Exact powers of two 2^k for k in [-1074, 1023], index k + 1074. */
const POW2 = new Float64Array(1074 + 1024);
{
  let v = 1;
  for (let k = 0; k <= 1023; k++) {
    POW2[k + 1074] = v;
    v *= 2;
  }
  v = 1;
  for (let k = 0; k >= -1074; k--) {
    POW2[k + 1074] = v;
    v /= 2;
  }
}

const TWO_M125 = POW2[-125 + 1074];
const TWO_M126 = POW2[-126 + 1074];
const TWO_127 = POW2[127 + 1074];
const TWO_M960 = POW2[-960 + 1074];
const TWO_M969 = POW2[-969 + 1074];
const TWO_995 = POW2[995 + 1074];
const TWO_1000 = POW2[1000 + 1074];
const TWO_1023 = POW2[1023 + 1074];
const TWO_53 = 9007199254740992;
const SPLIT = 134217729; // 2^27 + 1 (Veltkamp)

function isSNaNS(a: number): boolean {
  return (a & 0x7fc00000) === 0x7f800000 && (a & 0x003fffff) !== 0;
}
function isSNaND(a: bigint): boolean {
  I64[0] = a;
  const hi = U32[1];
  return (hi & 0x7ff80000) === 0x7ff00000 && ((hi & 0x0007ffff) | U32[0]) !== 0;
}

/** Dekker/Veltkamp: the exact error a*b - p where p = RN(a*b). Caller ensures range. */
function twoProdErr(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

// ---------------------------------------------------------------------------
// Fast-path finishers.

/**
 * binary64: the exact value is v = r + w + tl, where r is a double, |w| is at
 * most half the gap between r and its neighbour on w's side, and tl is either
 * zero or so small that it can only matter when |w| is exactly that half gap
 * (see fmaD). Returns the correctly rounded result for mode rm, raising NX, or
 * NaN when r is outside the range where this is valid (caller uses the slow
 * path). For division and square root only the sign of w is meaningful; they
 * call this only for directed modes (their nearest results are the host's).
 */
function finishD(r: number, w: number, tl: number, rm: number): number {
  const rs = w + tl;
  if (rs === 0) return r; // exact (r === 0 handled by callers)
  const ar = r < 0 ? -r : r;
  if (!(ar >= TWO_M960 && ar < TWO_1023)) return NaN;
  flags |= FLAG_NX;
  F64[0] = r;
  const hi = U32[1];
  const lo = U32[0];
  const up = rs > 0;
  const away = up !== r < 0; // |v| > |r|
  let g = POW2[((hi >>> 20) & 0x7ff) - 1075 + 1074];
  if (!away && (hi & 0xfffff) === 0 && lo === 0) g *= 0.5;
  const other = up ? r + g : r - g;
  switch (rm) {
    case RM_RNE:
    case RM_RMM: {
      const cm = w - (up ? g * 0.5 : g * -0.5) + tl; // sign of v - midpoint
      if (cm === 0) {
        if (rm === RM_RMM) return away ? other : r;
        return (lo & 1) !== 0 ? other : r;
      }
      return cm > 0 === up ? other : r;
    }
    case RM_RTZ:
      return away ? r : other;
    case RM_RDN:
      return up ? r : other;
    default:
      return up ? other : r;
  }
}

/**
 * binary32: the exact value v satisfies sign(v - d) = sign(es), where d is a
 * double that is either exact (es = 0), the round-to-nearest double of v, or a
 * binary32 value. Returns the binary32 bits rounded per rm (raising NX), or -1
 * when the result is near the underflow/overflow thresholds (use slow path).
 */
function finishS(d: number, es: number, rm: number): number {
  const r = Math.fround(d);
  const ar = r < 0 ? -r : r;
  if (!(ar >= TWO_M125 && ar < TWO_127)) return -1;
  let c = d - r; // exact
  if (c === 0) {
    c = es;
    if (c === 0) return f2s(r);
  }
  flags |= FLAG_NX;
  F32[0] = r;
  const bits = U32[0];
  const up = c > 0;
  const away = up !== r < 0;
  let g = POW2[((bits >>> 23) & 0xff) - 150 + 1074];
  if (!away && (bits & 0x7fffff) === 0) g *= 0.5;
  const other = up ? r + g : r - g;
  let res: number;
  switch (rm) {
    case RM_RNE:
    case RM_RMM: {
      let cm = d - (r + other) * 0.5;
      if (cm === 0) cm = es;
      if (cm === 0) {
        if (rm === RM_RMM) res = away ? other : r;
        else res = (bits & 1) !== 0 ? other : r;
      } else {
        res = cm > 0 === up ? other : r;
      }
      break;
    }
    case RM_RTZ:
      res = away ? r : other;
      break;
    case RM_RDN:
      res = up ? r : other;
      break;
    default:
      res = up ? other : r;
  }
  return f2s(res);
}

// ---------------------------------------------------------------------------
// Exact slow path (bigint significands).

interface Fmt {
  p: number; // precision including hidden bit
  emin: number;
  emax: number;
  bias: number;
  fb: bigint; // fraction bits
  hidden: bigint; // 2^(p-1)
  carry: bigint; // 2^p
  fracMask: bigint;
  expMax: number; // all-ones exponent field
  signBit: bigint;
  inf: bigint;
  maxFinite: bigint;
  cnan: bigint;
  quiet: bigint;
}

function mkFmt(ebits: number, fbits: number): Fmt {
  const bias = (1 << (ebits - 1)) - 1;
  const fb = BigInt(fbits);
  const expMax = (1 << ebits) - 1;
  return {
    p: fbits + 1,
    emin: 1 - bias,
    emax: bias,
    bias,
    fb,
    hidden: 1n << fb,
    carry: 1n << (fb + 1n),
    fracMask: (1n << fb) - 1n,
    expMax,
    signBit: 1n << BigInt(ebits + fbits),
    inf: BigInt(expMax) << fb,
    maxFinite: (BigInt(expMax - 1) << fb) | ((1n << fb) - 1n),
    cnan: (BigInt(expMax) << fb) | (1n << (fb - 1n)),
    quiet: 1n << (fb - 1n),
  };
}

const FS = mkFmt(8, 23);
const FD = mkFmt(11, 52);

const C_ZERO = 0;
const C_FINITE = 1;
const C_INF = 2;
const C_QNAN = 3;
const C_SNAN = 4;

/** Unpacked value: (-1)^sign * sig * 2^exp, plus a class. */
class Unp {
  cls = 0;
  sign = 0;
  sig = 0n;
  exp = 0;
}

function unpack(f: Fmt, bits: bigint): Unp {
  const u = new Unp();
  u.sign = (bits & f.signBit) !== 0n ? 1 : 0;
  const e = Number((bits >> f.fb) & BigInt(f.expMax));
  const frac = bits & f.fracMask;
  if (e === f.expMax) {
    u.cls = frac === 0n ? C_INF : (frac & f.quiet) !== 0n ? C_QNAN : C_SNAN;
  } else if (e === 0) {
    if (frac === 0n) {
      u.cls = C_ZERO;
    } else {
      u.cls = C_FINITE;
      u.sig = frac;
      u.exp = f.emin - (f.p - 1);
    }
  } else {
    u.cls = C_FINITE;
    u.sig = frac | f.hidden;
    u.exp = e - f.bias - (f.p - 1);
  }
  return u;
}

function bitLen(x: bigint): number {
  if (x < 0x20000000000000n) {
    const n = Number(x);
    if (n >= 4294967296) return 64 - Math.clz32(Math.floor(n / 4294967296));
    return 32 - Math.clz32(n);
  }
  const s = x.toString(16);
  return (s.length - 1) * 4 + (32 - Math.clz32(parseInt(s[0], 16)));
}

let lastInexact = false;

/** Round sig / 2^sh to an integer per rm (sign gives the direction for RDN/RUP). */
function roundShift(sig: bigint, sh: number, sign: number, rm: number): bigint {
  if (sh <= 0) {
    lastInexact = false;
    return sh === 0 ? sig : sig << BigInt(-sh);
  }
  const bsh = BigInt(sh);
  const m = sig >> bsh;
  const rem = sig - (m << bsh);
  if (rem === 0n) {
    lastInexact = false;
    return m;
  }
  lastInexact = true;
  const half = 1n << (bsh - 1n);
  let inc: boolean;
  switch (rm) {
    case RM_RNE:
      inc = rem > half || (rem === half && (m & 1n) === 1n);
      break;
    case RM_RTZ:
      inc = false;
      break;
    case RM_RDN:
      inc = sign === 1;
      break;
    case RM_RUP:
      inc = sign === 0;
      break;
    default:
      inc = rem >= half;
  }
  return inc ? m + 1n : m;
}

function overflowResult(f: Fmt, sign: number, rm: number): bigint {
  flags |= FLAG_OF | FLAG_NX;
  const toInf =
    rm === RM_RNE || rm === RM_RMM || (rm === RM_RUP && sign === 0) || (rm === RM_RDN && sign === 1);
  const mag = toInf ? f.inf : f.maxFinite;
  return sign ? f.signBit | mag : mag;
}

/**
 * Round the exact nonzero value (-1)^sign * sig * 2^exp to format f. If the
 * value is only known up to a sticky bit, the caller must supply at least
 * p + 2 significant bits with the sticky bit ORed into the lowest one.
 * Returns unsigned bits.
 */
function roundPack(f: Fmt, sign: number, sig: bigint, exp: number, rm: number): bigint {
  const p = f.p;
  const emsb = exp + bitLen(sig) - 1;
  let q = emsb - (p - 1);
  const qmin = f.emin - (p - 1);
  let tiny = false;
  if (q < qmin) {
    // Tininess after rounding: round to p bits with unbounded exponent range.
    const m2 = roundShift(sig, q - exp, sign, rm);
    tiny = !(m2 === f.carry && emsb + 1 === f.emin);
    q = qmin;
  }
  let m = roundShift(sig, q - exp, sign, rm);
  if (lastInexact) {
    flags |= FLAG_NX;
    if (tiny) flags |= FLAG_UF;
  }
  if (m === f.carry) {
    m = f.hidden;
    q += 1;
  }
  const sb = sign ? f.signBit : 0n;
  if (m >= f.hidden) {
    const e = q + p - 1;
    if (e > f.emax) return overflowResult(f, sign, rm);
    return sb | (BigInt(e + f.bias) << f.fb) | (m - f.hidden);
  }
  return sb | m;
}

function zeroBits(f: Fmt, sign: number): bigint {
  return sign ? f.signBit : 0n;
}

/** Exact sum of two finite values (sig 0n means a zero of the given sign), rounded. */
function addExact(
  f: Fmt,
  sa: number,
  ma: bigint,
  ea: number,
  sb: number,
  mb: bigint,
  eb: number,
  rm: number,
): bigint {
  if (ma === 0n) {
    if (mb === 0n) return zeroBits(f, sa === sb ? sa : rm === RM_RDN ? 1 : 0);
    return roundPack(f, sb, mb, eb, rm);
  }
  if (mb === 0n) return roundPack(f, sa, ma, ea, rm);
  const e = Math.min(ea, eb);
  let x = ea === e ? ma : ma << BigInt(ea - e);
  let y = eb === e ? mb : mb << BigInt(eb - e);
  if (sa) x = -x;
  if (sb) y = -y;
  const s = x + y;
  if (s === 0n) return zeroBits(f, rm === RM_RDN ? 1 : 0);
  return s < 0n ? roundPack(f, 1, -s, e, rm) : roundPack(f, 0, s, e, rm);
}

function isNaNCls(c: number): boolean {
  return c >= C_QNAN;
}

function slowAdd(f: Fmt, a: bigint, b: bigint, rm: number): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  if (isNaNCls(A.cls) || isNaNCls(B.cls)) {
    if (A.cls === C_SNAN || B.cls === C_SNAN) flags |= FLAG_NV;
    return f.cnan;
  }
  if (A.cls === C_INF) {
    if (B.cls === C_INF && A.sign !== B.sign) {
      flags |= FLAG_NV;
      return f.cnan;
    }
    return a;
  }
  if (B.cls === C_INF) return b;
  return addExact(f, A.sign, A.sig, A.exp, B.sign, B.sig, B.exp, rm);
}

function slowMul(f: Fmt, a: bigint, b: bigint, rm: number): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  if (isNaNCls(A.cls) || isNaNCls(B.cls)) {
    if (A.cls === C_SNAN || B.cls === C_SNAN) flags |= FLAG_NV;
    return f.cnan;
  }
  const s = A.sign ^ B.sign;
  if (A.cls === C_INF || B.cls === C_INF) {
    if (A.cls === C_ZERO || B.cls === C_ZERO) {
      flags |= FLAG_NV;
      return f.cnan;
    }
    return s ? f.signBit | f.inf : f.inf;
  }
  if (A.cls === C_ZERO || B.cls === C_ZERO) return zeroBits(f, s);
  return roundPack(f, s, A.sig * B.sig, A.exp + B.exp, rm);
}

function slowDiv(f: Fmt, a: bigint, b: bigint, rm: number): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  if (isNaNCls(A.cls) || isNaNCls(B.cls)) {
    if (A.cls === C_SNAN || B.cls === C_SNAN) flags |= FLAG_NV;
    return f.cnan;
  }
  const s = A.sign ^ B.sign;
  if (A.cls === C_INF) {
    if (B.cls === C_INF) {
      flags |= FLAG_NV;
      return f.cnan;
    }
    return s ? f.signBit | f.inf : f.inf;
  }
  if (B.cls === C_INF) return zeroBits(f, s);
  if (B.cls === C_ZERO) {
    if (A.cls === C_ZERO) {
      flags |= FLAG_NV;
      return f.cnan;
    }
    flags |= FLAG_DZ;
    return s ? f.signBit | f.inf : f.inf;
  }
  if (A.cls === C_ZERO) return zeroBits(f, s);
  const k = Math.max(0, f.p + 1 + bitLen(B.sig) - bitLen(A.sig));
  const num = A.sig << BigInt(k);
  const q = num / B.sig;
  const sticky = num - q * B.sig !== 0n ? 1n : 0n;
  return roundPack(f, s, (q << 1n) | sticky, A.exp - B.exp - k - 1, rm);
}

/** floor(sqrt(n)) for n >= 0. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  const approx = Math.sqrt(Number(n));
  let x: bigint;
  if (approx < 1e300) {
    x = BigInt(Math.ceil(approx * (1 + 2 ** -40))) + 1n; // >= floor(sqrt(n))
  } else {
    x = 1n << BigInt((bitLen(n) >> 1) + 1);
  }
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  while (x * x > n) x -= 1n;
  while ((x + 1n) * (x + 1n) <= n) x += 1n;
  return x;
}

function slowSqrt(f: Fmt, a: bigint, rm: number): bigint {
  const A = unpack(f, a);
  if (isNaNCls(A.cls)) {
    if (A.cls === C_SNAN) flags |= FLAG_NV;
    return f.cnan;
  }
  if (A.cls === C_ZERO) return a;
  if (A.sign) {
    flags |= FLAG_NV;
    return f.cnan;
  }
  if (A.cls === C_INF) return a;
  let m = A.sig;
  let e = A.exp;
  if ((e & 1) !== 0) {
    m <<= 1n;
    e -= 1;
  }
  const k = Math.max(0, Math.ceil((2 * (f.p + 2) - bitLen(m)) / 2));
  m <<= BigInt(2 * k);
  e -= 2 * k;
  const r = isqrt(m);
  const sticky = r * r !== m ? 1n : 0n;
  return roundPack(f, 0, (r << 1n) | sticky, e / 2 - 1, rm);
}

function slowFma(
  f: Fmt,
  a: bigint,
  b: bigint,
  c: bigint,
  rm: number,
  negProduct: boolean,
  negAddend: boolean,
): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  const C = unpack(f, c);
  if ((A.cls === C_INF && B.cls === C_ZERO) || (A.cls === C_ZERO && B.cls === C_INF)) {
    flags |= FLAG_NV;
    return f.cnan;
  }
  if (isNaNCls(A.cls) || isNaNCls(B.cls) || isNaNCls(C.cls)) {
    if (A.cls === C_SNAN || B.cls === C_SNAN || C.cls === C_SNAN) flags |= FLAG_NV;
    return f.cnan;
  }
  const sp = A.sign ^ B.sign ^ (negProduct ? 1 : 0);
  const sc = C.sign ^ (negAddend ? 1 : 0);
  if (A.cls === C_INF || B.cls === C_INF) {
    if (C.cls === C_INF && sc !== sp) {
      flags |= FLAG_NV;
      return f.cnan;
    }
    return sp ? f.signBit | f.inf : f.inf;
  }
  if (C.cls === C_INF) return sc ? f.signBit | f.inf : f.inf;
  return addExact(f, sp, A.sig * B.sig, A.exp + B.exp, sc, C.sig, C.exp, rm);
}

function slowCvtFF(from: Fmt, to: Fmt, a: bigint, rm: number): bigint {
  const A = unpack(from, a);
  if (isNaNCls(A.cls)) {
    if (A.cls === C_SNAN) flags |= FLAG_NV;
    return to.cnan;
  }
  if (A.cls === C_INF) return A.sign ? to.signBit | to.inf : to.inf;
  if (A.cls === C_ZERO) return zeroBits(to, A.sign);
  return roundPack(to, A.sign, A.sig, A.exp, rm);
}

function slowFromInt(f: Fmt, v: bigint, rm: number): bigint {
  if (v === 0n) return 0n;
  return v < 0n ? roundPack(f, 1, -v, 0, rm) : roundPack(f, 0, v, 0, rm);
}

// Slow-path entry points in the public representations.
const U64 = (a: bigint): bigint => BigInt.asUintN(64, a);
const S64 = (a: bigint): bigint => BigInt.asIntN(64, a);
const SIGN_S = 0x80000000;

function slowAddS(a: number, b: number, rm: number): number {
  return Number(slowAdd(FS, BigInt(a), BigInt(b), rm));
}
function slowAddD(a: bigint, b: bigint, rm: number): bigint {
  return S64(slowAdd(FD, U64(a), U64(b), rm));
}
function slowSubS(a: number, b: number, rm: number): number {
  return Number(slowAdd(FS, BigInt(a), BigInt((b ^ SIGN_S) >>> 0), rm));
}
function slowSubD(a: bigint, b: bigint, rm: number): bigint {
  return S64(slowAdd(FD, U64(a), U64(b) ^ FD.signBit, rm));
}
function slowMulS(a: number, b: number, rm: number): number {
  return Number(slowMul(FS, BigInt(a), BigInt(b), rm));
}
function slowMulD(a: bigint, b: bigint, rm: number): bigint {
  return S64(slowMul(FD, U64(a), U64(b), rm));
}
function slowDivS(a: number, b: number, rm: number): number {
  return Number(slowDiv(FS, BigInt(a), BigInt(b), rm));
}
function slowDivD(a: bigint, b: bigint, rm: number): bigint {
  return S64(slowDiv(FD, U64(a), U64(b), rm));
}
function slowSqrtS(a: number, rm: number): number {
  return Number(slowSqrt(FS, BigInt(a), rm));
}
function slowSqrtD(a: bigint, rm: number): bigint {
  return S64(slowSqrt(FD, U64(a), rm));
}
function slowFmaS(a: number, b: number, c: number, rm: number, np: boolean, na: boolean): number {
  return Number(slowFma(FS, BigInt(a), BigInt(b), BigInt(c), rm, np, na));
}
function slowFmaD(a: bigint, b: bigint, c: bigint, rm: number, np: boolean, na: boolean): bigint {
  return S64(slowFma(FD, U64(a), U64(b), U64(c), rm, np, na));
}
function slowCvtSD(a: bigint, rm: number): number {
  return Number(slowCvtFF(FD, FS, U64(a), rm));
}

// ---------------------------------------------------------------------------
// Addition / subtraction.

/** Result for an exact zero sum x + y (x, y finite). */
function zeroSum(x: number, y: number, rm: number): number {
  if (rm !== RM_RDN) return x + y; // host RNE rules are right for all other modes
  if (x === 0 && y === 0) return 1 / x < 0 || 1 / y < 0 ? -0 : 0;
  return -0;
}

function addSf(x: number, y: number, rm: number): number {
  // x, y are binary32 values as doubles; returns bits or -1 for the slow path.
  const s = x + y;
  if (s - s !== 0) return -1; // NaN or infinite operands
  const bb = s - x;
  const e = x - (s - bb) + (y - bb);
  if (s === 0) return f2s(zeroSum(x, y, rm)); // binary32 sums that vanish are exact
  const r = Math.fround(s);
  if (e === 0 && r === s) return f2s(r);
  if (rm === RM_RNE) {
    // Double rounding is innocuous for binary32 addition through binary64, and an
    // inexact sum is never tiny; only overflow needs care.
    if (r === Infinity || r === -Infinity) return -1;
    flags |= FLAG_NX;
    return f2s(r);
  }
  return finishS(s, e, rm);
}

export function addS(a: number, b: number, rm: number): number {
  const r = addSf(s2f(a), s2f(b), rm);
  return r >= 0 ? r : slowAddS(a, b, rm);
}

export function subS(a: number, b: number, rm: number): number {
  const r = addSf(s2f(a), -s2f(b), rm);
  return r >= 0 ? r : slowSubS(a, b, rm);
}

/** Returns the double result, or NaN for the slow path. */
function addDf(x: number, y: number, rm: number): number {
  const s = x + y;
  if (s - s !== 0) return NaN;
  const bb = s - x;
  const e = x - (s - bb) + (y - bb);
  if (e === 0) return s === 0 ? zeroSum(x, y, rm) : s;
  if (rm === RM_RNE) {
    flags |= FLAG_NX; // s finite: no overflow; inexact sums are never tiny
    return s;
  }
  return finishD(s, e, 0, rm);
}

export function addD(a: bigint, b: bigint, rm: number): bigint {
  const r = addDf(d2f(a), d2f(b), rm);
  return r === r ? f2d(r) : slowAddD(a, b, rm);
}

export function subD(a: bigint, b: bigint, rm: number): bigint {
  const r = addDf(d2f(a), -d2f(b), rm);
  return r === r ? f2d(r) : slowSubD(a, b, rm);
}

// ---------------------------------------------------------------------------
// Multiplication.

export function mulS(a: number, b: number, rm: number): number {
  const x = s2f(a);
  const y = s2f(b);
  const p = x * y; // exact: 24x24-bit significands, binary32 exponent range
  if (p - p === 0) {
    const r = Math.fround(p);
    if (r === p) return f2s(r);
    const ar = r < 0 ? -r : r;
    if (rm === RM_RNE) {
      if (ar > TWO_M126 && ar !== Infinity) {
        flags |= FLAG_NX;
        return f2s(r);
      }
    } else {
      const res = finishS(p, 0, rm);
      if (res >= 0) return res;
    }
  }
  return slowMulS(a, b, rm);
}

export function mulD(a: bigint, b: bigint, rm: number): bigint {
  const x = d2f(a);
  const y = d2f(b);
  const p = x * y;
  const ap = p < 0 ? -p : p;
  const ax = x < 0 ? -x : x;
  const ay = y < 0 ? -y : y;
  if (ap >= TWO_M960 && ap < TWO_1023 && ax >= TWO_M969 && ax < TWO_995 && ay >= TWO_M969 && ay < TWO_995) {
    const pl = twoProdErr(x, y, p);
    if (pl === 0) return f2d(p);
    if (rm === RM_RNE) {
      flags |= FLAG_NX;
      return f2d(p);
    }
    return f2d(finishD(p, pl, 0, rm));
  }
  if (p === 0 && ax < Infinity && ay < Infinity && (x === 0 || y === 0)) return f2d(p);
  return slowMulD(a, b, rm);
}

// ---------------------------------------------------------------------------
// Division.

export function divS(a: number, b: number, rm: number): number {
  const x = s2f(a);
  const y = s2f(b);
  const q = x / y;
  const r = Math.fround(q); // RN(RN53(x/y)) = RN24(x/y): double rounding is innocuous
  const ar = r < 0 ? -r : r;
  if (ar > TWO_M126 && ar < Infinity && y - y === 0 && x - x === 0) {
    const t = r * y; // exact (24x24 bits)
    if (t === x) return f2s(r);
    flags |= FLAG_NX;
    if (rm === RM_RNE || rm === RM_RMM) return f2s(r); // no ties in the normal range
    const res = finishS(r, y < 0 ? t - x : x - t, rm);
    if (res >= 0) return res;
  } else if (x === 0 && y !== 0 && y === y) {
    return f2s(q); // 0 / finite-or-inf: exact signed zero
  }
  return slowDivS(a, b, rm);
}

export function divD(a: bigint, b: bigint, rm: number): bigint {
  const x = d2f(a);
  const y = d2f(b);
  const q = x / y;
  const aq = q < 0 ? -q : q;
  const ax = x < 0 ? -x : x;
  const ay = y < 0 ? -y : y;
  if (aq >= TWO_M960 && aq < TWO_995 && ax >= TWO_M960 && ax < TWO_995 && ay >= TWO_M969 && ay < TWO_995) {
    // remainder x - q*y is exactly representable; compute it exactly.
    const pl = twoProdErr(q, y, q * y);
    const rem = x - q * y - pl;
    if (rem === 0) return f2d(q);
    if (rm === RM_RNE || rm === RM_RMM) {
      flags |= FLAG_NX; // quotients of normal operands are never ties
      return f2d(q);
    }
    return f2d(finishD(q, y < 0 ? -rem : rem, 0, rm));
  }
  if (x === 0 && y !== 0 && y === y) return f2d(q);
  return slowDivD(a, b, rm);
}

// ---------------------------------------------------------------------------
// Square root.

export function sqrtS(a: number, rm: number): number {
  const x = s2f(a);
  if (x > 0 && x < Infinity) {
    const r = Math.fround(Math.sqrt(x)); // always normal, never a tie
    const t = r * r; // exact
    if (t === x) return f2s(r);
    if (rm === RM_RNE || rm === RM_RMM) {
      flags |= FLAG_NX;
      return f2s(r);
    }
    return finishS(r, x - t, rm); // r in [2^-75, 2^64]: always in range
  }
  return slowSqrtS(a, rm);
}

export function sqrtD(a: bigint, rm: number): bigint {
  const x = d2f(a);
  if (x >= TWO_M960 && x < TWO_1000) {
    const r = Math.sqrt(x);
    const h = r * r;
    const rem = x - h - twoProdErr(r, r, h);
    if (rem === 0) return f2d(r);
    if (rm === RM_RNE || rm === RM_RMM) {
      flags |= FLAG_NX;
      return f2d(r);
    }
    return f2d(finishD(r, rem, 0, rm));
  }
  return slowSqrtD(a, rm);
}

// ---------------------------------------------------------------------------
// Fused multiply-add: (negProduct ? -(a*b) : a*b) + (negAddend ? -c : c), one rounding.
//   FMADD: (false, false)  FMSUB: (false, true)  FNMSUB: (true, false)  FNMADD: (true, true)

export function fmaS(a: number, b: number, c: number, rm: number, negProduct: boolean, negAddend: boolean): number {
  let x = s2f(a);
  const y = s2f(b);
  let z = s2f(c);
  if (negProduct) x = -x;
  if (negAddend) z = -z;
  const p = x * y; // exact
  const s = p + z;
  if (s - s === 0) {
    const bb = s - p;
    const e = p - (s - bb) + (z - bb);
    if (s === 0 && e === 0) return f2s(zeroSum(p, z, rm));
    const r = Math.fround(s);
    if (e === 0) {
      if (r === s) return f2s(r);
      if (rm === RM_RNE) {
        const ar = r < 0 ? -r : r;
        if (ar > TWO_M126 && ar !== Infinity) {
          flags |= FLAG_NX;
          return f2s(r);
        }
        return slowFmaS(a, b, c, rm, negProduct, negAddend);
      }
    }
    const res = finishS(s, e, rm);
    if (res >= 0) return res;
  }
  return slowFmaS(a, b, c, rm, negProduct, negAddend);
}

export function fmaD(a: bigint, b: bigint, c: bigint, rm: number, negProduct: boolean, negAddend: boolean): bigint {
  let x = d2f(a);
  const y = d2f(b);
  let z = d2f(c);
  if (negProduct) x = -x;
  if (negAddend) z = -z;
  const ax = x < 0 ? -x : x;
  const ay = y < 0 ? -y : y;
  const az = z < 0 ? -z : z;
  if (ax >= TWO_M969 && ax < TWO_995 && ay >= TWO_M969 && ay < TWO_995 && az < TWO_1000) {
    const p = x * y;
    const ap = p < 0 ? -p : p;
    if (ap >= TWO_M960 && ap < TWO_1000) {
      const pl = twoProdErr(x, y, p); // x*y = p + pl exactly
      // p + z = sh + sl exactly
      const sh = p + z;
      let bb = sh - p;
      const sl = p - (sh - bb) + (z - bb);
      // sl + pl = th + tl exactly
      const th = sl + pl;
      bb = th - sl;
      const tl = sl - (th - bb) + (pl - bb);
      // sh + th = r + w exactly; v = r + w + tl with |tl| tiny relative to ulp(r)
      const r = sh + th;
      bb = r - sh;
      const w = sh - (r - bb) + (th - bb);
      if (w + tl === 0) {
        if (r !== 0) return f2d(r);
        return f2d(rm === RM_RDN ? -0 : 0); // exact cancellation of a nonzero product
      }
      const res = finishD(r, w, tl, rm);
      if (res === res) return f2d(res);
    }
  }
  return slowFmaD(a, b, c, rm, negProduct, negAddend);
}

// ---------------------------------------------------------------------------
// Min / max (RISC-V 2.2+: minimumNumber / maximumNumber with -0 < +0).

export function minS(a: number, b: number): number {
  const x = s2f(a);
  const y = s2f(b);
  if (x !== x || y !== y) return minMaxNaNS(a, b, x, y);
  if (x < y) return a;
  if (y < x) return b;
  return (a & SIGN_S) !== 0 ? a : b;
}

export function maxS(a: number, b: number): number {
  const x = s2f(a);
  const y = s2f(b);
  if (x !== x || y !== y) return minMaxNaNS(a, b, x, y);
  if (x > y) return a;
  if (y > x) return b;
  return (a & SIGN_S) === 0 ? a : b;
}

function minMaxNaNS(a: number, b: number, x: number, y: number): number {
  if (isSNaNS(a) || isSNaNS(b)) flags |= FLAG_NV;
  if (x !== x) return y !== y ? CNAN_S : b;
  return a;
}

export function minD(a: bigint, b: bigint): bigint {
  const x = d2f(a);
  const y = d2f(b);
  if (x !== x || y !== y) return minMaxNaND(a, b, x, y);
  if (x < y) return a;
  if (y < x) return b;
  return a < 0n ? a : b; // signed representation: sign bit set <=> negative bigint
}

export function maxD(a: bigint, b: bigint): bigint {
  const x = d2f(a);
  const y = d2f(b);
  if (x !== x || y !== y) return minMaxNaND(a, b, x, y);
  if (x > y) return a;
  if (y > x) return b;
  return a >= 0n ? a : b;
}

function minMaxNaND(a: bigint, b: bigint, x: number, y: number): bigint {
  if (isSNaND(a) || isSNaND(b)) flags |= FLAG_NV;
  if (x !== x) return y !== y ? CNAN_D : b;
  return a;
}

// ---------------------------------------------------------------------------
// Comparisons (return 0/1). FEQ is quiet; FLT/FLE signal on any NaN.

export function eqS(a: number, b: number): number {
  const x = s2f(a);
  const y = s2f(b);
  if (x !== x || y !== y) {
    if (isSNaNS(a) || isSNaNS(b)) flags |= FLAG_NV;
    return 0;
  }
  return x === y ? 1 : 0;
}

export function ltS(a: number, b: number): number {
  const x = s2f(a);
  const y = s2f(b);
  if (x !== x || y !== y) {
    flags |= FLAG_NV;
    return 0;
  }
  return x < y ? 1 : 0;
}

export function leS(a: number, b: number): number {
  const x = s2f(a);
  const y = s2f(b);
  if (x !== x || y !== y) {
    flags |= FLAG_NV;
    return 0;
  }
  return x <= y ? 1 : 0;
}

export function eqD(a: bigint, b: bigint): number {
  const x = d2f(a);
  const y = d2f(b);
  if (x !== x || y !== y) {
    if (isSNaND(a) || isSNaND(b)) flags |= FLAG_NV;
    return 0;
  }
  return x === y ? 1 : 0;
}

export function ltD(a: bigint, b: bigint): number {
  const x = d2f(a);
  const y = d2f(b);
  if (x !== x || y !== y) {
    flags |= FLAG_NV;
    return 0;
  }
  return x < y ? 1 : 0;
}

export function leD(a: bigint, b: bigint): number {
  const x = d2f(a);
  const y = d2f(b);
  if (x !== x || y !== y) {
    flags |= FLAG_NV;
    return 0;
  }
  return x <= y ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Classification (FCLASS mask).

function classBits(neg: boolean, expAllOnes: boolean, expZero: boolean, fracZero: boolean, quiet: boolean): number {
  if (expAllOnes) {
    if (fracZero) return neg ? 1 << 0 : 1 << 7;
    return quiet ? 1 << 9 : 1 << 8;
  }
  if (expZero) {
    if (fracZero) return neg ? 1 << 3 : 1 << 4;
    return neg ? 1 << 2 : 1 << 5;
  }
  return neg ? 1 << 1 : 1 << 6;
}

export function classifyS(a: number): number {
  const e = (a >>> 23) & 0xff;
  return classBits((a & SIGN_S) !== 0, e === 0xff, e === 0, (a & 0x7fffff) === 0, (a & 0x400000) !== 0);
}

export function classifyD(a: bigint): number {
  I64[0] = a;
  const hi = U32[1];
  const lo = U32[0];
  const e = (hi >>> 20) & 0x7ff;
  return classBits(hi >>> 31 !== 0, e === 0x7ff, e === 0, (hi & 0xfffff) === 0 && lo === 0, (hi & 0x80000) !== 0);
}

// ---------------------------------------------------------------------------
// Float <-> float conversions.

export function cvtSD(a: bigint, rm: number): number {
  const x = d2f(a);
  const r = Math.fround(x);
  if (r === x) return f2s(r); // exact, incl. zeros and infinities
  if (x === x) {
    const ar = r < 0 ? -r : r;
    if (rm === RM_RNE) {
      if (ar > TWO_M126 && ar !== Infinity) {
        flags |= FLAG_NX;
        return f2s(r);
      }
    } else {
      const res = finishS(x, 0, rm);
      if (res >= 0) return res;
    }
  }
  return slowCvtSD(a, rm);
}

export function cvtDS(a: number): bigint {
  const x = s2f(a);
  if (x !== x) {
    if (isSNaNS(a)) flags |= FLAG_NV;
    return CNAN_D;
  }
  return f2d(x);
}

// ---------------------------------------------------------------------------
// Float -> integer conversions.

/** Round a double to an integral double per rm (NaN-free input). */
function roundIntegral(x: number, rm: number): number {
  switch (rm) {
    case RM_RTZ:
      return Math.trunc(x);
    case RM_RDN:
      return Math.floor(x);
    case RM_RUP:
      return Math.ceil(x);
    default: {
      const ax = x < 0 ? -x : x;
      if (!(ax < TWO_53)) return x; // integral already (or infinite)
      const fl = Math.floor(ax);
      const d = ax - fl; // exact
      let r: number;
      if (d < 0.5) r = fl;
      else if (d > 0.5) r = fl + 1;
      else if (rm === RM_RMM) r = fl + 1;
      else r = fl % 2 === 0 ? fl : fl + 1;
      return x < 0 ? -r : r;
    }
  }
}

function toI32(x: number, rm: number): number {
  if (x !== x) {
    flags |= FLAG_NV;
    return 0x7fffffff;
  }
  const r = roundIntegral(x, rm);
  if (r > 2147483647) {
    flags |= FLAG_NV;
    return 0x7fffffff;
  }
  if (r < -2147483648) {
    flags |= FLAG_NV;
    return -0x80000000;
  }
  if (r !== x) flags |= FLAG_NX;
  return r | 0;
}

function toU32(x: number, rm: number): number {
  if (x !== x) {
    flags |= FLAG_NV;
    return -1;
  }
  const r = roundIntegral(x, rm);
  if (r > 4294967295) {
    flags |= FLAG_NV;
    return -1;
  }
  if (r < 0) {
    flags |= FLAG_NV;
    return 0;
  }
  if (r !== x) flags |= FLAG_NX;
  return r | 0;
}

const I64_MAX = 0x7fffffffffffffffn;
const I64_MIN = -0x8000000000000000n;
const TWO_63 = 9223372036854775808;
const TWO_64 = 18446744073709551616;

function toI64(x: number, rm: number): bigint {
  if (x !== x) {
    flags |= FLAG_NV;
    return I64_MAX;
  }
  const r = roundIntegral(x, rm);
  if (r >= TWO_63) {
    flags |= FLAG_NV;
    return I64_MAX;
  }
  if (r < -TWO_63) {
    flags |= FLAG_NV;
    return I64_MIN;
  }
  if (r !== x) flags |= FLAG_NX;
  return BigInt(r);
}

function toU64(x: number, rm: number): bigint {
  if (x !== x) {
    flags |= FLAG_NV;
    return -1n;
  }
  const r = roundIntegral(x, rm);
  if (r >= TWO_64) {
    flags |= FLAG_NV;
    return -1n;
  }
  if (r < 0) {
    flags |= FLAG_NV;
    return 0n;
  }
  if (r !== x) flags |= FLAG_NX;
  return r < TWO_63 ? BigInt(r) : BigInt(r) - 0x10000000000000000n;
}

export function cvtWS(a: number, rm: number): number {
  return toI32(s2f(a), rm);
}
export function cvtWUS(a: number, rm: number): number {
  return toU32(s2f(a), rm);
}
export function cvtLS(a: number, rm: number): bigint {
  return toI64(s2f(a), rm);
}
export function cvtLUS(a: number, rm: number): bigint {
  return toU64(s2f(a), rm);
}
export function cvtWD(a: bigint, rm: number): number {
  return toI32(d2f(a), rm);
}
export function cvtWUD(a: bigint, rm: number): number {
  return toU32(d2f(a), rm);
}
export function cvtLD(a: bigint, rm: number): bigint {
  return toI64(d2f(a), rm);
}
export function cvtLUD(a: bigint, rm: number): bigint {
  return toU64(d2f(a), rm);
}

// ---------------------------------------------------------------------------
// Integer -> float conversions.

function fromIntS(d: number, es: number, rm: number): number {
  // d: nonzero integer as a double (RN of the integer), es: sign of integer - d
  const r = Math.fround(d);
  if (es === 0) {
    if (r === d) return f2s(r);
    if (rm === RM_RNE) {
      flags |= FLAG_NX;
      return f2s(r);
    }
  }
  return finishS(d, es, rm); // |d| in [1, 2^64]: always in range
}

export function cvtSW(i: number, rm: number): number {
  const d = i | 0;
  if (d === 0) return 0;
  return fromIntS(d, 0, rm);
}

export function cvtSWU(u: number, rm: number): number {
  const d = u >>> 0;
  if (d === 0) return 0;
  return fromIntS(d, 0, rm);
}

export function cvtSL(i: bigint, rm: number): number {
  const d = Number(i);
  if (d === 0) return 0;
  let es = 0;
  if (!(d > -TWO_53 && d < TWO_53)) {
    const diff = i - BigInt(d);
    es = diff === 0n ? 0 : diff > 0n ? 1 : -1;
  }
  return fromIntS(d, es, rm);
}

export function cvtSLU(i: bigint, rm: number): number {
  return cvtSL(i < 0n ? i + 0x10000000000000000n : i, rm);
}

export function cvtDW(i: number, _rm: number): bigint {
  return f2d(i | 0);
}

export function cvtDWU(u: number, _rm: number): bigint {
  return f2d(u >>> 0);
}

function fromBigD(v: bigint, rm: number): bigint {
  const d = Number(v); // round to nearest even
  if (d > -TWO_53 && d < TWO_53) return f2d(d + 0); // exact; +0 for zero
  const diff = v - BigInt(d);
  if (diff === 0n) return f2d(d);
  if (rm === RM_RNE) {
    flags |= FLAG_NX;
    return f2d(d);
  }
  return f2d(finishD(d, Number(diff), 0, rm)); // |d| in [2^53, 2^64], |diff| <= 2^10
}

export function cvtDL(i: bigint, rm: number): bigint {
  return fromBigD(i, rm);
}

export function cvtDLU(i: bigint, rm: number): bigint {
  return fromBigD(i < 0n ? i + 0x10000000000000000n : i, rm);
}

// ---------------------------------------------------------------------------
// The exact reference implementation, exported for tests (the fast paths above
// must agree with it bit for bit).

export const slowPathForTest = {
  addS: slowAddS,
  subS: slowSubS,
  mulS: slowMulS,
  divS: slowDivS,
  sqrtS: slowSqrtS,
  fmaS: slowFmaS,
  addD: slowAddD,
  subD: slowSubD,
  mulD: slowMulD,
  divD: slowDivD,
  sqrtD: slowSqrtD,
  fmaD: slowFmaD,
  cvtSD: slowCvtSD,
  cvtSL: (i: bigint, rm: number): number => Number(slowFromInt(FS, i, rm)),
  cvtSLU: (i: bigint, rm: number): number => Number(slowFromInt(FS, BigInt.asUintN(64, i), rm)),
  cvtDL: (i: bigint, rm: number): bigint => S64(slowFromInt(FD, i, rm)),
  cvtDLU: (i: bigint, rm: number): bigint => S64(slowFromInt(FD, BigInt.asUintN(64, i), rm)),
};
