/* Text rules shared with the Python reference: UTF-8 validity as upb checks it (RFC 3629: no
 * overlongs, no surrogates, nothing past U+10FFFF) and Python's repr() of a double (the
 * shortest digits that read back as the same double, closest to it when several do; fixed
 * notation for decimal exponents -4 < e < 16, else d.ddde±XX). */
#define _GNU_SOURCE
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_arrow.h"

int sb_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t word;
      memcpy(&word, s + i, 8);
      if (!(word & 0x8080808080808080ULL)) {
        i += 8;
        continue;
      }
    }
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    uint8_t lo = 0x80, hi = 0xBF;
    size_t more;
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (n - i <= more) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k <= more; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    i += more + 1;
  }
  return 1;
}

/* ---------------------------------------------------------------- shortest double digits */

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Digits (no trailing zeros) and decimal point position: value = 0.DIGITS × 10^decpt. */
typedef struct {
  char digits[24];
  int n;
  int decpt;
} decimal;

static void from_integer(uint64_t digits_value, int e10, decimal *out) {
  char tmp[24];
  int n = 0;
  while (digits_value) {
    tmp[n++] = (char)('0' + digits_value % 10);
    digits_value /= 10;
  }
  int start = 0;
  while (start < n - 1 && tmp[start] == '0') start++; /* strip trailing zeros */
  out->n = n - start;
  for (int i = 0; i < out->n; i++) out->digits[i] = tmp[n - 1 - i];
  out->decpt = e10 + 1; /* the first digit sits at 10^e10 */
}

/* At most one decimal of <= 15 significant digits lies in a double's rounding interval (they
 * are >= 1e-15 apart relative, the interval <= 2.2e-16), and when one does, the nearest
 * 15-digit decimal is that one. N × 10^-s is then checked exactly: N < 2^53 and 10^|s| are
 * exact doubles, so one IEEE division/multiplication is correctly rounded (Clinger). */
static int fast_digits(double a, decimal *out) {
  int e10 = (int)floor(log10(a));
  for (int attempt = 0; attempt < 3; attempt++) {
    int s = 14 - e10;
    if (s > 22 || s < -22) return 0;
    double x = s >= 0 ? a * POW10[s] : a / POW10[-s];
    if (!(x < 1.5e15)) return 0;
    uint64_t n = (uint64_t)(x + 0.5);
    if (n >= 1000000000000000ULL) {
      e10++;
      continue;
    }
    if (n < 100000000000000ULL) {
      e10--;
      continue;
    }
    double back = s >= 0 ? (double)n / POW10[s] : (double)n * POW10[-s];
    if (back != a) return 0;
    from_integer(n, e10, out);
    return 1;
  }
  return 0;
}

static locale_t c_locale(void) {
  static locale_t loc = (locale_t)0;
  if (loc == (locale_t)0) loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
  return loc;
}

/* The correctly rounded `p`-digit decimal of a (glibc printf is exact), as integer + exponent */
static void rounded(double a, int p, uint64_t *n, int *e10) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*e", p - 1, a);
  uint64_t value = 0;
  char *c = buf;
  for (; *c && *c != 'e'; c++)
    if (*c >= '0' && *c <= '9') value = value * 10 + (uint64_t)(*c - '0');
  *n = value;
  *e10 = *c == 'e' ? atoi(c + 1) : 0;
}

static int reads_back(uint64_t n, int p, int e10, double a) {
  char buf[64];
  snprintf(buf, sizeof buf, "%lluE%d", (unsigned long long)n, e10 - (p - 1));
  return strtod_l(buf, NULL, c_locale()) == a;
}

/* The p-digit decimal in a's rounding interval closest to a, if any: the correctly rounded one
 * or, where the interval is lopsided (a power of two), its neighbour above or below. */
static int candidate(double a, int p, uint64_t *n, int *e10) {
  rounded(a, p, n, e10);
  if (reads_back(*n, p, *e10, a)) return 1;
  uint64_t low = 1, high = 1;
  for (int i = 1; i < p; i++) low *= 10;
  high = low * 10;
  uint64_t options[2] = {*n + 1, *n - 1};
  for (int k = 0; k < 2; k++) {
    uint64_t m = options[k];
    int e = *e10;
    if (m >= high) {
      m /= 10;
      e++;
    } else if (m < low) {
      m = m * 10 + 9;
      e--;
    }
    if (reads_back(m, p, e, a)) {
      *n = m;
      *e10 = e;
      return 1;
    }
  }
  return 0;
}

static void slow_digits(double a, decimal *out) {
  int lo = 1, hi = 17;
  uint64_t best_n = 0;
  int best_e = 0;
  rounded(a, 17, &best_n, &best_e);
  while (lo < hi) { /* "some p-digit decimal reads back" is monotone in p */
    int mid = (lo + hi) / 2;
    uint64_t n;
    int e;
    if (candidate(a, mid, &n, &e)) {
      hi = mid;
      best_n = n;
      best_e = e;
    } else {
      lo = mid + 1;
    }
  }
  if (hi == 17) candidate(a, 17, &best_n, &best_e);
  from_integer(best_n, best_e, out);
}

size_t sb_double_repr(double v, char *out) {
  char *p = out;
  if (v == 0) {
    return (size_t)sprintf(out, signbit(v) ? "-0.0" : "0.0");
  }
  if (v < 0) {
    *p++ = '-';
    v = -v;
  }
  decimal d;
  if (!fast_digits(v, &d)) slow_digits(v, &d);
  if (d.decpt > -4 && d.decpt <= 16) {
    if (d.decpt <= 0) {
      *p++ = '0';
      *p++ = '.';
      for (int i = 0; i < -d.decpt; i++) *p++ = '0';
      memcpy(p, d.digits, (size_t)d.n);
      p += d.n;
    } else if (d.decpt < d.n) {
      memcpy(p, d.digits, (size_t)d.decpt);
      p += d.decpt;
      *p++ = '.';
      memcpy(p, d.digits + d.decpt, (size_t)(d.n - d.decpt));
      p += d.n - d.decpt;
    } else {
      memcpy(p, d.digits, (size_t)d.n);
      p += d.n;
      for (int i = d.n; i < d.decpt; i++) *p++ = '0';
      *p++ = '.';
      *p++ = '0';
    }
  } else {
    *p++ = d.digits[0];
    if (d.n > 1) {
      *p++ = '.';
      memcpy(p, d.digits + 1, (size_t)(d.n - 1));
      p += d.n - 1;
    }
    int e = d.decpt - 1;
    p += sprintf(p, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  }
  return (size_t)(p - out);
}
