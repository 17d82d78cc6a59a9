/*
 * Test-vector generator for tsemu's FPU (services/cpu/hart/fpu.ts).
 *
 * Built with riscv64-linux-gnu-gcc -O2 -static and run under qemu-riscv64 (or
 * on real RV64GC hardware). For every operation it generates operands from a
 * seeded PRNG (special values, values near rounding boundaries, random bit
 * patterns, integers near the conversion limits ...), executes the actual
 * instruction with each rounding mode set through frm (instruction rm = dyn),
 * and prints one line per execution:
 *
 *   <mnemonic> <rm> <a> <b> <c> <result> <fflags>
 *
 * Operands and results are hex bit patterns (8 digits for 32-bit values, 16
 * for 64-bit values; unused operands print as 0); rm and fflags are decimal.
 *
 * usage: fpuvec <seed> <tuples-per-op>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef uint32_t u32;

static u64 rng_state;

static u64 rnd(void) {
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

static double as_d(u64 b) { double d; memcpy(&d, &b, 8); return d; }
static u64 d_bits(double d) { u64 b; memcpy(&b, &d, 8); return b; }
static float as_f(u32 b) { float f; memcpy(&f, &b, 4); return f; }
static u32 f_bits(float f) { u32 b; memcpy(&b, &f, 4); return b; }

/* ------------------------------------------------------------------------ */
/* Operand generation, parameterised by format (ebits, fbits).               */

typedef struct {
    int ebits, fbits;
} fmt_t;

static const fmt_t FMT_S = {8, 23};
static const fmt_t FMT_D = {11, 52};

static u64 emax_field(const fmt_t *f) { return (1ull << f->ebits) - 1; }
static int bias(const fmt_t *f) { return (1 << (f->ebits - 1)) - 1; }
static u64 fmask(const fmt_t *f) { return (1ull << f->fbits) - 1; }
static u64 sbit(const fmt_t *f) { return 1ull << (f->ebits + f->fbits); }

static u64 pack(const fmt_t *f, int sign, u64 e, u64 frac) {
    return (sign ? sbit(f) : 0) | (e << f->fbits) | (frac & fmask(f));
}

static u64 frac_pattern(const fmt_t *f) {
    int w = f->fbits;
    u64 m = fmask(f);
    unsigned k = rn(w + 1);
    switch (rn(9)) {
    case 0:
    case 1:
        return rnd() & m;
    case 2: { /* sparse */
        u64 v = 0;
        int n = 1 + rn(3);
        while (n--) v |= 1ull << rn(w);
        return v;
    }
    case 3: /* only the top k bits random */
        return k == 0 ? 0 : (rnd() & m) & ~(m >> k);
    case 4: /* run of low ones */
        return k >= 64 ? m : ((1ull << k) - 1) & m;
    case 5: /* run of high ones */
        return m & ~(m >> k);
    case 6:
        return rn(2) ? 0 : m;
    case 7: /* random, low k bits forced */
        return rn(2) ? ((rnd() & m) | ((1ull << k) - 1)) & m : (rnd() & m) & ~((1ull << k) - 1);
    default: /* one bit below a random prefix: ties when added to a nearby value */
        return ((rnd() & m) & ~(m >> k)) | (k < (unsigned)w ? 1ull << (w - 1 - k) : 0);
    }
}

static u64 special(const fmt_t *f) {
    u64 E = emax_field(f), M = fmask(f);
    int b = bias(f);
    switch (rn(20)) {
    case 0: return 0;                               /* zero */
    case 1: return pack(f, 0, E, 0);                /* inf */
    case 2: return pack(f, 0, E, 1ull << (f->fbits - 1)); /* qNaN */
    case 3: return pack(f, 0, E, (1ull << (f->fbits - 1)) | (rnd() & M)); /* qNaN payload */
    case 4: return pack(f, 0, E, 1);                /* sNaN */
    case 5: return pack(f, 0, E, (rnd() & (M >> 1)) | 1); /* sNaN payload */
    case 6: return pack(f, 0, 0, 1);                /* min subnormal */
    case 7: return pack(f, 0, 0, M);                /* max subnormal */
    case 8: return pack(f, 0, 1, 0);                /* min normal */
    case 9: return pack(f, 0, E - 1, M);            /* max finite */
    case 10: return pack(f, 0, b, 0);               /* 1 */
    case 11: return pack(f, 0, b, 1);               /* 1 + ulp */
    case 12: return pack(f, 0, b - 1, M);           /* 1 - ulp/2 */
    case 13: return pack(f, 0, b + 1, 0);           /* 2 */
    case 14: return pack(f, 0, b - 1, 0);           /* 0.5 */
    case 15: return pack(f, 0, b, 1ull << (f->fbits - 1)); /* 1.5 */
    case 16: return pack(f, 0, 0, rnd() & M);       /* random subnormal */
    case 17: return pack(f, 0, 1, rnd() & M);       /* smallest binade */
    case 18: return pack(f, 0, E - 1, rnd() & M);   /* largest binade */
    default: return pack(f, 0, E - 2, M);
    }
}

static u64 gen_val(const fmt_t *f) {
    u64 E = emax_field(f);
    int b = bias(f);
    int sign = rn(2);
    u64 v;
    switch (rn(12)) {
    case 0:
    case 1:
        v = special(f) | (sign ? sbit(f) : 0);
        break;
    case 2:
        v = rnd() & (sbit(f) * 2 - 1);
        break;
    case 3:
    case 4:
    case 5: /* near 1 */
        v = pack(f, sign, (u64)(b + (int)rn(41) - 20), frac_pattern(f));
        break;
    case 6: /* low end: subnormals and the first binades */
        v = pack(f, sign, rn(f->fbits + 8) < (unsigned)f->fbits ? rn(4) : rn(f->fbits + 8), frac_pattern(f));
        break;
    case 7: /* high end */
        v = pack(f, sign, E - 1 - rn(8), frac_pattern(f));
        break;
    case 8: { /* small integer */
        double d = (double)(int)(rn(2001) - 1000);
        v = f->fbits == 52 ? d_bits(d) : f_bits((float)d);
        break;
    }
    default: /* any exponent */
        v = pack(f, sign, 1 + rn(E - 1), frac_pattern(f));
        break;
    }
    /* occasional small perturbation in ulps (stays within the same sign) */
    if (rn(6) == 0) {
        u64 mag = v & ~sbit(f);
        int d = (int)rn(7) - 3;
        if (d < 0 && mag >= (u64)(-d)) mag -= (u64)(-d);
        else if (d > 0 && mag + d < (E << f->fbits)) mag += d;
        v = (v & sbit(f)) | mag;
    }
    return v;
}

static int vexp(const fmt_t *f, u64 v) { return (int)((v >> f->fbits) & emax_field(f)); }

static u64 with_exp(const fmt_t *f, u64 v, int e) {
    u64 E = emax_field(f);
    if (e < 0) e = 0;
    if ((u64)e >= E) e = (int)E - 1;
    return (v & ~(E << f->fbits)) | ((u64)e << f->fbits);
}

/* Second operand related to the first, to reach cancellations, ties, limits. */
static u64 gen_second(const fmt_t *f, u64 a, int mul_like) {
    int ea = vexp(f, a);
    int b = bias(f);
    u64 v;
    switch (rn(10)) {
    case 0:
        return with_exp(f, gen_val(f), ea + (int)rn(61) - 30);
    case 1: { /* +-a perturbed by a few ulps */
        u64 mag = (a & ~sbit(f)) + rn(7) - 3;
        return (mag & ~sbit(f)) | ((a & sbit(f)) ^ (rn(2) ? sbit(f) : 0));
    }
    case 2: /* about half an ulp of a */
        v = pack(f, rn(2), 0, frac_pattern(f));
        return with_exp(f, v, ea - f->fbits - 1 + (int)rn(3) - 1);
    case 3:
        if (mul_like) { /* exponents summing near the underflow threshold */
            v = pack(f, rn(2), 0, frac_pattern(f));
            return with_exp(f, v, 1 - ea + b + (int)rn(f->fbits + 6) - f->fbits - 3);
        }
        return gen_val(f);
    case 4:
        if (mul_like) { /* near overflow */
            v = pack(f, rn(2), 0, frac_pattern(f));
            return with_exp(f, v, 2 * b - ea + b + (int)rn(5) - 2);
        }
        return gen_val(f);
    case 5:
        if (mul_like) { /* division near the limits: ea - eb near emin / emax */
            v = pack(f, rn(2), 0, frac_pattern(f));
            if (rn(2)) return with_exp(f, v, ea - 1 + b + (int)rn(f->fbits + 6) - 3);
            return with_exp(f, v, ea - 2 * b + (int)rn(5) - 2);
        }
        return gen_val(f);
    default:
        return gen_val(f);
    }
}

/* Values to convert to integers: near integer boundaries and the limits. */
static double gen_cvt_src_d(void) {
    static const double lim[] = {2147483648.0, 2147483647.0, 4294967296.0, 4294967295.0,
                                 9223372036854775808.0, 18446744073709551616.0, 1.0, 0.0, 0.5};
    int sign = rn(2);
    double v;
    switch (rn(6)) {
    case 0: { /* a limit plus a small offset */
        double base = lim[rn(sizeof lim / sizeof lim[0])];
        static const double off[] = {0, 0.5, -0.5, 0.25, -0.25, 0.75, -0.75, 1, -1, 0.4999, -0.5001};
        v = base + off[rn(sizeof off / sizeof off[0])];
        break;
    }
    case 1: { /* a limit, nudged by ulps */
        u64 bits = d_bits(lim[rn(sizeof lim / sizeof lim[0])]);
        bits += rn(5) - 2;
        v = as_d(bits);
        break;
    }
    case 2: { /* integer of random size plus a binary fraction */
        int k = rn(66);
        double i = k >= 64 ? (double)(rnd()) * 2.0 : (double)(rnd() >> (64 - (k ? k : 1)));
        static const double fr[] = {0, 0.5, 0.25, 0.75, 0.125, 0.875, 0.4999999, 0.5000001};
        v = i + fr[rn(sizeof fr / sizeof fr[0])];
        break;
    }
    case 3: /* small values around zero */
        v = ((double)(int)(rn(41) - 20)) / 8.0;
        break;
    default:
        return as_d(gen_val(&FMT_D));
    }
    return sign ? -v : v;
}

static u64 gen_cvt_src(const fmt_t *f) {
    double d = gen_cvt_src_d();
    if (f->fbits == 52) return d_bits(d);
    if (rn(4) == 0) return gen_val(f);
    u32 b = f_bits((float)d);
    if (rn(4) == 0) b += rn(3) - 1;
    return b;
}

static u64 gen_int(int bits) {
    u64 v;
    switch (rn(8)) {
    case 0:
        v = (u64)(int64_t)((int)rn(2001) - 1000);
        break;
    case 1: { /* 2^k + small */
        int k = rn(bits);
        v = (1ull << k) + (u64)(int64_t)((int)rn(9) - 4);
        break;
    }
    case 2: { /* p-bit pattern shifted: ties for int->float */
        int p = 20 + rn(40);
        u64 m = (rnd() >> (64 - p)) | (1ull << (p - 1)) | (rn(2) ? 1 : 0);
        v = m << rn(bits);
        break;
    }
    case 3: {
        static const u64 lim[] = {0x8000000000000000ull, 0x7fffffffffffffffull, 0xffffffffffffffffull,
                                  0x80000000ull, 0x7fffffffull, 0xffffffffull, 0, 1,
                                  0xffffffff80000000ull, 0x20000000000001ull, 0x1000001ull};
        v = lim[rn(sizeof lim / sizeof lim[0])];
        break;
    }
    case 4:
        v = rnd() >> rn(64);
        break;
    default:
        v = rnd();
    }
    if (rn(3) == 0) v = (u64)(-(int64_t)v);
    if (bits == 32) v = (u64)(int64_t)(int32_t)(u32)v;
    return v;
}

/* ------------------------------------------------------------------------ */
/* Targeted cases: results at the underflow / overflow thresholds, ties in   */
/* the subnormal range, and fused multiply-adds whose exact value lies a      */
/* hair off a rounding midpoint. binary128 long double does the arithmetic.  */

#include <math.h>

static int prec(const fmt_t *f) { return f->fbits + 1; }
static int emin_of(const fmt_t *f) { return 1 - bias(f); }

static u64 from_ld(const fmt_t *f, long double v) {
    if (f->fbits == 52) return d_bits((double)v);
    return f_bits((float)v);
}
static long double to_ld(const fmt_t *f, u64 v) {
    if (f->fbits == 52) return as_d(v);
    return as_f((u32)v);
}

/* A value within a few half-ulps of 2^emin (tininess boundary) or of the
 * overflow threshold, with random low-order bits. */
static long double threshold_target(const fmt_t *f) {
    int p = prec(f);
    long double base, t;
    int j = (int)rn(13) - 6;
    if (rn(3)) {
        base = ldexpl(1.0L, emin_of(f));
        t = base * (1.0L + ldexpl((long double)j, -(p + 1)));
    } else {
        base = ldexpl(2.0L - ldexpl(1.0L, 1 - p), bias(f)); /* max finite */
        t = base + ldexpl((long double)j, bias(f) - p);
    }
    /* random bits far below the target's precision */
    t += t * ldexpl((long double)(int64_t)(rnd() >> 40), -(p + 30)) * (rn(2) ? 1 : 0);
    return rn(2) ? -t : t;
}

static u64 nudge(u64 v) { return v + rn(5) - 2; }

static u64 random_sig_val(const fmt_t *f, int e) {
    return pack(f, rn(2), (u64)(bias(f) + e), frac_pattern(f));
}

/* Operand pair whose product (div=0) or quotient (div=1) is a target. */
static void targeted_pair(const fmt_t *f, int div, u64 *pa, u64 *pb) {
    int p = prec(f);
    if (rn(3) == 0) {
        /* exact midpoint in the subnormal range: (odd) * 2^(qmin-1) */
        int qmin = emin_of(f) - (p - 1);
        u64 odd = (rnd() >> (64 - (p - 4 > 30 ? 30 : p - 4))) | 1;
        u64 s = (rnd() >> 56) | 1; /* small odd factor */
        long double m = ldexpl((long double)odd, qmin - 1);
        int e = (int)rn(60) + 5;
        long double b = ldexpl((long double)s, rn(2) ? e : -e);
        if (!div) { /* a * b = m  ->  a = m / b must be exact: use b = 2^k only */
            b = ldexpl(1.0L, -e);
            *pb = from_ld(f, b);
            *pa = from_ld(f, m / b);
        } else {
            *pb = from_ld(f, b);
            *pa = from_ld(f, m * b);
        }
        if (rn(2)) *pa ^= sbit(f);
        return;
    }
    long double t = threshold_target(f);
    u64 x = random_sig_val(f, (int)rn(81) - 40);
    long double xv = to_ld(f, x);
    if (!div) {
        *pa = x;
        *pb = nudge(from_ld(f, t / xv));
    } else {
        *pb = x;
        *pa = nudge(from_ld(f, t * xv));
    }
}

/* fma operands whose exact result is a rounding midpoint +- a tiny amount. */
static void targeted_fma(const fmt_t *f, u64 *pa, u64 *pb, u64 *pc) {
    int p = prec(f);
    switch (rn(3)) {
    case 0: { /* product = odd (p+1)-bit number (a midpoint), addend tiny */
        int ha = (p + 1) / 2, hb = p + 1 - ha;
        for (;;) {
            u64 ma = (rnd() >> (64 - ha)) | (1ull << (ha - 1)) | 1;
            u64 mb = (rnd() >> (64 - hb)) | (1ull << (hb - 1)) | 1;
            unsigned __int128 prod = (unsigned __int128)ma * mb;
            if ((prod >> p) == 0) continue; /* need exactly p+1 bits */
            int ea = (int)rn(41) - 20, eb = (int)rn(41) - 20;
            *pa = from_ld(f, ldexpl((long double)ma, ea - ha + 1)) ^ (rn(2) ? sbit(f) : 0);
            *pb = from_ld(f, ldexpl((long double)mb, eb - hb + 1)) ^ (rn(2) ? sbit(f) : 0);
            int k = ea + eb - p - 2 - (int)rn(40);
            long double c = ldexpl((long double)((rnd() >> 44) | 1), k - 20);
            *pc = rn(5) == 0 ? 0 : from_ld(f, rn(2) ? -c : c);
            return;
        }
    }
    case 1: /* product near a threshold, addend zero or tiny */
        targeted_pair(f, 0, pa, pb);
        *pc = rn(2) ? 0 : pack(f, rn(2), 0, rn(2) ? 1 : rnd() & 0xff);
        return;
    default: { /* large cancellation leaving a result near 2^emin */
        targeted_pair(f, 0, pa, pb);
        long double prod = to_ld(f, *pa) * to_ld(f, *pb);
        long double small = ldexpl(1.0L, emin_of(f) + (int)rn(p + 10));
        *pc = from_ld(f, small - prod); /* a*b + c = small + rounding error of c */
        return;
    }
    }
}

/* double -> single near the single-precision thresholds and subnormal ties. */
static u64 targeted_s_from_d(void) {
    long double t;
    if (rn(3) == 0) {
        t = ldexpl((long double)((rnd() >> 40) | 1), -150 - (int)rn(3)); /* midpoints in the subnormal range */
        if (rn(2)) t += ldexpl(rn(2) ? 1.0L : -1.0L, -180);
    } else {
        t = threshold_target(&FMT_S);
    }
    return d_bits((double)(rn(2) ? -t : t));
}

/* integers that are a binary32/64 midpoint plus a sticky bit far below */
static u64 tie_sticky_int(int out_fbits) {
    int p = out_fbits + 1;
    u64 m = (rnd() >> (64 - (p + 1))) | (1ull << p) | 1; /* odd (p+1)-bit */
    int room = 64 - (p + 1);
    int k = room > 0 ? 1 + (int)rn(room) : 0;
    u64 v = m << (k > 63 ? 63 : k);
    if (k > 1 && rn(4)) v |= 1;
    if (k > 2 && rn(2)) v |= rnd() & ((1ull << (k - 2)) - 1);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Instruction wrappers. Each sets frm, clears fflags, executes the          */
/* instruction with rm = dyn, and reads fflags.                               */

static unsigned long last_flags;

#define PRE "fsrm %[m]\n\tfsflags zero\n\t"
#define POST "\n\tfrflags %[fl]"

#define FF2(name, T, insn)                                                              \
    static u64 name(u64 a, u64 b, u64 c, int rm) {                                     \
        T x, y, r;                                                                     \
        unsigned long fl;                                                              \
        memcpy(&x, &a, sizeof x);                                                      \
        memcpy(&y, &b, sizeof y);                                                      \
        (void)c;                                                                       \
        __asm__ volatile(PRE insn " %[r], %[x], %[y]" POST                              \
                         : [r] "=&f"(r), [fl] "=&r"(fl)                                \
                         : [x] "f"(x), [y] "f"(y), [m] "r"((long)rm));                 \
        last_flags = fl;                                                               \
        u64 o = 0;                                                                     \
        memcpy(&o, &r, sizeof r);                                                      \
        return o;                                                                      \
    }

#define FF1(name, TI, TO, insn)                                                         \
    static u64 name(u64 a, u64 b, u64 c, int rm) {                                     \
        TI x;                                                                          \
        TO r;                                                                          \
        unsigned long fl;                                                              \
        memcpy(&x, &a, sizeof x);                                                      \
        (void)b;                                                                       \
        (void)c;                                                                       \
        __asm__ volatile(PRE insn " %[r], %[x]" POST                                    \
                         : [r] "=&f"(r), [fl] "=&r"(fl)                                \
                         : [x] "f"(x), [m] "r"((long)rm));                             \
        last_flags = fl;                                                               \
        u64 o = 0;                                                                     \
        memcpy(&o, &r, sizeof r);                                                      \
        return o;                                                                      \
    }

#define FF3(name, T, insn)                                                              \
    static u64 name(u64 a, u64 b, u64 c, int rm) {                                     \
        T x, y, z, r;                                                                  \
        unsigned long fl;                                                              \
        memcpy(&x, &a, sizeof x);                                                      \
        memcpy(&y, &b, sizeof y);                                                      \
        memcpy(&z, &c, sizeof z);                                                      \
        __asm__ volatile(PRE insn " %[r], %[x], %[y], %[z]" POST                        \
                         : [r] "=&f"(r), [fl] "=&r"(fl)                                \
                         : [x] "f"(x), [y] "f"(y), [z] "f"(z), [m] "r"((long)rm));     \
        last_flags = fl;                                                               \
        u64 o = 0;                                                                     \
        memcpy(&o, &r, sizeof r);                                                      \
        return o;                                                                      \
    }

/* float operands -> integer register */
#define FX2(name, T, insn)                                                              \
    static u64 name(u64 a, u64 b, u64 c, int rm) {                                     \
        T x, y;                                                                        \
        unsigned long r, fl;                                                           \
        memcpy(&x, &a, sizeof x);                                                      \
        memcpy(&y, &b, sizeof y);                                                      \
        (void)c;                                                                       \
        __asm__ volatile(PRE insn " %[r], %[x], %[y]" POST                              \
                         : [r] "=&r"(r), [fl] "=&r"(fl)                                \
                         : [x] "f"(x), [y] "f"(y), [m] "r"((long)rm));                 \
        last_flags = fl;                                                               \
        return r;                                                                      \
    }

#define FX1(name, T, insn)                                                              \
    static u64 name(u64 a, u64 b, u64 c, int rm) {                                     \
        T x;                                                                           \
        unsigned long r, fl;                                                           \
        memcpy(&x, &a, sizeof x);                                                      \
        (void)b;                                                                       \
        (void)c;                                                                       \
        __asm__ volatile(PRE insn " %[r], %[x]" POST                                    \
                         : [r] "=&r"(r), [fl] "=&r"(fl)                                \
                         : [x] "f"(x), [m] "r"((long)rm));                             \
        last_flags = fl;                                                               \
        return r;                                                                      \
    }

/* integer register -> float */
#define XF1(name, TO, insn)                                                             \
    static u64 name(u64 a, u64 b, u64 c, int rm) {                                     \
        TO r;                                                                          \
        unsigned long fl;                                                              \
        (void)b;                                                                       \
        (void)c;                                                                       \
        __asm__ volatile(PRE insn " %[r], %[x]" POST                                    \
                         : [r] "=&f"(r), [fl] "=&r"(fl)                                \
                         : [x] "r"(a), [m] "r"((long)rm));                             \
        last_flags = fl;                                                               \
        u64 o = 0;                                                                     \
        memcpy(&o, &r, sizeof r);                                                      \
        return o;                                                                      \
    }

FF2(op_fadd_s, float, "fadd.s")
FF2(op_fsub_s, float, "fsub.s")
FF2(op_fmul_s, float, "fmul.s")
FF2(op_fdiv_s, float, "fdiv.s")
FF2(op_fmin_s, float, "fmin.s")
FF2(op_fmax_s, float, "fmax.s")
FF1(op_fsqrt_s, float, float, "fsqrt.s")
FF3(op_fmadd_s, float, "fmadd.s")
FF3(op_fmsub_s, float, "fmsub.s")
FF3(op_fnmsub_s, float, "fnmsub.s")
FF3(op_fnmadd_s, float, "fnmadd.s")
FX2(op_feq_s, float, "feq.s")
FX2(op_flt_s, float, "flt.s")
FX2(op_fle_s, float, "fle.s")
FX1(op_fclass_s, float, "fclass.s")
FX1(op_fcvt_w_s, float, "fcvt.w.s")
FX1(op_fcvt_wu_s, float, "fcvt.wu.s")
FX1(op_fcvt_l_s, float, "fcvt.l.s")
FX1(op_fcvt_lu_s, float, "fcvt.lu.s")
XF1(op_fcvt_s_w, float, "fcvt.s.w")
XF1(op_fcvt_s_wu, float, "fcvt.s.wu")
XF1(op_fcvt_s_l, float, "fcvt.s.l")
XF1(op_fcvt_s_lu, float, "fcvt.s.lu")

FF2(op_fadd_d, double, "fadd.d")
FF2(op_fsub_d, double, "fsub.d")
FF2(op_fmul_d, double, "fmul.d")
FF2(op_fdiv_d, double, "fdiv.d")
FF2(op_fmin_d, double, "fmin.d")
FF2(op_fmax_d, double, "fmax.d")
FF1(op_fsqrt_d, double, double, "fsqrt.d")
FF3(op_fmadd_d, double, "fmadd.d")
FF3(op_fmsub_d, double, "fmsub.d")
FF3(op_fnmsub_d, double, "fnmsub.d")
FF3(op_fnmadd_d, double, "fnmadd.d")
FX2(op_feq_d, double, "feq.d")
FX2(op_flt_d, double, "flt.d")
FX2(op_fle_d, double, "fle.d")
FX1(op_fclass_d, double, "fclass.d")
FX1(op_fcvt_w_d, double, "fcvt.w.d")
FX1(op_fcvt_wu_d, double, "fcvt.wu.d")
FX1(op_fcvt_l_d, double, "fcvt.l.d")
FX1(op_fcvt_lu_d, double, "fcvt.lu.d")
XF1(op_fcvt_d_w, double, "fcvt.d.w")
XF1(op_fcvt_d_wu, double, "fcvt.d.wu")
XF1(op_fcvt_d_l, double, "fcvt.d.l")
XF1(op_fcvt_d_lu, double, "fcvt.d.lu")

FF1(op_fcvt_s_d, double, float, "fcvt.s.d")
FF1(op_fcvt_d_s, float, double, "fcvt.d.s")

/* ------------------------------------------------------------------------ */

enum kind {
    K_BIN,   /* two float operands -> float, rounding */
    K_MUL,   /* like K_BIN, operands chosen for multiply/divide limits */
    K_MINMAX,/* two float operands -> float, no rounding */
    K_CMP,   /* two float operands -> integer */
    K_SQRT,
    K_FMA,
    K_CLASS,
    K_F2I,   /* float -> integer */
    K_I2F,   /* integer -> float */
    K_F2F,   /* float -> other float format */
};

struct op {
    const char *name;
    u64 (*fn)(u64, u64, u64, int);
    enum kind kind;
    const fmt_t *fmt;  /* operand format (float ops) */
    int in_bits;       /* integer operand width for K_I2F */
    int out_bits;      /* result width in bits */
    int weight;        /* tuples multiplier */
};

static const struct op ops[] = {
    {"fadd.s", op_fadd_s, K_BIN, &FMT_S, 0, 32, 2},
    {"fsub.s", op_fsub_s, K_BIN, &FMT_S, 0, 32, 1},
    {"fmul.s", op_fmul_s, K_MUL, &FMT_S, 0, 32, 2},
    {"fdiv.s", op_fdiv_s, K_MUL, &FMT_S, 0, 32, 2},
    {"fsqrt.s", op_fsqrt_s, K_SQRT, &FMT_S, 0, 32, 1},
    {"fmadd.s", op_fmadd_s, K_FMA, &FMT_S, 0, 32, 2},
    {"fmsub.s", op_fmsub_s, K_FMA, &FMT_S, 0, 32, 1},
    {"fnmsub.s", op_fnmsub_s, K_FMA, &FMT_S, 0, 32, 1},
    {"fnmadd.s", op_fnmadd_s, K_FMA, &FMT_S, 0, 32, 1},
    {"fmin.s", op_fmin_s, K_MINMAX, &FMT_S, 0, 32, 1},
    {"fmax.s", op_fmax_s, K_MINMAX, &FMT_S, 0, 32, 1},
    {"feq.s", op_feq_s, K_CMP, &FMT_S, 0, 64, 1},
    {"flt.s", op_flt_s, K_CMP, &FMT_S, 0, 64, 1},
    {"fle.s", op_fle_s, K_CMP, &FMT_S, 0, 64, 1},
    {"fclass.s", op_fclass_s, K_CLASS, &FMT_S, 0, 64, 1},
    {"fcvt.w.s", op_fcvt_w_s, K_F2I, &FMT_S, 0, 64, 1},
    {"fcvt.wu.s", op_fcvt_wu_s, K_F2I, &FMT_S, 0, 64, 1},
    {"fcvt.l.s", op_fcvt_l_s, K_F2I, &FMT_S, 0, 64, 1},
    {"fcvt.lu.s", op_fcvt_lu_s, K_F2I, &FMT_S, 0, 64, 1},
    {"fcvt.s.w", op_fcvt_s_w, K_I2F, &FMT_S, 32, 32, 1},
    {"fcvt.s.wu", op_fcvt_s_wu, K_I2F, &FMT_S, 32, 32, 1},
    {"fcvt.s.l", op_fcvt_s_l, K_I2F, &FMT_S, 64, 32, 1},
    {"fcvt.s.lu", op_fcvt_s_lu, K_I2F, &FMT_S, 64, 32, 1},

    {"fadd.d", op_fadd_d, K_BIN, &FMT_D, 0, 64, 2},
    {"fsub.d", op_fsub_d, K_BIN, &FMT_D, 0, 64, 1},
    {"fmul.d", op_fmul_d, K_MUL, &FMT_D, 0, 64, 2},
    {"fdiv.d", op_fdiv_d, K_MUL, &FMT_D, 0, 64, 2},
    {"fsqrt.d", op_fsqrt_d, K_SQRT, &FMT_D, 0, 64, 1},
    {"fmadd.d", op_fmadd_d, K_FMA, &FMT_D, 0, 64, 2},
    {"fmsub.d", op_fmsub_d, K_FMA, &FMT_D, 0, 64, 1},
    {"fnmsub.d", op_fnmsub_d, K_FMA, &FMT_D, 0, 64, 1},
    {"fnmadd.d", op_fnmadd_d, K_FMA, &FMT_D, 0, 64, 1},
    {"fmin.d", op_fmin_d, K_MINMAX, &FMT_D, 0, 64, 1},
    {"fmax.d", op_fmax_d, K_MINMAX, &FMT_D, 0, 64, 1},
    {"feq.d", op_feq_d, K_CMP, &FMT_D, 0, 64, 1},
    {"flt.d", op_flt_d, K_CMP, &FMT_D, 0, 64, 1},
    {"fle.d", op_fle_d, K_CMP, &FMT_D, 0, 64, 1},
    {"fclass.d", op_fclass_d, K_CLASS, &FMT_D, 0, 64, 1},
    {"fcvt.w.d", op_fcvt_w_d, K_F2I, &FMT_D, 0, 64, 1},
    {"fcvt.wu.d", op_fcvt_wu_d, K_F2I, &FMT_D, 0, 64, 1},
    {"fcvt.l.d", op_fcvt_l_d, K_F2I, &FMT_D, 0, 64, 1},
    {"fcvt.lu.d", op_fcvt_lu_d, K_F2I, &FMT_D, 0, 64, 1},
    {"fcvt.d.w", op_fcvt_d_w, K_I2F, &FMT_D, 32, 64, 1},
    {"fcvt.d.wu", op_fcvt_d_wu, K_I2F, &FMT_D, 32, 64, 1},
    {"fcvt.d.l", op_fcvt_d_l, K_I2F, &FMT_D, 64, 64, 1},
    {"fcvt.d.lu", op_fcvt_d_lu, K_I2F, &FMT_D, 64, 64, 1},

    {"fcvt.s.d", op_fcvt_s_d, K_F2F, &FMT_D, 0, 32, 2},
    {"fcvt.d.s", op_fcvt_d_s, K_F2F, &FMT_S, 0, 64, 1},
};

static u64 trunc_bits(u64 v, int bits) { return bits == 64 ? v : v & ((1ull << bits) - 1); }

static void emit(const struct op *op, int rm, u64 a, u64 b, u64 c, u64 r) {
    int w = op->fmt->fbits == 52 ? 16 : 8; /* operand width in hex digits */
    if (op->kind == K_I2F) w = 16;
    if (op->kind == K_I2F && op->in_bits == 32) a = (u64)(int64_t)(int32_t)(u32)a;
    printf("%s %d %0*llx %0*llx %0*llx %0*llx %lu\n", op->name, rm, w, (unsigned long long)a, w,
           (unsigned long long)b, w, (unsigned long long)c, op->out_bits / 4,
           (unsigned long long)trunc_bits(r, op->out_bits), last_flags);
}

/* Special operands for the exhaustive phase. */
static int special_list(const fmt_t *f, int small, u64 *out) {
    u64 E = emax_field(f), M = fmask(f), Q = 1ull << (f->fbits - 1);
    int b = bias(f), n = 0;
    u64 pos[] = {
        0,                     /* +0 */
        pack(f, 0, E, 0),      /* inf */
        pack(f, 0, E, Q),      /* qNaN */
        pack(f, 0, E, 1),      /* sNaN */
        pack(f, 0, b, 0),      /* 1 */
        pack(f, 0, 0, 1),      /* min subnormal */
        pack(f, 0, E - 1, M),  /* max finite */
        pack(f, 0, 0, M),      /* max subnormal */
        pack(f, 0, 1, 0),      /* min normal */
        pack(f, 0, b, Q),      /* 1.5 */
        pack(f, 0, b - 1, M),  /* 1 - ulp/2 */
        pack(f, 0, b + 1, 1),  /* 2 + ulp */
    };
    int count = small ? 7 : (int)(sizeof pos / sizeof pos[0]);
    for (int i = 0; i < count; i++) {
        out[n++] = pos[i];
        out[n++] = pos[i] | sbit(f);
    }
    return n;
}

static void run_one(const struct op *op, int rounding, u64 a, u64 b, u64 c) {
    if (rounding) {
        for (int rm = 0; rm < 5; rm++) emit(op, rm, a, b, c, op->fn(a, b, c, rm));
    } else {
        emit(op, 0, a, b, c, op->fn(a, b, c, 0));
    }
}

/* Every combination of special operands (floating-point operand ops only). */
static void run_specials(const struct op *op) {
    u64 v[32];
    const fmt_t *f = op->fmt;
    int rounding = !(op->kind == K_MINMAX || op->kind == K_CMP || op->kind == K_CLASS ||
                     (op->kind == K_F2F && f->fbits == 23));
    switch (op->kind) {
    case K_BIN:
    case K_MUL:
    case K_MINMAX:
    case K_CMP: {
        int n = special_list(f, 0, v);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) run_one(op, rounding, v[i], v[j], 0);
        break;
    }
    case K_FMA: {
        int n = special_list(f, 1, v);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < n; k++) run_one(op, rounding, v[i], v[j], v[k]);
        break;
    }
    case K_SQRT:
    case K_CLASS:
    case K_F2I:
    case K_F2F: {
        int n = special_list(f, 0, v);
        for (int i = 0; i < n; i++) run_one(op, rounding, v[i], 0, 0);
        break;
    }
    case K_I2F:
        break;
    }
}

static void gen_and_run(const struct op *op) {
    const fmt_t *f = op->fmt;
    u64 a = 0, b = 0, c = 0;
    int rounding = 1;
    switch (op->kind) {
    case K_BIN:
    case K_MUL:
        if (op->kind == K_MUL && rn(5) == 0) {
            targeted_pair(f, op->name[1] == 'd', &a, &b);
            break;
        }
        a = gen_val(f);
        b = rn(3) ? gen_second(f, a, op->kind == K_MUL) : gen_val(f);
        if (rn(2)) { u64 t = a; a = b; b = t; }
        break;
    case K_MINMAX:
    case K_CMP:
        a = gen_val(f);
        b = rn(4) == 0 ? a ^ (rn(2) ? sbit(f) : 0) : rn(2) ? gen_second(f, a, 0) : gen_val(f);
        if (rn(2)) { u64 t = a; a = b; b = t; }
        rounding = 0;
        break;
    case K_SQRT:
        a = gen_val(f);
        if (rn(3) == 0) a &= ~sbit(f);
        if (rn(4) == 0) { /* a perfect square or one ulp from it */
            if (f->fbits == 52) {
                double r = as_d(gen_val(f) & ~sbit(f) & ~0xffffffffull);
                a = d_bits(r * r) + rn(3) - 1;
            } else {
                float r = as_f((u32)gen_val(f) & 0x7fffff00u);
                a = f_bits(r * r) + rn(3) - 1;
            }
        }
        break;
    case K_FMA: {
        if (rn(5) == 0) {
            targeted_fma(f, &a, &b, &c);
            break;
        }
        a = gen_val(f);
        b = rn(2) ? gen_second(f, a, 1) : gen_val(f);
        unsigned sel = rn(6);
        if (sel == 0 || sel == 1) { /* addend near -(a*b): cancellation */
            u64 p;
            if (f->fbits == 52) p = d_bits(as_d(a) * as_d(b));
            else p = f_bits(as_f((u32)a) * as_f((u32)b));
            p ^= rn(2) ? sbit(f) : 0;
            if (sel == 1) p = with_exp(f, p, vexp(f, p) - (int)rn(f->fbits + 4));
            c = p + rn(5) - 2;
        } else if (sel == 2) {
            c = with_exp(f, gen_val(f), vexp(f, a) + vexp(f, b) - bias(f) + (int)rn(11) - 5 - (int)rn(f->fbits + 4));
        } else {
            c = gen_val(f);
        }
        break;
    }
    case K_CLASS:
        a = gen_val(f);
        rounding = 0;
        break;
    case K_F2I:
        a = gen_cvt_src(f);
        break;
    case K_I2F:
        a = gen_int(op->in_bits);
        if (op->in_bits == 64 && rn(5) == 0) {
            a = tie_sticky_int(f->fbits);
            if (op->name[strlen(op->name) - 1] == 'l' && rn(2)) a = (u64)(-(int64_t)(a >> 1));
        }
        if (op->in_bits == 32 && op->out_bits == 64) rounding = 0;
        break;
    case K_F2F:
        if (f->fbits == 52) { /* double -> single: aim at the single range */
            if (rn(4) == 0) {
                a = targeted_s_from_d();
                break;
            }
            a = gen_val(f);
            if (rn(3)) {
                int e = 1023 - 127 + (int)rn(256 + 50) - 25;
                a = with_exp(f, a, e);
                if (rn(3) == 0) a = with_exp(f, a, 1023 - 149 + (int)rn(30));
            }
        } else {
            a = gen_val(f);
            rounding = 0;
        }
        break;
    }
    if (op->kind != K_I2F && f->fbits == 23) {
        a &= 0xffffffffull;
        b &= 0xffffffffull;
        c &= 0xffffffffull;
    }
    run_one(op, rounding, a, b, c);
}

int main(int argc, char **argv) {
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    u64 seed = argc > 1 ? strtoull(argv[1], 0, 0) : 1;
    long n = argc > 2 ? strtol(argv[2], 0, 0) : 1000;
    const char *only = argc > 3 ? argv[3] : 0;
    rng_state = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
    if (!rng_state) rng_state = 1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (only && strcmp(only, ops[i].name) != 0) continue;
        run_specials(&ops[i]);
        long count = n * ops[i].weight;
        for (long k = 0; k < count; k++) gen_and_run(&ops[i]);
    }
    fflush(stdout);
    return 0;
}
