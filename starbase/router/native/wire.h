/* Protobuf wire format primitives, bounds-checked (decode.c). */
#ifndef STARBASE_WIRE_H
#define STARBASE_WIRE_H

#include <stdint.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* A varint of at most 10 bytes; bits past 64 are dropped, as upb does. 0 if malformed or cut. */
static inline int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *p = *pp;
  if (p >= end) return 0;
  uint64_t byte = *p;
  if (!(byte & 0x80)) {
    *out = byte;
    *pp = p + 1;
    return 1;
  }
  uint64_t value = byte & 0x7f;
  for (int i = 1; i < 10; i++) {
    if (p + i >= end) return 0;
    byte = p[i];
    value |= (byte & 0x7f) << (7 * i);
    if (!(byte & 0x80)) {
      *out = value;
      *pp = p + i + 1;
      return 1;
    }
  }
  return 0;
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static inline uint32_t load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}

#endif
