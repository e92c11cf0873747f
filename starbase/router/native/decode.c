/* ExportLogsServiceRequest (protobuf) → the columns of sb_batch, in two passes per payload.
 *
 * 1. validate(): the payload is checked as upb parses it (the Python reference's runtime):
 *    tags of at most 5 bytes and 32 bits, field number 0 refused, varints of at most 10
 *    bytes, lengths below 2^31 and inside their message, wire types 6/7 refused, groups
 *    closed by their own end tag, at most 100 nested messages and groups, string fields
 *    valid UTF-8; a known field sent with another wire type is an unknown field (skipped).
 * 2. render(): the now valid payload is walked again and written into the columns with
 *    protobuf's merge semantics — the last value of a scalar field wins, a repeated message
 *    field appends, a singular message field seen twice is the parse of both byte ranges
 *    concatenated, and a oneof switched to another case starts from an empty message — then
 *    the text rules of starbase/router/anyvalue.py (strings as is, other values as JSON).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "otlp_arrow.h"
#include "wire.h"

#define MAX_DEPTH 100

/* ================================================================ 1. validation */

enum {
  T_NONE, /* inside an unknown group: every field is unknown */
  T_REQUEST,
  T_RESOURCE_LOGS,
  T_RESOURCE,
  T_KEYVALUE,
  T_ANYVALUE,
  T_ARRAY,
  T_KVLIST,
  T_ENTITYREF,
  T_SCOPE_LOGS,
  T_SCOPE,
  T_RECORD
};

enum { F_UNKNOWN, F_VARINT, F_I64, F_I32, F_STRING, F_BYTES, F_MESSAGE };

typedef struct {
  uint8_t kind;
  uint8_t type; /* for F_MESSAGE */
} field_spec;

/* The fields of opentelemetry-proto 1.x logs (also those we do not store: upb parses them),
 * by message type and field number (all below 16). */
#define MSG(t) {F_MESSAGE, t}
#define KIND(k) {k, T_NONE}
static const field_spec SPECS[T_RECORD + 1][16] = {
    [T_REQUEST] = {[1] = MSG(T_RESOURCE_LOGS)},
    [T_RESOURCE_LOGS] = {[1] = MSG(T_RESOURCE), [2] = MSG(T_SCOPE_LOGS), [3] = KIND(F_STRING)},
    [T_RESOURCE] = {[1] = MSG(T_KEYVALUE), [2] = KIND(F_VARINT), [3] = MSG(T_ENTITYREF)},
    [T_KEYVALUE] = {[1] = KIND(F_STRING), [2] = MSG(T_ANYVALUE), [3] = KIND(F_VARINT)},
    [T_ANYVALUE] = {[1] = KIND(F_STRING), [2] = KIND(F_VARINT), [3] = KIND(F_VARINT),
                    [4] = KIND(F_I64), [5] = MSG(T_ARRAY), [6] = MSG(T_KVLIST),
                    [7] = KIND(F_BYTES), [8] = KIND(F_VARINT)},
    [T_ARRAY] = {[1] = MSG(T_ANYVALUE)},
    [T_KVLIST] = {[1] = MSG(T_KEYVALUE)},
    [T_ENTITYREF] = {[1] = KIND(F_STRING), [2] = KIND(F_STRING), [3] = KIND(F_STRING),
                     [4] = KIND(F_STRING)},
    [T_SCOPE_LOGS] = {[1] = MSG(T_SCOPE), [2] = MSG(T_RECORD), [3] = KIND(F_STRING)},
    [T_SCOPE] = {[1] = KIND(F_STRING), [2] = KIND(F_STRING), [3] = MSG(T_KEYVALUE),
                 [4] = KIND(F_VARINT)},
    [T_RECORD] = {[1] = KIND(F_I64), [2] = KIND(F_VARINT), [3] = KIND(F_STRING),
                  [5] = MSG(T_ANYVALUE), [6] = MSG(T_KEYVALUE), [7] = KIND(F_VARINT),
                  [8] = KIND(F_I32), [9] = KIND(F_BYTES), [10] = KIND(F_BYTES),
                  [11] = KIND(F_I64), [12] = KIND(F_STRING)},
};
#undef MSG
#undef KIND

static inline field_spec spec(int type, uint32_t number) {
  field_spec none = {F_UNKNOWN, T_NONE};
  return number < 16 ? SPECS[type][number] : none;
}

static const uint8_t WIRE_OF_KIND[] = {
    [F_UNKNOWN] = 0xff, [F_VARINT] = WT_VARINT, [F_I64] = WT_I64,    [F_I32] = WT_I32,
    [F_STRING] = WT_LEN, [F_BYTES] = WT_LEN,     [F_MESSAGE] = WT_LEN};

typedef struct {
  const uint8_t *base;
  uint64_t records;
  sb_error *error;
} vctx;

static int fail(vctx *c, int code, const uint8_t *at) {
  c->error->code = code;
  c->error->offset = (size_t)(at - c->base);
  return 0;
}

/* Fields of a message of `type` from p up to end (after == NULL), or up to the end tag of
 * group `group` (then *after is set past it; a group may be numbered 0 inside another).
 * `depth` is the nesting left. */
static int validate(vctx *c, const uint8_t *p, const uint8_t *end, int type, uint32_t group,
                    int depth, const uint8_t **after) {
  while (p < end) {
    const uint8_t *at = p;
    uint64_t tag;
    if (!read_varint(&p, end, &tag) || p - at > 5 || tag > UINT32_MAX)
      return fail(c, SB_MALFORMED, at);
    uint32_t number = (uint32_t)(tag >> 3);
    int wire = (int)(tag & 7);
    if (wire == WT_EGROUP) {
      if (!after || number != group) return fail(c, SB_MALFORMED, at);
      *after = p;
      return 1;
    }
    field_spec f = spec(type, number);
    if (f.kind != F_UNKNOWN && WIRE_OF_KIND[f.kind] != wire) f.kind = F_UNKNOWN;
    uint64_t value;
    switch (wire) {
      case WT_VARINT:
        if (!read_varint(&p, end, &value)) return fail(c, SB_MALFORMED, at);
        break;
      case WT_I64:
        if (end - p < 8) return fail(c, SB_MALFORMED, at);
        p += 8;
        break;
      case WT_I32:
        if (end - p < 4) return fail(c, SB_MALFORMED, at);
        p += 4;
        break;
      case WT_LEN: {
        if (!read_varint(&p, end, &value) || value >= 0x7fffffff ||
            value > (uint64_t)(end - p))
          return fail(c, SB_MALFORMED, at);
        const uint8_t *data = p;
        p += value;
        if (number == 0 && !after) return fail(c, SB_MALFORMED, at);
        if (f.kind == F_STRING && !sb_utf8_valid(data, (size_t)value))
          return fail(c, SB_BAD_UTF8, data);
        if (f.kind == F_MESSAGE) {
          if (depth == 0) return fail(c, SB_TOO_DEEP, at);
          if (f.type == T_RECORD) c->records++;
          if (!validate(c, data, p, f.type, 0, depth - 1, NULL)) return 0;
        }
        break;
      }
      case WT_SGROUP:
        if ((number == 0 && !after) || p >= end) return fail(c, SB_MALFORMED, at);
        if (depth == 0) return fail(c, SB_TOO_DEEP, at);
        if (!validate(c, p, end, T_NONE, number, depth - 1, &p)) return 0;
        break;
      default:
        return fail(c, SB_MALFORMED, at);
    }
    /* Field 0 is malformed in a message; inside a group (skipped whole) protobuf lets it be. */
    if (number == 0 && !after) return fail(c, SB_MALFORMED, at);
  }
  if (after) return fail(c, SB_MALFORMED, end);
  return 1;
}

int sb_validate(const uint8_t *data, size_t len, uint64_t *records, sb_error *error) {
  vctx c = {data, 0, error};
  error->code = SB_OK;
  if (!validate(&c, data, data + len, T_REQUEST, 0, MAX_DEPTH, NULL)) return error->code;
  if (records) *records = c.records;
  return SB_OK;
}

/* ================================================================ 2. rendering */

typedef struct {
  uint32_t number;
  int wire;
  uint64_t value;
  const uint8_t *data;
  size_t len;
} field;

static int skip_group(const uint8_t **pp, const uint8_t *end, uint32_t number);

/* The next field of a validated message (groups skipped whole); 0 at its end. */
static inline __attribute__((always_inline)) int next_field(const uint8_t **pp,
                                                            const uint8_t *end, field *f) {
  const uint8_t *p = *pp;
  uint64_t tag, len;
  if (p >= end) return 0;
  if (*p < 0x80) {
    tag = *p++;
  } else if (!read_varint(&p, end, &tag)) {
    return 0;
  }
  f->number = (uint32_t)(tag >> 3);
  f->wire = (int)(tag & 7);
  switch (f->wire) {
    case WT_LEN:
      if (p < end && *p < 0x80) {
        len = *p++;
      } else if (!read_varint(&p, end, &len)) {
        return 0;
      }
      if (len > (uint64_t)(end - p)) return 0;
      f->data = p;
      f->len = (size_t)len;
      *pp = p + len;
      return 1;
    case WT_VARINT:
      *pp = p;
      return read_varint(pp, end, &f->value);
    case WT_I64:
      if (end - p < 8) return 0;
      f->value = load64(p);
      *pp = p + 8;
      return 1;
    case WT_I32:
      if (end - p < 4) return 0;
      f->value = load32(p);
      *pp = p + 4;
      return 1;
    case WT_SGROUP:
      *pp = p;
      return skip_group(pp, end, f->number);
    default: /* an end tag: only inside skip_group */
      *pp = p;
      return 1;
  }
}

static int skip_group(const uint8_t **pp, const uint8_t *end, uint32_t number) {
  field f = {0};
  while (next_field(pp, end, &f))
    if (f.wire == WT_EGROUP && f.number == number) return 1;
  return 0;
}

typedef struct {
  sb_batch *b;
  int status; /* SB_OK, SB_NO_MEMORY or SB_TOO_LARGE once anything failed */
} rctx;

static void set_status(rctx *c, int status) {
  if (c->status == SB_OK) c->status = status;
}

static void commit(rctx *c, int result) {
  if (result <= 0) set_status(c, result == 0 ? SB_NO_MEMORY : SB_TOO_LARGE);
}

/* ---------------------------------------------------------------- output of text */

static inline int room(rctx *c, sb_buf *out, size_t n) {
  if (sb_buf_reserve(out, n)) return 1;
  set_status(c, SB_NO_MEMORY);
  return 0;
}

static inline void put(rctx *c, sb_buf *out, const void *data, size_t n) {
  if (!room(c, out, n)) return;
  memcpy(out->data + out->len, data, n);
  out->len += n;
}

static inline void put_char(rctx *c, sb_buf *out, char ch) {
  if (!room(c, out, 1)) return;
  out->data[out->len++] = (uint8_t)ch;
}

static void put_int(rctx *c, sb_buf *out, int64_t value) {
  char tmp[24];
  int n = 0;
  uint64_t u = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (!room(c, out, (size_t)n + 1)) return;
  if (value < 0) out->data[out->len++] = '-';
  while (n) out->data[out->len++] = (uint8_t)tmp[--n];
}

/* A double as the text and JSON rules want it: repr(), or a non-finite name (quoted in JSON:
 * anyvalue.plain turns them into strings). */
static void put_double(rctx *c, sb_buf *out, double value, int json) {
  const char *name = isnan(value) ? "NaN" : !isfinite(value) ? (value > 0 ? "Infinity" : "-Infinity") : NULL;
  if (name) {
    if (json) put_char(c, out, '"');
    put(c, out, name, strlen(name));
    if (json) put_char(c, out, '"');
    return;
  }
  char tmp[40];
  put(c, out, tmp, sb_double_repr(value, tmp));
}

static void put_base64(rctx *c, sb_buf *out, const uint8_t *s, size_t n) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!room(c, out, (n + 2) / 3 * 4 + 2)) return;
  uint8_t *o = out->data + out->len;
  *o++ = '"';
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    *o++ = (uint8_t)alphabet[v >> 18];
    *o++ = (uint8_t)alphabet[(v >> 12) & 63];
    *o++ = (uint8_t)alphabet[(v >> 6) & 63];
    *o++ = (uint8_t)alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)s[i] << 16;
    *o++ = (uint8_t)alphabet[v >> 18];
    *o++ = (uint8_t)alphabet[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
    *o++ = (uint8_t)alphabet[v >> 18];
    *o++ = (uint8_t)alphabet[(v >> 12) & 63];
    *o++ = (uint8_t)alphabet[(v >> 6) & 63];
    *o++ = '=';
  }
  *o++ = '"';
  out->len = (size_t)(o - out->data);
}

/* A JSON string as json.dumps(ensure_ascii=False) writes it. */
static void put_json_string(rctx *c, sb_buf *out, const uint8_t *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (!room(c, out, n + 2)) return;
  out->data[out->len++] = '"';
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t ch = s[i];
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    put(c, out, s + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t len = 2;
    switch (ch) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[ch >> 4];
        esc[5] = hex[ch & 15];
        len = 6;
    }
    put(c, out, esc, len);
  }
  put(c, out, s + run, n - run);
  put_char(c, out, '"');
}

/* ---------------------------------------------------------------- AnyValue */

enum { AV_NONE, AV_STRING, AV_BOOL, AV_INT, AV_DOUBLE, AV_ARRAY, AV_KVLIST, AV_BYTES, AV_STRINDEX };

typedef struct {
  int kind;
  uint64_t scalar;
  const uint8_t *data; /* string/bytes */
  size_t len;
  const uint8_t *run; /* array/kvlist: the first field of the trailing run of this case */
} anyvalue;

static int oneof_kind(const field *f) {
  switch (f->number) {
    case 1: return f->wire == WT_LEN ? AV_STRING : 0;
    case 2: return f->wire == WT_VARINT ? AV_BOOL : 0;
    case 3: return f->wire == WT_VARINT ? AV_INT : 0;
    case 4: return f->wire == WT_I64 ? AV_DOUBLE : 0;
    case 5: return f->wire == WT_LEN ? AV_ARRAY : 0;
    case 6: return f->wire == WT_LEN ? AV_KVLIST : 0;
    case 7: return f->wire == WT_LEN ? AV_BYTES : 0;
    case 8: return f->wire == WT_VARINT ? AV_STRINDEX : 0;
    default: return 0;
  }
}

static void analyze(const uint8_t *p, const uint8_t *end, anyvalue *v) {
  v->kind = AV_NONE;
  field f = {0};
  const uint8_t *at = p;
  while (next_field(&p, end, &f)) {
    int kind = oneof_kind(&f);
    if (kind) {
      if ((kind == AV_ARRAY || kind == AV_KVLIST) && kind != v->kind) v->run = at;
      v->kind = kind;
      v->scalar = f.value;
      v->data = f.data;
      v->len = f.len;
    }
    at = p;
  }
}

/* The fields `number` of a message as one byte range: itself when it occurs once, else the
 * concatenation (protobuf merges a singular message field seen twice); *owned is to free. */
static int merged(rctx *c, const uint8_t *p, const uint8_t *end, uint32_t number,
                  const uint8_t **data, size_t *len, uint8_t **owned) {
  field f = {0};
  size_t total = 0, count = 0;
  *owned = NULL;
  const uint8_t *q = p;
  while (next_field(&q, end, &f))
    if (f.number == number && f.wire == WT_LEN) {
      total += f.len;
      *data = f.data;
      *len = f.len;
      count++;
    }
  if (count <= 1) return (int)count;
  uint8_t *buffer = malloc(total ? total : 1);
  if (!buffer) {
    set_status(c, SB_NO_MEMORY);
    return 0;
  }
  size_t at = 0;
  while (next_field(&p, end, &f))
    if (f.number == number && f.wire == WT_LEN) {
      memcpy(buffer + at, f.data, f.len);
      at += f.len;
    }
  *data = buffer;
  *len = total;
  *owned = buffer;
  return (int)count;
}

static void json_value(rctx *c, sb_buf *out, const uint8_t *p, size_t n);

/* A KeyValue in one pass: its key (the last sent), its value when sent once, how often. */
typedef struct {
  const uint8_t *key, *value;
  size_t key_len, value_len;
  int values;
} keyvalue;

static inline void parse_kv(const uint8_t *p, const uint8_t *end, keyvalue *kv) {
  field f = {0};
  kv->key = (const uint8_t *)"";
  kv->key_len = 0;
  kv->values = 0;
  while (next_field(&p, end, &f)) {
    if (f.wire != WT_LEN) continue;
    if (f.number == 1) {
      kv->key = f.data;
      kv->key_len = f.len;
    } else if (f.number == 2 && !kv->values++) {
      kv->value = f.data;
      kv->value_len = f.len;
    }
  }
}

/* A KeyValue's value rendered by `render` (`null` when it has none); a value sent several
 * times is the merge of them all. Returns 0 when there is no value. */
static int kv_value(rctx *c, const uint8_t *p, size_t n, const keyvalue *kv, const uint8_t **data,
                    size_t *len, uint8_t **owned) {
  *owned = NULL;
  if (kv->values <= 1) {
    *data = kv->value;
    *len = kv->value_len;
    return kv->values;
  }
  return merged(c, p, p + n, 2, data, len, owned);
}

/* A KeyValue's value as JSON (null when it has none) */
static void json_kv_value(rctx *c, sb_buf *out, const uint8_t *p, size_t n) {
  keyvalue kv;
  const uint8_t *value;
  size_t len;
  uint8_t *owned;
  parse_kv(p, p + n, &kv);
  if (kv_value(c, p, n, &kv, &value, &len, &owned))
    json_value(c, out, value, len);
  else
    put(c, out, "null", 4);
  free(owned);
}

typedef struct {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *kv;
  size_t kv_len;
  int64_t last; /* for a first occurrence: the index of the last entry with its key */
  int first;    /* 1 when no earlier entry has this key */
} kv_entry;

static uint64_t hash_bytes(const uint8_t *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
  return h;
}

static int same_key(const kv_entry *a, const kv_entry *b) {
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* {key: value, ...} as json.dumps writes the dict anyvalue.plain builds: a repeated key keeps
 * the place of its first occurrence and the value of its last. */
static void json_kvlist(rctx *c, sb_buf *out, const uint8_t *run, const uint8_t *end) {
  kv_entry stack[16];
  kv_entry *entries = stack;
  size_t count = 0, cap = 16;
  field f = {0}, g = {0};
  const uint8_t *p = run;
  while (next_field(&p, end, &f)) {
    if (f.number != 6 || f.wire != WT_LEN) continue;
    const uint8_t *q = f.data, *list_end = f.data + f.len;
    while (next_field(&q, list_end, &g)) {
      if (g.number != 1 || g.wire != WT_LEN) continue;
      if (count == cap) {
        kv_entry *bigger = malloc(2 * cap * sizeof *bigger);
        if (!bigger) {
          set_status(c, SB_NO_MEMORY);
          goto done;
        }
        memcpy(bigger, entries, count * sizeof *entries);
        if (entries != stack) free(entries);
        entries = bigger;
        cap *= 2;
      }
      kv_entry *e = &entries[count++];
      keyvalue kv;
      parse_kv(g.data, g.data + g.len, &kv);
      e->kv = g.data;
      e->kv_len = g.len;
      e->key = kv.key;
      e->key_len = kv.key_len;
      e->last = (int64_t)count - 1;
      e->first = 1;
    }
  }
  if (count <= 16) {
    for (size_t i = 1; i < count; i++)
      for (size_t j = 0; j < i; j++)
        if (entries[j].first && same_key(&entries[j], &entries[i])) {
          entries[i].first = 0;
          entries[j].last = (int64_t)i;
          break;
        }
  } else {
    size_t size = 1;
    while (size < 2 * count) size *= 2;
    int64_t *slots = malloc(size * sizeof *slots);
    if (!slots) {
      set_status(c, SB_NO_MEMORY);
      goto done;
    }
    memset(slots, 0xff, size * sizeof *slots);
    for (size_t i = 0; i < count; i++) {
      size_t s = (size_t)hash_bytes(entries[i].key, entries[i].key_len) & (size - 1);
      while (slots[s] >= 0 && !same_key(&entries[slots[s]], &entries[i])) s = (s + 1) & (size - 1);
      if (slots[s] < 0) {
        slots[s] = (int64_t)i;
      } else {
        entries[i].first = 0;
        entries[slots[s]].last = (int64_t)i;
      }
    }
    free(slots);
  }
  put_char(c, out, '{');
  int comma = 0;
  for (size_t i = 0; i < count; i++) {
    if (!entries[i].first) continue;
    if (comma) put_char(c, out, ',');
    comma = 1;
    kv_entry *last = &entries[entries[i].last];
    put_json_string(c, out, entries[i].key, entries[i].key_len);
    put_char(c, out, ':');
    json_kv_value(c, out, last->kv, last->kv_len);
  }
  put_char(c, out, '}');
done:
  if (entries != stack) free(entries);
}

static void json_array(rctx *c, sb_buf *out, const uint8_t *run, const uint8_t *end) {
  field f = {0}, g = {0};
  int comma = 0;
  put_char(c, out, '[');
  const uint8_t *p = run;
  while (next_field(&p, end, &f)) {
    if (f.number != 5 || f.wire != WT_LEN) continue;
    const uint8_t *q = f.data, *array_end = f.data + f.len;
    while (next_field(&q, array_end, &g)) {
      if (g.number != 1 || g.wire != WT_LEN) continue;
      if (comma) put_char(c, out, ',');
      comma = 1;
      json_value(c, out, g.data, g.len);
    }
  }
  put_char(c, out, ']');
}

/* An AnyValue as JSON (anyvalue.plain, then json.dumps). */
static void json_value(rctx *c, sb_buf *out, const uint8_t *p, size_t n) {
  anyvalue v;
  analyze(p, p + n, &v);
  switch (v.kind) {
    case AV_STRING: put_json_string(c, out, v.data, v.len); break;
    case AV_BOOL: v.scalar ? put(c, out, "true", 4) : put(c, out, "false", 5); break;
    case AV_INT: put_int(c, out, (int64_t)v.scalar); break;
    case AV_DOUBLE: {
      double d;
      memcpy(&d, &v.scalar, 8);
      put_double(c, out, d, 1);
      break;
    }
    case AV_BYTES: put_base64(c, out, v.data, v.len); break;
    case AV_ARRAY: json_array(c, out, v.run, p + n); break;
    case AV_KVLIST: json_kvlist(c, out, v.run, p + n); break;
    default: put(c, out, "null", 4); /* empty, or a string table index */
  }
}

/* An AnyValue as stored text (anyvalue.text): strings as is, null when empty, JSON else. */
static void text_value(rctx *c, sb_str *col, const uint8_t *p, size_t n) {
  anyvalue v;
  analyze(p, p + n, &v);
  sb_buf *out = &col->bytes;
  switch (v.kind) {
    case AV_NONE: commit(c, sb_str_commit(col, 0)); return;
    case AV_STRING: put(c, out, v.data, v.len); break;
    case AV_BOOL: v.scalar ? put(c, out, "true", 4) : put(c, out, "false", 5); break;
    case AV_INT: put_int(c, out, (int64_t)v.scalar); break;
    case AV_DOUBLE: {
      double d;
      memcpy(&d, &v.scalar, 8);
      put_double(c, out, d, 0);
      break;
    }
    default: json_value(c, out, p, n);
  }
  commit(c, sb_str_commit(col, 1));
}

/* One KeyValue into a map column. If `service` is given and this is the first service.name,
 * the range of its stored value is noted there ({-1, 0} for null). */
static void map_entry(rctx *c, sb_map *col, const uint8_t *p, size_t n, int64_t *service) {
  keyvalue kv;
  const uint8_t *value;
  size_t len;
  uint8_t *owned;
  parse_kv(p, p + n, &kv);
  commit(c, sb_str_append(&col->keys, kv.key, kv.key_len));
  size_t start = col->values.bytes.len;
  if (kv_value(c, p, n, &kv, &value, &len, &owned))
    text_value(c, &col->values, value, len);
  else
    commit(c, sb_str_commit(&col->values, 0));
  free(owned);
  if (service && service[0] == -2 && kv.key_len == 12 && memcmp(kv.key, "service.name", 12) == 0) {
    int64_t row = col->values.length - 1;
    int valid = (col->values.validity.data[row >> 3] >> (row & 7)) & 1;
    service[0] = valid ? (int64_t)start : -1;
    service[1] = valid ? (int64_t)(col->values.bytes.len - start) : 0;
  }
}

/* ---------------------------------------------------------------- records, scopes, resources */

/* An id as stored: its bytes, or null when absent, of another length or all zero (OTLP: an
 * invalid id means no trace context). */
static void put_id(rctx *c, sb_ids *col, const uint8_t *id, size_t len, size_t size) {
  uint64_t any = 0, word;
  for (size_t i = 0; id && len == size && i < size; i += 8) {
    memcpy(&word, id + i, 8);
    any |= word;
  }
  if (!sb_ids_push(col, id && len == size && any ? id : NULL, size)) set_status(c, SB_NO_MEMORY);
}

/* A string column where "" is stored as null (proto3 cannot tell "" from unset). */
static void put_text_or_null(rctx *c, sb_str *col, const uint8_t *s, size_t len) {
  commit(c, len ? sb_str_append(col, s, len) : sb_str_commit(col, 0));
}

static void render_record(rctx *c, const uint8_t *p, const uint8_t *end, int32_t group,
                          uint64_t received) {
  sb_batch *b = c->b;
  const uint8_t *start = p;
  uint64_t time = 0, observed = 0;
  uint32_t severity = 0, flags = 0, dropped = 0;
  const uint8_t *severity_text = NULL, *trace = NULL, *span = NULL, *event = NULL, *body = NULL;
  size_t severity_len = 0, trace_len = 0, span_len = 0, event_len = 0, body_len = 0;
  int bodies = 0;
  field f = {0};
  while (next_field(&p, end, &f)) {
    switch (f.number) {
      case 1: if (f.wire == WT_I64) time = f.value; break;
      case 11: if (f.wire == WT_I64) observed = f.value; break;
      case 2: if (f.wire == WT_VARINT) severity = (uint32_t)f.value; break;
      case 3: if (f.wire == WT_LEN) { severity_text = f.data; severity_len = f.len; } break;
      case 5: if (f.wire == WT_LEN && !bodies++) { body = f.data; body_len = f.len; } break;
      case 6: if (f.wire == WT_LEN) map_entry(c, &b->r_attributes, f.data, f.len, NULL); break;
      case 7: if (f.wire == WT_VARINT) dropped = (uint32_t)f.value; break;
      case 8: if (f.wire == WT_I32) flags = (uint32_t)f.value; break;
      case 9: if (f.wire == WT_LEN) { trace = f.data; trace_len = f.len; } break;
      case 10: if (f.wire == WT_LEN) { span = f.data; span_len = f.len; } break;
      case 12: if (f.wire == WT_LEN) { event = f.data; event_len = f.len; } break;
      default: break;
    }
  }
  commit(c, sb_map_commit(&b->r_attributes));
  uint64_t filled = time ? time : observed ? observed : received;
  int ok = sb_fixed_push64(&b->r_time, filled) && sb_fixed_push64(&b->r_observed, observed) &&
           sb_fixed_push32(&b->r_severity, severity) && sb_fixed_push32(&b->r_flags, flags) &&
           sb_fixed_push32(&b->r_dropped, dropped > 0x7fffffffu ? 0x7fffffffu : dropped) &&
           sb_fixed_push32(&b->r_group, (uint32_t)group);
  if (!ok) set_status(c, SB_NO_MEMORY);
  put_text_or_null(c, &b->r_severity_text, severity_text, severity_len);
  if (bodies > 1) {
    uint8_t *owned;
    merged(c, start, end, 5, &body, &body_len, &owned);
    text_value(c, &b->r_body, body, body_len);
    free(owned);
  } else if (bodies) {
    text_value(c, &b->r_body, body, body_len);
  } else {
    commit(c, sb_str_commit(&b->r_body, 0));
  }
  put_id(c, &b->r_trace, trace, trace_len, 16);
  put_id(c, &b->r_span, span, span_len, 8);
  put_text_or_null(c, &b->r_event, event, event_len);
}

static int has_records(const uint8_t *p, const uint8_t *end) {
  field f = {0};
  while (next_field(&p, end, &f))
    if (f.number == 2 && f.wire == WT_LEN) return 1;
  return 0;
}

static void render_scope_logs(rctx *c, const uint8_t *p, const uint8_t *end, int32_t resource,
                              uint64_t received) {
  if (!has_records(p, end)) return; /* the reference keeps no group without records */
  sb_batch *b = c->b;
  int32_t group = (int32_t)b->g_resource.length;
  int64_t rows = b->r_time.length, values = b->g_attributes.keys.length;
  const uint8_t *name = NULL, *version = NULL;
  size_t name_len = 0, version_len = 0;
  field f = {0}, g = {0};
  while (next_field(&p, end, &f)) {
    if (f.wire != WT_LEN) continue;
    if (f.number == 2) {
      render_record(c, f.data, f.data + f.len, group, received);
    } else if (f.number == 1) { /* the scope; sent twice, it merges */
      const uint8_t *q = f.data, *scope_end = f.data + f.len;
      while (next_field(&q, scope_end, &g)) {
        if (g.wire != WT_LEN) continue;
        if (g.number == 1) {
          name = g.data;
          name_len = g.len;
        } else if (g.number == 2) {
          version = g.data;
          version_len = g.len;
        } else if (g.number == 3) {
          map_entry(c, &b->g_attributes, g.data, g.len, NULL);
        }
      }
    }
  }
  commit(c, sb_map_commit(&b->g_attributes));
  b->shared_values +=
      (uint64_t)(b->g_attributes.keys.length - values) * (uint64_t)(b->r_time.length - rows);
  if (!sb_fixed_push32(&b->g_resource, (uint32_t)resource)) set_status(c, SB_NO_MEMORY);
  put_text_or_null(c, &b->g_scope_name, name, name_len);
  put_text_or_null(c, &b->g_scope_version, version, version_len);
}

static void render_resource_logs(rctx *c, const uint8_t *p, const uint8_t *end,
                                 uint64_t received) {
  sb_batch *b = c->b;
  int32_t resource = (int32_t)b->s_service.length;
  const uint8_t *schema_url = NULL;
  size_t schema_len = 0;
  int64_t service[2] = {-2, 0}; /* not seen yet */
  int64_t rows = b->r_time.length, values = b->s_attributes.keys.length;
  field f = {0}, g = {0};
  while (next_field(&p, end, &f)) {
    if (f.wire != WT_LEN) continue;
    if (f.number == 2) {
      render_scope_logs(c, f.data, f.data + f.len, resource, received);
    } else if (f.number == 1) {
      const uint8_t *q = f.data, *resource_end = f.data + f.len;
      while (next_field(&q, resource_end, &g))
        if (g.number == 1 && g.wire == WT_LEN)
          map_entry(c, &b->s_attributes, g.data, g.len, service);
    } else if (f.number == 3) {
      schema_url = f.data;
      schema_len = f.len;
    }
  }
  commit(c, sb_map_commit(&b->s_attributes));
  b->shared_values +=
      (uint64_t)(b->s_attributes.keys.length - values) * (uint64_t)(b->r_time.length - rows);
  put_text_or_null(c, &b->s_schema_url, schema_url, schema_len);
  if (service[0] >= 0 && service[1] > 0) {
    sb_buf *values = &b->s_attributes.values.bytes;
    if (room(c, &b->s_service.bytes, (size_t)service[1])) {
      memcpy(b->s_service.bytes.data + b->s_service.bytes.len, values->data + service[0],
             (size_t)service[1]);
      b->s_service.bytes.len += (size_t)service[1];
      commit(c, sb_str_commit(&b->s_service, 1));
    }
  } else {
    commit(c, sb_str_append(&b->s_service, (const uint8_t *)"unknown_service", 15));
  }
}

/* ================================================================ the batch */

sb_batch *sb_batch_new(void) {
  sb_batch *batch = calloc(1, sizeof *batch);
  if (!batch) return NULL;
  if (!sb_columns_init(batch)) {
    sb_batch_free(batch);
    return NULL;
  }
  return batch;
}

void sb_batch_free(sb_batch *batch) {
  if (!batch) return;
  sb_columns_free(batch);
  free(batch);
}

int sb_batch_add(sb_batch *batch, const uint8_t *data, size_t len, uint64_t received_ns,
                 sb_error *error) {
  uint64_t records = 0;
  error->code = SB_OK;
  error->offset = 0;
  if (batch->failed) return error->code = SB_NO_MEMORY;
  if (sb_validate(data, len, &records, error) != SB_OK) return error->code;
  /* room for the fixed-width columns of every record at once */
  sb_fixed *fixed[] = {&batch->r_time, &batch->r_observed};
  sb_fixed *narrow[] = {&batch->r_severity, &batch->r_flags, &batch->r_dropped, &batch->r_group};
  for (int i = 0; i < 2; i++)
    if (!sb_buf_reserve(&fixed[i]->values, records * 8)) return error->code = SB_NO_MEMORY;
  for (int i = 0; i < 4; i++)
    if (!sb_buf_reserve(&narrow[i]->values, records * 4)) return error->code = SB_NO_MEMORY;
  rctx c = {batch, SB_OK};
  const uint8_t *p = data, *end = data + len;
  field f = {0};
  while (next_field(&p, end, &f))
    if (f.number == 1 && f.wire == WT_LEN)
      render_resource_logs(&c, f.data, f.data + f.len, received_ns);
  if (c.status != SB_OK) {
    batch->failed = 1;
    error->code = c.status;
  }
  return error->code;
}

uint64_t sb_batch_values(const sb_batch *batch) {
  return (uint64_t)batch->r_attributes.keys.length + batch->shared_values;
}

/* ================================================================ request-path summary */

#define NS_PER_DAY 86400000000000ULL

typedef struct {
  sb_summary *s;
  uint64_t received;
} cctx;

static void add_day(sb_summary *s, uint64_t day) {
  if (s->days < 0) return;
  for (int i = 0; i < s->days; i++)
    if (s->day[i] == day) return;
  if (s->days == SB_CHECK_DAYS) {
    s->days = -1;
    return;
  }
  s->day[s->days++] = day;
}

static void check_record(cctx *c, const uint8_t *p, const uint8_t *end) {
  uint64_t time = 0, observed = 0;
  field f = {0};
  while (next_field(&p, end, &f)) {
    if (f.number == 1 && f.wire == WT_I64) time = f.value;
    else if (f.number == 11 && f.wire == WT_I64) observed = f.value;
    else if (f.number == 6 && f.wire == WT_LEN) c->s->own_values++;
  }
  sb_summary *s = c->s;
  s->records++;
  if (time > s->max_time) s->max_time = time;
  if (observed > s->max_time) s->max_time = observed;
  uint64_t stamp = time ? time : observed ? observed : c->received;
  if (stamp < s->min_stamp) s->min_stamp = stamp;
  add_day(s, stamp / NS_PER_DAY);
}

/* Records of a ScopeLogs; *shared gets its scope's KeyValues. */
static uint64_t check_scope_logs(cctx *c, const uint8_t *p, const uint8_t *end,
                                 uint64_t *scope_values) {
  uint64_t records = c->s->records;
  field f = {0}, g = {0};
  *scope_values = 0;
  while (next_field(&p, end, &f)) {
    if (f.wire != WT_LEN) continue;
    if (f.number == 2) {
      check_record(c, f.data, f.data + f.len);
    } else if (f.number == 1) {
      const uint8_t *q = f.data, *scope_end = f.data + f.len;
      while (next_field(&q, scope_end, &g))
        if (g.number == 3 && g.wire == WT_LEN) (*scope_values)++;
    }
  }
  return c->s->records - records;
}

static void check_resource_logs(cctx *c, const uint8_t *p, const uint8_t *end) {
  sb_summary *s = c->s;
  uint64_t resource_values = 0, records = 0, scope_values;
  int seen = 0;
  size_t service = 15; /* unknown_service */
  field f = {0}, g = {0};
  while (next_field(&p, end, &f)) {
    if (f.wire != WT_LEN) continue;
    if (f.number == 2) {
      uint64_t n = check_scope_logs(c, f.data, f.data + f.len, &scope_values);
      records += n;
      s->shared_values += n * scope_values;
    } else if (f.number == 1) {
      const uint8_t *q = f.data, *resource_end = f.data + f.len;
      while (next_field(&q, resource_end, &g)) {
        if (g.number != 1 || g.wire != WT_LEN) continue;
        resource_values++;
        keyvalue kv;
        parse_kv(g.data, g.data + g.len, &kv);
        if (seen || kv.key_len != 12 || memcmp(kv.key, "service.name", 12) != 0) continue;
        seen = 1;
        anyvalue v;
        if (kv.values == 1) analyze(kv.value, kv.value + kv.value_len, &v);
        if (kv.values != 1 || v.kind != AV_STRING)
          s->unusual_service = 1;
        else if (v.len)
          service = v.len;
      }
    }
  }
  s->shared_values += records * resource_values;
  if (records && service > s->max_service) s->max_service = service;
}

int sb_check(const uint8_t *data, size_t len, uint64_t received_ns, sb_summary *out,
             sb_error *error) {
  memset(out, 0, sizeof *out);
  out->min_stamp = UINT64_MAX;
  uint64_t records;
  if (sb_validate(data, len, &records, error) != SB_OK) return error->code;
  cctx c = {out, received_ns};
  const uint8_t *p = data, *end = data + len;
  field f = {0};
  while (next_field(&p, end, &f))
    if (f.number == 1 && f.wire == WT_LEN) check_resource_logs(&c, f.data, f.data + f.len);
  return SB_OK;
}

const char *sb_error_name(int code) {
  switch (code) {
    case SB_OK: return "ok";
    case SB_MALFORMED: return "wire format was corrupt";
    case SB_BAD_UTF8: return "string field had bad UTF-8";
    case SB_TOO_DEEP: return "messages nested more than 100 deep";
    case SB_NO_MEMORY: return "out of memory";
    case SB_TOO_LARGE: return "batch too large for 32-bit Arrow offsets";
    default: return "unknown error";
  }
}
