/* fmt.c - Python float repr, UUID4 and orjson-style string escaping (see fmt.h).
 *
 * rfs_fmt_double reproduces CPython's repr(float) (float_repr_style 'short': David Gay's
 * dtoa mode 0 = the shortest digit string that reads back to the same double, the one
 * closest to the value among those, then format 'r': exponent notation when the decimal
 * exponent is < -4 or >= 16). The digits come from an exact integer algorithm: with
 * v = m*2^e and its rounding interval [v - lo/2, v + hi/2] (lo = hi/2 at powers of two,
 * end points included when m is even, as strtod rounds half to even), find the largest
 * decimal exponent q for which the interval holds a multiple of 10^q, then take the
 * multiple nearest v (half to even). In 128-bit integers this is exact for roughly
 * 1e-5 <= v < 2^54 (the values a detection JSON holds); outside that
 * range the digits are found with glibc's correctly rounded printf and strtod (binary
 * search over the digit count; at powers of two the next decimal up is tried as well,
 * because the interval above v is twice as wide as below). Integers below 2^53 print
 * directly.
 * Verified (tests/diff_rle_json.py): equal to Python's repr on millions of random doubles
 * (random bit patterns, random float32 values widened to double, values near powers of 2
 * and 10, integers, halves, subnormals, edge cases).
 */
#include "pipeline/fmt.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

typedef unsigned __int128 u128;

/* ---- shortest digits --------------------------------------------------------------- */

static const uint64_t k_pow10[20] = {1ull,
                                     10ull,
                                     100ull,
                                     1000ull,
                                     10000ull,
                                     100000ull,
                                     1000000ull,
                                     10000000ull,
                                     100000000ull,
                                     1000000000ull,
                                     10000000000ull,
                                     100000000000ull,
                                     1000000000000ull,
                                     10000000000000ull,
                                     100000000000000ull,
                                     1000000000000000ull,
                                     10000000000000000ull,
                                     100000000000000000ull,
                                     1000000000000000000ull,
                                     10000000000000000000ull};

/* The decimal candidates D * 10^q inside the rounding interval of v = mv * 2^-s (interval
 * end points mm, mp in the same units, included when `even`): [*lo, *hi], and the one
 * nearest v (half to even, not yet clamped). Requires q in [-21, 19]. */
static void candidates(int q, int s, u128 mm, u128 mv, u128 mp, int even, u128 *lo, u128 *hi,
                       u128 *near) {
    if (q >= 0) { /* divide by 2^s (exact floor/ceil), then by 10^q */
        const uint64_t t = k_pow10[q];
        const u128 mask = ((u128)1 << s) - 1;
        const u128 a_fl = mm >> s, a_ce = a_fl + ((mm & mask) != 0);
        *lo = even ? (a_ce + t - 1) / t : a_fl / t + 1;
        *hi = even ? (mp >> s) / t : ((mp - 1) >> s) / t;
        const u128 P = (u128)t << s;
        u128 n = (mv >> s) / t, r = mv - n * P;
        if (2 * r > P || (2 * r == P && (n & 1))) n++;
        *near = n;
        return;
    }
    const int k = -q;
    const u128 F = k <= 19 ? (u128)k_pow10[k] : (u128)k_pow10[19] * k_pow10[k - 19];
    const u128 A = mm * F, B = mp * F, V = mv * F, mask = ((u128)1 << s) - 1;
    *lo = even ? (A >> s) + ((A & mask) != 0) : (A >> s) + 1;
    *hi = even ? (B >> s) : ((B - 1) >> s);
    u128 n = V >> s, r = V & mask, half = (u128)1 << (s - 1);
    if (r > half || (r == half && (n & 1))) n++;
    *near = n;
}

/* Fast exact path. On success sets D (no trailing zeros) and q with v ~ D * 10^q: the
 * largest q whose multiples reach into the interval (binary search: if 10^q has a
 * multiple there, so has every 10^q' with q' < q), then the multiple nearest v. */
static int shortest_exact(uint64_t m, int e, int narrow, uint64_t *D_out, int *q_out) {
    const int E = e - 2; /* interval end points are X * 2^E, X in {mm, mv, mp} */
    if (E >= 0 || E < -127) return 0;
    const int s = -E;
    if (s > 63 + 60) return 0;
    const int even = !(m & 1);
    const u128 mv = (u128)m * 4, mp = mv + 2, mm = mv - (narrow ? 1 : 2);
    /* v < 2^(e+53), so no q above floor((e+53) log10 2) + 1 has a candidate */
    int qtop = (int)(((int64_t)(e + 53) * 78913) >> 18) + 1;
    if (qtop > 19) return 0;
    /* 17 significant digits always identify a double: q >= qtop - 18 has a candidate */
    int qgood = qtop - 18 < -21 ? -21 : qtop - 18;
    u128 lo, hi, near;
    if (s > 63 && qgood >= 0) return 0;
    candidates(qgood, s, mm, mv, mp, even, &lo, &hi, &near);
    if (lo == 0) lo = 1;
    if (lo > hi) return 0; /* shortest needs more than 21 decimals: slow path */
    int qbad = qtop + 1; /* no candidate */
    while (qbad - qgood > 1) {
        int q = (qgood + qbad) / 2;
        u128 l2, h2, n2;
        if (q >= 0 && s > 63) {
            qbad = q;
            continue;
        }
        candidates(q, s, mm, mv, mp, even, &l2, &h2, &n2);
        if (l2 == 0) l2 = 1;
        if (l2 <= h2) qgood = q, lo = l2, hi = h2, near = n2;
        else qbad = q;
    }
    if (near < lo) near = lo;
    if (near > hi) near = hi;
    *D_out = (uint64_t)near;
    *q_out = qgood;
    return 1;
}

/* printf/strtod path for any finite v > 0: ndig significant digits into digits (no
 * trailing zeros), decimal exponent of the first digit into *x. */
static int try_digits(double v, int p, int narrow, char *digits, int *x) {
    char b[48];
    snprintf(b, sizeof b, "%.*e", p - 1, v);
    if (strtod(b, NULL) != v) {
        if (!narrow) return 0;
        /* the next p-digit decimal above: increment the mantissa digits */
        char d[24];
        int n = 0, ex;
        for (const char *c = b; *c && *c != 'e'; c++)
            if (*c >= '0' && *c <= '9') d[n++] = *c;
        ex = atoi(strchr(b, 'e') + 1);
        int i = n - 1;
        while (i >= 0 && d[i] == '9') d[i--] = '0';
        if (i < 0) {
            memmove(d + 1, d, (size_t)n - 1);
            d[0] = '1';
            ex++;
        } else {
            d[i]++;
        }
        d[n] = 0;
        snprintf(b, sizeof b, "%c.%se%d", d[0], n > 1 ? d + 1 : "0", ex);
        if (strtod(b, NULL) != v) return 0;
    }
    int n = 0;
    for (const char *c = b; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9') digits[n++] = *c;
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = 0;
    *x = atoi(strchr(b, 'e') + 1);
    return n;
}

static int shortest_slow(double v, int narrow, char *digits, int *x) {
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        char d[24];
        int xx;
        if (try_digits(v, mid, narrow, d, &xx)) hi = mid;
        else lo = mid + 1;
    }
    return try_digits(v, lo, narrow, digits, x);
}

/* Python's format_float_short for repr: digits d[0..n), decimal exponent x. */
static int format_repr(char *buf, int neg, const char *d, int n, int x) {
    char *p = buf;
    if (neg) *p++ = '-';
    if (x < -4 || x >= 16) {
        *p++ = d[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)n - 1);
            p += n - 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100) *p++ = (char)('0' + ax / 100);
        *p++ = (char)('0' + ax / 10 % 10);
        *p++ = (char)('0' + ax % 10);
    } else if (x < 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -x - 1; i++) *p++ = '0';
        memcpy(p, d, (size_t)n);
        p += n;
    } else if (x + 1 >= n) {
        memcpy(p, d, (size_t)n);
        p += n;
        for (int i = 0; i < x + 1 - n; i++) *p++ = '0';
        *p++ = '.';
        *p++ = '0';
    } else {
        memcpy(p, d, (size_t)x + 1);
        p += x + 1;
        *p++ = '.';
        memcpy(p, d + x + 1, (size_t)(n - x - 1));
        p += n - x - 1;
    }
    *p = 0;
    return (int)(p - buf);
}

static const char k_d2[201] = "00010203040506070809101112131415161718192021222324252627282930"
                             "31323334353637383940414243444546474849505152535455565758596061"
                             "62636465666768697071727374757677787980818283848586878889909192"
                             "93949596979899";

/* Decimal digits of v into d (no NUL), returns the count. */
static int u64_digits(char *d, uint64_t v) {
    char t[20];
    int i = 20;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        i -= 2;
        memcpy(t + i, k_d2 + 2 * r, 2);
    }
    if (v >= 10) {
        i -= 2;
        memcpy(t + i, k_d2 + 2 * v, 2);
    } else {
        t[--i] = (char)('0' + v);
    }
    memcpy(d, t + i, (size_t)(20 - i));
    return 20 - i;
}

static int put(char *buf, const char *s) {
    size_t n = strlen(s);
    memcpy(buf, s, n + 1);
    return (int)n;
}

int rfs_fmt_double(char *buf, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    const int neg = (int)(bits >> 63);
    const int be = (int)((bits >> 52) & 0x7ff);
    const uint64_t frac = bits & ((1ull << 52) - 1);
    if (be == 0x7ff) {
        if (frac) return put(buf, "nan");
        return put(buf, neg ? "-inf" : "inf");
    }
    if (be == 0 && frac == 0) return put(buf, neg ? "-0.0" : "0.0");
    const double a = neg ? -v : v;
    char d[24];
    int n, x;
    if (a < 9007199254740992.0 && a == (double)(uint64_t)a) { /* integer below 2^53 */
        char *p = buf;
        if (neg) *p++ = '-';
        p += u64_digits(p, (uint64_t)a);
        memcpy(p, ".0", 3);
        return (int)(p + 2 - buf);
    }
    const uint64_t m = be ? frac | (1ull << 52) : frac;
    const int e = be ? be - 1075 : -1074;
    const int narrow = frac == 0 && be > 1;
    uint64_t D;
    int q;
    if (shortest_exact(m, e, narrow, &D, &q)) {
        n = u64_digits(d, D);
        x = q + n - 1;
    } else {
        n = shortest_slow(a, narrow, d, &x);
    }
    return format_repr(buf, neg, d, n, x);
}

int rfs_fmt_json_double(char *buf, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (((bits >> 52) & 0x7ff) == 0x7ff) return put(buf, "null");
    return rfs_fmt_double(buf, v);
}

/* ---- UUID4 ------------------------------------------------------------------------- */

static atomic_uint g_fork_gen = 1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { atomic_fetch_add(&g_fork_gen, 1); }
static void register_fork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

static _Thread_local uint64_t t_rng[4];
static _Thread_local unsigned t_rng_gen; /* g_fork_gen at seeding; 0 = never seeded */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(void) {
    pthread_once(&g_once, register_fork);
    uint64_t seed[4] = {0, 0, 0, 0};
    size_t got = 0;
    while (got < sizeof seed) {
        ssize_t r = getrandom((char *)seed + got, sizeof seed - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    /* Mixed with time, pid and the state's address in any case, so a failing getrandom
     * still gives distinct streams per thread and process. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = seed[0] ^ ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
                 ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&t_rng;
    for (int i = 0; i < 4; i++) t_rng[i] = splitmix64(&x) ^ (i ? seed[i] : 0);
    t_rng_gen = atomic_load(&g_fork_gen);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(void) { /* xoshiro256** */
    if (t_rng_gen != atomic_load_explicit(&g_fork_gen, memory_order_relaxed)) rng_seed();
    uint64_t *s = t_rng;
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

void rfs_uuid4(char out[37]) {
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t a = rng_next(), c = rng_next();
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = 0;
}

/* ---- JSON strings ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1, s[0] >= 0x80), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return len;
}

int rfs_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

size_t rfs_json_escape(char *dst, const char *str, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    char *p = dst;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c >= 0x80) {
            size_t l = utf8_seq(s + i, n - i);
            if (l) {
                memcpy(p, s + i, l);
                p += l;
                i += l;
            } else {
                memcpy(p, "\xef\xbf\xbd", 3);
                p += 3;
                i++;
            }
            continue;
        }
        i++;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\t': *p++ = 't'; break;
        case '\n': *p++ = 'n'; break;
        case '\f': *p++ = 'f'; break;
        case '\r': *p++ = 'r'; break;
        default:
            *p++ = 'u', *p++ = '0', *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    return (size_t)(p - dst);
}
