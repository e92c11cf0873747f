/* OTLP logs (protobuf ExportLogsServiceRequest) decoded straight into Arrow column buffers.
 *
 * Pure C (no Python): the CPython binding is module.c, the sanitizer/fuzz driver fuzz_main.c.
 * A batch collects the rows of any number of payloads; every payload is first validated as
 * upb (the protobuf runtime behind the Python reference) would parse it — wire format, nesting
 * depth 100, UTF-8 of string fields, known fields with another wire type treated as unknown —
 * then rendered into three tables (records, groups, resources) exported through the Arrow C
 * data interface. The Python side joins them into the stored layout (native/__init__.py).
 */
#ifndef STARBASE_OTLP_ARROW_H
#define STARBASE_OTLP_ARROW_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- Arrow C data interface
 * The ABI-stable structs of the Arrow C data interface specification. */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};
#endif

/* ---------------------------------------------------------------- growable buffers */

typedef struct {
  uint8_t *data;
  size_t len, cap;
} sb_buf;

/* utf8 column: int32 offsets, bytes, validity bitmap (always kept; exported when needed) */
typedef struct {
  sb_buf offsets, bytes, validity;
  int64_t length, null_count;
} sb_str;

/* map<string, string> column: int32 offsets into the key/value children */
typedef struct {
  sb_buf offsets;
  sb_str keys, values;
  int64_t length;
} sb_map;

typedef struct {
  sb_buf values;
  int64_t length;
} sb_fixed;

/* fixed_size_binary column (ids): `width` bytes a value (zeros for a null), validity bitmap */
typedef struct {
  sb_buf values, validity;
  int64_t length, null_count;
} sb_ids;

/* ---------------------------------------------------------------- the batch */

enum {
  SB_OK = 0,
  SB_MALFORMED = 1,     /* wire format (upb: "Wire format was corrupt") */
  SB_BAD_UTF8 = 2,      /* a string field is not UTF-8 */
  SB_TOO_DEEP = 3,      /* more than 100 nested messages/groups */
  SB_NO_MEMORY = 4,
  SB_TOO_LARGE = 5      /* a column would pass 2 GiB (32-bit Arrow offsets) */
};

typedef struct {
  int code;
  size_t offset;        /* byte offset in the payload where decoding failed */
  size_t payload;       /* index of the payload */
} sb_error;

typedef struct sb_batch {
  /* records */
  sb_fixed r_time, r_observed, r_severity, r_flags, r_dropped, r_group;
  sb_str r_severity_text, r_body, r_event;
  sb_ids r_trace, r_span;
  sb_map r_attributes;
  /* groups (one per ScopeLogs with records) */
  sb_fixed g_resource;
  sb_str g_scope_name, g_scope_version;
  sb_map g_attributes;
  /* resources (one per ResourceLogs) */
  sb_map s_attributes;
  sb_str s_schema_url, s_service;
  /* attribute values of resources and scopes, counted once per record of theirs (each is a
   * map entry of every stored row); the records' own are r_attributes.keys.length */
  uint64_t shared_values;
  int failed;           /* a buffer could not grow: the batch is unusable */
} sb_batch;

sb_batch *sb_batch_new(void);
void sb_batch_free(sb_batch *batch);

/* Validate and append one payload; `received_ns` fills records that carry no time. On error
 * the batch must be discarded (its columns may hold part of the payload). */
int sb_batch_add(sb_batch *batch, const uint8_t *data, size_t len, uint64_t received_ns,
                 sb_error *error);

/* Validate only (upb's rules); counts the LogRecords. */
int sb_validate(const uint8_t *data, size_t len, uint64_t *records, sb_error *error);

/* Attribute values the batch's rows hold (own + shared_values). */
uint64_t sb_batch_values(const sb_batch *batch);

/* Move the rows out as one struct array in the stored layout (OTEL_LOGS_SCHEMA: resource and
 * scope columns repeated on each row, ids as fixed_size_binary(16)/(8), then `service`): in
 * wire order, or with `sorted` in the order of the stored files — by UTC day of
 * time_unix_nano, then service (bytewise), then time_unix_nano, stable. The batch is left
 * empty. Returns SB_OK or SB_NO_MEMORY / SB_TOO_LARGE. */
int sb_batch_export_rows(sb_batch *batch, int sorted, struct ArrowArray *out,
                         struct ArrowSchema *schema);

/* What the request path checks of a payload, gathered in one walk (sb_check). */
#define SB_CHECK_DAYS 64
typedef struct {
  uint64_t records;
  uint64_t own_values;    /* KeyValues of the records themselves */
  uint64_t shared_values; /* resource + scope KeyValues, once per record of theirs */
  uint64_t max_time;      /* largest time_unix_nano or observed_time_unix_nano (unsigned) */
  uint64_t min_stamp;     /* smallest stored time: time, else observed, else received */
  size_t max_service;     /* longest service.name string of a resource with records */
  int unusual_service;    /* a service.name that is not one plain string value */
  int days;               /* distinct UTC days of the stored times; -1: more than the cap */
  uint64_t day[SB_CHECK_DAYS];
} sb_summary;

/* Validate (as sb_validate) and summarise a payload for the request path's checks. */
int sb_check(const uint8_t *data, size_t len, uint64_t received_ns, sb_summary *out,
             sb_error *error);

const char *sb_error_name(int code);

/* ---------------------------------------------------------------- text helpers (text.c) */

int sb_utf8_valid(const uint8_t *s, size_t n);
/* Python's repr() of a finite double into out (>= 32 bytes); returns the length. */
size_t sb_double_repr(double v, char *out);

#endif
